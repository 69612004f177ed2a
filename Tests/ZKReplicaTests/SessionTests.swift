import Testing
@testable import ZKCore
@testable import ZKProtocol
@testable import ZKDataTree
@testable import ZKReplica

@Suite struct SessionCreationTests {
    @Test(arguments: [
        (Int32(1000), Int32(4000)), (0, 4000), (-5, 4000), (4000, 4000), (10_000, 10_000), (40_000, 40_000),
        (40_001, 40_000), (1_000_000, 40_000),
    ])
    func timeoutIsClampedToMinAndMax(requested: Int32, negotiated: Int32) throws {
        let h = Harness()
        let c = h.open()
        h.sendConnect(c, ConnectRequest(timeOut: requested))
        h.sync()
        let response = try #require(h.takeConnectResponse(c))
        #expect(response.timeOut == negotiated)
        #expect(h.logEntries.first?.txn == .createSession(timeOutMs: negotiated))
    }

    @Test func configuredBounds() throws {
        let h = Harness { $0.minSessionTimeoutMs = 6000; $0.maxSessionTimeoutMs = 9000 }
        for (requested, expected) in [(Int32(100), Int32(6000)), (7000, 7000), (60_000, 9000)] {
            let c = h.open()
            h.sendConnect(c, ConnectRequest(timeOut: requested))
            h.sync()
            #expect(h.takeConnectResponse(c)?.timeOut == expected)
        }
    }

    @Test func firstSessionIdAndPassword() throws {
        let h = Harness()
        let c = h.open()
        h.sendConnect(c, ConnectRequest(timeOut: 30_000))
        // createSession consumes zxid 1 and is logged before anything is answered.
        #expect(h.take(c).isEmpty)
        let entry = try #require(h.logEntries.first)
        #expect(h.logEntries.count == 1)
        #expect(entry.zxid == 1)
        #expect(entry.header.type == OpCode.createSession.rawValue)
        #expect(entry.header.time == h.clock.wallMs)
        #expect(entry.txn == .createSession(timeOutMs: 30_000))
        h.sync()
        let response = try #require(h.takeConnectResponse(c))
        #expect(response.protocolVersion == 0)
        #expect(response.sessionId == entry.header.clientId)
        #expect(UInt64(bitPattern: response.sessionId) == 0x0100_0000_0000_0000)
        #expect(response.sessionId >> 56 == 1)
        #expect(response.passwd == sessionPassword(for: SessionID(response.sessionId)))
        #expect(response.passwd == bytes("f22acd4a97e69d6d20a49bb638eadb38"))
        #expect(response.readOnly == false)
        #expect(h.replica.lastProcessedZxid == Zxid(1))
        #expect(h.replica.outstandingRequests == 0)
    }

    @Test func sessionIdsCountUpWithTheServerIdInTheTopByte() {
        let h = Harness()
        let ids = (0..<3).map { _ in h.connect().1.rawValue }
        #expect(ids == [ids[0], ids[0] + 1, ids[0] + 2])
        #expect(ids.allSatisfy { $0 >> 56 == 1 })

        let seeded = Harness { $0.serverID = ServerID(7); $0.sessionIDSeedMs = 0x0a1b_2c3d }
        let id = seeded.connect().1.rawValue
        #expect(id >> 56 == 7)
        #expect(UInt64(bitPattern: id) == 0x0700_0a1b_2c3d_0000)
    }

    @Test func oldClientGetsNoReadOnlyByte() throws {
        let h = Harness()
        let c = h.open()
        h.sendConnect(c, ConnectRequest(timeOut: 30_000, readOnly: nil))
        h.sync()
        guard case .send(_, let frame)? = h.effects.last(where: { if case .send = $0 { return true } else { return false } })
        else { Issue.record("nothing sent"); return }
        #expect(frame.count == 4 + 36)
        #expect(h.takeConnectResponse(c)?.readOnly == nil)
        // A client that sent the byte gets it back: 37 bytes.
        let c2 = h.open()
        h.sendConnect(c2, ConnectRequest(timeOut: 30_000, readOnly: true))
        h.sync()
        guard case .send(c2, let frame2)? = h.effects.last(where: { if case .send = $0 { return true } else { return false } })
        else { Issue.record("nothing sent"); return }
        #expect(frame2.count == 4 + 37)
    }

    @Test func firstCreateGetsZxidTwo() throws {
        let h = Harness()
        let (c, session) = h.connect()
        let reply = h.create(c, "/a")
        #expect(reply.err == .ok)
        #expect(reply.zxid == 2)
        #expect(h.logEntries.map(\.zxid) == [1, 2])
        #expect(h.logEntries[1].header.clientId == session.rawValue)
        #expect(h.logEntries[1].header.cxid == reply.xid)
        #expect(h.replica.tree.node("/a")?.stat.czxid == 2)
    }

    @Test func clientThatHasSeenANewerZxidIsRefused() {
        let h = Harness()
        let c = h.open()
        h.sendConnect(c, ConnectRequest(lastZxidSeen: 5, timeOut: 30_000))
        #expect(h.logEntries.isEmpty)
        #expect(h.take(c).map(\.isClose) == [true])
    }

