import Testing
import ZKCore
import ZKProtocol
@testable import ZKClient

/// `ClientCore` driven by hand: no sockets, no clock. Java's `ClientCnxn` is the reference for
/// every rule checked here.
@Suite struct ClientCoreConnectionTests {
    @Test func firstConnectRequestCarriesRequestedTimeoutAndNoSession() throws {
        var h = try CoreHarness(timeoutMs: 12_000)
        let request = h.connectSocket()
        #expect(request == ConnectRequest(protocolVersion: 0, lastZxidSeen: 0, timeOut: 12_000, sessionId: 0,
                                          passwd: Array(repeating: 0, count: 16), readOnly: false))
        #expect(h.core.state == .connecting)
        #expect(h.states.isEmpty && h.events.isEmpty)
    }

    @Test func readOnlyByteAndGivenSessionAreSent() throws {
        var h = try CoreHarness(timeoutMs: 5000, canBeReadOnly: true, sessionID: 0x77, password: Array(repeating: 9, count: 16))
        let request = h.connectSocket()
        #expect(request.readOnly == true)
        #expect(request.sessionId == 0x77 && request.passwd == Array(repeating: 9, count: 16))
    }

    @Test func handshakeOpensSessionAndNotifiesDefaultWatcher() throws {
        var h = try CoreHarness()
        h.open(sessionID: 0x42, password: Array(1...16), timeoutMs: 6000)
        #expect(h.core.state == .connected)
        #expect(h.states == [.connected])
        #expect(h.core.sessionID == 0x42 && h.core.password == Array(1...16) && h.core.negotiatedTimeoutMs == 6000)
        #expect(h.events.count == 1 && h.lastEvent == connectionEvent(.syncConnected))
        #expect(h.events[0].watchers.count == 1 && h.events[0].watchers[0] == nil)
    }

    @Test func readOnlyServerGivesConnectedReadOnly() throws {
        var h = try CoreHarness(canBeReadOnly: true)
        h.connectSocket()
        h.handle(.frame(CoreHarness.connectResponse(timeoutMs: 4000, sessionID: 5, password: Array(1...16), readOnly: true)))
        #expect(h.core.state == .connectedReadOnly)
        #expect(h.lastEvent == connectionEvent(.connectedReadOnly))
    }

    @Test func reconnectResumesSessionWithLastZxidSeen() throws {
        var h = try CoreHarness(timeoutMs: 9000)
        h.open(sessionID: 0x42, password: Array(1...16), timeoutMs: 6000)
        let id = h.submit(.getData(path: "/a", watch: .none))
        h.reply(toFrame: 1, zxid: 0x99, .data([1], Stat()))
        #expect(h.response(id) == .data([1], Stat()))
        #expect(h.core.lastZxidSeen == 0x99)
        h.handle(.disconnected("test"))
        let request = h.connectSocket()
        #expect(request == ConnectRequest(protocolVersion: 0, lastZxidSeen: 0x99, timeOut: 9000, sessionId: 0x42,
                                          passwd: Array(1...16), readOnly: false))
    }

    @Test func pingsAfterAThirdOfTheTimeoutOfSendIdleness() throws {
        var h = try CoreHarness()
        h.open(timeoutMs: 3000)  // read timeout 2000 ms, ping interval 1000 ms
        let sentAfterOpen = h.sent.count
        h.advance(to: 999)
        #expect(h.sent.count == sentAfterOpen)
        h.advance(to: 1000)
        #expect(h.sent.count == sentAfterOpen + 1)
        #expect(h.sent.last! == [0xFF, 0xFF, 0xFF, 0xFE, 0, 0, 0, 11])  // RequestHeader(xid -2, ping)
        h.handle(.frame(CoreHarness.reply(xid: SpecialXid.ping, zxid: 0x55)))
        #expect(h.core.lastZxidSeen == 0, "a ping reply does not move lastZxidSeen (Java)")
        #expect(h.completions.isEmpty)
        // A request resets send-idleness.
        h.nowMs = 1500
        h.submit(.exists(path: "/x", watch: .none))
        h.advance(to: 2499)
        #expect(h.sent.count == sentAfterOpen + 2)
        h.advance(to: 2500)
        #expect(h.sent.count == sentAfterOpen + 3)
        #expect(try CoreHarness.requestHeader(h.sent.last!) == RequestHeader(xid: SpecialXid.ping, type: OpCode.ping.rawValue))
        #expect(h.disconnects == 0)
    }

    @Test func connectionLostAfterTwoThirdsOfTheTimeoutOfReceiveIdleness() throws {
        var h = try CoreHarness()
        h.open(timeoutMs: 3000)
        let id = h.submit(.getData(path: "/slow", watch: .none))
        h.advance(to: 1000)
        h.advance(to: 2000)
        #expect(h.disconnects == 0 && h.core.state == .connected)
        h.advance(to: 2001)
        #expect(h.disconnects == 1)
        #expect(h.core.state == .disconnected)
        #expect(h.error(id) == .connectionLoss)
        #expect(h.lastEvent == connectionEvent(.disconnected))
        // Anything received resets receive-idleness.
        var g = try CoreHarness()
        g.open(timeoutMs: 3000)
        g.nowMs = 1900
        g.handle(.frame(CoreHarness.reply(xid: SpecialXid.ping, zxid: 0)))
        g.advance(to: 3900)
        #expect(g.disconnects == 0)
        g.advance(to: 3901)
        #expect(g.disconnects == 1)
    }

    @Test func requestsQueuedWhileConnectingAreSentAfterTheHandshake() throws {
        var h = try CoreHarness()
        let create = h.submit(.create(path: "/a", data: [1], acl: ACL.openACLUnsafe, mode: .persistent, ttl: nil, withStat: false))
        let get = h.submit(.getData(path: "/a", watch: .none))
        #expect(h.connects.count == 1, "submitting starts connecting")
        h.connectSocket()
        #expect(h.sent.count == 1, "only the ConnectRequest before the ConnectResponse")
        h.handle(.frame(CoreHarness.connectResponse(timeoutMs: 30_000, sessionID: 1, password: Array(1...16))))
        #expect(h.headers(from: 1) == [RequestHeader(xid: 1, type: OpCode.create.rawValue),
                                      RequestHeader(xid: 2, type: OpCode.getData.rawValue)])
        let body = try CoreHarness.body(h.sent[1], as: CreateRequest.self)
        #expect(body == CreateRequest(path: "/a", data: [1], acl: ACL.openACLUnsafe, flags: 0))
        #expect(try CoreHarness.body(h.sent[2], as: PathWatchRequest.self) == PathWatchRequest(path: "/a", watch: false))
        h.reply(toFrame: 1, zxid: 2, .path("/a"))
        h.reply(toFrame: 2, zxid: 2, .data([1], Stat.with(mzxid: 2)))
        #expect(h.response(create) == .created(path: "/a", stat: nil))
        #expect(h.response(get) == .data([1], Stat.with(mzxid: 2)))
        #expect(h.completionOrder == [create, get])
    }

    @Test func inFlightRequestsFailWithConnectionLossAndLaterOnesWait() throws {
        var h = try CoreHarness()
        h.open()
        let a = h.submit(.getData(path: "/a", watch: .none))
        let b = h.submit(.exists(path: "/b", watch: .none))
        h.handle(.disconnected("reset"))
        #expect(h.completions[a] == .failure(ZooKeeperError(.connectionLoss, path: "/a")))
        #expect(h.completions[b] == .failure(ZooKeeperError(.connectionLoss, path: "/b")))
        #expect(h.completionOrder == [a, b])
        #expect(h.core.state == .disconnected && h.states == [.connected, .disconnected])
        #expect(h.lastEvent == connectionEvent(.disconnected))
        let sentBefore = h.sent.count
        let c = h.submit(.getData(path: "/c", watch: .none))
        #expect(h.sent.count == sentBefore && h.completions[c] == nil, "queued while disconnected")
        h.open()
        #expect(h.headers(from: sentBefore + 1) == [RequestHeader(xid: 3, type: OpCode.getData.rawValue)], "xids keep counting")
        #expect(h.states == [.connected, .disconnected, .connected])
        #expect(h.events.map(\.event) == [connectionEvent(.syncConnected), connectionEvent(.disconnected), connectionEvent(.syncConnected)])
    }

    @Test func replyWithUnexpectedXidDropsTheConnection() throws {
        var h = try CoreHarness()
        h.open()
        let a = h.submit(.getData(path: "/a", watch: .none))
        let b = h.submit(.getData(path: "/b", watch: .none))
        h.reply(toFrame: 2, zxid: 3, .data(nil, Stat()))  // b's reply before a's
        #expect(h.disconnects == 1)
        #expect(h.error(a) == .connectionLoss && h.error(b) == .connectionLoss)
        #expect(h.core.state == .disconnected)
        // A reply when nothing is in flight is just as wrong.
        h.open()
        h.handle(.frame(CoreHarness.reply(xid: 77, zxid: 3)))
        #expect(h.disconnects == 2)
    }

    @Test func malformedFramesDropTheConnection() throws {
        var h = try CoreHarness()
        h.connectSocket()
        h.handle(.frame([0, 0, 0]))
        #expect(h.disconnects == 1 && h.core.state == .connecting)
        h.open()
        h.handle(.frame([0, 0]))
        #expect(h.disconnects == 2 && h.core.state == .disconnected)
    }

    @Test func hostsAreTriedInTurnWithAPauseAfterAFullRound() throws {
        var h = try CoreHarness("127.0.0.1:1,127.0.0.1:2,127.0.0.1:3", seed: 7)
        h.handle(.tick)
        h.handle(.connectFailed("refused"))
        h.handle(.tick)
        h.handle(.connectFailed("refused"))
        h.handle(.tick)
        #expect(h.connects.count == 3, "no pause before every host was tried once")
        #expect(Set(h.connects.map(\.port)) == [1, 2, 3])
        for k in 1..<3 { #expect(h.connects[k].port == h.connects[k - 1].port % 3 + 1, "in connect-string order") }
        h.handle(.connectFailed("refused"))
        #expect(h.states.isEmpty && h.events.isEmpty, "never connected: no Disconnected event")
        h.advance(to: 1000)  // the pause after a full round is at most a second
        #expect(h.connects.count == 4 && h.connects[3] == h.connects[0])
        // Once connected, the round starts again: the next failure is retried without a pause.
        h.handle(.connected)
        h.handle(.frame(CoreHarness.connectResponse(timeoutMs: 30_000, sessionID: 1, password: Array(1...16))))
        h.handle(.disconnected("reset"))
        h.handle(.tick)
        #expect(h.connects.count == 5 && h.connects[4].port == h.connects[3].port % 3 + 1)
    }

    @Test func connectAttemptTimesOut() throws {
        var h = try CoreHarness("127.0.0.1:1,127.0.0.1:2", timeoutMs: 10_000)  // 5000 ms per host
        h.handle(.tick)
        h.handle(.connected)
        h.advance(to: 5000)
        #expect(h.disconnects == 0)
        h.advance(to: 5001)
        #expect(h.disconnects == 1)
        h.handle(.tick)
        #expect(h.connects.count == 2 && h.connects[1] != h.connects[0])
    }

    @Test func expiredConnectResponseEndsTheSession() throws {
        var h = try CoreHarness()
        h.open(sessionID: 7)
        let inFlight = h.submit(.getData(path: "/a", watch: .none))
        h.handle(.disconnected("reset"))
        #expect(h.error(inFlight) == .connectionLoss)
        let queued = h.submit(.getData(path: "/b", watch: .default))
        #expect(h.connectSocket().sessionId == 7)
        let disconnects = h.disconnects
        h.handle(.frame(CoreHarness.connectResponse(timeoutMs: 0, sessionID: 0, password: Array(repeating: 0, count: 16))))
        #expect(h.core.state == .expired && h.states.last == .expired)
        #expect(h.completions[queued] == .failure(ZooKeeperError(.sessionExpired, path: "/b")))
        #expect(h.lastEvent == connectionEvent(.expired) && h.events.last!.watchers.count == 1)
        #expect(h.disconnects == disconnects + 1)
        let later = h.submit(.exists(path: "/c", watch: .none))
        #expect(h.error(later) == .sessionExpired)
        let connects = h.connects.count
        h.advance(to: h.nowMs + 10_000)
        #expect(h.connects.count == connects, "an expired client stops connecting")
    }

    @Test func authIsSentAfterHandshakeAndReplayedAfterReconnect() throws {
        var h = try CoreHarness()
        let first = h.submit(.addAuth(scheme: "digest", auth: bytes("u:p")))
        #expect(h.response(first) == Response.none, "addAuth completes at once, like Java's void addAuthInfo")
        h.open()
        #expect(h.headers(from: 1) == [RequestHeader(xid: SpecialXid.auth, type: OpCode.auth.rawValue)])
        #expect(try CoreHarness.body(h.sent[1], as: AuthPacket.self) == AuthPacket(type: 0, scheme: "digest", auth: bytes("u:p")))
        h.submit(.addAuth(scheme: "ip", auth: bytes("127.0.0.1")))
        #expect(try CoreHarness.body(h.sent[2], as: AuthPacket.self).scheme == "ip", "sent at once when connected")
        h.handle(.disconnected("reset"))
        let start = h.sent.count
        h.open()
        let replayed = try h.sent[(start + 1)...].map { try CoreHarness.body($0, as: AuthPacket.self) }
        #expect(h.headers(from: start + 1).allSatisfy { $0 == RequestHeader(xid: SpecialXid.auth, type: OpCode.auth.rawValue) })
        #expect(Set(replayed.map(\.scheme)) == ["digest", "ip"] && replayed.count == 2)
    }

    @Test func authFailedReplyEndsTheClient() throws {
        var h = try CoreHarness()
        h.open()
        h.submit(.addAuth(scheme: "bogus", auth: []))
        let pending = h.submit(.getData(path: "/a", watch: .none))
        h.handle(.frame(CoreHarness.reply(xid: SpecialXid.auth, zxid: 0, error: .authFailed)))
        #expect(h.core.state == .authFailed)
        #expect(h.error(pending) == .authFailed)
        #expect(h.lastEvent == connectionEvent(.authFailed))
        let later = h.submit(.getData(path: "/a", watch: .none))
        #expect(h.error(later) == .authFailed)
    }

    @Test func closeSendsCloseSessionAndFailsWhatIsLeft() throws {
        var h = try CoreHarness()
        h.open()
        let a = h.submit(.getData(path: "/a", watch: .none))
        h.handle(.close)
        #expect(h.headers(from: 2) == [RequestHeader(xid: 2, type: OpCode.closeSession.rawValue)])
        #expect(h.sent[2].count == 8, "closeSession has no body")
        h.reply(toFrame: 1, zxid: 4, .data(nil, Stat()))
        #expect(h.response(a) != nil)
        h.reply(toFrame: 2, zxid: 5)
        #expect(h.core.state == .closed && h.states.last == .closed)
        #expect(h.lastEvent == connectionEvent(.closed))
        #expect(h.disconnects == 1)
        let connects = h.connects.count
        h.advance(to: 60_000)
        #expect(h.connects.count == connects, "a closed client does not reconnect")
    }

    @Test func closeWhileDisconnectedFinishesAtOnce() throws {
        var h = try CoreHarness()
        h.open()
        h.handle(.disconnected("reset"))
        let queued = h.submit(.getData(path: "/q", watch: .none))
        let sent = h.sent.count
        h.handle(.close)
        #expect(h.sent.count == sent, "no closeSession without a connection (Java does not reconnect to close)")
        #expect(h.core.state == .closed)
        #expect(h.error(queued) == .connectionLoss)
    }

    /// Answered requests must not stay referenced while the pipeline never drains: the in-flight
    /// list is only emptied when every request has been answered (`inFlightHead == inFlight.count`),
    /// so a client that always has one request outstanding keeps every request it ever sent.
    @Test
    func answeredRequestsAreReleasedWhileOthersAreInFlight() throws {
        final class Payload: Sendable {}
        weak var weakPayload: Payload?
        var h = try CoreHarness()
        h.open()
        do {
            let payload = Payload()
            weakPayload = payload
            h.submit(.getData(path: "/x", watch: .custom { _ in withExtendedLifetime(payload) {} }))
        }
        var last = h.sent.count - 1
        for _ in 0..<100 {
            h.submit(.exists(path: "/y", watch: .none))  // keep one request outstanding
            h.reply(toFrame: last, zxid: 1, error: .noNode)
            last = h.sent.count - 1
        }
        #expect(h.core.outstanding == 1)
        #expect(h.core.watches.watchers.isEmpty, "the failed read's watcher was forgotten")
        #expect(weakPayload == nil, "the answered getData (and its watcher) is still held by the in-flight list")
    }

    /// Java: `ClientCnxn.queuePacket` on a client that is not alive calls `conLossPacket`, which
    /// answers SESSIONEXPIRED when the state is CLOSED (after close() as after expiry).
    @Test
    func requestAfterCloseFailsWithSessionExpiredLikeJava() throws {
        var h = try CoreHarness()
        h.open()
        h.handle(.close)
        h.reply(toFrame: 1, zxid: 5)
        let later = h.submit(.getData(path: "/a", watch: .none))
        #expect(h.error(later) == .sessionExpired)
    }
}

