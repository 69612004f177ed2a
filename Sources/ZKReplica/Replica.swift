/// The whole server as a deterministic state machine: sessions, the request pipeline
/// (prepare → log → commit → apply → reply), watches and four-letter words. No IO, no clock reads,
/// no randomness: the shell feeds `ReplicaInput`s with the time, and carries out the `ReplicaEffect`s.
///
/// Pipeline invariants:
/// - Every write becomes one txn with the next zxid, proposed in zxid order (checked).
/// - A txn is applied only after the shell reports it durable (`.logSynced`), in zxid order
///   (checked by the tree), so no client sees a write that a crash could lose.
/// - A connection's replies leave in the order its requests arrived; a read waits for the
///   connection's earlier writes. Watch events are queued before the reply of the write that fired
///   them, so a client sees the event before it can see the change.
///
/// A standalone server is an ensemble of one: its quorum is its own durable log.
import ZKCore
import ZKProtocol
import ZKDataTree

public final class Replica {
    public let config: ReplicaConfig
    public let tree: DataTree
    var sessions: SessionTracker
    var preparer = Preparer()
    var watches = WatchManager()
    var connections: [ConnectionID: Connection] = [:]
    /// Txns appended to the log and not yet synced, with the connection that asked for each.
    var proposed: [(entry: TxnEntry, origin: ConnectionID?)] = []
    var proposedHead = 0
    public internal(set) var lastProposedZxid: Zxid
    var now: Clock
    var effects: [ReplicaEffect] = []
    var stats = ServerStats()
    var lastContainerCheckMs: Int64
    let startedAtMs: Int64
    /// Requests received and not yet answered, over all connections (`globalOutstandingLimit`).
    public internal(set) var outstandingRequests = 0
    /// `stmk`'s trace mask; only reported back.
    var traceMask: Int64 = 0b1_1000_0010

    /// Whether the log failed; writes are refused until a restart.
    public private(set) var logFailure: String?

    /// A replica over a recovered tree: `sessions` (from the snapshot and log) start their timeouts
    /// now, so their clients can reconnect.
    public init(config: ReplicaConfig, tree: DataTree? = nil, sessions restored: [SessionID: Int32] = [:], now: Clock) {
        self.config = config
        self.tree = tree ?? DataTree(extendedTypesEnabled: config.extendedTypesEnabled)
        self.now = now
        sessions = SessionTracker(serverID: config.serverID, seedMs: config.sessionIDSeedMs)
        for (id, timeoutMs) in restored.sorted(by: { $0.key < $1.key }) {
            sessions.add(id, timeoutMs: timeoutMs, nowMs: now.monotonicMs)
        }
        lastProposedZxid = self.tree.lastProcessedZxid
        lastContainerCheckMs = now.monotonicMs
        startedAtMs = now.monotonicMs
    }

    /// The replicated session table (id, timeout) as of the tree's last applied txn, for snapshots.
    public var sessionTable: [(SessionID, Int32)] {
        sessions.sessions.values.map { ($0.id, $0.timeoutMs) }.sorted { $0.0 < $1.0 }
    }

    /// The zxid of the newest txn the tree has applied.
    public var lastProcessedZxid: Zxid { tree.lastProcessedZxid }

    /// Handles one input. Effects accumulate until `takeEffects`.
    public func handle(_ input: ReplicaInput, now: Clock) {
        self.now = now
        switch input {
        case .connected(let id, let remote):
            invariant(connections[id] == nil, "connection \(id) opened twice")
            let connection = Connection(id: id, remote: remote)
            connection.stats.establishedWallMs = now.wallMs
            connection.openedAtMs = now.monotonicMs
            connections[id] = connection
        case .frame(let id, let bytes):
            guard let connection = connections[id], !connection.isClosing else { return }
            receive(bytes, on: connection)
        case .fourLetterWord(let id, let word, let argument, let host):
            guard let connection = connections[id], !connection.isClosing else { return }
            answerFourLetterWord(word, argument: argument, host: host, on: connection)
        case .disconnected(let id):
            guard let connection = connections.removeValue(forKey: id) else { return }
            detach(connection)
        case .tick:
            expireSessions()
            expireSessionlessConnections()
            checkContainers()
        case .logSynced(let zxid):
            commitSynced(through: zxid)
        case .logFailed(let reason):
            failLog(reason)
        }
    }

    /// The effects produced since the last call, in order.
    public func takeEffects() -> [ReplicaEffect] {
        defer { effects.removeAll(keepingCapacity: true) }
        return effects
    }

    /// Moves the effects into `buffer` (which is emptied first), keeping both allocations.
    public func takeEffects(into buffer: inout [ReplicaEffect]) {
        buffer.removeAll(keepingCapacity: true)
        swap(&buffer, &effects)
    }

    func log(_ level: LogLevel, _ source: String, _ message: String, line: UInt = #line) {
        effects.append(.log(level, source: source, line: line, message))
    }

    // MARK: Connections

