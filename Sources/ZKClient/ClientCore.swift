/// The client's session logic as a deterministic state machine, in the same style as the server's
/// `Replica`: inputs (the socket connected or failed, a frame arrived, time passed, the caller
/// submitted a request) in, effects (connect to a host, send bytes, complete a request, deliver an
/// event) out. `ZooKeeperClient` is its POSIX shell.
///
/// It does what Java's `ClientCnxn` does: one connection at a time, hosts tried in turn, a
/// ConnectRequest that resumes the session (id, password, last zxid seen), auth and watches replayed
/// after every (re)connect, pings at a third of the timeout, requests pipelined and matched to
/// replies by xid in order, ConnectionLoss for requests in flight when a connection drops, and the
/// session declared expired only when a server says so.
import ZKCore
import ZKProtocol

typealias RequestID = UInt64

enum ClientInput {
    case submit(RequestID, Request)
    case connected
    case connectFailed(String)
    case frame([UInt8])
    case disconnected(String)
    case tick
    case close
}

enum ClientEffect {
    case connect(ConnectString.Host)
    case send([UInt8])
    case disconnect
    case complete(RequestID, Result<Response, ZooKeeperError>)
    case event(WatchedEvent, [Watcher?])
    case state(ClientState)
    case log(String)
}

struct ClientCore {
    let connectString: ConnectString
    let requestedTimeoutMs: Int32
    let canBeReadOnly: Bool
    private(set) var state: ClientState = .connecting
    private(set) var sessionID: Int64
    private(set) var password: [UInt8]
    private(set) var negotiatedTimeoutMs: Int32 = 0
    private(set) var lastZxidSeen: Int64 = 0
    private(set) var currentHost: ConnectString.Host?
    var watches = ClientWatches()

    private enum Phase { case idle, connecting, handshaking, open }
    private var phase: Phase = .idle
    private var hostIndex: Int
    private var hostsTriedSinceOpen = 0
    private var nextXid: Int32 = 1
    private var queued: [(RequestID, Request)] = []
    private var inFlight: [(xid: Int32, id: RequestID, request: Request, op: OpCode, watch: WatcherID?)] = []
    private var inFlightHead = 0
    private var auths: [(String, [UInt8])] = []
    private var closing: RequestID?
    private var nowMs: Int64 = 0
    private var phaseStartMs: Int64 = 0
    private var lastSendMs: Int64 = 0
    private var lastReceiveMs: Int64 = 0
    private var reconnectAtMs: Int64 = 0
    private var effects: [ClientEffect] = []
    private var random: SeededRandom

    init(connectString: ConnectString, timeoutMs: Int32, canBeReadOnly: Bool, seed: UInt64,
         sessionID: Int64 = 0, password: [UInt8] = Array(repeating: 0, count: 16)) {
        self.connectString = connectString
        requestedTimeoutMs = timeoutMs
        self.canBeReadOnly = canBeReadOnly
        self.sessionID = sessionID
        self.password = password
        random = SeededRandom(seed: seed)
        hostIndex = Int.random(in: 0..<connectString.hosts.count, using: &random)
    }

    var outstanding: Int { queued.count + inFlight.count - inFlightHead }

    /// Feeds one input at time `now` (monotonic ms); returns the effects in order.
    mutating func handle(_ input: ClientInput, nowMs: Int64) -> [ClientEffect] {
        self.nowMs = nowMs
        switch input {
        case .submit(let id, let request): submit(id, request)
        case .connected: sendConnectRequest()
        case .connectFailed(let reason): connectionLost(reason)
        case .frame(let bytes): receive(bytes)
        case .disconnected(let reason): connectionLost(reason)
        case .tick: tick()
        case .close: close()
        }
        defer { effects.removeAll(keepingCapacity: true) }
        return effects
    }

    // MARK: Connecting

    /// Starts (or restarts) connecting to the next host.
    private mutating func connectNext() {
        guard state.isAlive else { return }
        let host = connectString.hosts[hostIndex % connectString.hosts.count]
        hostIndex += 1
        hostsTriedSinceOpen += 1
        phase = .connecting
        phaseStartMs = nowMs
        currentHost = host
        effects.append(.log("Opening socket connection to server \(host)"))
        effects.append(.connect(host))
    }

