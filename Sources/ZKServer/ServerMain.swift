/// `zk-server [zoo.cfg]`: loads the configuration (embedded defaults without an argument), starts
/// the server and runs it until SIGTERM/SIGINT. Exit status: 0 after a clean shutdown, 2 for an
/// invalid configuration (including a missing or unlisted `myid` in an ensemble), 1 for a fatal runtime condition
/// (port in use, unusable data directory).
import ZKCore
import ZKPosix

public enum ServerMain {
    public static let usage = """
        usage: zk-server [-Dzookeeper.<key>=<value> ...] [path/to/zoo.cfg]
               zk-server --version
          Without a path: standalone, client port 2181 on all interfaces,
          data in ./data, INFO logging to stdout.
          -D options are Apache's system properties (zoo.cfg overrides them);
          other JVM flags (-Xmx512M, ...) are accepted and ignored.
        """

    public static func run(arguments: [String]) -> Int32 {
        // Block SIGTERM/SIGINT before anything could start a thread: the event loop receives them
        // through a signalfd, and a thread that did not block them would die of them instead.
        _ = Signals.block(Server.watchedSignals)
        let standardOutput = PosixFile(fd: 1)
        let standardError = PosixFile(fd: 2)
        func printError(_ line: String) { try? standardError.write(Array((line + "\n").utf8)) }
        if arguments.first == "--help" || arguments.first == "-h" {
            printError(usage)
            return 0
        }
        if arguments == ["--version"] {
            // The shape of Apache's `zkServer.sh version` (VersionInfoMain), which scripts parse.
            try? standardOutput.write(Array("swift-zookeeper zk-server, version \(ServerVersion.full)\n".utf8))
            return 0
        }
        let options: JVMOptions
        switch JVMOptions.parse(arguments) {
        case .success(let parsed): options = parsed
        case .failure(let errors):
            errors.messages.forEach(printError)
            printError(usage)
            return 2
        }
        let loaded = loadConfig(path: options.configPath, commandLine: options)
        guard case .success(let parsed) = loaded else {
            if case .failure(let errors) = loaded { errors.messages.forEach(printError) }
            return 2
        }
        var logger = Logger(threshold: parsed.config.logLevel, myid: nil, threadName: "main",
                            clockMs: { wallClockMilliseconds() },
                            sink: { line in try? standardOutput.write(Array((line + "\n").utf8)) })
        for warning in parsed.warnings { logger.warn(warning) }
        for notice in options.notices + parsed.notices { logger.info(notice) }
        var config = parsed.config
        if !config.isStandalone {
            switch loadMyID(config) {
            case .success(let id):
                config.myID = id
                logger.myid = String(id.rawValue)  // `[myid:N]` on every line from here on, as Apache's
            case .failure(let errors):
                errors.messages.forEach { logger.error($0); printError($0) }
                return 2
            }
        }
        do {
            let server = try Server(config: config, logger: logger)
            try server.start()
            try server.run()
            return 0
        } catch {
            logger.error(error.description)
            printError(error.description)
            return 1
        }
    }

    /// An ensemble member's id: `dataDir/myid`, which must name one of the `server.N` lines.
    static func loadMyID(_ config: ServerConfig) -> Result<ServerID, ConfigErrors> {
        let path = config.dataDir + "/myid"
        let bytes: [UInt8]
        do { bytes = try FileSystem.readFile(path) } catch {
            return .failure(ConfigErrors(["\(path): cannot read the myid file, which each server of an ensemble needs (the N of its server.N line): \(error)"]))
        }
        switch ConfigParser.parseMyID(fileContents: String(decoding: bytes, as: UTF8.self), source: path) {
        case .failure(let errors): return .failure(errors)
        case .success(let id):
            if case .failure(let errors) = ConfigParser.validate(myid: id, for: config, source: path) { return .failure(errors) }
            return .success(id)
        }
    }

    static func loadConfig(path: String?, commandLine: JVMOptions) -> Result<ParsedConfig, ConfigErrors> {
        guard let path else {
            let cwd = (try? SystemInfo.currentDirectory()) ?? "."
            return ConfigParser.apply(commandLine, to: ServerConfig.embeddedDefaults(workingDirectory: cwd))
        }
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(path)
        } catch {
            return .failure(ConfigErrors(["\(path): cannot read the configuration file: \(error)"]))
        }
        let text = String(decoding: bytes, as: UTF8.self)
        let parsed = ConfigParser.parse(text, source: path, commandLine: commandLine).map { parsed in
            var parsed = parsed
            parsed.config.initialConfiguration = text
            return parsed
        }
        guard case .success(let base) = parsed, let dynamicPath = base.config.dynamicConfigFile else { return parsed }
        // The 3.5+ layout (Apache rewrites zoo.cfg into it): the servers live in a file of their own.
        let dynamicBytes: [UInt8]
        do {
            dynamicBytes = try FileSystem.readFile(dynamicPath)
        } catch {
            return .failure(ConfigErrors(["\(path): dynamicConfigFile \(dynamicPath): cannot read it: \(error)"]))
        }
        return ConfigParser.applyDynamicConfig(String(decoding: dynamicBytes, as: UTF8.self), source: dynamicPath, to: base.config)
            .map { dynamic in
                ParsedConfig(config: dynamic.config, warnings: base.warnings + dynamic.warnings, notices: base.notices + dynamic.notices)
            }
    }
}
