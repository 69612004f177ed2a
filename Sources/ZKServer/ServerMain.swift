/// `zk-server [zoo.cfg]`: loads the configuration (embedded defaults without an argument), starts
/// the server and runs it until SIGTERM/SIGINT. Exit status: 0 after a clean shutdown, 2 for an
/// invalid configuration (including an ensemble, until Zab exists), 1 for a fatal runtime condition
/// (port in use, unusable data directory).
import ZKCore
import ZKPosix

public enum ServerMain {
    public static let usage = """
        usage: zk-server [path/to/zoo.cfg]
          Without an argument: standalone, client port 2181 on all interfaces,
          data in ./data, INFO logging to stdout.
        """

    public static func run(arguments: [String]) -> Int32 {
        // Block SIGTERM/SIGINT before anything could start a thread: the event loop receives them
        // through a signalfd, and a thread that did not block them would die of them instead.
        _ = Signals.block([Signals.terminate, Signals.interrupt])
        let standardOutput = PosixFile(fd: 1)
        let standardError = PosixFile(fd: 2)
        func printError(_ line: String) { try? standardError.write(Array((line + "\n").utf8)) }
        if arguments.count > 1 || arguments.first == "--help" || arguments.first == "-h" {
            printError(usage)
            return arguments.first == "--help" || arguments.first == "-h" ? 0 : 2
        }
        let loaded = loadConfig(path: arguments.first)
        guard case .success(let parsed) = loaded else {
            if case .failure(let errors) = loaded { errors.messages.forEach(printError) }
            return 2
        }
        let logger = Logger(threshold: parsed.config.logLevel, myid: nil, threadName: "main",
                            clockMs: { wallClockMilliseconds() },
                            sink: { line in try? standardOutput.write(Array((line + "\n").utf8)) })
        for warning in parsed.warnings { logger.warn(warning) }
        for notice in parsed.notices { logger.info(notice) }
        if let refusal = ensembleRefusal(parsed.config, source: arguments.first ?? "embedded defaults") {
            logger.error(refusal)
            printError(refusal)
            return 2
        }
        do {
            let server = try Server(config: parsed.config, logger: logger)
            try server.start()
            try server.run()
            return 0
        } catch {
            logger.error(error.description)
            printError(error.description)
            return 1
        }
    }

    /// Servers configured as an ensemble must not each run standalone: three independent writable
    /// trees that clients take for one is worse than no server. Until the Zab ensemble code exists,
    /// such a configuration is refused.
    static func ensembleRefusal(_ config: ServerConfig, source: String) -> String? {
        guard !config.isStandalone else { return nil }
        let ids = config.servers.map { "server.\($0.id.rawValue)" }.joined(separator: ", ")
        return "\(source): \(ids) configure an ensemble, which this build cannot run yet (no Zab); refusing to start rather than serve a standalone tree the other servers do not share. Remove the server.N lines to run standalone."
    }

    static func loadConfig(path: String?) -> Result<ParsedConfig, ConfigErrors> {
        guard let path else {
            let cwd = (try? SystemInfo.currentDirectory()) ?? "."
            return .success(ParsedConfig(config: ServerConfig.embeddedDefaults(workingDirectory: cwd), warnings: [], notices: []))
        }
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(path)
        } catch {
            return .failure(ConfigErrors(["\(path): cannot read the configuration file: \(error)"]))
        }
        return ConfigParser.parse(String(decoding: bytes, as: UTF8.self), source: path)
    }
}
