import ZKCore

/// Reads Apache ZooKeeper's `zoo.cfg` into a `ServerConfig`.
///
/// **Syntax** is `java.util.Properties`: `key=value`, `key: value` or `key value`; lines whose first
/// non-blank character is `#` or `!` are comments; a line ending in an odd number of backslashes
/// continues on the next; `\t \n \r \f \uXXXX` escapes are decoded. Keys and values are trimmed, as
/// Apache's `QuorumPeerConfig` does, so `minSessionTimeout= 4000` (written by `start-zookeeper`)
/// works. When a key repeats, the last value wins (with a warning).
///
/// **Keys**: Apache's zoo.cfg keys, plus the system-property style keys that Apache picks up from
/// zoo.cfg as `zookeeper.<key>` (both spellings are accepted, e.g. `snapCount` and
/// `zookeeper.snapCount`), plus our own `logLevel` (alias `log.level`: TRACE, DEBUG, INFO, WARN,
/// ERROR). `autopurge.purgeInteval`, the misspelling that the Kubernetes tutorial's
/// `start-zookeeper` writes, is read as `autopurge.purgeInterval`: Apache ignores it (so autopurge
/// never runs there); we do what the user meant, and say so in a notice.
///
/// **Outcome**: unknown and unsupported keys produce warnings and are ignored; invalid values are
/// errors. All errors are collected and returned together, each naming the source, the line, the key
/// and the value: `zoo.cfg:3: invalid value for clientPort: 'abc' (expected an integer 0…65535)`.
public enum ConfigParser {
    /// Parses a complete zoo.cfg. `source` names the file in messages (`zoo.cfg` or a path). The
    /// command line's `-D` properties are applied first, so that zoo.cfg overrides them.
    public static func parse(_ text: String, source: String, commandLine: JVMOptions = JVMOptions()) -> Result<ParsedConfig, ConfigErrors> {
        var builder = ConfigBuilder(source: JVMOptions.source, config: ServerConfig(dataDir: ""), dynamicOnly: false)
        commandLine.properties.forEach { builder.apply($0) }
        builder.source = source
        builder.lineOfKey = [:]
        builder.run(text)
        return builder.finish()
    }

    /// Applies the command line's `-D` properties to a configuration that needs no file (the
    /// embedded defaults).
    public static func apply(_ commandLine: JVMOptions, to base: ServerConfig) -> Result<ParsedConfig, ConfigErrors> {
        var builder = ConfigBuilder(source: JVMOptions.source, config: base, dynamicOnly: false)
        commandLine.properties.forEach { builder.apply($0) }
        return builder.finish(checkingBasics: false)
    }

    /// Applies the `server.N` lines of a `dynamicConfigFile` (ZooKeeper 3.5+ format; `version=`
    /// lines are accepted and ignored) to `config`, replacing its server list.
    public static func applyDynamicConfig(
        _ text: String, source: String, to config: ServerConfig
    ) -> Result<ParsedConfig, ConfigErrors> {
        var builder = ConfigBuilder(source: source, config: config, dynamicOnly: true)
        if !config.servers.isEmpty {
            builder.warnings.append("\(source): replaces the server.N lines of the static configuration")
        }
        builder.config.servers = []
        // Apache names the files it writes after their version: zoo.cfg.dynamic.<hex version>.
        if let suffix = source.split(separator: ".").last, source.contains(".dynamic."),
           let version = UInt64(suffix, radix: 16) {
            builder.config.quorumVersion = Int64(bitPattern: version)
        }
        builder.run(text)
        return builder.finish()
    }

    /// Parses the contents of `dataDir/myid`: a decimal server id 1…255, optionally followed by a
    /// newline (`start-zookeeper` writes `echo $MY_ID`). Surrounding whitespace is ignored.
    public static func parseMyID(fileContents: String, source: String = "myid") -> Result<ServerID, ConfigErrors> {
        let text = trimmed(Substring(fileContents))
        guard !text.isEmpty else { return .failure(ConfigErrors(["\(source): the myid file is empty"])) }
        guard let value = parseInteger(text, allowHex: false), (1...255).contains(value) else {
            return .failure(ConfigErrors(["\(source): invalid myid: '\(text)' (expected an integer 1…255)"]))
        }
        return .success(ServerID(Int64(value)))
    }