@Suite struct ClientCoreWatchTests {
    /// Registers a watch with a read and answers it; returns the reply's frame index.
    private func read(_ h: inout CoreHarness, _ request: Request, zxid: Int64 = 1, error: ErrorCode = .ok) {
        h.submit(request)
        let body: ResponseBody
        switch request {
        case .getData: body = .data(nil, Stat())
        case .exists: body = .stat(Stat())
        case .getChildren(_, _, let withStat): body = withStat ? .stringsAndStat([], Stat()) : .strings([])
        default: body = .none
        }
        h.reply(toFrame: h.sent.count - 1, zxid: zxid, error: error, body)
    }

    @Test func setWatchesAfterReconnectWithChrootAndLastZxid() throws {
        var h = try CoreHarness("127.0.0.1:2181/app")
        h.open()
        read(&h, .getData(path: "/a", watch: .default), zxid: 0x10)
        #expect(try CoreHarness.body(h.sent[1], as: PathWatchRequest.self) == PathWatchRequest(path: "/app/a", watch: true))
        read(&h, .exists(path: "/b", watch: .default), zxid: 0x11, error: .noNode)
        read(&h, .getChildren(path: "/", watch: .default, withStat: false), zxid: 0x12)
        #expect(try CoreHarness.body(h.sent[3], as: PathWatchRequest.self) == PathWatchRequest(path: "/app", watch: true))
        read(&h, .getData(path: "/missing", watch: .default), zxid: 0x13, error: .noNode)
        h.handle(.disconnected("reset"))
        #expect(h.connectSocket().lastZxidSeen == 0x13)
        let start = h.sent.count
        h.handle(.frame(CoreHarness.connectResponse(timeoutMs: 30_000, sessionID: 0x1234, password: Array(1...16))))
        #expect(h.sent.count == start + 1)
        let (op, record) = try CoreHarness.setWatches(h.sent[start])
        #expect(try CoreHarness.requestHeader(h.sent[start]).xid == SpecialXid.setWatches)
        #expect(op == OpCode.setWatches.rawValue)
        #expect(record == SetWatches(relativeZxid: 0x13, dataWatches: ["/app/a"], existWatches: ["/app/b"], childWatches: ["/app"]))
    }

