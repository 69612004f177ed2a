/// The client front of a server and the glue to its state machine, as a deterministic state
/// machine: connections, reply order, watches, four-letter words and local session touches here;
/// the tree, prepare and the replicated session table in `Database`; storage policy in
/// `StorageSchedule`. No IO, no clock reads, no randomness of its own: the shell feeds
/// `ReplicaInput`s with the time, and carries out the `Ready` it takes.
///
/// Pipeline: prepare → persist (`.persist(.append)`) → durable (`.storage(.durable(through:))`) →
/// quorum decision → committed → apply → reply. A standalone server is the quorum of one: a txn is
/// committed once its own log has it (`quorumCommitted`). Zab replaces that one decision with
/// the leader's ACK count, and a follower's commit with the leader's COMMIT.
///
/// Pipeline invariants:
/// - Every write becomes one txn with the next zxid, proposed in zxid order (checked here and in
///   `Database`).
/// - A txn is applied only once committed, and committed only once durable, in zxid order
///   (checked here, in `Database.apply` and by the tree), so no client sees a write a crash could lose.
/// - A connection's replies leave in the order its requests arrived; a read waits for the
///   connection's earlier writes. A write's reply is matched to its request by (session, cxid).
///   Watch events are queued before the reply of the write that fired them, so a client sees the
///   event before it can see the change.
import ZKCore
import ZKProtocol
import ZKDataTree
import ZKStorage
import ZKZab

public final class Replica {
    public let config: ReplicaConfig
    let database: Database
    var sessions: SessionTracker
    var watches = WatchManager()
    var connections: [ConnectionID: Connection] = [:]
    /// The connection each local session is attached to, from the moment the ConnectRequest is
    /// accepted (before its createSession txn commits): where a committed txn's reply goes.
    var attached: [SessionID: ConnectionID] = [:]
    /// Txns handed to the log and not yet applied, in zxid order.
    var proposed: [TxnEntry] = []
    /// Reused by `apply` for each txn's tree changes and the notifications they fire.
    private var changes: [TreeChange] = []
    private var notifications: [WatchManager.Notification] = []
    var proposedHead = 0
    /// Everything through this zxid is durable in the local log.
    public internal(set) var durableZxid: Zxid
    /// Everything through this zxid is committed (may be applied).
    public internal(set) var committedZxid: Zxid
    var schedule: StorageSchedule
    var now: Clock
    var effects: [ReplicaEffect] = []
    /// Bytes of replies in `effects` not yet taken: the shell stops feeding a connection's frames
    /// when this passes its output limit, so pipelined requests cannot queue unbounded replies.
    public private(set) var pendingSendBytes = 0
    var persist: [StorageCommand] = []
    var stats = ServerStats()
    /// Apache's metric registry (`mntr`, `monitor`, `/metrics`).
    /// A reference with its own fixed storage: counting is an add through a pointer (no exclusivity check).
    public let metrics: ServerMetrics
    /// When this server last became LOOKING (for `election_time`), and when its current role
    /// began (`leader_uptime`, `follower_sync_time`).
    var lookingSinceMs: Int64?
    var roleStartedMs: Int64?
    var lastContainerCheckMs: Int64
    let startedAtMs: Int64
    /// Requests received and not yet answered, over all connections (`globalOutstandingLimit`).
    public internal(set) var outstandingRequests = 0
    /// `stmk`'s trace mask; only reported back.
    /// ZooTrace.textTraceMask: CLIENT_REQUEST | SERVER_PACKET | SESSION | WARNING (as Apache 3.8 reports it).
    var traceMask: Int64 = 0b1_0011_0010
    /// The newest snapshot written (or loaded at startup) and when, in seconds (`last_snapshot`).
    public var lastSnapshot: (zxid: Zxid, seconds: Int64)?

    /// Whether the log failed; writes are refused until a restart.
    public internal(set) var logFailure: String?
    /// Zab, when this server is a member of an ensemble (nil standalone).
    let ensemble: Ensemble?

