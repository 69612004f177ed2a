/// Connection strings as ZooKeeper clients write them: `host1:2181,host2:2181,[::1]:2181/chroot`.
/// A host without a port gets 2181. The chroot, if any, prefixes every path the client sends and is
/// stripped from every path it receives.
public struct ConnectString: Sendable, Equatable {
    public struct Host: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var port: UInt16
        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    public var hosts: [Host]
    /// nil for none; otherwise a valid path other than "/".
    public var chroot: String?

    public init(_ text: String) throws(ZooKeeperError) {
        var spec = Substring(text)
        chroot = nil
        if let slash = spec.firstIndex(of: "/") {
            let root = String(spec[slash...])
            spec = spec[..<slash]
            if root != "/" {
                guard ConnectString.isValidChroot(root) else { throw ZooKeeperError(.badArguments, path: root) }
                chroot = root
            }
        }
        hosts = []
        for part in spec.split(separator: ",") {
            let entry = part.trimmingCharacters
            if entry.isEmpty { continue }
            hosts.append(try ConnectString.parseHost(entry))
        }
        if hosts.isEmpty { throw ZooKeeperError(.badArguments, path: text) }
    }

    private static func parseHost(_ entry: String) throws(ZooKeeperError) -> Host {
        if entry.hasPrefix("[") {
            guard let close = entry.firstIndex(of: "]") else { throw ZooKeeperError(.badArguments, path: entry) }
            let host = String(entry[entry.index(after: entry.startIndex)..<close])
            let rest = entry[entry.index(after: close)...]
            if rest.isEmpty { return Host(host: host, port: 2181) }
            guard rest.hasPrefix(":"), let port = UInt16(rest.dropFirst()) else { throw ZooKeeperError(.badArguments, path: entry) }
            return Host(host: host, port: port)
        }
        let pieces = entry.split(separator: ":", omittingEmptySubsequences: false)
        switch pieces.count {
        case 1: return Host(host: entry, port: 2181)
        case 2:
            guard let port = UInt16(pieces[1]) else { throw ZooKeeperError(.badArguments, path: entry) }
            return Host(host: String(pieces[0]), port: port)
        default:
            return Host(host: entry, port: 2181)  // a bare IPv6 literal
        }
    }

    static func isValidChroot(_ path: String) -> Bool {
        guard path.hasPrefix("/"), !path.hasSuffix("/"), !path.contains("//") else { return false }
        return !path.split(separator: "/").contains { $0 == "." || $0 == ".." }
    }

    /// The server-side path of a client path.
    public func serverPath(_ path: String) -> String {
        guard let chroot else { return path }
        return path == "/" ? chroot : chroot + path
    }

    /// The client-side path of a server path (paths outside the chroot are returned unchanged).
    public func clientPath(_ path: String) -> String {
        guard let chroot else { return path }
        if path == chroot { return "/" }
        if path.hasPrefix(chroot + "/") { return String(path.dropFirst(chroot.count)) }
        return path
    }
}

extension Substring {
    var trimmingCharacters: String {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