    @Test func malformedConnectRequestCloses() {
        let h = Harness()
        let c = h.open()
        h.sendFrame(c, [0, 0, 0, 0, 1])
        #expect(h.take(c).map(\.isClose) == [true])
        #expect(h.logEntries.isEmpty)
        #expect(h.replica.outstandingRequests == 0)
        // Input on a closing connection is ignored.
        h.sendConnect(c, ConnectRequest(timeOut: 30_000))
        #expect(h.logEntries.isEmpty)
    }
}

@Suite struct SessionLifecycleTests {
    @Test func reconnectWithThePasswordResumesTheSession() throws {
        let h = Harness()
        let (c1, session) = h.connect(timeoutMs: 10_000)
        #expect(h.create(c1, "/e", mode: .ephemeral).err == .ok)
        h.disconnect(c1)
        let entriesBefore = h.logEntries.count
        let c2 = h.open()
        h.sendConnect(c2, ConnectRequest(lastZxidSeen: 2, timeOut: 20_000, sessionId: session.rawValue,
                                         passwd: sessionPassword(for: session)))
        // Resuming is local: no txn, answered at once.
        #expect(h.logEntries.count == entriesBefore)
        let response = try #require(h.takeConnectResponse(c2))
        #expect(response.sessionId == session.rawValue)
        #expect(response.timeOut == 20_000)
        #expect(response.passwd == sessionPassword(for: session))
        #expect(!h.isClosed(c2))
        #expect(h.getData(c2, "/e").err == .ok)
        #expect(h.replica.tree.node("/e")?.stat.ephemeralOwner == session.rawValue)
    }

    @Test func resumingOnANewConnectionClosesTheOldOne() throws {
        let h = Harness()
        let (c1, session) = h.connect()
        let c2 = h.open()
        h.sendConnect(c2, ConnectRequest(timeOut: 30_000, sessionId: session.rawValue, passwd: sessionPassword(for: session)))
        #expect(h.takeConnectResponse(c2)?.sessionId == session.rawValue)
        #expect(h.isClosed(c1))
        #expect(!h.isClosed(c2))
    }

    @Test func wrongPasswordGetsAnExpiredResponseAndClose() throws {
        let h = Harness()
        let (_, session) = h.connect()
        let c2 = h.open()
        var wrong = sessionPassword(for: session)
        wrong[0] ^= 1
        h.sendConnect(c2, ConnectRequest(timeOut: 30_000, sessionId: session.rawValue, passwd: wrong))
        let messages = h.take(c2)
        #expect(messages.count == 2)
        guard case .connectResponse(let response)? = messages.first else { Issue.record("no response"); return }
        #expect(response.timeOut == 0)
        #expect(response.sessionId == 0)
        #expect(response.passwd == Array(repeating: 0, count: 16))
        #expect(messages.last?.isClose == true)
    }

    @Test func unknownSessionGetsAnExpiredResponse() throws {
        let h = Harness()
        let c = h.open()
        let ghost = SessionID(0x0100_0000_0000_0042)
        h.sendConnect(c, ConnectRequest(timeOut: 30_000, sessionId: ghost.rawValue, passwd: sessionPassword(for: ghost)))
        let response = try #require(h.takeConnectResponse(c))
        #expect(response.timeOut == 0)
        #expect(h.isClosed(c))
    }

    @Test func closeSessionRequestRepliesThenCloses() throws {
        let h = Harness()
        let (c, session) = h.connect()
        #expect(h.create(c, "/e", mode: .ephemeral).err == .ok)
        let xid = h.send(c, .closeSession)
        #expect(h.take(c).isEmpty)
        let entry = try #require(h.logEntries.last)
        #expect(entry.header.type == OpCode.closeSession.rawValue)
        #expect(entry.header.clientId == session.rawValue)
        #expect(entry.txn == .closeSession(ephemeralPaths: ["/e"]))
        h.sync()
        let messages = h.take(c)
        #expect(messages.count == 2)
        #expect(messages.first?.reply?.xid == xid)
        #expect(messages.first?.reply?.err == .ok)
        #expect(messages.first?.reply?.zxid == entry.zxid)
        #expect(messages.last?.isClose == true)
        #expect(h.replica.tree.node("/e") == nil)
        #expect(h.replica.outstandingRequests == 0)
        // The session is gone: resuming it fails.
        let c2 = h.open()
        h.sendConnect(c2, ConnectRequest(timeOut: 30_000, sessionId: session.rawValue, passwd: sessionPassword(for: session)))
        #expect(h.takeConnectResponse(c2)?.timeOut == 0)
    }