    /// Checks that `myid` fits the configuration: in an ensemble it must have a `server.N` line
    /// (Apache: "My id N not in the peer list").
    public static func validate(myid: ServerID, for config: ServerConfig, source: String) -> Result<Void, ConfigErrors> {
        if !config.isStandalone && config.quorumServer(myid) == nil {
            let ids = config.servers.map { String($0.id.rawValue) }.joined(separator: ", ")
            return .failure(ConfigErrors(["\(source): myid \(myid) has no server.\(myid) line (servers: \(ids))"]))
        }
        return .success(())
    }

    /// The logical lines of a properties file, as (line number, key, value) with keys and values
    /// unescaped and trimmed, plus errors for malformed `\uXXXX` escapes.
    public static func readProperties(_ text: String, source: String) -> (entries: [PropertyEntry], errors: [String]) {
        var entries: [PropertyEntry] = []
        var errors: [String] = []
        for (lineNumber, logical) in logicalLines(Array(text.unicodeScalars)) {
            let (rawKey, rawValue) = splitKeyValue(logical)
            guard let key = unescape(rawKey), let value = unescape(rawValue) else {
                errors.append("\(source):\(lineNumber): malformed \\uXXXX escape in '\(String(String.UnicodeScalarView(logical)))'")
                continue
            }
            entries.append(PropertyEntry(line: lineNumber, key: trimmed(Substring(key)), value: trimmed(Substring(value))))
        }
        return (entries, errors)
    }
}

/// A parsed configuration and what the caller should log about it.
public struct ParsedConfig: Sendable {
    public var config: ServerConfig
    /// To log at WARN: unknown or unsupported keys, values that were adjusted.
    public var warnings: [String]
    /// To log at INFO: interpretations worth knowing (e.g. the `purgeInteval` spelling).
    public var notices: [String]
}

/// Every error found in a configuration, each a complete one-line message.
public struct ConfigErrors: Error, Sendable, Equatable, CustomStringConvertible {
    public var messages: [String]
    public init(_ messages: [String]) { self.messages = messages }
    public var description: String { messages.joined(separator: "\n") }
}

/// One `key=value` of a properties file.
public struct PropertyEntry: Sendable, Equatable {
    public var line: Int
    public var key: String
    public var value: String
    public init(line: Int, key: String, value: String) {
        self.line = line
        self.key = key
        self.value = value
    }
}

// MARK: - Properties syntax (java.util.Properties.load)

extension ConfigParser {
    private static func isBlank(_ c: Unicode.Scalar) -> Bool { c == " " || c == "\t" || c == "\u{0C}" }

    /// Joins continuation lines and drops blank and comment lines. Line numbers are 1-based and
    /// name the first natural line of each logical line.
    static func logicalLines(_ scalars: [Unicode.Scalar]) -> [(Int, [Unicode.Scalar])] {
        var result: [(Int, [Unicode.Scalar])] = []
        var index = 0
        var lineNumber = 0
        var current: [Unicode.Scalar] = []
        var startLine = 0
        var continuing = false
        while index < scalars.count || continuing {
            // Read one natural line.
            var line: [Unicode.Scalar] = []
            while index < scalars.count && scalars[index] != "\n" && scalars[index] != "\r" {
                line.append(scalars[index])
                index += 1
            }
            if index < scalars.count {
                if scalars[index] == "\r" && index + 1 < scalars.count && scalars[index + 1] == "\n" { index += 1 }
                index += 1
            }
            lineNumber += 1
            let body = line.drop(while: isBlank)
            if !continuing {
                if body.isEmpty || body.first == "#" || body.first == "!" {
                    if index >= scalars.count { break }
                    continue
                }
                startLine = lineNumber
                current = []
            }
            current.append(contentsOf: body)
            var backslashes = 0
            while backslashes < current.count && current[current.count - 1 - backslashes] == "\\" { backslashes += 1 }
            continuing = backslashes % 2 == 1 && index < scalars.count
            if backslashes % 2 == 1 { current.removeLast() }
            if !continuing {
                result.append((startLine, current))
                if index >= scalars.count { break }
            }
        }
        return result
    }

