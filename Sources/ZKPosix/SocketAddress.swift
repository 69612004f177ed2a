/// `SocketAddress` is an IPv4 or IPv6 address and a TCP port as a plain value: hashable, sendable,
/// cheap to log. It converts to and from the kernel's `sockaddr` structures inside this module only.
///
/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, what a dual-stack listener on "::" reports for an
/// IPv4 peer) are stored as IPv4, as Java's `InetAddress` does, so ACL checks and log lines look
/// the same whether the server listens on "0.0.0.0" or "::".
import Glibc

public struct SocketAddress: Hashable, Sendable, CustomStringConvertible {
    public enum Family: Hashable, Sendable {
        case ipv4
        case ipv6
    }

    public let family: Family
    /// The address in network byte order: 4 bytes for IPv4, 16 for IPv6.
    public let addressBytes: [UInt8]
    public let port: UInt16
    /// The IPv6 scope (interface index) of a link-local address; 0 otherwise.
    public let scopeID: UInt32
    /// The address as `inet_ntop` prints it: "127.0.0.1", "::1" (compressed IPv6, no brackets).
    public let ip: String

    /// Builds an address from a numeric literal: "127.0.0.1", "::1" or "[::1]". Nil for host names;
    /// use `resolve(host:port:)` for those.
    public init?(ip text: String, port: UInt16) {
        var literal = text
        if literal.hasPrefix("["), literal.hasSuffix("]") {
            literal = String(literal.dropFirst().dropLast())
        }
        var ipv4 = in_addr()
        if inet_pton(AF_INET, literal, &ipv4) == 1 {
            self.init(family: .ipv4, bytes: withUnsafeBytes(of: ipv4) { Array($0) }, port: port, scopeID: 0)
            return
        }
        var ipv6 = in6_addr()
        if inet_pton(AF_INET6, literal, &ipv6) == 1 {
            self.init(family: .ipv6, bytes: withUnsafeBytes(of: ipv6) { Array($0) }, port: port, scopeID: 0)
            return
        }
        return nil
    }

    /// Builds an address from raw bytes in network order (4 for IPv4, 16 for IPv6).
    public init(family: Family, bytes: [UInt8], port: UInt16, scopeID: UInt32 = 0) {
        switch family {
        case .ipv4: precondition(bytes.count == 4, "an IPv4 address has 4 bytes")
        case .ipv6: precondition(bytes.count == 16, "an IPv6 address has 16 bytes")
        }
        if family == .ipv6, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
            self.init(storing: .ipv4, bytes: Array(bytes[12..<16]), port: port, scopeID: 0)
        } else {
            self.init(storing: family, bytes: bytes, port: port, scopeID: family == .ipv6 ? scopeID : 0)
        }
    }

    private init(storing family: Family, bytes: [UInt8], port: UInt16, scopeID: UInt32) {
        self.family = family
        self.addressBytes = bytes
        self.port = port
        self.scopeID = scopeID
        self.ip = SocketAddress.presentation(family: family, bytes: bytes)
    }

    /// The 4 address bytes of an IPv4 address (used for CIDR checks in IP ACLs); nil for IPv6.
    public var ipv4Bytes: [UInt8]? {
        switch family {
        case .ipv4: return addressBytes
        case .ipv6: return nil
        }
    }

    /// True for 127.0.0.0/8 and ::1.
    public var isLoopback: Bool {
        switch family {
        case .ipv4: return addressBytes[0] == 127
        case .ipv6: return addressBytes[0..<15].allSatisfy { $0 == 0 } && addressBytes[15] == 1
        }
    }

    /// Java's `InetSocketAddress.toString()` for an address without a host name, which is what
    /// ZooKeeper prints in logs and in `cons`/`stat`: "/127.0.0.1:52740". IPv6 follows JDK 14 and
    /// later: Java's uncompressed lowercase groups in brackets, "/[0:0:0:0:0:0:0:1]:2181", with
    /// "%<scope id>" appended for a scoped address.
    public var javaDescription: String {
        switch family {
        case .ipv4:
            return "/\(ip):\(port)"
        case .ipv6:
            return "/[\(javaIPv6Text)]:\(port)"
        }
    }

    /// "ip:port", with brackets around IPv6: "127.0.0.1:2181", "[::1]:2181".
    public var description: String {
        switch family {
        case .ipv4: return "\(ip):\(port)"
        case .ipv6: return "[\(ip)]:\(port)"
        }
    }

    /// Java's `Inet6Address.getHostAddress()`: eight hex groups, no compression, no leading zeros.
    private var javaIPv6Text: String {
        var groups: [String] = []
        for index in stride(from: 0, to: 16, by: 2) {
            let group = UInt16(addressBytes[index]) << 8 | UInt16(addressBytes[index + 1])
            groups.append(String(group, radix: 16))
        }
        let text = groups.joined(separator: ":")
        return scopeID == 0 ? text : "\(text)%\(scopeID)"
    }

    private static func presentation(family: Family, bytes: [UInt8]) -> String {
        let capacity = Int(INET6_ADDRSTRLEN)
        var text = [CChar](repeating: 0, count: capacity)
        let ok = bytes.withUnsafeBytes { raw in
            text.withUnsafeMutableBufferPointer { out in
                inet_ntop(family == .ipv4 ? AF_INET : AF_INET6, raw.baseAddress, out.baseAddress, socklen_t(capacity))
            }
        }
        precondition(ok != nil, "inet_ntop cannot fail for a well-sized buffer")
        return text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}

