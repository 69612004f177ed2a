import Testing
import ZKCore
import ZKProtocol
import ZKPosix
@testable import ZKClient

/// Sessions against a real in-process zk-server: reconnect and resume, watch replay, expiry,
/// close. The network is cut with `dropConnectionForTesting()` (the client closes its socket) or
/// with a `TestProxy` (the connection dies in between, and the proxy can keep the client away).
@Suite struct ClientSessionTests {
    @Test func droppedConnectionResumesTheSameSession() throws {
        let server = try TestServer()
        defer { server.stop() }
        let events = EventRecorder()
        let zk = try connectedClient(server.connectString, watcher: events.watcher)
        defer { zk.close() }
        let observer = try connectedClient(server.connectString)
        defer { observer.close() }
        let session = zk.sessionID
        try zk.create("/eph", data: bytes("e"), mode: .ephemeral)

        zk.dropConnectionForTesting()
        #expect(events.wait { $0 == [connectionEvent(.syncConnected), connectionEvent(.disconnected), connectionEvent(.syncConnected)] },
                "default watcher: \(events.all)")
        #expect(zk.state == .connected)
        #expect(zk.sessionID == session)
        #expect(try zk.getData("/eph").1.ephemeralOwner == session.rawValue)
        #expect(try observer.getData("/eph").1.ephemeralOwner == session.rawValue, "the ephemeral survived")
        #expect(try zk.getEphemerals() == ["/eph"])
    }

    @Test func connectionKilledInTheNetworkResumesAndQueuedRequestsComplete() throws {
        let server = try TestServer()
        defer { server.stop() }
        let proxy = try TestProxy(upstreamPort: server.port)
        defer { proxy.stop() }
        let events = EventRecorder()
        let zk = try connectedClient(proxy.connectString, watcher: events.watcher)
        defer { zk.close() }
        let session = zk.sessionID
        try zk.create("/eph", mode: .ephemeral)

        proxy.hold()
        proxy.dropConnections()
        #expect(events.wait(forState: .disconnected))
        #expect(zk.state == .disconnected)
        let log = CompletionLog()
        zk.submit(.create(path: "/while-away", data: [], acl: ACL.openACLUnsafe, mode: .persistent, ttl: nil, withStat: false),
                  completion: log.callback(0))
        zk.submit(.exists(path: "/eph", watch: .none), completion: log.callback(1))
        #expect(log.count == 0, "requests wait while disconnected")
        proxy.release()
        #expect(log.wait(forCount: 2))
        #expect(log.all.map(\.0) == [0, 1])
        #expect(try log.all[0].1.get() == .created(path: "/while-away", stat: nil))
        guard case .stat(let stat)? = try? log.all[1].1.get() else {
            Issue.record("exists failed: \(log.all[1].1)")
            return
        }
        #expect(stat.ephemeralOwner == session.rawValue)
        #expect(zk.sessionID == session)
        #expect(events.states == [.syncConnected, .disconnected, .syncConnected])
    }

    @Test func watchesAreReplayedAfterReconnect() throws {
        let server = try TestServer()
        defer { server.stop() }
        let proxy = try TestProxy(upstreamPort: server.port)
        defer { proxy.stop() }
        let other = try connectedClient(server.connectString)
        defer { other.close() }
        try other.create("/data", data: bytes("v0"))
        try other.create("/parent")
        try other.create("/doomed")

        let events = EventRecorder()
        let custom = EventRecorder()
        let zk = try connectedClient(proxy.connectString, watcher: events.watcher)
        defer { zk.close() }
        _ = try zk.getData("/data", watch: .default)
        _ = try zk.getData("/data", watch: .custom(custom.watcher))
        _ = try zk.getChildren("/parent", watch: .default)
        #expect(try zk.exists("/later", watch: .default) == nil)
        _ = try zk.getData("/doomed", watch: .default)
        expectError(.noNode) { try zk.getData("/untouched", watch: .default) }  // a failed read sets no watch

        proxy.hold()
        proxy.dropConnections()
        #expect(events.wait(forState: .disconnected))
        try other.setData("/data", data: bytes("v1"))
        try other.create("/parent/child")
        try other.create("/later")
        try other.delete("/doomed")
        try other.create("/untouched")
        proxy.release()

        let expected = [node(.nodeDataChanged, "/data"), node(.nodeChildrenChanged, "/parent"),
                        node(.nodeCreated, "/later"), node(.nodeDeleted, "/doomed")]
        #expect(events.wait { all in expected.allSatisfy(all.contains) }, "default watcher: \(events.all)")
        #expect(custom.wait(for: node(.nodeDataChanged, "/data")))
        #expect(events.states == [.syncConnected, .disconnected, .syncConnected])

        // The replayed watches fired, so they are gone (one-shot).
        try other.setData("/data", data: bytes("v2"))
        try other.create("/parent/child2")
        try barrier(zk)
        #expect(events.nodeEvents.count == 4, "\(events.nodeEvents)")
    }

    @Test func unchangedWatchesAreReRegisteredAndFireLater() throws {
        let server = try TestServer()
        defer { server.stop() }
        let other = try connectedClient(server.connectString)
        defer { other.close() }
        try other.create("/quiet", data: [])
        let events = EventRecorder()
        let zk = try connectedClient(server.connectString, watcher: events.watcher)
        defer { zk.close() }
        _ = try zk.getData("/quiet", watch: .default)
        zk.dropConnectionForTesting()
        #expect(events.wait { $0.filter { $0.type == .none }.count == 3 })
        #expect(events.nodeEvents.isEmpty, "nothing changed while away")
        try other.setData("/quiet", data: [1])
        #expect(events.wait(for: node(.nodeDataChanged, "/quiet")))
    }

    @Test func sessionClosedElsewhereExpiresTheClientOnReconnect() throws {
        let server = try TestServer()
        defer { server.stop() }
        let proxy = try TestProxy(upstreamPort: server.port)
        defer { proxy.stop() }
        let events = EventRecorder()
        let zk = try connectedClient(proxy.connectString, watcher: events.watcher)
        defer { zk.close() }
        try zk.create("/eph", mode: .ephemeral)
        let session = zk.sessionID
        let password = zk.sessionPassword

        proxy.hold()
        proxy.dropConnections()
        #expect(events.wait(forState: .disconnected))
        // Another client takes the session over (same id and password) and closes it.
        let twin = try connectedClient(server.connectString, sessionID: session, password: password)
        #expect(twin.sessionID == session)
        #expect(try twin.exists("/eph")?.ephemeralOwner == session.rawValue)
        twin.close()
        let observer = try connectedClient(server.connectString)
        defer { observer.close() }
        #expect(try observer.exists("/eph") == nil, "closing the session deleted its ephemerals")

        proxy.release()
        #expect(events.wait(forState: .expired))
        #expect(zk.state == .expired)
        #expect(events.states == [.syncConnected, .disconnected, .expired])
        expectError(.sessionExpired) { try zk.getData("/eph") }
        expectError(.sessionExpired) { try zk.create("/new") }
        #expect(!zk.waitUntilConnected(timeoutMs: waitMs))
    }

    @Test func sessionTimeoutOnTheServerExpiresTheClient() throws {
        let server = try TestServer()
        defer { server.stop() }
        let proxy = try TestProxy(upstreamPort: server.port)
        defer { proxy.stop() }
        let events = EventRecorder()
        let zk = try connectedClient(proxy.connectString, timeoutMs: 1000, watcher: events.watcher)
        defer { zk.close() }
        #expect(zk.negotiatedTimeoutMs == 1000)
        try zk.create("/eph", mode: .ephemeral)
        let observer = try connectedClient(server.connectString)
        defer { observer.close() }
        let deletion = EventRecorder()
        #expect(try observer.exists("/eph", watch: .custom(deletion.watcher)) != nil)

        proxy.hold()
        proxy.dropConnections()
        #expect(deletion.wait(for: node(.nodeDeleted, "/eph")), "the server expires the session")
        proxy.release()
        #expect(events.wait(forState: .expired))
        #expect(zk.state == .expired)
        expectError(.sessionExpired) { try zk.exists("/eph") }
    }

    @Test func closeDeletesEphemeralsAndEndsTheClient() throws {
        let server = try TestServer()
        defer { server.stop() }
        let observer = try connectedClient(server.connectString)
        defer { observer.close() }
        let events = EventRecorder()
        let zk = try connectedClient(server.connectString, watcher: events.watcher)
        try zk.create("/eph", mode: .ephemeral)
        try zk.create("/kept")
        let deletion = EventRecorder()
        #expect(try observer.exists("/eph", watch: .custom(deletion.watcher)) != nil)
        zk.close()
        #expect(zk.state == .closed)
        #expect(events.all.last == connectionEvent(.closed), "close() returns after the Closed event was delivered")
        #expect(deletion.wait(for: node(.nodeDeleted, "/eph")))
        #expect(try observer.exists("/eph") == nil)
        #expect(try observer.exists("/kept") != nil)
        zk.close()  // a second close is a no-op
        #expect(zk.state == .closed)
    }

    /// `ZooKeeperClient.close()` joins the IO thread; a request submitted afterwards is queued in
    /// the inbox that nobody reads any more, so its completion never runs and `call` blocks forever.
    @Test
    func requestAfterCloseFailsAtOnce() throws {
        let server = try TestServer()
        defer { server.stop() }
        let zk = try connectedClient(server.connectString)
        zk.close()
        let log = CompletionLog()
        zk.submit(.exists(path: "/", watch: .none), completion: log.callback(0))
        #expect(log.wait(forCount: 1, timeoutMs: 2000), "the completion never ran")
        if let (_, result) = log.all.first {
            #expect(result == .failure(ZooKeeperError(.sessionExpired, path: "/")), "Java: SESSIONEXPIRED after close")
        }
    }

    /// Java allows a synchronous call in a watcher (the classic re-arming `getData(path, true)`),
    /// finishing synchronous requests on its SendThread; blocking calls here complete on the IO
    /// thread for the same reason.
    @Test
    func blockingCallFromAWatcherCompletes() throws {
        let server = try TestServer()
        defer { server.stop() }
        let outcome = CompletionLog()
        let box = ClientBox()
        let zk = try connectedClient(server.connectString, watcher: { event in
            guard event.type == .nodeDataChanged, let zk = box.client else { return }
            // A blocking call from inside a watcher (the classic re-arming read) must complete.
            let completed = (try? zk.getData("/w", watch: .default)) != nil
            outcome.callback(completed ? 1 : 0)(.success(.none))
        })
        defer { zk.close() }
        box.client = zk
        try zk.create("/w")
        _ = try zk.getData("/w", watch: .default)
        try zk.setData("/w", data: [1])
        #expect(outcome.wait(forCount: 1))
        #expect(outcome.all.first?.0 == 1, "the completion waited for inside the watcher never ran")
    }

    /// Java allows `close()` from a watcher.
    @Test
    func closeFromAWatcher() throws {
        let server = try TestServer()
        defer { server.stop() }
        let done = CompletionLog()
        let box = ClientBox()
        let zk = try connectedClient(server.connectString, watcher: { event in
            guard event.type == .nodeDataChanged, let zk = box.client else { return }
            zk.close()
            done.callback(0)(.success(.none))
        })
        box.client = zk
        try zk.create("/w")
        _ = try zk.getData("/w", watch: .default)
        try zk.setData("/w", data: [1])
        #expect(done.wait(forCount: 1))
        #expect(zk.state == .closed)
    }

    @Test func closeWhileNeverConnectedReturns() throws {
        let closedPort = try unusedPort()
        let events = EventRecorder()
        let zk = try ZooKeeperClient(connectString: "127.0.0.1:\(closedPort)", sessionTimeoutMs: 10_000, watcher: events.watcher)
        #expect(!zk.waitUntilConnected(timeoutMs: 200))
        #expect(zk.state == .connecting)
        let log = CompletionLog()
        zk.submit(.exists(path: "/", watch: .none), completion: log.callback(0))
        zk.close()
        #expect(zk.state == .closed)
        #expect(log.wait(forCount: 1))
        #expect(log.all.first.map { (try? $0.1.get()) == nil } == true, "the queued request failed")
        #expect(events.all == [connectionEvent(.closed)])
    }

    @Test func secondHostIsUsedWhenTheFirstRefuses() throws {
        let server = try TestServer()
        defer { server.stop() }
        let closedPort = try unusedPort()
        // The start host is random; with three refusing hosts in front, most runs go through a refusal.
        let text = "127.0.0.1:\(closedPort),127.0.0.1:\(closedPort),127.0.0.1:\(closedPort),127.0.0.1:\(server.port)"
        for _ in 0..<3 {
            let zk = try connectedClient(text)
            #expect(zk.connectedHost == "127.0.0.1:\(server.port)")
            #expect(try zk.exists("/") != nil)
            zk.close()
        }
    }
}

final class ClientBox: @unchecked Sendable {
    var client: ZooKeeperClient?
}

/// A loopback port nothing listens on (bound, then released).
func unusedPort() throws -> UInt16 {
    let listener = try TCPListener(host: "127.0.0.1", port: 0)
    defer { listener.close() }
    return listener.localPort
}