    /// A replica over a recovered tree: `sessions` (from the snapshot and log) start their timeouts
    /// now, so their clients can reconnect.
    public init(config: ReplicaConfig, tree: DataTree? = nil, sessions restored: [SessionID: Int32] = [:], now: Clock,
                ensemble start: EnsembleStart? = nil) {
        self.config = config
        ensemble = start.map(Ensemble.init)
        let tree = tree ?? DataTree(extendedTypesEnabled: config.extendedTypesEnabled)
        database = Database(tree: tree, sessions: restored, config: config)
        self.now = now
        sessions = SessionTracker(serverID: config.serverID, seedMs: config.sessionIDSeedMs)
        for (id, timeoutMs) in restored.sorted(by: { $0.key < $1.key }) {
            sessions.add(id, timeoutMs: timeoutMs, nowMs: now.monotonicMs)
        }
        durableZxid = tree.lastProcessedZxid
        committedZxid = tree.lastProcessedZxid
        schedule = StorageSchedule(config: config, nowMs: now.monotonicMs)
        lastContainerCheckMs = now.monotonicMs
        startedAtMs = now.monotonicMs
        metrics = ServerMetrics(nowMs: now.monotonicMs)
        publishQuorumConfig()
    }

    /// An ensemble member's `/zookeeper/config` holds its quorum configuration (Apache's clients and
    /// tools read the membership there); a standalone server's stays empty, as Apache's does.
    func publishQuorumConfig() {
        guard let verifier = ensemble?.peer.config.verifier else { return }
        tree.setQuorumConfig(Array(verifier.text.utf8), version: verifier.version, time: now.wallMs)
        metrics.observeWrite(path: "/zookeeper/config", bytes: verifier.text.utf8.count)  // Apache's setData of it
    }

    public var tree: DataTree { database.tree }

    /// The replicated session table (id, timeout) as of the tree's last applied txn, for snapshots.
    public var sessionTable: [(SessionID, Int32)] { database.sessionTable }

    /// The zxid of the newest txn the tree has applied.
    public var lastProcessedZxid: Zxid { tree.lastProcessedZxid }

    /// The zxid of the newest txn prepared.
    public var lastProposedZxid: Zxid { database.lastProposedZxid }

    /// Txns prepared and not yet applied.
    public var txnsInFlight: Int { proposed.count - proposedHead }

    /// Admission control: the shell stops reading from clients while this is true (too many
    /// unanswered requests, or too many txns waiting for the disk).
    public var isThrottled: Bool {
        outstandingRequests >= config.limits.outstandingRequestsMax || txnsInFlight >= config.limits.txnsInFlightMax
    }

    /// Whether a snapshot is being written (`mntr`, tests).
    public var snapshotInProgress: Bool { schedule.snapshotInProgress }