    private mutating func sendConnectRequest() {
        guard phase == .connecting else { return }
        phase = .handshaking
        phaseStartMs = nowMs
        lastReceiveMs = nowMs
        let request = ConnectRequest(lastZxidSeen: lastZxidSeen, timeOut: requestedTimeoutMs, sessionId: sessionID,
                                     passwd: password, readOnly: canBeReadOnly)
        send(FrameEncoder.frame { request.encode(to: &$0) })
    }

    private mutating func receiveConnectResponse(_ bytes: [UInt8]) {
        guard let response = try? ConnectResponse(bytes: bytes) else {
            connectionLost("malformed connect response")
            return
        }
        guard response.timeOut > 0 else {
            expire()
            return
        }
        phase = .open
        hostsTriedSinceOpen = 0
        sessionID = response.sessionId
        password = response.passwd
        negotiatedTimeoutMs = response.timeOut
        let readOnly = response.readOnly == true
        effects.append(.log("Session establishment complete on server \(currentHost.map(String.init(describing:)) ?? "?"), session id = 0x\(SessionID(sessionID).hex), negotiated timeout = \(negotiatedTimeoutMs)"))
        setState(readOnly ? .connectedReadOnly : .connected)
        deliver(WatchedEvent(type: .none, state: readOnly ? .connectedReadOnly : .syncConnected, path: nil))
        for (scheme, auth) in auths { sendAuth(scheme, auth) }
        sendSetWatches()
        let waiting = queued
        queued.removeAll()
        for (id, request) in waiting { transmit(id, request) }
    }

    private mutating func expire() {
        effects.append(.log("Unable to reconnect to ZooKeeper service, session 0x\(SessionID(sessionID).hex) has expired"))
        phase = .idle
        effects.append(.disconnect)
        failAll(.sessionExpired)
        setState(.expired)
        deliver(WatchedEvent(type: .none, state: .expired, path: nil))
    }

    /// The connection is gone (or never came up): requests in flight fail with ConnectionLoss, and
    /// the next host is tried (after a pause once every host has been tried).
    private mutating func connectionLost(_ reason: String) {
        guard phase != .idle || state == .connecting else { return }
        let wasOpen = phase == .open
        phase = .idle
        effects.append(.disconnect)
        effects.append(.log("\(reason), closing socket connection and attempting reconnect"))
        // Like Java's ClientCnxn.cleanup: requests in flight and requests still queued fail with
        // ConnectionLoss; requests made after this wait for the next attempt.
        failAll(.connectionLoss)
        if closing != nil {
            finishClose()
            return
        }
        if wasOpen {
            setState(.disconnected)
            deliver(WatchedEvent(type: .none, state: .disconnected, path: nil))
        }
        let pause = hostsTriedSinceOpen >= connectString.hosts.count ? Int64.random(in: 0...1000, using: &random) : 0
        reconnectAtMs = nowMs + pause
    }

    private mutating func tick() {
        switch phase {
        case .idle:
            if state.isAlive && nowMs >= reconnectAtMs { connectNext() }
        case .connecting, .handshaking:
            let connectTimeout = Int64(max(1000, Int(requestedTimeoutMs) / connectString.hosts.count))
            if nowMs - phaseStartMs > connectTimeout { connectionLost("Connection attempt timed out") }
        case .open:
            let readTimeout = Int64(negotiatedTimeoutMs) * 2 / 3
            if nowMs - lastReceiveMs > readTimeout {
                connectionLost("Client session timed out, have not heard from server in \(nowMs - lastReceiveMs)ms for session id 0x\(SessionID(sessionID).hex)")
            } else if nowMs - lastSendMs >= readTimeout / 2 || nowMs - lastSendMs > 10_000 {
                send(FrameEncoder.frame { RequestHeader(xid: SpecialXid.ping, type: OpCode.ping.rawValue).encode(to: &$0) })
            }
        }
    }

    /// When the next tick is due (the shell waits at most this long).
    var nextTickInMs: Int64 {
        switch phase {
        case .idle: return max(0, reconnectAtMs - nowMs)
        case .connecting, .handshaking: return 100
        case .open: return max(10, Int64(negotiatedTimeoutMs) / 10)
        }
    }

    // MARK: Requests

    private mutating func submit(_ id: RequestID, _ request: Request) {
        switch state {
        case .expired: return fail(id, request, .sessionExpired)
        case .authFailed: return fail(id, request, .authFailed)
        case .closed: return fail(id, request, .sessionExpired)  // Java's conLossPacket after close
        case .connecting, .connected, .connectedReadOnly, .disconnected: break
        }
        if case .addAuth(let scheme, let auth) = request {
            auths.append((scheme, auth))
            if phase == .open { sendAuth(scheme, auth) }
            effects.append(.complete(id, .success(.none)))
            return
        }
        if phase == .open { transmit(id, request) } else { queued.append((id, request)) }
        if phase == .idle && state == .connecting && reconnectAtMs <= nowMs { connectNext() }
    }

