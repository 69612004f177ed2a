import Testing
import ZKCore
import ZKPosix
@testable import ZKServer

/// `server.N` lines make an ensemble member (they used to make each server run standalone: three
/// independent writable trees). A member needs `dataDir/myid` naming one of those lines; without it
/// the server refuses to start, before touching the data directory, with a message naming the file.
@Suite struct EnsembleStartupTests {
    private func writeConfig(_ directory: String, myid: String?) throws -> String {
        let path = directory + "/zoo.cfg"
        let text = "dataDir=\(directory)/data\nclientPort=0\ninitLimit=5\nsyncLimit=2\nserver.1=127.0.0.1:2888:3888\nserver.2=127.0.0.2:2888:3888\n"
        try FileSystem.writeFileAtomically(path, bytes: Array(text.utf8))
        if let myid {
            try FileSystem.makeDirectories(directory + "/data")
            try FileSystem.writeFileAtomically(directory + "/data/myid", bytes: Array(myid.utf8))
        }
        return path
    }

    private func config(_ path: String) throws -> ServerConfig {
        switch ServerMain.loadConfig(path: path, commandLine: JVMOptions()) {
        case .success(let parsed): return parsed.config
        case .failure(let errors): Issue.record("\(errors.messages)"); throw errors
        }
    }

    @Test func aMissingMyidIsRefusedWithExitStatusTwo() throws {
        let directory = try FileSystem.makeTemporaryDirectory(prefix: "zkmyid")
        defer { try? FileSystem.removeRecursively(directory) }
        let path = try writeConfig(directory, myid: nil)
        guard case .failure(let errors) = ServerMain.loadMyID(try config(path)) else {
            Issue.record("a missing myid was accepted")
            return
        }
        #expect(errors.messages.first?.hasPrefix("\(directory)/data/myid: cannot read the myid file") == true)
        #expect(ServerMain.run(arguments: [path]) == 2)
        #expect(!FileSystem.fileExists(directory + "/data/version-2"), "refused before touching the data directory")
    }

    @Test func aMyidWithoutAServerLineIsRefused() throws {
        let directory = try FileSystem.makeTemporaryDirectory(prefix: "zkmyid")
        defer { try? FileSystem.removeRecursively(directory) }
        let path = try writeConfig(directory, myid: "7\n")
        guard case .failure(let errors) = ServerMain.loadMyID(try config(path)) else {
            Issue.record("myid 7 was accepted without a server.7 line")
            return
        }
        #expect(errors.messages.first?.contains("myid 7 has no server.7 line") == true)
        #expect(ServerMain.run(arguments: [path]) == 2)
    }

    @Test func aListedMyidIsLoaded() throws {
        let directory = try FileSystem.makeTemporaryDirectory(prefix: "zkmyid")
        defer { try? FileSystem.removeRecursively(directory) }
        let path = try writeConfig(directory, myid: "2\n")
        #expect(try ServerMain.loadMyID(try config(path)).get() == ServerID(2))
    }

    @Test func oneVotingServerIsStandalone() throws {
        // One voting server with standaloneEnabled (the default) is standalone in Apache too.
        switch ConfigParser.parse("dataDir=/tmp/zk\nclientPort=2181\nserver.1=localhost:2888:3888\n", source: "zoo.cfg") {
        case .success(let parsed): #expect(parsed.config.isStandalone)
        case .failure(let errors): Issue.record("\(errors.messages)")
        }
    }
}