    @Test func persistentWatchesUseSetWatches2() throws {
        var h = try CoreHarness("127.0.0.1:2181/app")
        h.open()
        read(&h, .getData(path: "/a", watch: .default), zxid: 3)
        read(&h, .addWatch(path: "/p", mode: .persistent, watch: .default), zxid: 4)
        #expect(try CoreHarness.body(h.sent[2], as: PathTypeRequest.self) == PathTypeRequest(path: "/app/p", type: 0))
        read(&h, .addWatch(path: "/", mode: .persistentRecursive, watch: .default), zxid: 5)
        h.handle(.disconnected("reset"))
        h.open()
        let (op, record) = try CoreHarness.setWatches(h.sent.last!)
        #expect(op == OpCode.setWatches2.rawValue)
        #expect(record == SetWatches(relativeZxid: 5, dataWatches: ["/app/a"], existWatches: [], childWatches: [],
                                     persistentWatches: ["/app/p"], persistentRecursiveWatches: ["/app"]))
    }

    @Test func noSetWatchesWithoutWatchesAndFiredWatchesAreNotReplayed() throws {
        var h = try CoreHarness()
        h.open()
        h.handle(.disconnected("reset"))
        var start = h.sent.count
        h.open()
        #expect(h.sent.count == start + 1, "only the ConnectRequest")
        read(&h, .getData(path: "/a", watch: .default), zxid: 8)
        read(&h, .getData(path: "/b", watch: .default), zxid: 9)
        h.notify(.nodeDataChanged, "/a")
        h.handle(.disconnected("reset"))
        start = h.sent.count
        h.open()
        #expect(try CoreHarness.setWatches(h.sent[start + 1]).record.dataWatches == ["/b"])
    }

    @Test func watchOfARequestLostWithTheConnectionIsNotRegistered() throws {
        var h = try CoreHarness()
        h.open()
        let tags = WatcherTags()
        h.submit(.getData(path: "/a", watch: tags.watcher("lost")))
        h.handle(.disconnected("reset"))
        let start = h.sent.count
        h.open()
        #expect(h.sent.count == start + 1, "no SetWatches for a watch whose read never completed")
        #expect(h.core.watches.isEmpty)
    }

    @Test func setWatchesIsSplitIntoFramesOfAbout128KB() throws {
        var h = try CoreHarness()
        h.open()
        let long = String(repeating: "x", count: 1000)
        let paths = (0..<300).map { "/\(long)\($0)" }
        for p in paths { read(&h, .getData(path: p, watch: .default)) }
        h.handle(.disconnected("reset"))
        let start = h.sent.count
        h.open()
        let frames = h.sent[(start + 1)...]
        #expect(frames.count == 3)
        var seen: [String] = []
        for frame in frames {
            #expect(frame.count <= 128 * 1024 + 2 * 1024)
            seen += try CoreHarness.setWatches(frame).record.dataWatches
        }
        #expect(seen.sorted() == paths.sorted())
    }

    @Test func oneShotWatchesFireOnceForTheirEventTypes() throws {
        var h = try CoreHarness()
        let tags = WatcherTags()
        h.open()
        read(&h, .getData(path: "/d", watch: tags.watcher("data")))
        read(&h, .getData(path: "/d", watch: .default))
        read(&h, .exists(path: "/d", watch: tags.watcher("exists-found")))
        read(&h, .exists(path: "/e", watch: tags.watcher("exists-missing")), error: .noNode)
        read(&h, .getChildren(path: "/d", watch: tags.watcher("child"), withStat: true))
        read(&h, .getData(path: "/gone", watch: tags.watcher("failed-read")), error: .noNode)
        var n = h.events.count
        h.notify(.nodeDataChanged, "/d")
        #expect(h.events.count == n + 1)
        #expect(h.lastEvent == node(.nodeDataChanged, "/d"))
        #expect(h.recipients(n, tags: tags) == ["data", "default", "exists-found"])
        n = h.events.count
        h.notify(.nodeDataChanged, "/d")
        #expect(h.events.count == n, "one-shot: nobody left to tell")
        h.notify(.nodeCreated, "/e")
        #expect(h.recipients(n, tags: tags) == ["exists-missing"])
        n = h.events.count
        h.notify(.nodeChildrenChanged, "/d")
        #expect(h.recipients(n, tags: tags) == ["child"])
        n = h.events.count
        h.notify(.nodeDeleted, "/gone")
        h.notify(.nodeChildrenChanged, "/d")
        #expect(h.events.count == n, "a failed read sets no watch; the child watch fired already")
    }

    @Test func nodeDeletedFiresDataExistAndChildWatches() throws {
        var h = try CoreHarness()
        let tags = WatcherTags()
        h.open()
        read(&h, .getData(path: "/n", watch: tags.watcher("data")))
        read(&h, .getChildren(path: "/n", watch: tags.watcher("child"), withStat: false))
        let n = h.events.count
        h.notify(.nodeDeleted, "/n")
        #expect(h.recipients(n, tags: tags) == ["data", "child"])
    }

    @Test func defaultWatcherIsToldOncePerEvent() throws {
        var h = try CoreHarness()
        h.open()
        read(&h, .getData(path: "/x", watch: .default))
        read(&h, .getData(path: "/x", watch: .default))
        read(&h, .exists(path: "/x", watch: .default))
        read(&h, .getChildren(path: "/x", watch: .default, withStat: false))
        let n = h.events.count
        h.notify(.nodeDeleted, "/x")
        #expect(h.events.count == n + 1)
        #expect(h.events[n].watchers.count == 1 && h.events[n].watchers[0] == nil)
    }

    @Test func persistentWatchesFireUntilRemoved() throws {
        var h = try CoreHarness()
        let tags = WatcherTags()
        h.open()
        read(&h, .addWatch(path: "/p", mode: .persistent, watch: tags.watcher("p")))
        var n = h.events.count
        h.notify(.nodeDataChanged, "/p")
        h.notify(.nodeDataChanged, "/p")
        h.notify(.nodeChildrenChanged, "/p")
        h.notify(.nodeDeleted, "/p")
        h.notify(.nodeCreated, "/p")
        #expect(h.events.count == n + 5)
        for k in n..<(n + 5) { #expect(h.recipients(k, tags: tags) == ["p"]) }
        n = h.events.count
        h.notify(.nodeDataChanged, "/p/child")
        #expect(h.events.count == n, "a persistent watch is not recursive")
        // removeWatches(any) removes it locally once the server agrees, telling the watcher.
        h.submit(.removeWatches(path: "/p", type: .any))
        h.reply(toFrame: h.sent.count - 1, zxid: 9)
        #expect(h.lastEvent == node(.persistentWatchRemoved, "/p"))
        n = h.events.count
        h.notify(.nodeDataChanged, "/p")
        #expect(h.events.count == n)
    }

    @Test func recursiveWatchesFireForTheirSubtree() throws {
        var h = try CoreHarness()
        let tags = WatcherTags()
        h.open()
        read(&h, .addWatch(path: "/r", mode: .persistentRecursive, watch: tags.watcher("r")))
        read(&h, .addWatch(path: "/", mode: .persistentRecursive, watch: tags.watcher("root")))
        read(&h, .addWatch(path: "/r/x", mode: .persistent, watch: tags.watcher("x")))
        var n = h.events.count
        h.notify(.nodeCreated, "/r/x/y")
        #expect(h.recipients(n, tags: tags) == ["r", "root"])
        n = h.events.count
        h.notify(.nodeDataChanged, "/r/x")
        #expect(h.recipients(n, tags: tags) == ["x", "r", "root"])
        n = h.events.count
        h.notify(.nodeDataChanged, "/r")
        #expect(h.recipients(n, tags: tags) == ["r", "root"])
        n = h.events.count
        h.notify(.nodeDeleted, "/rx")
        #expect(h.recipients(n, tags: tags) == ["root"], "/rx is not under /r")
    }

    @Test func connectionStateEventsGoToEveryWatcher() throws {
        var h = try CoreHarness()
        let tags = WatcherTags()
        h.open()
        read(&h, .getData(path: "/a", watch: tags.watcher("data")))
        read(&h, .addWatch(path: "/p", mode: .persistent, watch: tags.watcher("p")))
        h.handle(.disconnected("reset"))
        #expect(h.lastEvent == connectionEvent(.disconnected))
        #expect(Set(h.recipients(h.events.count - 1, tags: tags)) == ["default", "data", "p"])
    }

    @Test func removeWatchesTellsRemovedWatchersAfterTheServerAgrees() throws {
        var h = try CoreHarness()
        let tags = WatcherTags()
        h.open()
        read(&h, .getData(path: "/a", watch: tags.watcher("data")))
        read(&h, .exists(path: "/a", watch: .default))
        read(&h, .getChildren(path: "/a", watch: tags.watcher("child"), withStat: false))
        let n = h.events.count
        h.submit(.removeWatches(path: "/a", type: .data))
        #expect(try CoreHarness.body(h.sent.last!, as: PathTypeRequest.self) == PathTypeRequest(path: "/a", type: WatcherType.data.rawValue))
        #expect(h.events.count == n, "nothing removed before the reply")
        h.reply(toFrame: h.sent.count - 1, zxid: 3)
        #expect(h.events.count == n + 2)
        #expect(h.events[n].event == node(.dataWatchRemoved, "/a") && h.events[n + 1].event == node(.dataWatchRemoved, "/a"))
        #expect(Set(h.recipients(n, tags: tags) + h.recipients(n + 1, tags: tags)) == ["data", "default"])
        h.notify(.nodeDataChanged, "/a")
        #expect(h.events.count == n + 2, "data watches are gone")
        h.notify(.nodeChildrenChanged, "/a")
        #expect(h.recipients(h.events.count - 1, tags: tags) == ["child"], "the child watch stays")
        // A server refusal (no such watch) leaves local watches alone.
        read(&h, .getData(path: "/b", watch: .default))
        h.submit(.removeWatches(path: "/b", type: .data))
        h.reply(toFrame: h.sent.count - 1, zxid: 3, error: .noWatcher)
        #expect(h.error(h.completionOrder.last!) == .noWatcher)
        #expect(h.core.watches.paths(.data) == ["/b"])
    }

    /// Custom watchers are kept in `ClientWatches.watchers` by id; nothing removes them once
    /// their one-shot watch fired or was removed, so a client that keeps setting custom watches
    /// grows without bound.
    @Test
    func firedCustomWatchersAreReleased() throws {
        var h = try CoreHarness()
        let tags = WatcherTags()
        h.open()
        for _ in 0..<10 {
            read(&h, .getData(path: "/a", watch: tags.watcher("w")))
            h.notify(.nodeDataChanged, "/a")
        }
        read(&h, .getData(path: "/b", watch: tags.watcher("w")))
        h.submit(.removeWatches(path: "/b", type: .data))
        h.reply(toFrame: h.sent.count - 1, zxid: 3)
        #expect(h.core.watches.isEmpty)
        #expect(h.core.watches.watchers.isEmpty)
    }

    @Test func chrootIsAddedToRequestsAndStrippedFromReplies() throws {
        var h = try CoreHarness("127.0.0.1:2181/app/sub")
        h.open()
        let seq = h.submit(.create(path: "/n", data: nil, acl: ACL.openACLUnsafe, mode: .persistentSequential, ttl: nil, withStat: false))
        #expect(try CoreHarness.body(h.sent[1], as: CreateRequest.self).path == "/app/sub/n")
        h.reply(toFrame: 1, zxid: 2, .path("/app/sub/n0000000001"))
        #expect(h.response(seq) == .created(path: "/n0000000001", stat: nil))

        let withStat = h.submit(.create(path: "/m", data: [], acl: ACL.openACLUnsafe, mode: .persistent, ttl: nil, withStat: true))
        #expect(try CoreHarness.requestHeader(h.sent[2]).type == OpCode.create2.rawValue)
        h.reply(toFrame: 2, zxid: 3, .pathAndStat("/app/sub/m", Stat.with(mzxid: 3)))
        #expect(h.response(withStat) == .created(path: "/m", stat: Stat.with(mzxid: 3)))

        let sync = h.submit(.sync(path: "/"))
        #expect(try CoreHarness.body(h.sent[3], as: PathRecord.self).path == "/app/sub")
        h.reply(toFrame: 3, zxid: 3, .path("/app/sub"))
        #expect(h.response(sync) == .path("/"))

        let multi = h.submit(.multi([.create(.create, CreateRequest(path: "/x", data: nil, acl: ACL.openACLUnsafe, flags: 0))]))
        h.reply(toFrame: 4, zxid: 4, .multi([.create(path: "/app/sub/x")]))
        #expect(h.response(multi) == .multi([.create(path: "/x")]))

        let ephemerals = h.submit(.getEphemerals(prefix: "/"))
        #expect(try CoreHarness.body(h.sent[5], as: PathRecord.self).path == "/app/sub")
        h.reply(toFrame: 5, zxid: 4, .strings(["/app/sub/e1", "/app/sub/d/e2"]))
        #expect(h.response(ephemerals) == .strings(["/e1", "/d/e2"]))

        let failed = h.submit(.delete(path: "/none", version: -1))
        h.reply(toFrame: 6, zxid: 4, error: .noNode)
        #expect(h.completions[failed] == .failure(ZooKeeperError(.noNode, path: "/none")))

        read(&h, .getData(path: "/", watch: .default))
        read(&h, .getChildren(path: "/m", watch: .default, withStat: false))
        h.notify(.nodeDataChanged, "/app/sub")
        #expect(h.lastEvent == node(.nodeDataChanged, "/"))
        h.notify(.nodeChildrenChanged, "/app/sub/m")
        #expect(h.lastEvent == node(.nodeChildrenChanged, "/m"))
    }
}