    /// Splits at the first unescaped `=`, `:` or blank; blanks around the separator are skipped.
    static func splitKeyValue(_ line: [Unicode.Scalar]) -> ([Unicode.Scalar], [Unicode.Scalar]) {
        var index = 0
        var escaped = false
        while index < line.count {
            let c = line[index]
            if escaped {
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else if c == "=" || c == ":" || isBlank(c) {
                break
            }
            index += 1
        }
        let key = Array(line[..<index])
        var valueStart = index
        while valueStart < line.count && isBlank(line[valueStart]) { valueStart += 1 }
        if valueStart < line.count && (line[valueStart] == "=" || line[valueStart] == ":") {
            valueStart += 1
            while valueStart < line.count && isBlank(line[valueStart]) { valueStart += 1 }
        }
        return (key, Array(line[valueStart...]))
    }

    /// Decodes `\t \n \r \f \uXXXX` and `\c` → `c`. Nil for a malformed `\u` escape.
    static func unescape(_ scalars: [Unicode.Scalar]) -> String? {
        var out = String.UnicodeScalarView()
        var index = 0
        while index < scalars.count {
            let c = scalars[index]
            index += 1
            guard c == "\\", index < scalars.count else {
                if c != "\\" { out.append(c) }
                continue
            }
            let escaped = scalars[index]
            index += 1
            switch escaped {
            case "t": out.append("\t")
            case "n": out.append("\n")
            case "r": out.append("\r")
            case "f": out.append("\u{0C}")
            case "u":
                guard index + 4 <= scalars.count,
                      let code = UInt32(String(String.UnicodeScalarView(scalars[index..<(index + 4)])), radix: 16),
                      let scalar = Unicode.Scalar(code)
                else { return nil }
                out.append(scalar)
                index += 4
            default: out.append(escaped)
            }
        }
        return String(out)
    }

    /// Java's `String.trim`: strips characters ≤ U+0020 at both ends.
    static func trimmed(_ text: Substring) -> String {
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { $0.value > 0x20 }),
              let last = scalars.lastIndex(where: { $0.value > 0x20 }) else { return "" }
        return String(scalars[first...last])
    }

    /// A decimal integer with an optional sign (Java's `Integer.parseInt`), or with `allowHex` also
    /// `0x`/`0X` hexadecimal. Nil when malformed or outside Int32.
    static func parseInteger(_ text: String, allowHex: Bool) -> Int? {
        var body = Substring(text)
        var negative = false
        if let sign = body.first, sign == "+" || sign == "-" {
            negative = sign == "-"
            body = body.dropFirst()
        }
        var radix = 10
        if allowHex && (body.hasPrefix("0x") || body.hasPrefix("0X")) {
            radix = 16
            body = body.dropFirst(2)
        }
        guard !body.isEmpty, body.allSatisfy({ $0.isASCII && $0.isHexDigit && (radix == 16 || $0.isNumber) }),
              let magnitude = Int64(body, radix: radix) else { return nil }
        let value = negative ? -magnitude : magnitude
        guard value >= Int64(Int32.min) && value <= Int64(Int32.max) else { return nil }
        return Int(value)
    }
}

// MARK: - Keys

/// Applies entries to a configuration, collecting errors, warnings and notices.
struct ConfigBuilder {
    var source: String
    var config: ServerConfig
    /// Only `server.N` (and `version`) are allowed: a dynamic configuration file.
    let dynamicOnly: Bool
    var errors: [String] = []
    var warnings: [String] = []
    var notices: [String] = []
    /// Canonical key → the line that last set it.
    var lineOfKey: [String: Int] = [:]

    init(source: String, config: ServerConfig, dynamicOnly: Bool) {
        self.source = source
        self.config = config
        self.dynamicOnly = dynamicOnly
    }

    /// Keys Apache reads as system properties, which zoo.cfg may also spell `zookeeper.<key>`.
    static let systemPropertyKeys: Set<String> = [
        "forceSync", "snapCount", "snapSizeLimitInKb", "preAllocSize", "globalOutstandingLimit", "skipACL",
        "extendedTypesEnabled", "4lw.commands.whitelist", "admin.enableServer", "admin.serverAddress",
        "admin.serverPort", "admin.commandURL", "cnxTimeout", "jute.maxbuffer", "readonlymode.enabled", "maxCnxns",
        "DigestAuthenticationProvider.superDigest", "observer.syncEnabled", "znode.container.checkIntervalMs",
        // Ours: so a container image can turn metrics on by default with a flag that zoo.cfg overrides.
        "metricsProvider.className", "metricsProvider.httpHost", "metricsProvider.httpPort",
    ]

