import Testing
import ZKCore
import ZKPosix
@testable import ZKServer

/// Trap: `server.N` lines used to make each server run standalone, so three servers configured as an
/// ensemble became three independent writable trees. Until Zab exists, such a configuration must
/// not start at all.
@Suite struct EnsembleRefusalTests {
    private func config(_ text: String) throws -> ServerConfig {
        switch ConfigParser.parse(text, source: "zoo.cfg") {
        case .success(let parsed): return parsed.config
        case .failure(let errors): Issue.record("\(errors.messages)"); throw errors
        }
    }

    @Test func threeServersAreRefusedWithAClearMessage() throws {
        let ensemble = try config("""
            tickTime=2000
            dataDir=/tmp/zk
            clientPort=2181
            initLimit=5
            syncLimit=2
            server.1=zk-0:2888:3888
            server.2=zk-1:2888:3888
            server.3=zk-2:2888:3888
            """)
        let refusal = try #require(ServerMain.ensembleRefusal(ensemble, source: "zoo.cfg"))
        #expect(refusal.hasPrefix("zoo.cfg: server.1, server.2, server.3 configure an ensemble"))
        #expect(refusal.contains("refusing to start"))
    }

    @Test func standaloneConfigurationsStart() throws {
        let plain = try config("dataDir=/tmp/zk\nclientPort=2181\n")
        #expect(ServerMain.ensembleRefusal(plain, source: "zoo.cfg") == nil)
        // One voting server with standaloneEnabled (the default) is standalone in Apache too.
        let single = try config("dataDir=/tmp/zk\nclientPort=2181\nserver.1=localhost:2888:3888\n")
        #expect(ServerMain.ensembleRefusal(single, source: "zoo.cfg") == nil)
    }

    @Test func theProcessExitsWithStatusTwo() throws {
        let directory = try FileSystem.makeTemporaryDirectory(prefix: "zkrefusal")
        defer { try? FileSystem.removeRecursively(directory) }
        let path = directory + "/zoo.cfg"
        let text = "dataDir=\(directory)/data\nclientPort=0\ninitLimit=5\nsyncLimit=2\nserver.1=127.0.0.1:2888:3888\nserver.2=127.0.0.2:2888:3888\n"
        try FileSystem.writeFileAtomically(path, bytes: Array(text.utf8))
        #expect(ServerMain.run(arguments: [path]) == 2)
        #expect(!FileSystem.fileExists(directory + "/data/version-2"), "refused before touching the data directory")
    }
}