    private mutating func transmit(_ id: RequestID, _ request: Request) {
        let op = RequestCodec.opCode(request)
        let xid = nextXid
        nextXid = nextXid == Int32.max ? 1 : nextXid + 1
        let watch = watchID(request)
        inFlight.append((xid, id, request, op, watch))
        let body = RequestCodec.body(request, connectString)
        send(FrameEncoder.frame { w in
            RequestHeader(xid: xid, type: op.rawValue).encode(to: &w)
            w.bytes.append(contentsOf: body)
        })
    }

    private mutating func watchID(_ request: Request) -> WatcherID? {
        switch request {
        case .exists(_, let w), .getData(_, let w), .getChildren(_, let w, _), .addWatch(_, _, let w), .getConfig(let w):
            return watches.id(for: w)
        default:
            return nil
        }
    }

    private mutating func sendAuth(_ scheme: String, _ auth: [UInt8]) {
        send(FrameEncoder.frame { w in
            RequestHeader(xid: SpecialXid.auth, type: OpCode.auth.rawValue).encode(to: &w)
            AuthPacket(scheme: scheme, auth: auth).encode(to: &w)
        })
    }

    /// Re-registers every watch after a reconnect, in frames of at most ~128 KB of paths.
    private mutating func sendSetWatches() {
        guard !watches.isEmpty else { return }
        let root = connectString
        let server = { (paths: [String]) in paths.map { root.serverPath($0) } }
        var lists = [server(watches.paths(.data)), server(watches.paths(.exist)), server(watches.paths(.child)),
                     server(watches.paths(.persistent)), server(watches.paths(.persistentRecursive))]
        let version2 = watches.hasPersistent
        while lists.contains(where: { !$0.isEmpty }) {
            var batch: [[String]] = Array(repeating: [], count: 5)
            var budget = 128 * 1024
            for k in 0..<5 {
                while let path = lists[k].first, budget > 0 {
                    budget -= path.utf8.count
                    batch[k].append(lists[k].removeFirst())
                }
            }
            let record = SetWatches(relativeZxid: lastZxidSeen, dataWatches: batch[0], existWatches: batch[1],
                                    childWatches: batch[2], persistentWatches: version2 ? batch[3] : nil,
                                    persistentRecursiveWatches: version2 ? batch[4] : nil)
            send(FrameEncoder.frame { w in
                RequestHeader(xid: SpecialXid.setWatches, type: (version2 ? OpCode.setWatches2 : OpCode.setWatches).rawValue).encode(to: &w)
                record.encode(to: &w)
            })
        }
    }

    private mutating func send(_ bytes: [UInt8]) {
        lastSendMs = nowMs
        effects.append(.send(bytes))
    }

    // MARK: Replies

    private mutating func receive(_ bytes: [UInt8]) {
        lastReceiveMs = nowMs
        if phase == .handshaking {
            receiveConnectResponse(bytes)
            return
        }
        guard phase == .open else { return }
        var r = JuteReader(bytes)
        guard let header = try? ReplyHeader(from: &r) else {
            connectionLost("malformed reply")
            return
        }
        switch header.xid {
        case SpecialXid.notification:
            guard let event = try? WatcherEvent(from: &r) else { return connectionLost("malformed notification") }
            notify(event)
        case SpecialXid.ping, SpecialXid.setWatches:
            break
        case SpecialXid.auth:
            if header.err == ErrorCode.authFailed.rawValue { authFailed() }
        default:
            complete(header, &r)
        }
    }