    /// Other spellings of keys → the key they mean.
    static let aliases: [String: String] = [
        "DigestAuthenticationProvider.superDigest": "superDigest",
        "observer.syncEnabled": "syncEnabled",
        "log.level": "logLevel",
        "autopurge.purgeInteval": "autopurge.purgeInterval",
    ]

    /// Apache keys this server accepts but does not implement (warned about, then ignored).
    static let unsupportedKeys: Set<String> = [
        "secureClientPortAddress", "sslQuorum", "portUnification", "serverCnxnFactory", "clientPortListenBacklog",
        "electionPortBindRetry", "connectToLearnerMasterLimit", "maxResponseCacheSize",
        "maxGetChildrenResponseCacheSize", "quorum.cnxn.threads.size", "leaderServes", "audit.enable",
        "zookeeper.leaderServes", "zookeeper.audit.enable", "sslQuorumReloadCertFiles", "client.portUnification",
        "multiAddress.enabled", "minSessionTimeout.ms",
    ]
    static let unsupportedPrefixes = [
        "ssl.", "zookeeper.ssl.", "authProvider.", "zookeeper.authProvider.", "quorum.auth.", "group.", "weight.",
        "metricsProvider.", "multiAddress.", "zookeeper.quorum.",
    ]

    mutating func run(_ text: String) {
        let (entries, syntaxErrors) = ConfigParser.readProperties(text, source: source)
        errors += syntaxErrors
        for entry in entries { apply(entry) }
    }

    func canonicalKey(_ key: String) -> String {
        var key = key
        if key.hasPrefix("zookeeper."), ConfigBuilder.systemPropertyKeys.contains(String(key.dropFirst(10))) {
            key = String(key.dropFirst(10))
        }
        return ConfigBuilder.aliases[key] ?? key
    }

    mutating func apply(_ entry: PropertyEntry) {
        let key = canonicalKey(entry.key)
        if let previous = lineOfKey[key] {
            warnings.append("\(source):\(entry.line): \(entry.key) is set again (also on line \(previous)); the last value wins")
        }
        lineOfKey[key] = entry.line
        if key.hasPrefix("server.") {
            applyServer(entry)
            return
        }
        if dynamicOnly {
            if key == "version" {
                if let version = UInt64(entry.value, radix: 16) {
                    config.quorumVersion = Int64(bitPattern: version)
                } else {
                    invalid(entry, "expected a hexadecimal configuration version")
                }
            } else {
                warnings.append("\(source):\(entry.line): \(entry.key) is not a dynamic configuration key (ignored)")
            }
            return
        }
        if applyBasic(key, entry) || applyEnsemble(key, entry) || applyStorage(key, entry) || applyFeatures(key, entry) {
            return
        }
        if ConfigBuilder.unsupportedKeys.contains(key) || ConfigBuilder.unsupportedPrefixes.contains(where: key.hasPrefix) {
            warnings.append("\(source):\(entry.line): \(entry.key) is not supported by this server (ignored)")
        } else {
            warnings.append("\(source):\(entry.line): unknown key '\(entry.key)' (ignored)" + suggestion(for: key))
        }
    }

    private func suggestion(for key: String) -> String {
        let known = ["tickTime", "dataDir", "dataLogDir", "clientPort", "clientPortAddress", "maxClientCnxns",
                     "minSessionTimeout", "maxSessionTimeout", "initLimit", "syncLimit", "autopurge.snapRetainCount",
                     "autopurge.purgeInterval", "4lw.commands.whitelist", "jute.maxbuffer", "snapCount",
                     "preAllocSize", "forceSync", "standaloneEnabled", "reconfigEnabled", "skipACL", "superDigest",
                     "globalOutstandingLimit", "extendedTypesEnabled", "quorumListenOnAllIPs", "logLevel"]
        let lowered = key.lowercased()
        if let match = known.first(where: { $0.lowercased() == lowered }) { return "; did you mean '\(match)'?" }
        return ""
    }