    /// Closes a connection: queued output is flushed by the shell, then the socket is closed.
    func close(_ connection: Connection, reason: String) {
        guard !connection.isClosing else { return }
        connection.isClosing = true
        log(.debug, "NIOServerCnxn", "Closing connection \(connection.remote.javaDescription): \(reason)")
        detach(connection)
        effects.append(.close(connection.id))
    }

    /// Forgets a connection's watches, unanswered requests and its tie to its session.
    private func detach(_ connection: Connection) {
        watches.removeWatcher(connection.id)
        outstandingRequests -= connection.outstandingCount
        connection.pending.removeAll()
        connection.pendingHead = 0
        if let id = connection.session, sessions[id]?.connection == connection.id {
            sessions[id]?.connection = nil
        }
    }

    func send(_ bytes: [UInt8], to connection: Connection) {
        connection.stats.packetsSent += 1
        stats.packetsSent += 1
        effects.append(.send(connection.id, bytes))
    }

    // MARK: Frames

    private func receive(_ bytes: [UInt8], on connection: Connection) {
        connection.stats.packetsReceived += 1
        stats.packetsReceived += 1
        if connection.session == nil && connection.head == nil {
            receiveConnectRequest(bytes, on: connection)
            return
        }
        var reader = JuteReader(bytes, limits: config.limits)
        guard let header = try? RequestHeader(from: &reader) else {
            log(.warn, "NIOServerCnxn", "Closing connection to \(connection.remote.javaDescription): malformed request header (\(bytes.count) bytes)")
            close(connection, reason: "malformed request header")
            return
        }
        if let session = connection.session { sessions.touch(session, nowMs: now.monotonicMs) }
        switch header.type {
        case OpCode.auth.rawValue:
            receiveAuth(header, &reader, on: connection)
        case OpCode.sasl.rawValue:
            // No SASL server is configured: Apache answers OK with a null token and carries on.
            let reply = ReplyHeader(xid: header.xid, zxid: 0, err: 0)
            send(FrameEncoder.reply(reply, .buffer(nil)), to: connection)
        default:
            guard let op = OpCode(rawValue: header.type),
                  let request = ClientRequest.decode(op, &reader, limits: config.limits) else {
                log(.warn, "ZooKeeperServer", "Received packet at server of unknown type \(header.type)")
                rejectUnimplemented(header, on: connection)
                return
            }
            enqueue(request, op: op, xid: header.xid, on: connection)
        }
    }

    /// `UnimplementedRequestProcessor`: an UNIMPLEMENTED reply, then the connection is closed.
    private func rejectUnimplemented(_ header: RequestHeader, on connection: Connection) {
        let reply = ReplyHeader(xid: header.xid, zxid: 0, err: ErrorCode.unimplemented.rawValue)
        send(FrameEncoder.reply(reply, .none), to: connection)
        close(connection, reason: "unimplemented request type \(header.type)")
    }

    /// Auth packets are answered at once, ahead of queued requests, as Apache does.
    private func receiveAuth(_ header: RequestHeader, _ reader: inout JuteReader, on connection: Connection) {
        guard let packet = try? AuthPacket(from: &reader) else {
            log(.warn, "NIOServerCnxn", "Closing connection to \(connection.remote.javaDescription): malformed auth packet")
            close(connection, reason: "malformed auth packet")
            return
        }
        if let ids = Authentication.authenticate(scheme: packet.scheme, auth: packet.auth,
                                                 remoteIP: connection.remote.ip, superDigest: config.superDigest) {
            for id in ids where !connection.authInfo.contains(id) { connection.authInfo.append(id) }
            log(.info, "ZooKeeperServer", "Session 0x\(connection.session?.hex ?? "0"): auth success for scheme \(packet.scheme) and address \(connection.remote.javaDescription)")
            send(FrameEncoder.reply(ReplyHeader(xid: header.xid, zxid: 0, err: 0), .none), to: connection)
        } else {
            log(.warn, "ZooKeeperServer", "Authentication failed for scheme: \(packet.scheme)")
            let reply = ReplyHeader(xid: header.xid, zxid: 0, err: ErrorCode.authFailed.rawValue)
            send(FrameEncoder.reply(reply, .none), to: connection)
            close(connection, reason: "authentication failed")
        }
    }

    private func enqueue(_ request: ClientRequest, op: OpCode, xid: Int32, on connection: Connection) {
        outstandingRequests += 1
        if request.isWrite, logFailure != nil {
            refuseWrite(op: op, xid: xid, on: connection)
        } else if request.isWrite {
            let zxid = nextZxid()
            let entry: TxnEntry
            if case .closeSession = request, let session = connection.session {
                sessions.markClosing(session)
                entry = preparer.prepareCloseSession(session, cxid: xid, tree: tree, zxid: zxid.rawValue, time: now.wallMs)
            } else {
                entry = preparer.prepare(request, cxid: xid, context: prepareContext(connection, zxid))
            }
            connection.pending.append(PendingRequest(xid: xid, op: op, kind: .write(zxid: zxid.rawValue, result: nil), receivedAtMs: now.monotonicMs))
            propose(entry, origin: connection.id)
        } else {
            connection.pending.append(PendingRequest(xid: xid, op: op, kind: .read(request), receivedAtMs: now.monotonicMs))
            answerReady(connection)
        }
    }