    private mutating func complete(_ header: ReplyHeader, _ r: inout JuteReader) {
        guard inFlightHead < inFlight.count, inFlight[inFlightHead].xid == header.xid else {
            connectionLost("Xid out of order. Got Xid \(header.xid)")
            return
        }
        let pending = inFlight[inFlightHead]
        inFlightHead += 1
        if inFlightHead == inFlight.count {
            inFlight.removeAll(keepingCapacity: true)
            inFlightHead = 0
        } else if inFlightHead >= 64 && inFlightHead * 2 >= inFlight.count {
            inFlight.removeFirst(inFlightHead)  // a client that always has requests out still frees answered ones
            inFlightHead = 0
        }
        if header.zxid > 0 { lastZxidSeen = header.zxid }
        let code = ErrorCode(rawValue: header.err) ?? .systemError
        registerWatch(pending.request, pending.watch, code)
        if pending.id == closing { return finishClose() }
        if code != .ok {
            return fail(pending.id, pending.request, code)
        }
        do {
            let response = try RequestCodec.response(pending.request, pending.op, &r, connectString)
            if case .removeWatches(let path, let type) = pending.request { watchesRemoved(path, type) }
            effects.append(.complete(pending.id, .success(response)))
        } catch {
            fail(pending.id, pending.request, .marshallingError)
        }
    }

    /// Java's WatchRegistration: a watch counts only if its read succeeded (or, for exists, found no node).
    private mutating func registerWatch(_ request: Request, _ id: WatcherID?, _ code: ErrorCode) {
        guard let id else { return }
        switch request {
        case .getData(let path, _) where code == .ok: watches.add(.data, path, id)
        case .getConfig where code == .ok: watches.add(.data, "/zookeeper/config", id)
        case .exists(let path, _) where code == .ok: watches.add(.data, path, id)
        case .exists(let path, _) where code == .noNode: watches.add(.exist, path, id)
        case .getChildren(let path, _, _) where code == .ok: watches.add(.child, path, id)
        case .addWatch(let path, let mode, _) where code == .ok:
            watches.add(mode == .persistent ? .persistent : .persistentRecursive, path, id)
        default: watches.forget(id)
        }
    }

    private mutating func watchesRemoved(_ path: String, _ type: WatcherType) {
        let removed = watches.removeAll(path, type)
        for (id, eventType) in removed {
            let event = WatchedEvent(type: eventType, state: .syncConnected, path: path)
            effects.append(.event(event, [id == 0 ? nil : watches.watcher(id)]))
        }
        watches.releaseUnregistered(removed.map(\.0))
    }

    private mutating func notify(_ raw: WatcherEvent) {
        let event = WatchedEvent(type: EventType(rawValue: raw.type) ?? .none,
                                 state: KeeperState(rawValue: raw.state) ?? .syncConnected,
                                 path: connectString.clientPath(raw.path))
        deliver(event)
    }

    /// `nil` in the watcher list stands for the default watcher.
    private mutating func deliver(_ event: WatchedEvent) {
        let ids = watches.materialize(event)
        guard !ids.isEmpty else { return }
        effects.append(.event(event, ids.map { $0 == 0 ? nil : watches.watcher($0) }))
        watches.releaseUnregistered(ids)
    }

    private mutating func authFailed() {
        phase = .idle
        effects.append(.disconnect)
        failAll(.authFailed)
        setState(.authFailed)
        deliver(WatchedEvent(type: .none, state: .authFailed, path: nil))
    }

    // MARK: Closing and failing

    private mutating func close() {
        guard state.isAlive else { return }
        if phase == .open {
            closing = RequestID.max
            let xid = nextXid
            nextXid = nextXid == Int32.max ? 1 : nextXid + 1
            inFlight.append((xid, RequestID.max, .sync(path: "/"), .closeSession, nil))
            send(FrameEncoder.frame { RequestHeader(xid: xid, type: OpCode.closeSession.rawValue).encode(to: &$0) })
        } else {
            finishClose()
        }
    }

    private mutating func finishClose() {
        closing = nil
        phase = .idle
        effects.append(.disconnect)
        failAll(.connectionLoss)
        setState(.closed)
        deliver(WatchedEvent(type: .none, state: .closed, path: nil))
    }

    private mutating func failInFlight(_ code: ErrorCode) {
        let pending = inFlight[inFlightHead...]
        inFlight.removeAll()
        inFlightHead = 0
        for p in pending where p.id != RequestID.max {
            if let watch = p.watch { watches.forget(watch) }
            fail(p.id, p.request, code)
        }
    }

    private mutating func failAll(_ code: ErrorCode) {
        failInFlight(code)
        let waiting = queued
        queued.removeAll()
        for (id, request) in waiting { fail(id, request, code) }
    }

    private mutating func fail(_ id: RequestID, _ request: Request, _ code: ErrorCode) {
        effects.append(.complete(id, .failure(ZooKeeperError(code, path: request.path))))
    }

    private mutating func setState(_ new: ClientState) {
        guard new != state else { return }
        state = new
        effects.append(.state(new))
    }
}