    // MARK: Groups of keys (each returns whether it knew the key)

    private mutating func applyBasic(_ key: String, _ e: PropertyEntry) -> Bool {
        switch key {
        case "tickTime": if let v = integer(e, 1...Int(Int32.max)) { config.tickTimeMs = v }
        case "dataDir": if let v = path(e) { config.dataDir = v }
        case "dataLogDir": if let v = path(e) { config.dataLogDir = v }
        case "clientPort": if let v = integer(e, 0...65535) { config.clientPort = v }
        case "clientPortAddress": if let v = nonEmpty(e) { config.clientPortAddress = v }
        case "secureClientPort":
            if let v = integer(e, 0...65535) {
                config.secureClientPort = v
                warnings.append("\(source):\(e.line): secureClientPort is not supported (TLS is not implemented); the port is not opened")
            }
        case "maxClientCnxns": if let v = integer(e, 0...Int(Int32.max)) { config.maxClientCnxns = v }
        case "maxCnxns": if let v = integer(e, 0...Int(Int32.max)) { config.maxCnxns = v }
        case "minSessionTimeout": if let v = sessionTimeout(e) { config.configuredMinSessionTimeoutMs = v }
        case "maxSessionTimeout": if let v = sessionTimeout(e) { config.configuredMaxSessionTimeoutMs = v }
        case "logLevel":
            if let v = LogLevel(name: e.value) {
                config.logLevel = v
            } else {
                invalid(e, "expected TRACE, DEBUG, INFO, WARN or ERROR")
            }
        default: return false
        }
        return true
    }

    private mutating func applyEnsemble(_ key: String, _ e: PropertyEntry) -> Bool {
        switch key {
        case "initLimit": if let v = integer(e, 1...Int(Int32.max)) { config.initLimitTicks = v }
        case "syncLimit": if let v = integer(e, 1...Int(Int32.max)) { config.syncLimitTicks = v }
        case "electionAlg": if let v = integer(e, 3...3) { config.electionAlg = v }
        case "peerType":
            if let v = QuorumServer.LearnerType(rawValue: e.value.lowercased()) {
                config.peerType = v
            } else {
                invalid(e, "expected participant or observer")
            }
        case "standaloneEnabled": if let v = boolean(e) { config.standaloneEnabled = v }
        case "reconfigEnabled": if let v = boolean(e) { config.reconfigEnabled = v }
        case "quorumListenOnAllIPs": if let v = boolean(e) { config.quorumListenOnAllIPs = v }
        case "syncEnabled": if let v = boolean(e) { config.syncEnabled = v }
        case "cnxTimeout": if let v = integer(e, 1...Int(Int32.max)) { config.cnxTimeoutMs = v }
        case "dynamicConfigFile": if let v = path(e) { config.dynamicConfigFile = v }
        default: return false
        }
        return true
    }

    private mutating func applyStorage(_ key: String, _ e: PropertyEntry) -> Bool {
        switch key {
        case "autopurge.snapRetainCount":
            if let v = integer(e, Int(Int32.min)...Int(Int32.max)) {
                if v < 3 {
                    warnings.append("\(source):\(e.line): autopurge.snapRetainCount \(v) is below the minimum; using 3")
                }
                config.autopurgeSnapRetainCount = max(v, 3)
            }
        case "autopurge.purgeInterval":
            if e.key != "autopurge.purgeInterval" && e.key != "zookeeper.autopurge.purgeInterval" {
                notices.append("\(source):\(e.line): reading \(e.key) (a misspelling that start-zookeeper writes) as autopurge.purgeInterval")
            }
            if let v = integer(e, Int(Int32.min)...Int(Int32.max)) { config.autopurgePurgeIntervalHours = max(v, 0) }
        case "autopurge.purgeIntervalMs":
            if let v = integer(e, 1...Int(Int32.max)) { config.autopurgePurgeIntervalMs = v }
        case "snapCount":
            if let v = integer(e, Int(Int32.min)...Int(Int32.max)) {
                if v < 2 { warnings.append("\(source):\(e.line): snapCount \(v) is below the minimum; using 2") }
                config.snapCount = max(v, 2)
            }
        case "snapSizeLimitInKb": if let v = integer(e, Int(Int32.min)...Int(Int32.max)) { config.snapSizeLimitKiB = v }
        case "preAllocSize": if let v = integer(e, 1...Int(Int32.max)) { config.preAllocSizeKiB = v }
        case "forceSync": if let v = boolean(e) { config.forceSync = v }
        default: return false
        }
        return true
    }