// MARK: - Name resolution

extension SocketAddress {
    /// Resolves a host name or literal to its TCP addresses, in the resolver's order (getaddrinfo).
    /// This blocks on DNS: call it at startup or on a helper thread, never on the event loop.
    public static func resolve(host: String, port: UInt16) throws(SyscallError) -> [SocketAddress] {
        if let literal = SocketAddress(ip: host, port: port) { return [literal] }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        if status == EAI_SYSTEM {
            throw SyscallError(errno: Glibc.errno, call: "getaddrinfo")
        }
        guard status == 0, let first = list else {
            throw .resolutionFailed(host: host, reason: String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(first) }
        var result: [SocketAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            if let pointer = entry.pointee.ai_addr, let address = SocketAddress(sockaddr: pointer) {
                let withPort = SocketAddress(family: address.family, bytes: address.addressBytes,
                                             port: port, scopeID: address.scopeID)
                if !result.contains(withPort) { result.append(withPort) }
            }
            cursor = entry.pointee.ai_next
        }
        return result
    }
}

// MARK: - Kernel structures (module-internal)

extension SocketAddress {
    /// Reads a `sockaddr_in` or `sockaddr_in6`; nil for other families (e.g. AF_UNIX).
    init?(sockaddr pointer: UnsafePointer<sockaddr>) {
        switch Int32(pointer.pointee.sa_family) {
        case AF_INET:
            let sin = UnsafeRawPointer(pointer).loadUnaligned(as: sockaddr_in.self)
            self.init(family: .ipv4, bytes: withUnsafeBytes(of: sin.sin_addr) { Array($0) },
                      port: UInt16(bigEndian: sin.sin_port))
        case AF_INET6:
            let sin6 = UnsafeRawPointer(pointer).loadUnaligned(as: sockaddr_in6.self)
            self.init(family: .ipv6, bytes: withUnsafeBytes(of: sin6.sin6_addr) { Array($0) },
                      port: UInt16(bigEndian: sin6.sin6_port), scopeID: sin6.sin6_scope_id)
        default:  // sa_family is an open C set
            return nil
        }
    }

    /// Calls `body` with this address as a kernel `sockaddr` and its length.
    func withSockAddr<Result>(
        _ body: (UnsafePointer<sockaddr>, socklen_t) throws(SyscallError) -> Result
    ) throws(SyscallError) -> Result {
        switch family {
        case .ipv4:
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &sin.sin_addr) { $0.copyBytes(from: addressBytes) }
            return try withUnsafePointer(to: &sin) { (pointer) throws(SyscallError) -> Result in
                try body(UnsafeRawPointer(pointer).assumingMemoryBound(to: sockaddr.self),
                         socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        case .ipv6:
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = port.bigEndian
            sin6.sin6_scope_id = scopeID
            withUnsafeMutableBytes(of: &sin6.sin6_addr) { $0.copyBytes(from: addressBytes) }
            return try withUnsafePointer(to: &sin6) { (pointer) throws(SyscallError) -> Result in
                try body(UnsafeRawPointer(pointer).assumingMemoryBound(to: sockaddr.self),
                         socklen_t(MemoryLayout<sockaddr_in6>.size))
            }
        }
    }

    /// Runs a call that fills a `sockaddr_storage` (accept4, getsockname, getpeername).
    static func fromKernel(
        _ body: (UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) throws(SyscallError) -> Int32
    ) throws(SyscallError) -> (result: Int32, address: SocketAddress?) {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        return try withUnsafeMutablePointer(to: &storage) { (pointer) throws(SyscallError) in
            let generic = UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: sockaddr.self)
            let result = try body(generic, &length)
            return (result, SocketAddress(sockaddr: generic))
        }
    }
}