    @Test func sessionExpiresAfterItsTimeout() throws {
        let h = Harness()
        let (owner, session) = h.connect(timeoutMs: 4000)
        let (watcher, _) = h.connect(timeoutMs: 40_000)
        #expect(h.create(owner, "/p").err == .ok)
        #expect(h.create(owner, "/p/eph", mode: .ephemeral).err == .ok)
        #expect(h.exists(watcher, "/p/eph", watch: true).err == .ok)
        #expect(h.getChildren(watcher, "/p", watch: true).err == .ok)
        let before = h.logEntries.count

        h.advance(ms: 3999)
        h.tick()
        #expect(h.logEntries.count == before, "not expired yet")

        h.advance(ms: 2)
        h.tick()
        #expect(h.logEntries.count == before + 1)
        let entry = try #require(h.logEntries.last)
        #expect(entry.header.type == OpCode.closeSession.rawValue)
        #expect(entry.header.clientId == session.rawValue)
        #expect(entry.txn == .closeSession(ephemeralPaths: ["/p/eph"]))
        // A second tick does not propose it twice.
        h.tick()
        #expect(h.logEntries.count == before + 1)
        // Nothing is applied before the log is synced.
        #expect(h.replica.tree.node("/p/eph") != nil)
        #expect(h.peek(watcher).isEmpty)

        h.sync()
        #expect(h.replica.tree.node("/p/eph") == nil)
        #expect(h.replica.tree.ephemeralsCount == 0)
        let events = h.notifications(watcher)
        #expect(events == [.event(.nodeDeleted, "/p/eph"), .event(.nodeChildrenChanged, "/p")])
        #expect(h.isClosed(owner))
    }

    @Test func requestsKeepASessionAlive() {
        let h = Harness()
        let (c, _) = h.connect(timeoutMs: 4000)
        let before = h.logEntries.count
        for _ in 0..<5 {
            h.advance(ms: 3000)
            let ping = h.request(c, .ping, xid: SpecialXid.ping)
            #expect(ping.xid == SpecialXid.ping)
            #expect(ping.err == .ok)
            #expect(ping.zxid == 1)
            #expect(ping.body.isEmpty)
            h.tick()
        }
        #expect(h.logEntries.count == before)
        h.advance(ms: 4001)
        h.tick()
        #expect(h.logEntries.count == before + 1)
    }

    @Test func disconnectedSessionStillExpires() throws {
        let h = Harness()
        let (c, session) = h.connect(timeoutMs: 4000)
        h.disconnect(c)
        h.advance(ms: 4001)
        h.tick()
        let entry = try #require(h.logEntries.last)
        #expect(entry.header.type == OpCode.closeSession.rawValue)
        #expect(entry.header.clientId == session.rawValue)
        h.sync()
        // An expired session cannot be resumed.
        let c2 = h.open()
        h.sendConnect(c2, ConnectRequest(timeOut: 4000, sessionId: session.rawValue, passwd: sessionPassword(for: session)))
        #expect(h.takeConnectResponse(c2)?.timeOut == 0)
    }

    @Test func sessionInExpiryCannotBeResumed() {
        let h = Harness()
        let (c, session) = h.connect(timeoutMs: 4000)
        h.disconnect(c)
        h.advance(ms: 4001)
        h.tick()  // closeSession proposed, not yet synced
        let c2 = h.open()
        h.sendConnect(c2, ConnectRequest(timeOut: 4000, sessionId: session.rawValue, passwd: sessionPassword(for: session)))
        #expect(h.takeConnectResponse(c2)?.timeOut == 0)
        #expect(h.isClosed(c2))
    }

    @Test func requestsPipelinedBehindTheConnectRequestWaitForTheSession() throws {
        let h = Harness()
        let c = h.open()
        h.sendConnect(c, ConnectRequest(timeOut: 30_000))
        let read = h.send(c, .exists, PathWatchRequest(path: "/", watch: false))
        let write = h.send(c, .create, CreateRequest(path: "/early", data: nil, acl: ACL.openACLUnsafe, flags: 1))
        #expect(h.take(c).isEmpty)
        #expect(h.logEntries.map(\.zxid) == [1, 2])
        h.sync()
        let messages = h.take(c)
        #expect(messages.count == 3)
        guard case .connectResponse(let response)? = messages.first else { Issue.record("\(messages)"); return }
        #expect(messages.dropFirst().compactMap(\.reply).map(\.xid) == [read, write])
        #expect(messages.last?.reply?.err == .ok)
        #expect(h.replica.tree.node("/early")?.stat.ephemeralOwner == response.sessionId)
    }

    @Test func closeSessionIncludesEphemeralsStillInFlight() throws {
        let h = Harness()
        let (c, _) = h.connect()
        #expect(h.create(c, "/p").err == .ok)
        #expect(h.create(c, "/p/old", mode: .ephemeral).err == .ok)
        h.send(c, .create, CreateRequest(path: "/p/new", data: nil, acl: ACL.openACLUnsafe, flags: 1))
        h.send(c, .delete, PathVersionRequest(path: "/p/old", version: -1))
        h.send(c, .closeSession)
        let entry = try #require(h.logEntries.last)
        #expect(entry.txn == .closeSession(ephemeralPaths: ["/p/new"]))
        h.sync()
        #expect(h.replica.tree.node("/p/new") == nil)
        #expect(h.replica.tree.node("/p/old") == nil)
        #expect(h.replica.tree.ephemeralsCount == 0)
        #expect(h.take(c).compactMap(\.reply).map(\.err) == [.ok, .ok, .ok])
    }
}