    /// Handles one input. Output accumulates until `takeReady` (or `takeEffects`).
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
        case .connectionRejected:
            metrics.count(.connectionRejected)
        case .tick:
            metrics.tick(nowMs: now.monotonicMs)
            if let ensemble {
                ensemble.peer.tick(nowMs: now.monotonicMs, into: &ensemble.effects)
                carryOutPeerEffects()
            }
            // Only the leader decides expiry and container deletion: they are txns.
            if ensemble == nil || (isServing && ensemble!.isLeader) {
                expireSessions()
                checkContainers()
            }
            expireSessionlessConnections()
            if logFailure == nil { schedule.purgeIfDue(nowMs: now.monotonicMs, &persist) }
        case .storage(let result):
            handleStorage(result)
        case .peer(let input):
            handlePeer(input)
        }
    }

    /// What to persist, then what to send, since the last call; both buffers are emptied first and
    /// their allocations kept.
    public func takeReady(into ready: inout Ready) {
        ready.persist.removeAll(keepingCapacity: true)
        ready.output.removeAll(keepingCapacity: true)
        swap(&ready.persist, &persist)
        swap(&ready.output, &effects)
        pendingSendBytes = 0
    }

    /// The same as one flat list, storage commands first (tests).
    public func takeEffects() -> [ReplicaEffect] {
        defer { effects.removeAll(keepingCapacity: true); persist.removeAll(keepingCapacity: true) }
        return persist.map { .persist($0) } + effects
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
        if let id = connection.session, attached[id] == connection.id {
            attached[id] = nil
        }
    }

    func send(_ bytes: [UInt8], to connection: Connection) {
        pendingSendBytes += bytes.count
        connection.stats.packetsSent += 1
        stats.packetsSent += 1
        stats.recordResponse(bytes: bytes.count - 4)  // Apache's client_response_stats: after the length
        effects.append(.send(connection.id, bytes))
    }

    // MARK: Frames

    private func receive(_ bytes: [UInt8], on connection: Connection) {
        schedule.noteRequest()
        connection.stats.packetsReceived += 1
        stats.packetsReceived += 1
        metrics.count(.bytesReceivedCount, by: Int64(bytes.count + 4))  // with the length prefix, as Apache counts
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
        if let session = connection.session {
            sessions.touch(session, nowMs: now.monotonicMs)
            if let ensemble, ensemble.isLearner { ensemble.peer.touch(session, timeoutMs: connection.negotiatedTimeoutMs) }
        }
        let recordStart = reader.offset
        // Every request enters Apache's PrepRequestProcessor on a standalone server or the leader;
        // a learner's reads never do (its writes are counted where the leader prepares them).
        if ensemble?.isLearner != true { metrics.count(.prepProcessorRequestQueued) }
        switch header.type {
        case OpCode.auth.rawValue:
            receiveAuth(header, &reader, on: connection)
        case OpCode.sasl.rawValue:
            // No SASL server is configured: Apache answers OK with a null token and carries on.
            let reply = ReplyHeader(xid: header.xid, zxid: 0, err: 0)
            send(FrameEncoder.reply(reply, .buffer(nil)), to: connection)
        default: // over Int32 (the wire's type, before it is an OpCode)
            guard let op = OpCode(rawValue: header.type),
                  let request = ClientRequest.decode(op, &reader, limits: config.limits) else {
                log(.warn, "ZooKeeperServer", "Received packet at server of unknown type \(header.type)")
                rejectUnimplemented(header, on: connection)
                return
            }
            switch request {
            case .write(let write):
                enqueueWrite(write, op: op, xid: header.xid, record: bytes[recordStart...], on: connection)
            case .read(let read):
                if ensemble != nil, op == .sync {
                    outstandingRequests += 1
                    startSync(read, record: bytes[recordStart...], xid: header.xid, on: connection)
                } else {
                    enqueueRead(read, op: op, xid: header.xid, on: connection)
                }
            }
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
            stats.authFailedCount += 1
            let reply = ReplyHeader(xid: header.xid, zxid: 0, err: ErrorCode.authFailed.rawValue)
            send(FrameEncoder.reply(reply, .none), to: connection)
            close(connection, reason: "authentication failed")
        }
    }

    private func enqueueRead(_ request: ReadRequest, op: OpCode, xid: Int32, on connection: Connection) {
        outstandingRequests += 1
        connection.pending.append(PendingRequest(xid: xid, op: op, kind: .read(request), receivedAtMs: now.monotonicMs))
        answerReady(connection)
    }

    /// `record` is the request's bytes after its header: copied only when a learner forwards it.
    private func enqueueWrite(_ write: WriteRequest, op: OpCode, xid: Int32, record: ArraySlice<UInt8>, on connection: Connection) {
        outstandingRequests += 1
        if logFailure != nil {
            refuseWrite(op: op, xid: xid, on: connection)
            return
        }
        if let ensemble {
            guard isServing, ensemble.isLearner || leaderCanPropose else {
                outstandingRequests -= 1
                close(connection, reason: "the server is not serving writes")
                return
            }
        }
        // A request before the session exists is answered by the ConnectRequest path; here the
        // session is the connection's (`.none` only for garbage that got past the handshake).
        let session = connection.session ?? .none
        if case .closeSession = write { sessions.markClosing(session) }
        connection.pending.append(PendingRequest(xid: xid, op: op, kind: .write(result: nil), receivedAtMs: now.monotonicMs))
        if let ensemble, ensemble.isLearner {
            forward(session: session, cxid: xid, op: op, record: Array(record), authInfo: connection.authInfo)
            return
        }
        let request = Request(session: session, cxid: xid, write: write, authInfo: connection.authInfo)
        propose(database.prepare(request, time: now.wallMs))
    }

    // MARK: Log and commit

    private func handleStorage(_ result: StorageResult) {
        switch result {
        case .durable(let zxid, let txns, let syncNanoseconds):
            // After a failure the log lane reports nothing more; a late report is of txns dropped.
            guard logFailure == nil else { return }
            schedule.logged(txns: txns)
            if txns > 0 {
                // Apache times fsyncs only when it makes them (forceSync).
                if config.forceSync { metrics.observe(.fsyncTime, syncNanoseconds / 1_000_000) }
                metrics.observe(.syncProcessorBatchSize, Int64(txns))
            }
            markDurable(through: zxid)
            if ensemble != nil { peerDurable(through: zxid) }
        case .logFailed(let reason):
            failLog(reason)
        case .snapshotChunkWritten:
            schedule.chunkWritten(&persist)
        case .snapshotWritten(let zxid, let bytes, let elapsedNanoseconds):
            schedule.snapshotFinished()
            metrics.observe(.snapshotTime, elapsedNanoseconds / 1_000_000)
            lastSnapshot = (zxid, now.wallMs / 1000)
            log(.info, "FileTxnSnapLog", "Snapshot \(SnapshotFormat.fileName(zxid: zxid)) written (\(bytes) bytes) in \(elapsedNanoseconds / 1_000_000) ms")
            snapshotFinishedForPeer()
        case .snapshotFailed(let reason):
            schedule.snapshotFinished()
            log(.warn, "SyncRequestProcessor", "Snapshot failed: \(reason)")
            snapshotFinishedForPeer()
        case .purged(let paths):
            for path in paths { log(.info, "PurgeTxnLog", "Purged \(path)") }
        case .purgeFailed(let reason):
            log(.warn, "DatadirCleanupManager", "Autopurge failed: \(reason)")
        case .logTruncated(let zxid):
            // Only a Zab learner asks for a truncation (TRUNC or SNAP); a standalone server never does.
            invariant(ensemble != nil, "log truncated after 0x\(zxid.hex) on a standalone server")
            peerStorage(result)
        case .epochPersisted:
            invariant(ensemble != nil, "an epoch file persisted on a standalone server")
            peerStorage(result)
        }
        maybeStartSnapshot()
    }

    /// The log is durable through `zxid`: the quorum decides what that commits.
    private func markDurable(through zxid: Zxid) {
        invariant(zxid <= lastProposedZxid, "durable through 0x\(zxid.hex), beyond the last txn proposed (0x\(lastProposedZxid.hex))")
        guard zxid > durableZxid else { return }
        durableZxid = zxid
        // In an ensemble the quorum decides (`commitFromQuorum`).
        if ensemble == nil { commit(through: quorumCommitted(durable: durableZxid)) }
    }

    /// The quorum of one: a standalone server's txn is committed once its own log has it. Zab's
    /// leader replaces this with "a quorum of servers has ACKed it".
    private func quorumCommitted(durable: Zxid) -> Zxid { durable }

    private func maybeStartSnapshot() {
        // In an ensemble only while serving: the tree then holds the leader's history. Between roles
        // it may hold txns no quorum has (a reload applies every logged txn), and a snapshot of
        // those would make a later TRUNC below it impossible; while a SNAP is installed the shell
        // saves that tree itself (one capture per tree at a time: the simulator's seed 48).
        guard logFailure == nil, ensemble == nil || isServing,
              let zxid = schedule.maybeStartSnapshot(tree: tree, sessions: sessionTable, &persist) else { return }
        log(.info, "FileTxnSnapLog", "Creating new log file and snapshot at zxid 0x\(zxid.hex)")
    }

    /// The log failed: txns not yet durable are dropped (their requests get SYSTEMERROR, a pending
    /// session creation closes its connection), and no further write is accepted.
    private func failLog(_ reason: String) {
        guard logFailure == nil else { return }
        logFailure = reason
        metrics.count(.unrecoverableErrorCount)
        log(.error, "SyncRequestProcessor", "Severe unrecoverable error writing the transaction log: \(reason); refusing writes until restart")
        // An ensemble member cannot acknowledge anything any more: it stops serving, and the quorum
        // carries on without it (Apache exits).
        if ensemble != nil {
            for connection in connections.values.sorted(by: { $0.id < $1.id }) { close(connection, reason: "the transaction log failed") }
            return
        }
        // Txns that are durable but not yet committed cannot exist on a quorum of one.
        invariant(committedZxid == durableZxid, "durable txns left uncommitted when the log failed")
        let dropped = proposed[proposedHead...]
        proposed.removeAll()
        proposedHead = 0
        database.dropPrepared()
        for entry in dropped {
            let session = SessionID(entry.header.clientId)
            if case .closeSession = entry.txn { sessions[session]?.expiresAtMs = now.monotonicMs }
            guard let id = attached[session], let connection = connections[id], !connection.isClosing else { continue }
            if case .createSession = entry.txn {
                close(connection, reason: "the transaction log failed")
                continue
            }
            var failed = ApplyResult(type: .error)
            failed.err = .systemError
            if connection.complete(cxid: entry.header.cxid, result: failed) { answerReady(connection) }
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
        connection.pending.append(PendingRequest(xid: xid, op: op, kind: .write(result: failed), receivedAtMs: now.monotonicMs))
        answerReady(connection)
    }

    /// Hands a prepared txn to the log (and, on a Zab leader, to the followers).
    func propose(_ entry: TxnEntry) {
        invariant(entry.zxid == lastProposedZxid.rawValue, "txn 0x\(Zxid(entry.zxid).hex) proposed out of order")
        if ensemble != nil {
            proposeAsLeader(entry)
            return
        }
        invariant(proposed.last.map { $0.zxid < entry.zxid } ?? true, "txn 0x\(Zxid(entry.zxid).hex) proposed after a newer one")
        proposed.append(entry)
        persist.append(.append(entry))
        metrics.count(.syncProcessorRequestQueued)
    }

    /// Zab committed through `zxid` (a quorum has it durable; this server's own log may still be
    /// writing it, which is safe: a quorum keeps it through any crash).
    func commitFromQuorum(through zxid: Zxid) {
        invariant(zxid <= lastProposedZxid, "commit through 0x\(zxid.hex) beyond the last txn 0x\(lastProposedZxid.hex)")
        guard zxid > committedZxid else { return }
        committedZxid = zxid
        applyCommitted(through: zxid)
    }

    private func commit(through zxid: Zxid) {
        invariant(zxid >= committedZxid && zxid <= durableZxid, "commit through 0x\(zxid.hex) outside (0x\(committedZxid.hex), 0x\(durableZxid.hex)]")
        committedZxid = zxid
        applyCommitted(through: zxid)
    }

    private func applyCommitted(through zxid: Zxid) {
        while proposedHead < proposed.count, proposed[proposedHead].zxid <= zxid.rawValue {
            proposedHead += 1
            apply(proposed[proposedHead - 1])
        }
        if proposedHead == proposed.count {
            proposed.removeAll(keepingCapacity: true)
            proposedHead = 0
        }
    }

    /// Applies a committed txn, fires its watches, then answers the request that caused it: the
    /// oldest unanswered write of its session's connection, if that has the txn's cxid.
    private func apply(_ entry: TxnEntry) {
        let applied = database.apply(entry, committedThrough: committedZxid, changes: &changes)
        metrics.count(.requestCommitQueued)
        if !changes.isEmpty { metrics.observeWrites(of: entry.txn) }  // a txn that failed changed nothing
        // FinalRequestProcessor's figure: from the txn's creation (the leader's clock) to its application here.
        metrics.observe(.propagationLatency, max(0, now.wallMs - entry.header.time))
        // The local connection this txn answers, if any: its session's, when that connection's
        // oldest unanswered request is this one (a createSession answers the pending connect).
        // Recording the result sends nothing yet: the watches it fires are queued first.
        let origin = attached[SessionID(entry.header.clientId)].flatMap { connections[$0] }.flatMap { $0.isClosing ? nil : $0 }
        let createsSession: Bool
        if case .createSession = entry.txn { createsSession = true } else { createsSession = false }
        let answersOrigin = createsSession ? origin != nil
            : origin?.complete(cxid: entry.header.cxid, result: applied.result) ?? false
        applySessionChange(applied.sessionChange, otherwiseClose: answersOrigin ? nil : origin)
        notifications.removeAll(keepingCapacity: true)
        for change in changes {
            let before = notifications.count
            watches.fire(change, into: &notifications)
            if notifications.count > before { metrics.observe(change.watchCountSummary, Int64(notifications.count - before)) }
        }
        for (watcher, event) in notifications {
            guard let connection = connections[watcher], !connection.isClosing else { continue }
            let frame = Replica.notificationFrame(event)
            metrics.count(.watchBytes, by: Int64(frame.count))
            send(frame, to: connection)
        }
        guard answersOrigin, let connection = origin, !connection.isClosing else { return }
        if createsSession { finishSessionCreation(connection) } else { answerReady(connection) }
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
            case .write(nil):
                return
            case .write(let result?):
                connection.popHead()
                outstandingRequests -= 1
                answerWrite(head, result, on: connection)
            case .read(let request), .sync(let request, done: true):
                connection.popHead()
                outstandingRequests -= 1
                answerRead(request, head, on: connection)
            case .sync(_, done: false):
                return
            }
        }
    }

    func finishReply(_ request: PendingRequest, _ header: ReplyHeader, _ body: ResponseBody, lastOp: String, on connection: Connection) {
        let frame = FrameEncoder.reply(header, body)
        metrics.count(.responseBytes, by: Int64(frame.count))
        send(frame, to: connection)
        let latency = max(0, now.monotonicMs - request.receivedAtMs)
        // Apache's ServerStats.updateLatency: requests with a txn are updates, the rest reads.
        if case .write = request.kind { metrics.observe(.updateLatency, latency) } else { metrics.observe(.readLatency, latency) }
        connection.stats.recordLatency(latency)
        connection.stats.lastOp = lastOp
        connection.stats.lastCxid = request.xid
        connection.stats.lastZxid = Zxid(header.zxid)
        connection.stats.lastResponseWallMs = now.wallMs
        stats.recordLatency(latency)
    }
}