    private mutating func applyFeatures(_ key: String, _ e: PropertyEntry) -> Bool {
        switch key {
        case "jute.maxbuffer": if let v = integer(e, 1...Int(Int32.max), allowHex: true) { config.juteMaxBufferBytes = v }
        case "globalOutstandingLimit": if let v = integer(e, 1...Int(Int32.max)) { config.globalOutstandingLimit = v }
        case "extendedTypesEnabled": if let v = boolean(e) { config.extendedTypesEnabled = v }
        case "superDigest": applySuperDigest(e)
        case "skipACL": if let v = boolean(e) { config.skipACL = v }
        case "znode.container.checkIntervalMs":
            if let v = integer(e, 1...Int(Int32.max)) { config.containerCheckIntervalMs = v }
        case "localSessionsEnabled": if let v = boolean(e) { config.localSessionsEnabled = v }
        case "localSessionsUpgradingEnabled": if let v = boolean(e) { config.localSessionsUpgradingEnabled = v }
        case "readonlymode.enabled": if let v = boolean(e) { config.readOnlyModeEnabled = v }
        case "4lw.commands.whitelist": applyWhitelist(e)
        case "admin.enableServer": if let v = boolean(e) { config.adminEnableServer = v }
        case "admin.serverAddress": if let v = nonEmpty(e) { config.adminServerAddress = v }
        case "admin.serverPort": if let v = integer(e, 0...65535) { config.adminServerPort = v }
        case "admin.commandURL":
            if let v = nonEmpty(e) {
                if v.hasPrefix("/") { config.adminCommandURL = v } else { invalid(e, "expected a path starting with /") }
            }
        case "metricsProvider.className":
            // Apache fails startup on a class it cannot load; so do we, naming the line.
            switch e.value {
            case ServerConfig.prometheusProviderClass: config.prometheusMetricsEnabled = true
            case ServerConfig.defaultProviderClass: config.prometheusMetricsEnabled = false
            default:
                invalid(e, "expected \(ServerConfig.prometheusProviderClass) or \(ServerConfig.defaultProviderClass)")
            }
        case "metricsProvider.httpHost": if let v = nonEmpty(e) { config.metricsHTTPHost = v }
        case "metricsProvider.httpPort": if let v = integer(e, 0...65535) { config.metricsHTTPPort = v }
        case "metricsProvider.exportJvmInfo":
            // There is no JVM: accepted (a boolean, as Apache parses it) and nothing to export.
            _ = boolean(e)
        default: return false
        }
        return true
    }

    private mutating func applySuperDigest(_ e: PropertyEntry) {
        guard let colon = e.value.firstIndex(of: ":"), colon != e.value.startIndex,
              let hash = Base64.decode(String(e.value[e.value.index(after: colon)...])), hash.count == 20
        else {
            return invalid(e, "expected user:base64(sha1(user:password)), e.g. super:\(zookeeperDigest(user: "super", password: "secret").dropFirst(6))")
        }
        config.superDigest = e.value
    }

    private mutating func applyWhitelist(_ e: PropertyEntry) {
        var words: [String] = []
        for item in e.value.split(separator: ",", omittingEmptySubsequences: false) {
            let word = ConfigParser.trimmed(item)
            if word == "*" {
                config.fourLetterWordWhitelist = .all
                return
            }
            if word.isEmpty { continue }
            if ServerConfig.knownFourLetterWords.contains(word) {
                if !words.contains(word) { words.append(word) }
            } else {
                warnings.append("\(source):\(e.line): 4lw.commands.whitelist: unknown four-letter word '\(word)' (ignored)")
            }
        }
        config.fourLetterWordWhitelist = .only(words)
    }

    // MARK: server.N