@Suite struct ConnectStringTests {
    @Test func parsesHostsPortsAndChroot() throws {
        let s = try ConnectString("zk1, zk2:2182,[::1]:2183,10.0.0.1/app/x")
        #expect(s.hosts.map(\.description) == ["zk1:2181", "zk2:2182", "[::1]:2183", "10.0.0.1:2181"])
        #expect(s.chroot == "/app/x")
        #expect(try ConnectString("h:1/").chroot == nil)
        #expect(try ConnectString("[::1]").hosts == [ConnectString.Host(host: "::1", port: 2181)])
    }

    @Test(arguments: ["", "h:1/app/", "h:1/a//b", "h:1/a/../b", "h:1/./a", "h:x", "h:70000", "[::1", ",/app"])
    func rejectsBadConnectStrings(_ text: String) {
        #expect(throws: ZooKeeperError.self) { try ConnectString(text) }
    }

    @Test func mapsPathsThroughTheChroot() throws {
        let s = try ConnectString("h/app")
        #expect(s.serverPath("/") == "/app" && s.serverPath("/a/b") == "/app/a/b")
        #expect(s.clientPath("/app") == "/" && s.clientPath("/app/a") == "/a")
        #expect(s.clientPath("/apple") == "/apple" && s.clientPath("/zookeeper/config") == "/zookeeper/config")
        let plain = try ConnectString("h")
        #expect(plain.serverPath("/a") == "/a" && plain.clientPath("/a") == "/a")
    }
}
