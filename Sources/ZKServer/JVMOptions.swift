/// The JVM-style options in front of `zk-server`'s configuration path, so that scripts written for
/// Apache ZooKeeper (`zkServer.sh` passing `$JVMFLAGS`, the Kubernetes image's `java.env` with
/// `-Xmx512M`) start this server unchanged.
///
///  - `-D<property>=<value>`: Apache's system properties. `zookeeper.<key>` for a key zoo.cfg may
///    also set (`-Dzookeeper.snapCount=50000`, `-Dzookeeper.4lw.commands.whitelist=*`) and the bare
///    `jute.maxbuffer`/`readonlymode.enabled` become configuration entries that zoo.cfg overrides,
///    as in Apache (it copies such zoo.cfg keys into the system properties). `zookeeper.root.logger`
///    (`INFO,CONSOLE`) and `zookeeper.console.threshold` set the log level, the stricter winning, as
///    log4j's root level and appender threshold do. Any other property is ignored with a notice.
///  - Every other word starting with `-` (`-Xmx512M`, `-XX:+UseG1GC`, `-server`) is a JVM flag with
///    nothing to do here: ignored with a notice, so an operator sees that a heap size means nothing.
///  - The first word not starting with `-` is the configuration path; nothing may follow it.
public struct JVMOptions: Sendable, Equatable {
    /// The `-D` properties that become configuration entries, in order (line = argument position);
    /// the log level properties become one `logLevel` entry.
    public var properties: [PropertyEntry] = []
    /// What to log at INFO about the options that were ignored.
    public var notices: [String] = []
    /// The configuration path, if one was given.
    public var configPath: String?

    /// No options: zoo.cfg alone.
    public init() {}

    /// How messages about these options name their source (`command line:2: …`).
    static let source = "command line"

    /// System properties that are configuration keys without the `zookeeper.` prefix.
    static let barePropertyKeys: Set<String> = ["jute.maxbuffer", "readonlymode.enabled"]
    static let logLevelProperties: Set<String> = ["zookeeper.root.logger", "zookeeper.console.threshold"]
    static let levelOrder = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]

    /// Splits `arguments` (without the program name). Fails only when words follow the path.
    public static func parse(_ arguments: [String]) -> Result<JVMOptions, ConfigErrors> {
        var options = JVMOptions()
        var levels: [(position: Int, level: String)] = []
        for (index, word) in arguments.enumerated() {
            if options.configPath != nil {
                return .failure(ConfigErrors(["command line: unexpected argument '\(word)' after the configuration path"]))
            }
            guard word.hasPrefix("-"), word.count > 1 else {
                options.configPath = word
                continue
            }
            guard word.hasPrefix("-D") else {
                options.notices.append("ignoring the JVM option \(word): zk-server is not a JVM (it has no heap to size; its memory follows the tree)")
                continue
            }
            let body = word.dropFirst(2)
            let key = String(body.prefix { $0 != "=" })
            let value = body.count > key.count ? String(body.dropFirst(key.count + 1)) : ""
            if logLevelProperties.contains(key) {
                // "INFO,CONSOLE": the level is the first comma-separated word.
                let level = value.split(separator: ",").first.map { ConfigParser.trimmed($0).uppercased() } ?? ""
                levels.append((index + 1, level))
            } else if isConfigurationProperty(key) {
                options.properties.append(PropertyEntry(line: index + 1, key: key, value: value))
            } else {
                options.notices.append("ignoring the system property \(key) (not used by zk-server)")
            }
        }
        if let strictest = levels.max(by: { rank($0.level) < rank($1.level) }) {
            options.properties.append(PropertyEntry(line: strictest.position, key: "logLevel", value: strictest.level))
        }
        return .success(options)
    }

    static func isConfigurationProperty(_ key: String) -> Bool {
        if barePropertyKeys.contains(key) { return true }
        guard key.hasPrefix("zookeeper.") else { return false }
        return ConfigBuilder.systemPropertyKeys.contains(String(key.dropFirst("zookeeper.".count)))
    }

    /// Unknown level names rank highest, so that the parser reports them rather than lose them.
    private static func rank(_ level: String) -> Int { levelOrder.firstIndex(of: level) ?? levelOrder.count }
}