    private mutating func applyServer(_ e: PropertyEntry) {
        let idText = String(canonicalKey(e.key).dropFirst(7))
        guard let idValue = ConfigParser.parseInteger(idText, allowHex: false), (1...255).contains(idValue),
              idText.allSatisfy(\.isNumber)
        else {
            return errors.append("\(source):\(e.line): invalid key \(e.key) (expected server.N with N an integer 1…255)")
        }
        switch QuorumServer.parse(id: ServerID(Int64(idValue)), e.value) {
        case .success(let server):
            config.servers.removeAll { $0.id == server.id }
            config.servers.append(server)
        case .failure(let reason):
            invalid(e, reason.text + "; expected host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]")
        }
    }

    // MARK: Value helpers

    mutating func invalid(_ e: PropertyEntry, _ expectation: String) {
        errors.append("\(source):\(e.line): invalid value for \(e.key): '\(e.value)' (\(expectation))")
    }

    private mutating func integer(_ e: PropertyEntry, _ range: ClosedRange<Int>, allowHex: Bool = false) -> Int? {
        if let value = ConfigParser.parseInteger(e.value, allowHex: allowHex), range.contains(value) { return value }
        let kind = allowHex ? "an integer (decimal or 0x hex)" : "an integer"
        let bounds: String
        if range.lowerBound == range.upperBound {
            bounds = "\(range.lowerBound)"
        } else if range.upperBound == Int(Int32.max) {
            bounds = range.lowerBound == Int(Int32.min) ? "" : " ≥ \(range.lowerBound)"
        } else {
            bounds = " \(range.lowerBound)…\(range.upperBound)"
        }
        invalid(e, range.lowerBound == range.upperBound ? "only \(bounds) is supported" : "expected \(kind)\(bounds)")
        return nil
    }

    private mutating func sessionTimeout(_ e: PropertyEntry) -> Int?? {
        guard let value = ConfigParser.parseInteger(e.value, allowHex: false), value >= -1 else {
            invalid(e, "expected an integer ≥ 0 (milliseconds), or -1 for the default")
            return nil
        }
        return .some(value == -1 ? nil : value)
    }

    private mutating func boolean(_ e: PropertyEntry) -> Bool? {
        switch e.value.lowercased() {
        case "true", "yes": return true
        case "false", "no": return false
        default:
            invalid(e, "expected true, false, yes or no")
            return nil
        }
    }

    private mutating func nonEmpty(_ e: PropertyEntry) -> String? {
        if e.value.isEmpty { invalid(e, "expected a non-empty value") }
        return e.value.isEmpty ? nil : e.value
    }

    private mutating func path(_ e: PropertyEntry) -> String? {
        if e.value.isEmpty {
            invalid(e, "expected a directory path")
            return nil
        }
        return e.value
    }
}

// MARK: - Cross-key checks

extension ConfigBuilder {
    private func at(_ key: String) -> String { lineOfKey[key].map { "\(source):\($0)" } ?? source }

    mutating func finish(checkingBasics: Bool = true) -> Result<ParsedConfig, ConfigErrors> {
        config.servers.sort { $0.id < $1.id }
        if !dynamicOnly && checkingBasics { checkBasics() }
        checkEnsemble()
        if !errors.isEmpty { return .failure(ConfigErrors(errors)) }
        return .success(ParsedConfig(config: config, warnings: warnings, notices: notices))
    }

    private mutating func checkBasics() {
        if lineOfKey["dataDir"] == nil { errors.append("\(source): dataDir is not set") }
        if lineOfKey["dataLogDir"] == nil { config.dataLogDir = config.dataDir }
        let minimum = config.minSessionTimeoutMs
        let maximum = config.maxSessionTimeoutMs
        if minimum > maximum {
            let (key, other) = lineOfKey["minSessionTimeout"] != nil ? ("minSessionTimeout", "maxSessionTimeout")
                : ("maxSessionTimeout", "minSessionTimeout")
            let value = key == "minSessionTimeout" ? minimum : maximum
            errors.append("\(at(key)): invalid value for \(key): '\(value)' (minSessionTimeout \(minimum) is larger "
                + "than maxSessionTimeout \(maximum)\(lineOfKey[other] == nil ? ", the default for \(other)" : ""))")
        }
    }

