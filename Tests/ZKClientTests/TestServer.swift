import Testing
import Synchronization
import ZKCore
import ZKPosix
@testable import ZKServer

/// A real zk-server in this process, on an ephemeral port and a temporary data directory.
final class TestServer: @unchecked Sendable {
    let server: Server
    let directory: String
    private var thread: PosixThread?
    var port: UInt16 { server.clientPort }
    var connectString: String { "127.0.0.1:\(port)" }

    init(extra: [String] = []) throws {
        directory = try FileSystem.makeTemporaryDirectory(prefix: "zkclient")
        let text = (["dataDir=\(directory)", "clientPort=0", "clientPortAddress=127.0.0.1", "tickTime=500",
                     "minSessionTimeout=1000", "maxSessionTimeout=30000", "forceSync=no", "4lw.commands.whitelist=*"] + extra)
            .joined(separator: "\n")
        guard case .success(let parsed) = ConfigParser.parse(text, source: "test.cfg") else {
            throw TestServerError.config
        }
        let logger = Logger(threshold: .warn, clockMs: { wallClockMilliseconds() }, sink: { _ in })
        server = try Server(config: parsed.config, logger: logger)
        try server.start()
        let server = self.server
        thread = try PosixThread(name: "test-server") { try? server.run() }
    }

    func stop() {
        server.requestStop()
        thread?.join()
        thread = nil
        try? FileSystem.removeRecursively(directory)
    }

    deinit { stop() }
}

enum TestServerError: Error { case config }