    private func prepareContext(_ connection: Connection, _ zxid: Zxid) -> PrepareContext {
        PrepareContext(tree: tree, session: connection.session ?? .none, authInfo: connection.authInfo,
                       zxid: zxid.rawValue, time: now.wallMs, extendedTypesEnabled: config.extendedTypesEnabled,
                       skipACL: config.skipACL, reconfigEnabled: config.reconfigEnabled)
    }

    // MARK: Log and commit

    /// The log failed: txns not yet durable are dropped (their requests get SYSTEMERROR, a pending
    /// session creation closes its connection), and no further write is accepted.
    private func failLog(_ reason: String) {
        guard logFailure == nil else { return }
        logFailure = reason
        log(.error, "SyncRequestProcessor", "Severe unrecoverable error writing the transaction log: \(reason); refusing writes until restart")
        let dropped = proposed[proposedHead...]
        proposed.removeAll()
        proposedHead = 0
        preparer.pending = PendingChanges()
        lastProposedZxid = tree.lastProcessedZxid
        for (entry, origin) in dropped {
            if case .closeSession = entry.txn { sessions[SessionID(entry.header.clientId)]?.expiresAtMs = now.monotonicMs }
            guard let id = origin, let connection = connections[id], !connection.isClosing else { continue }
            if case .createSession = entry.txn {
                close(connection, reason: "the transaction log failed")
                continue
            }
            var failed = ApplyResult(type: .error)
            failed.err = .systemError
            if connection.complete(zxid: entry.zxid, result: failed) { answerReady(connection) }
        }
    }

    private func refuseWrite(op: OpCode, xid: Int32, on connection: Connection) {
        if op == .closeSession {
            outstandingRequests -= 1
            close(connection, reason: "the transaction log failed")
            return
        }
        var failed = ApplyResult(type: .error)
        failed.err = .systemError
        connection.pending.append(PendingRequest(xid: xid, op: op, kind: .write(zxid: -1, result: failed), receivedAtMs: now.monotonicMs))
        answerReady(connection)
    }

    func nextZxid() -> Zxid {
        lastProposedZxid = lastProposedZxid.next()
        return lastProposedZxid
    }

    func propose(_ entry: TxnEntry, origin: ConnectionID?) {
        invariant(entry.zxid == lastProposedZxid.rawValue, "txn \(entry.zxid) proposed out of order")
        proposed.append((entry, origin))
        effects.append(.appendToLog(entry))
    }

    private func commitSynced(through zxid: Zxid) {
        while proposedHead < proposed.count, proposed[proposedHead].entry.zxid <= zxid.rawValue {
            let (entry, origin) = proposed[proposedHead]
            proposedHead += 1
            commit(entry, origin: origin)
        }
        if proposedHead == proposed.count {
            proposed.removeAll(keepingCapacity: true)
            proposedHead = 0
        }
    }

    /// Applies a durable txn, fires its watches, then answers the request that caused it.
    private func commit(_ entry: TxnEntry, origin: ConnectionID?) {
        var changes: [TreeChange] = []
        let result = tree.apply(entry, changes: &changes)
        preparer.pending.applied(through: entry.zxid)
        stats.committedTxns += 1
        applySessionEffects(entry, origin: origin)
        var notifications: [WatchManager.Notification] = []
        for change in changes { watches.fire(change, into: &notifications) }
        for (watcher, event) in notifications {
            guard let connection = connections[watcher], !connection.isClosing else { continue }
            send(Replica.notificationFrame(event), to: connection)
        }
        guard let id = origin, let connection = connections[id], !connection.isClosing else { return }
        if case .createSession = entry.txn {
            finishSessionCreation(connection)
        } else if connection.complete(zxid: entry.zxid, result: result) {
            answerReady(connection)
        }
    }

    static func notificationFrame(_ event: WatcherEvent) -> [UInt8] {
        FrameEncoder.frame { w in
            ReplyHeader(xid: SpecialXid.notification, zxid: -1, err: 0).encode(to: &w)
            event.encode(to: &w)
        }
    }

    /// Answers, in order, every request at the head of the connection's queue that can be answered.
    func answerReady(_ connection: Connection) {
        while let head = connection.head, !connection.isClosing {
            switch head.kind {
            case .connect:
                return
            case .write(_, nil):
                return
            case .write(_, let result?):
                connection.popHead()
                outstandingRequests -= 1
                answerWrite(head, result, on: connection)
            case .read(let request):
                connection.popHead()
                outstandingRequests -= 1
                answerRead(request, head, on: connection)
            }
        }
    }

    func finishReply(_ request: PendingRequest, _ header: ReplyHeader, _ body: ResponseBody, lastOp: String, on connection: Connection) {
        send(FrameEncoder.reply(header, body), to: connection)
        let latency = max(0, now.monotonicMs - request.receivedAtMs)
        connection.stats.recordLatency(latency)
        connection.stats.lastOp = lastOp
        connection.stats.lastCxid = request.xid
        connection.stats.lastZxid = header.zxid
        connection.stats.lastResponseWallMs = now.wallMs
        stats.recordLatency(latency)
    }
}