    private mutating func checkEnsemble() {
        guard !config.servers.isEmpty else { return }
        if config.participants.isEmpty {
            errors.append("\(source): every server.N line is an observer; an ensemble needs at least one participant")
            return
        }
        if config.isStandalone {
            notices.append("\(source): one voting server.N line and standaloneEnabled=true: running standalone")
            return
        }
        if config.initLimitTicks == 0 {
            errors.append("\(source): initLimit is not set (it is required when server.N lines define an ensemble)")
        }
        if config.syncLimitTicks == 0 {
            errors.append("\(source): syncLimit is not set (it is required when server.N lines define an ensemble)")
        }
        if config.participants.count == 2 {
            warnings.append("\(source): no server failure will be tolerated with 2 voting servers; you need at least 3")
        }
        var seen: [String: ServerID] = [:]
        for server in config.servers {
            for port in [server.quorumPort, server.electionPort] {
                let address = server.host + ":" + String(port)
                if let other = seen[address], other != server.id {
                    errors.append("\(at("server.\(server.id)")): invalid value for server.\(server.id): "
                        + "'\(address)' is also used by server.\(other)")
                }
                seen[address] = server.id
            }
        }
    }
}

// MARK: - server.N values

/// Why a `server.N` value was rejected.
struct QuorumServerSyntaxError: Error {
    let text: String
    init(_ text: String) { self.text = text }
}

extension QuorumServer {
    /// Parses `host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]`;
    /// an IPv6 host is written in brackets (`[::1]:2888:3888`).
    static func parse(id: ServerID, _ value: String) -> Result<QuorumServer, QuorumServerSyntaxError> {
        if value.contains("|") { return .failure(.init("several addresses per server ('|') are not supported")) }
        let halves = value.split(separator: ";", omittingEmptySubsequences: false)
        guard halves.count <= 2 else { return .failure(.init("more than one ';'")) }
        guard let (host, fields) = splitHost(halves[0]), !host.isEmpty else {
            return .failure(.init("missing host"))
        }
        guard fields.count == 2 || fields.count == 3 else {
            return .failure(.init(fields.count < 2 ? "missing election port" : "too many ':' fields"))
        }
        guard let quorumPort = port(fields[0]) else { return .failure(.init("bad quorum port '\(fields[0])'")) }
        guard let electionPort = port(fields[1]) else { return .failure(.init("bad election port '\(fields[1])'")) }
        var server = QuorumServer(id: id, host: host, quorumPort: quorumPort, electionPort: electionPort)
        if fields.count == 3 {
            guard let type = LearnerType(rawValue: fields[2].lowercased()) else {
                return .failure(.init("unknown peer type '\(fields[2])'"))
            }
            server.learnerType = type
        }
        if halves.count == 2 {
            let client = ConfigParser.trimmed(halves[1])
            if client.contains(":") || client.hasPrefix("[") {
                guard let (clientHost, clientFields) = splitHost(Substring(client)), clientFields.count == 1,
                      let clientPort = port(clientFields[0], allowZero: true)
                else { return .failure(.init("bad client address '\(client)'")) }
                server.clientHost = clientHost.isEmpty ? nil : clientHost
                server.clientPort = clientPort
            } else {
                guard let clientPort = port(client, allowZero: true) else {
                    return .failure(.init("bad client port '\(client)'"))
                }
                server.clientPort = clientPort
            }
        }
        return .success(server)
    }

    /// `host:a:b` → ("host", ["a", "b"]); `[v6]:a:b` → ("v6", ["a", "b"]). Fields are trimmed.
    private static func splitHost(_ text: Substring) -> (String, [String])? {
        let text = Substring(ConfigParser.trimmed(text))
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if rest.isEmpty { return (host, []) }
            guard rest.hasPrefix(":") else { return nil }
            return (host, rest.dropFirst().split(separator: ":", omittingEmptySubsequences: false).map(ConfigParser.trimmed))
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(ConfigParser.trimmed)
        return (parts[0], Array(parts.dropFirst()))
    }

    private static func port(_ text: String, allowZero: Bool = false) -> Int? {
        guard let value = ConfigParser.parseInteger(text, allowHex: false),
              (allowZero ? 0 : 1) <= value && value <= 65535 else { return nil }
        return value
    }
}
