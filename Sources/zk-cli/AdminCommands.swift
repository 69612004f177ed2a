/// zkCli's `config` and `reconfig` commands (`GetConfigCommand`, `ReconfigCommand`).
import Glibc
import ZKClient
import ZKProtocol

extension Shell {
    static let configSpecs = OptionSpecs([OptionSpec(name: "s", hasArg: false, description: "stats"),
                                          OptionSpec(name: "w", hasArg: false, description: "watch"),
                                          OptionSpec(name: "c", hasArg: false, description: "client connection string")])

    func config(_ tokens: [String]) throws {
        let cl = try parse(Shell.configSpecs, tokens)
        let response = try call(.getConfig(watch: cl.has("w") ? .default : .none), errorPath: "/zookeeper/config")
        guard case .data(let data, let stat) = response else { return }
        let text = Shell.text(data)
        console.out(cl.has("c") ? Shell.clientConfigString(text) : text)
        if cl.has("s") { printStat(stat) }
    }

    /// `ConfigUtils.getClientConfigStr`: "<version> <client addresses of the servers, comma-separated>".
    /// The servers come in the order Java's `Properties` (a hash table) iterates them.
    static func clientConfigString(_ config: String) -> String {
        var entries: [(key: String, value: String)] = []
        for rawLine in config.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let line = rawLine.trimmingASCIISpaces
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix("!") { continue }
            guard let eq = line.firstIndex(where: { $0 == "=" || $0 == ":" }) else {
                entries.append((line, ""))
                continue
            }
            let key = String(line[..<eq]).trimmingASCIISpaces
            let value = String(line[line.index(after: eq)...]).trimmingASCIISpaces
            entries.removeAll { $0.key == key }
            entries.append((key, value))
        }
        var version = ""
        var addresses: [String] = []
        for (key, value) in javaHashOrder(entries) {
            if key == "version" { version = value }
            guard key.hasPrefix("server.") else { continue }
            // server.N=host:port:port[:role][;[clientHost:]clientPort]
            let parts = value.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                addresses.append("")
                continue
            }
            let client = String(parts[1])
            if let colon = client.lastIndex(of: ":") {
                addresses.append(client[..<colon] + ":" + client[client.index(after: colon)...])
            } else {
                addresses.append("0.0.0.0:" + client)
            }
        }
        return version + " " + addresses.joined(separator: ",")
    }

    /// The iteration order of a small `ConcurrentHashMap` (what `Properties` stores its entries in):
    /// by bucket `(h ^ h >>> 16) & (n - 1)` of `String.hashCode`, insertion order within a bucket.
    private static func javaHashOrder(_ entries: [(key: String, value: String)]) -> [(key: String, value: String)] {
        var tableSize = 16
        while entries.count >= tableSize - tableSize / 4 { tableSize *= 2 }
        func bucket(_ key: String) -> Int {
            var h: Int32 = 0
            for unit in key.utf16 { h = h &* 31 &+ Int32(unit) }
            let spread = (h ^ Int32(bitPattern: UInt32(bitPattern: h) >> 16)) & 0x7fff_ffff
            return Int(spread) & (tableSize - 1)
        }
        return entries.enumerated().sorted { a, b in
            let (ba, bb) = (bucket(a.element.key), bucket(b.element.key))
            return ba != bb ? ba < bb : a.offset < b.offset
        }.map(\.element)
    }

    static let reconfigSpecs = OptionSpecs([
        OptionSpec(name: "s", hasArg: false, description: "stats"),
        OptionSpec(name: "v", hasArg: true, description: "required current config version"),
        OptionSpec(name: "file", hasArg: true, description: "path of config file to parse for membership"),
        OptionSpec(name: "members", hasArg: true, description: "comma-separated list of config strings for non-incremental reconfig"),
        OptionSpec(name: "add", hasArg: true, description: "comma-separated list of config strings for new servers"),
        OptionSpec(name: "remove", hasArg: true, description: "comma-separated list of server IDs to remove"),
    ])

    func reconfig(_ tokens: [String]) throws {
        let cl = try parse(Shell.reconfigSpecs, tokens)
        let nonIncremental = cl.has("file") || cl.has("members")
        guard nonIncremental || cl.has("add") || cl.has("remove") else { throw usageFailure("reconfig") }
        var version: Int64 = -1
        if let v = cl.value("v") {
            guard let parsed = JavaText.parseLong(v, radix: 16) else {
                throw CliFailure(message: "-v must be followed by a long (configuration version)")
            }
            version = parsed
        }
        if nonIncremental && (cl.has("add") || cl.has("remove")) {
            throw CliFailure(message: "Can't use -file or -members together with -add or -remove (mixing incremental and non-incremental modes is not allowed)")
        }
        if cl.has("file") && cl.has("members") {
            throw CliFailure(message: "Can't use -file and -members together (conflicting non-incremental modes)")
        }
        let joining = cl.value("add")?.lowercased()
        let leaving = cl.value("remove")?.lowercased()
        var members = cl.value("members")?.lowercased()
        if let file = cl.value("file") { members = try membersFromFile(file) }
        let response = try call(.reconfig(joining: joining, leaving: leaving, newMembers: members, fromConfig: version), errorPath: "")
        guard case .data(let data, let stat) = response else { return }
        console.out("Committed new configuration:\n" + Shell.text(data))
        if cl.has("s") { printStat(stat) }
    }

    /// The membership lines (`server.N=…`, `group.N=…`, `weight.N=…`) of a dynamic config file.
    private func membersFromFile(_ path: String) throws(CliFailure) -> String {
        guard let file = fopen(path, "r") else {
            let reason = String(cString: strerror(errno))
            throw CliFailure(message: "Error processing \(path)\(path) (\(reason))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count <= 0 { break }
            bytes += buffer[0..<count]
        }
        var lines: [String] = []
        for raw in JavaText.utf8(bytes).split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let line = raw.trimmingASCIISpaces
            if line.hasPrefix("server.") || line.hasPrefix("group.") || line.hasPrefix("weight.") {
                lines.append(line.replacingOccurrences(of: " ", with: ""))
            }
        }
        return lines.joined(separator: "\n")
    }
}

extension String {
    func replacingOccurrences(of target: Character, with replacement: String) -> String {
        var result = ""
        for c in self { if c == target { result += replacement } else { result.append(c) } }
        return result
    }
}
