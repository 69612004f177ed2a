import Testing
import ZKCore
import ZKProtocol
@testable import ZKClient

@Suite struct ClientSmokeTests {
    @Test func basicOperations() throws {
        let server = try TestServer()
        defer { server.stop() }
        let zk = try ZooKeeperClient(connectString: server.connectString, sessionTimeoutMs: 10_000)
        defer { zk.close() }
        #expect(zk.waitUntilConnected(timeoutMs: 5000))
        #expect(try zk.create("/a", data: Array("x".utf8)) == "/a")
        let (data, stat) = try zk.getData("/a")
        #expect(data == Array("x".utf8) && stat.version == 0)
        #expect(try zk.setData("/a", data: [1]).version == 1)
        #expect(try zk.exists("/missing") == nil)
        #expect(throws: ZooKeeperError(.nodeExists, path: "/a")) { try zk.create("/a") }
        #expect(try zk.create("/a/s-", mode: .persistentSequential) == "/a/s-0000000000")
        #expect(try zk.getChildren("/a") == ["s-0000000000"])
    }
}
