/// The replica as a member of a Zab ensemble: the glue between `ZabPeer` (election, discovery,
/// synchronization, broadcast) and the client-facing pipeline.
///
/// The life of a write in an ensemble:
/// - on the leader, a client's write (or one a follower forwarded as REQUEST) is prepared with the
///   next zxid of the epoch, appended to the log and proposed; it is committed once a quorum has it
///   durable (`ZabLeader`), then applied and answered by the server whose client asked;
/// - on a follower, a client's write is forwarded to the leader as REQUEST (the request's own
///   bytes, with its session, cxid and identities); the PROPOSAL is appended and ACKed once durable;
///   the COMMIT applies it, and the reply goes out then, matched by (session, cxid) as on the leader.
///
/// Sessions are global: createSession and closeSession are txns the leader prepares; a follower's
/// clients' activity reaches the leader in its PING replies; only the leader expires sessions
/// (its expiry is a closeSession txn every server applies). Reads are local; `sync` on a follower
/// waits for the leader's SYNC, which follows every commit the leader had when it got the sync.
///
/// When a role ends, clients are disconnected (as Apache does), the log is allowed to drain, and
/// the shell reloads the database from disk (every logged txn applied, committed or not, as
/// Apache's `loadDataBase` does), before the next election starts from what is durable.
import ZKCore
import ZKProtocol
import ZKDataTree
import ZKStorage
import ZKZab

final class Ensemble {
    var peer: ZabPeer
    /// Quorum-port framing: the stream from the leader and one per learner connection.
    var leaderDecoder: QuorumPacketDecoder?
    var learnerDecoders: [LearnerID: QuorumPacketDecoder] = [:]
    /// Set between SNAP and the end of the snapshot on the leader's stream.
    var snapshotReader: SnapStreamReader?
    /// Connections with a `sync` in flight, oldest first (syncs complete in the order asked).
    var syncQueue: [ConnectionID] = []
    /// Connections resuming a session, waiting for the leader's answer to REVALIDATE.
    var revalidating: [SessionID: [ConnectionID]] = [:]
    /// Why a database reload is wanted, once the log has drained.
    enum Reload { case roleEnded, truncated(Zxid) }
    var reloadWanted: Reload?
    var reloadRequested = false
    /// A SNAP's tree is installed: waiting for the log to be cut back to it, then for it to be saved.
    var installingSnapshot: Zxid?
    /// A TRUNC waiting for the scheduled snapshot being written to finish (so that the truncation
    /// sees it on disk and removes it if it holds txns past the truncation point).
    var deferredTruncation: Zxid?
    /// The newest txn handed to the log.
    var lastAppendedZxid: Zxid
    var effects: [PeerEffect] = []
    /// Per learner connection, what the AdminServer's `observers` reports (`LearnerHandler`'s counts).
    var learnerLinks: [LearnerID: LearnerLinkStats] = [:]
    /// The leader's proposals not yet committed, with when they were proposed (`quorum_ack_latency`).
    var proposedAtMs: [(zxid: Zxid, ms: Int64)] = []
    var proposedAtHead = 0

    init(_ start: EnsembleStart) {
        peer = ZabPeer(config: start.peer, acceptedEpoch: start.acceptedEpoch, currentEpoch: start.currentEpoch,
                       lastLoggedZxid: start.lastLoggedZxid, committedLog: start.committedLog)
        lastAppendedZxid = start.lastLoggedZxid
    }

    /// The leader's stream is not read while storage catches up with a TRUNC or a SNAP: what
    /// follows them must reach the log after the truncation and after the snapshot is saved (a
    /// txn logged after a SNAP whose snapshot is not yet on disk would leave a gap behind it).
    var leaderStreamPaused: Bool { reloadWanted != nil || installingSnapshot != nil }

    var isLeader: Bool { peer.state == .leading }
    var isLearner: Bool { peer.state == .following || peer.state == .observing }
}

extension Replica {
    /// Whether clients are served: always standalone; in an ensemble once this server is synced with
    /// an established leader (or is it).
    public var isServing: Bool { ensemble.map { $0.peer.isServing && $0.reloadWanted == nil } ?? true }

    /// The server's mode for `srvr`, `stat` and `mntr`.
    var modeName: String {
        guard let ensemble else { return "standalone" }
        switch ensemble.peer.state {
        case .leading: return "leader"
        case .following: return "follower"
        case .observing: return "observer"
        case .looking: return "looking"
        }
    }

    /// The epoch this server leads and serves in (nil unless an established leader): the
    /// simulator's "one leader per epoch" checker reads it.
    public var establishedLeaderEpoch: Epoch? {
        guard let ensemble, ensemble.isLeader, isServing else { return nil }
        return ensemble.peer.leader?.epoch
    }

    /// The state of this server's Zab peer (nil standalone).
    public var peerState: PeerState? { ensemble?.peer.state }

    /// When the shell must call `.tick` next at the latest (election timeouts are short).
    public var peerDeadlineMs: Int64? { ensemble?.peer.deadlineMs }

    // MARK: Inputs

    func handlePeer(_ input: PeerInput) {
        guard let ensemble else {
            invariant(false, "a peer input on a standalone server")
            return
        }
        let nowMs = now.monotonicMs
        switch input {
        case .start:
            ensemble.peer.start(nowMs: nowMs, into: &ensemble.effects)
        case .notification(let n, let from):
            ensemble.peer.notification(n, from: from, nowMs: nowMs, into: &ensemble.effects)
        case .learnerConnected(let id, let remote):
            ensemble.learnerDecoders[id] = QuorumPacketDecoder(limits: config.limits)
            ensemble.learnerLinks[id] = LearnerLinkStats(remote: remote, establishedWallMs: now.wallMs)
            ensemble.peer.learnerConnected(id, nowMs: nowMs)
        case .learnerBytes(let id, let bytes):
            guard var decoder = ensemble.learnerDecoders.removeValue(forKey: id) else { return }
            decoder.append(bytes[...])
            while true {
                let packet: QuorumPacket?
                do { packet = try decoder.next() } catch {
                    log(.warn, "LearnerHandler", "Closing the connection of \(id): \(error)")
                    ensemble.peer.learnerDisconnected(id)
                    effects.append(.peer(.closeLearner(id)))
                    return
                }
                guard let packet else { break }
                ensemble.learnerLinks[id]?.received(packet)
                ensemble.peer.learnerPacket(packet, from: id, nowMs: nowMs, into: &ensemble.effects)
                carryOutPeerEffects()
            }
            if ensemble.isLeader { ensemble.learnerDecoders[id] = decoder }
        case .learnerDisconnected(let id):
            ensemble.learnerDecoders[id] = nil
            ensemble.learnerLinks[id] = nil
            ensemble.peer.learnerDisconnected(id)
        case .leaderConnected:
            ensemble.leaderDecoder = QuorumPacketDecoder(limits: config.limits)
            ensemble.peer.leaderConnected(nowMs: nowMs, into: &ensemble.effects)
        case .leaderBytes(let bytes):
            receiveFromLeader(bytes, nowMs: nowMs)
        case .leaderDisconnected:
            ensemble.leaderDecoder = nil
            ensemble.snapshotReader = nil
            ensemble.peer.leaderDisconnected(nowMs: nowMs, into: &ensemble.effects)
        case .databaseReloaded(let tree, let restored, let lastZxid):
            databaseReloaded(tree, restored, lastZxid: lastZxid, nowMs: nowMs)
        case .snapshotSaved(let failure):
            guard let zxid = ensemble.installingSnapshot else { return }
            ensemble.installingSnapshot = nil
            if let failure {
                log(.error, "Learner", "Cannot save the snapshot the leader sent: \(failure)")
                ensemble.peer.leaderDisconnected(nowMs: nowMs, into: &ensemble.effects)
            } else {
                log(.info, "Learner", "Snapshot of 0x\(zxid.hex) from the leader saved")
                ensemble.peer.snapshotInstalled(nowMs: nowMs, into: &ensemble.effects)
                carryOutPeerEffects()
                receiveFromLeader([], nowMs: nowMs)
            }
        }
        carryOutPeerEffects()
    }

    private func receiveFromLeader(_ bytes: [UInt8], nowMs: Int64) {
        guard let ensemble, var decoder = ensemble.leaderDecoder else { return }
        ensemble.leaderDecoder = nil
        decoder.append(bytes[...])
        while ensemble.leaderDecoder == nil && !ensemble.leaderStreamPaused {
            if ensemble.snapshotReader != nil {
                guard readSnapshot(from: &decoder, nowMs: nowMs) else { break }
                continue
            }
            let packet: QuorumPacket?
            do { packet = try decoder.next() } catch {
                log(.warn, "Learner", "Closing the connection to the leader: \(error)")
                effects.append(.peer(.closeLeaderConnection))
                ensemble.peer.leaderDisconnected(nowMs: nowMs, into: &ensemble.effects)
                carryOutPeerEffects()
                return
            }
            guard let packet else { break }
            if packet.type == .diff { log(.info, "Learner", "Getting a diff from the leader 0x\(packet.zxid.hex)") }
            ensemble.peer.leaderPacket(packet, nowMs: nowMs, into: &ensemble.effects)
            carryOutPeerEffects()
            // The role may have ended (and the decoder with it).
            guard ensemble.isLearner else { return }
        }
        if ensemble.isLearner { ensemble.leaderDecoder = decoder }
    }

    /// Feeds the bytes after SNAP to the snapshot reader; true once the snapshot is complete (the
    /// bytes after it are quorum packets again).
    private func readSnapshot(from decoder: inout QuorumPacketDecoder, nowMs: Int64) -> Bool {
        guard let ensemble, var reader = ensemble.snapshotReader else { return false }
        let raw = decoder.takeRaw(upTo: decoder.bufferedBytes)
        guard !raw.isEmpty else { return false }
        let step: SnapStreamReader.Step
        do { step = try reader.feed(raw) } catch {
            log(.warn, "Learner", "Closing the connection to the leader: bad snapshot stream: \(error)")
            ensemble.snapshotReader = nil
            effects.append(.peer(.closeLeaderConnection))
            ensemble.peer.leaderDisconnected(nowMs: nowMs, into: &ensemble.effects)
            carryOutPeerEffects()
            return false
        }
        guard case .finished(let leftover) = step else {
            ensemble.snapshotReader = reader
            return false
        }
        ensemble.snapshotReader = nil
        if leftover > 0 { decoder.append(raw.suffix(leftover)) }
        installSnapshot(reader)
        return true
    }

    /// The leader's snapshot replaces the tree; the log is cut back to it, then it is saved.
    private func installSnapshot(_ reader: SnapStreamReader) {
        guard let ensemble else { return }
        let zxid = reader.zxid
        log(.info, "Learner", "Getting a snapshot from leader 0x\(zxid.hex): \(reader.tree.nodeCount) nodes, \(reader.sessions.count) sessions")
        var restored: [SessionID: Int32] = [:]
        for (id, timeout) in reader.sessions { restored[id] = timeout }
        replaceDatabase(reader.tree, restored, lastZxid: zxid)
        ensemble.installingSnapshot = zxid
        ensemble.lastAppendedZxid = zxid
        persist.append(.truncateLog(after: zxid))
    }

    private func databaseReloaded(_ tree: DataTree, _ restored: [SessionID: Int32], lastZxid: Zxid, nowMs: Int64) {
        guard let ensemble, ensemble.reloadRequested, let reason = ensemble.reloadWanted else { return }
        ensemble.reloadRequested = false
        ensemble.reloadWanted = nil
        replaceDatabase(tree, restored, lastZxid: lastZxid)
        ensemble.lastAppendedZxid = lastZxid
        // A reload after a log failure comes with a fresh log lane (the shell's contract): this
        // server may acknowledge txns again.
        if logFailure != nil {
            log(.info, "SyncRequestProcessor", "Accepting writes again after the transaction log failure: \(logFailure!)")
            logFailure = nil
        }
        log(.info, "ZKDatabase", "Database reloaded: last zxid 0x\(lastZxid.hex), \(restored.count) sessions")
        switch reason {
        case .roleEnded:
            ensemble.peer.databaseReloaded(lastLoggedZxid: lastZxid, nowMs: nowMs, into: &ensemble.effects)
        case .truncated(let zxid):
            if lastZxid == zxid {
                ensemble.peer.truncated(nowMs: nowMs, into: &ensemble.effects)
                carryOutPeerEffects()
                receiveFromLeader([], nowMs: nowMs)
            } else {
                // A snapshot newer than the truncation point (see `StorageEngine.truncate`): the data
                // stays as it is, and this server cannot follow this leader.
                log(.error, "Learner", "Cannot truncate to 0x\(zxid.hex): a snapshot holds txns up to 0x\(lastZxid.hex); leaving the leader with the data intact")
                ensemble.peer.leaderDisconnected(nowMs: nowMs, into: &ensemble.effects)
            }
        }
    }

    /// A new tree: every txn in flight is gone with the old one.
    func replaceDatabase(_ tree: DataTree, _ restored: [SessionID: Int32], lastZxid: Zxid) {
        invariant(tree.lastProcessedZxid == lastZxid, "a database at 0x\(tree.lastProcessedZxid.hex) reported as 0x\(lastZxid.hex)")
        proposed.removeAll()
        proposedHead = 0
        database.replace(tree: tree, sessions: restored)
        publishQuorumConfig()
        durableZxid = lastZxid
        committedZxid = lastZxid
        sessions = SessionTracker(serverID: config.serverID, seedMs: now.wallMs)
        for (id, timeoutMs) in restored.sorted(by: { $0.key < $1.key }) {
            sessions.add(id, timeoutMs: timeoutMs, nowMs: now.monotonicMs)
        }
    }

    // MARK: Effects

    func carryOutPeerEffects() {
        guard let ensemble else { return }
        while !ensemble.effects.isEmpty {
            let batch = ensemble.effects
            ensemble.effects.removeAll()
            for effect in batch { carryOut(effect, ensemble) }
        }
    }

    private func carryOut(_ effect: PeerEffect, _ ensemble: Ensemble) {
        let nowMs = now.monotonicMs
        switch effect {
        case .sendNotification(let n, let to):
            effects.append(.peer(.sendNotification(n, to: to)))
        case .sendToLearner(let packet, let id):
            if packet.type == .diff || packet.type == .trunc {
                log(.info, "LearnerHandler", "Sending \(packet.type) zxid=0x\(packet.zxid.hex) to \(id)")
                metrics.count(.diffCount)  // Apache counts every sync without a snapshot as a DIFF
            }
            ensemble.learnerLinks[id]?.sent(packet)
            effects.append(.peer(.sendToLearner(id, packet.serialized())))
        case .sendSnapshot(let zxid, let id):
            invariant(tree.lastProcessedZxid == zxid, "SNAP of 0x\(zxid.hex) from a tree at 0x\(tree.lastProcessedZxid.hex)")
            log(.info, "LearnerHandler", "Sending a snapshot of 0x\(zxid.hex) to \(id)")
            metrics.count(.snapCount)
            var bytes = QuorumPacket(.snap, zxid: zxid).serialized()
            bytes += SnapStream.serialize(tree: tree, sessions: sessionTable)
            effects.append(.peer(.sendToLearner(id, bytes)))
        case .closeLearner(let id, let reason):
            log(.warn, "LearnerHandler", "Closing the connection of \(id): \(reason)")
            ensemble.learnerDecoders[id] = nil
            ensemble.learnerLinks[id] = nil
            effects.append(.peer(.closeLearner(id)))
        case .listenForLearners(let on):
            if !on { ensemble.learnerDecoders.removeAll() }
            effects.append(.peer(.listenForLearners(on)))
        case .connectToLeader(let id):
            effects.append(.peer(.connectToLeader(id)))
        case .sendToLeader(let packet):
            effects.append(.peer(.sendToLeader(packet.serialized())))
        case .closeLeaderConnection:
            ensemble.leaderDecoder = nil
            ensemble.snapshotReader = nil
            effects.append(.peer(.closeLeaderConnection))
        case .persistEpoch(let kind, let epoch):
            persist.append(.persistEpoch(kind == .accepted ? .acceptedEpoch : .currentEpoch, epoch))
        case .append(let proposal):
            appendProposal(proposal)
        case .truncateLog(let zxid):
            log(.info, "Learner", "Truncating log to get in sync with the leader 0x\(zxid.hex)")
            ensemble.reloadWanted = .truncated(zxid)
            ensemble.lastAppendedZxid = zxid
            if schedule.snapshotInProgress {
                // A snapshot of the tree as it was (maybe with txns past this point) is still being
                // written: truncate once it is on disk, or it would land after the truncation and be
                // loaded by the next recovery (the replica-level simulator, seed 945).
                ensemble.deferredTruncation = zxid
            } else {
                persist.append(.truncateLog(after: zxid))
                requestReloadIfDrained()
            }
        case .receiveSnapshot(let zxid):
            ensemble.snapshotReader = SnapStreamReader(zxid: zxid, extendedTypesEnabled: config.extendedTypesEnabled, limits: config.limits)
        case .commit(let zxid):
            if ensemble.isLeader { measureCommits(through: zxid) } else { metrics.count(.learnerCommitReceivedCount) }
            commitFromQuorum(through: zxid)
        case .reloadDatabase:
            // A SNAP being installed is abandoned with the role: the reload reads what is on disk.
            // A TRUNC waiting for a snapshot is not: `ZabPeer` already counts it done (its DIFF
            // window and last zxid end at the truncation point), so the disk must too before the
            // reload (the replica-level simulator, seed 14: a leader whose window missed txns its
            // tree had DIFFed followers into a different tree).
            ensemble.installingSnapshot = nil
            ensemble.snapshotReader = nil
            ensemble.reloadWanted = .roleEnded
            requestReloadIfDrained()
        case .stateChanged(let state, let serving):
            roleChanged(state, serving: serving)
        case .request(let request, let authInfo, let from):
            receiveForwarded(request, authInfo: authInfo, from: from)
        case .revalidate(let touch, let from):
            let valid = sessions.isActive(touch.session)
            if valid { sessions.touch(touch.session, nowMs: nowMs) }
            ensemble.peer.revalidated(touch.session, valid: valid, for: from, nowMs: nowMs, into: &ensemble.effects)
        case .revalidated(let session, let valid):
            revalidated(session, valid: valid)
        case .touchSessions(let touches):
            for touch in touches { sessions.touch(touch.session, nowMs: nowMs) }
        case .syncReached(let learner):
            if learner == nil { completeOldestSync() }
        case .syncCompleted:
            completeOldestSync()
        case .log(let level, let message):
            log(level, "QuorumPeer", message)
        }
    }

    /// A learner's append: the leader's txn bytes go to the log as they are.
    private func appendProposal(_ proposal: Proposal) {
        guard let ensemble else { return }
        let entry: TxnEntry
        do { entry = try TxnEntry.decode(proposal.data) } catch {
            // The learner checked framing; a txn this server cannot read must not enter its log.
            log(.error, "Learner", "Cannot read the txn of proposal 0x\(proposal.zxid.hex): \(error); leaving the leader")
            effects.append(.peer(.closeLeaderConnection))
            ensemble.peer.leaderDisconnected(nowMs: now.monotonicMs, into: &ensemble.effects)
            return
        }
        invariant(Zxid(entry.zxid) == proposal.zxid, "proposal 0x\(proposal.zxid.hex) carries txn 0x\(Zxid(entry.zxid).hex)")
        metrics.count(.learnerProposalReceivedCount)
        metrics.count(.syncProcessorRequestQueued)
        // Follower.processPacket's figure: from the txn's creation on the leader to its arrival here.
        metrics.observe(.proposalLatency, max(0, now.wallMs - entry.header.time))
        database.noteProposed(proposal.zxid)
        proposed.append(entry)
        ensemble.lastAppendedZxid = proposal.zxid
        persist.append(.append(proposal.zxid, record: proposal.data))
    }

    /// The leader proposes a txn it prepared: to its log and to the followers.
    func proposeAsLeader(_ entry: TxnEntry) {
        guard let ensemble else { return }
        let record = entry.serialized()
        invariant(ensemble.peer.nextZxid() == Zxid(entry.zxid), "txn 0x\(Zxid(entry.zxid).hex) prepared, Zab expects \(String(describing: ensemble.peer.nextZxid()))")
        proposed.append(entry)
        ensemble.lastAppendedZxid = Zxid(entry.zxid)
        persist.append(.append(Zxid(entry.zxid), record: record))
        metrics.count(.proposalCount)
        metrics.count(.syncProcessorRequestQueued)
        stats.recordProposal(bytes: record.count)
        ensemble.proposedAtMs.append((Zxid(entry.zxid), now.monotonicMs))
        ensemble.peer.propose(Proposal(zxid: Zxid(entry.zxid), data: record), nowMs: now.monotonicMs, into: &ensemble.effects)
        carryOutPeerEffects()
    }

    /// The leader can prepare a txn now (it serves, and the epoch has counters left).
    var leaderCanPropose: Bool { ensemble.map { $0.isLeader && $0.peer.nextZxid() != nil } ?? false }

    /// The log is durable through `zxid`: Zab counts it (an ACK, or the leader's own vote).
    func peerDurable(through zxid: Zxid) {
        guard let ensemble else { return }
        ensemble.peer.durable(through: zxid, nowMs: now.monotonicMs, into: &ensemble.effects)
        carryOutPeerEffects()
    }

    /// A scheduled snapshot finished (written or not): a TRUNC that waited for it goes ahead.
    func snapshotFinishedForPeer() {
        guard let ensemble, let zxid = ensemble.deferredTruncation else { return }
        ensemble.deferredTruncation = nil
        persist.append(.truncateLog(after: zxid))
        requestReloadIfDrained()
    }

    func peerStorage(_ result: StorageResult) {
        guard let ensemble else { return }
        switch result {
        case .epochPersisted(let file, let epoch):
            ensemble.peer.epochPersisted(file == .acceptedEpoch ? .accepted : .current, epoch, nowMs: now.monotonicMs, into: &ensemble.effects)
        case .logTruncated(let zxid):
            if let installing = ensemble.installingSnapshot, installing == zxid { effects.append(.peer(.saveSnapshot)) }
        case .durable, .logFailed, .snapshotChunkWritten, .snapshotWritten, .snapshotFailed, .purged, .purgeFailed:
            break
        }
        carryOutPeerEffects()
    }

    /// Asks the shell for a reload. The shell first finishes every storage command sent before
    /// (appends, a truncation) and hands back their results, so the reload sees them on disk.
    private func requestReloadIfDrained() {
        guard let ensemble, ensemble.reloadWanted != nil, !ensemble.reloadRequested, ensemble.deferredTruncation == nil else { return }
        ensemble.reloadRequested = true
        effects.append(.peer(.reloadDatabase))
    }

    private func roleChanged(_ state: PeerState, serving: Bool) {
        guard let ensemble else { return }
        measureRoleChange(state, serving: serving, ensemble)
        if serving {
            if ensemble.isLeader {
                // The epoch is established: the next txn is epoch << 32 | 1, and every session
                // gets a full timeout from now (the old leader's deadlines were not known here).
                if let next = ensemble.peer.nextZxid() { database.startEpoch(next.epoch) }
                sessions.restartDeadlines(nowMs: now.monotonicMs)
            }
            log(.info, "QuorumPeer", "\(state) - serving clients (zxid 0x\(lastProcessedZxid.hex))")
            return
        }
        // Not serving: clients go elsewhere until this server is synced again.
        for connection in connections.values.sorted(by: { $0.id < $1.id }) where connection.session != nil || connection.head != nil {
            close(connection, reason: "the server is not serving (\(state))")
        }
        ensemble.syncQueue.removeAll()
        ensemble.revalidating.removeAll()
    }

    // MARK: Requests in an ensemble

    /// A follower forwards a client's write, session creation or sync to the leader.
    func forward(session: SessionID, cxid: Int32, op: OpCode, record: [UInt8], authInfo: [Id]) {
        guard let ensemble else { return }
        ensemble.peer.forward(ForwardedRequest(session: session, cxid: cxid, opCode: op.rawValue, record: record),
                              authInfo: authInfo, into: &ensemble.effects)
        carryOutPeerEffects()
    }

    /// A learner's REQUEST on the leader: prepared exactly as a local client's.
    private func receiveForwarded(_ request: ForwardedRequest, authInfo: [Id], from: LearnerID) {
        guard let ensemble else { return }
        let session = request.session
        guard let op = OpCode(rawValue: request.opCode) else {
            log(.warn, "Leader", "A forwarded request of unknown type \(request.opCode) from \(from): ignored")
            return
        }
        if op == .sync {
            ensemble.peer.sync(for: from, nowMs: now.monotonicMs, into: &ensemble.effects)
            return
        }
        guard leaderCanPropose else {
            log(.warn, "Leader", "Dropping a forwarded \(op) of session 0x\(session.hex): not proposing")
            return
        }
        sessions.touch(session, nowMs: now.monotonicMs)
        metrics.count(.prepProcessorRequestQueued)
        var reader = JuteReader(request.record, limits: config.limits)
        if op == .createSession {
            let timeout = (try? reader.readInt()) ?? config.minSessionTimeoutMs
            proposeAsLeader(database.prepareCreateSession(session, timeoutMs: timeout, time: now.wallMs))
        } else {
            guard case .write(let write)? = ClientRequest.decode(op, &reader, limits: config.limits) else {
                log(.warn, "Leader", "A malformed forwarded \(op) of session 0x\(session.hex) from \(from): ignored")
                return
            }
            if case .closeSession = write { sessions.markClosing(session) }
            proposeAsLeader(database.prepare(Request(session: session, cxid: request.cxid, write: write, authInfo: authInfo), time: now.wallMs))
        }
    }

    /// A `sync` from a local client in an ensemble: the leader asks Zab for the point after its
    /// in-flight proposals, a follower asks the leader.
    func startSync(_ request: ReadRequest, record: ArraySlice<UInt8>, xid: Int32, on connection: Connection) {
        guard let ensemble else { return }
        ensemble.syncQueue.append(connection.id)
        connection.pending.append(PendingRequest(xid: xid, op: .sync, kind: .sync(request, done: false), receivedAtMs: now.monotonicMs))
        if ensemble.isLeader {
            ensemble.peer.sync(for: nil, nowMs: now.monotonicMs, into: &ensemble.effects)
            carryOutPeerEffects()
        } else {
            forward(session: connection.session ?? .none, cxid: xid, op: .sync, record: Array(record), authInfo: connection.authInfo)
        }
    }

    private func completeOldestSync() {
        guard let ensemble, !ensemble.syncQueue.isEmpty else { return }
        let id = ensemble.syncQueue.removeFirst()
        guard let connection = connections[id], !connection.isClosing else { return }
        if connection.completeSync() { answerReady(connection) }
    }
}

// MARK: Metrics

extension Replica {
    /// Leader.commit's figures: one commit per proposal, and how long its quorum took.
    fileprivate func measureCommits(through zxid: Zxid) {
        guard let ensemble else { return }
        while ensemble.proposedAtHead < ensemble.proposedAtMs.count, ensemble.proposedAtMs[ensemble.proposedAtHead].zxid <= zxid {
            metrics.count(.commitCount)
            metrics.observe(.quorumAckLatency, now.monotonicMs - ensemble.proposedAtMs[ensemble.proposedAtHead].ms)
            ensemble.proposedAtHead += 1
        }
        if ensemble.proposedAtHead == ensemble.proposedAtMs.count {
            ensemble.proposedAtMs.removeAll(keepingCapacity: true)
            ensemble.proposedAtHead = 0
        }
    }

    /// `looking_count`, `election_time` (LOOKING until a role), and `follower_sync_time` /
    /// `observer_sync_time` (a role until it serves).
    fileprivate func measureRoleChange(_ state: PeerState, serving: Bool, _ ensemble: Ensemble) {
        let nowMs = now.monotonicMs
        if serving {
            if let started = roleStartedMs {
                if state == .following { metrics.observe(.followerSyncTime, nowMs - started) }
                if state == .observing { metrics.observe(.observerSyncTime, nowMs - started) }
            }
            return
        }
        ensemble.proposedAtMs.removeAll()
        ensemble.proposedAtHead = 0
        if state == .looking {
            metrics.count(.lookingCount)
            lookingSinceMs = nowMs
            roleStartedMs = nil
        } else {
            if let since = lookingSinceMs { metrics.observe(.electionTime, nowMs - since) }
            lookingSinceMs = nil
            roleStartedMs = nowMs
        }
    }
}

/// One learner connection's figures, as Apache's `LearnerHandler.getLearnerHandlerInfo` reports them.
struct LearnerLinkStats {
    let remote: String
    let establishedWallMs: Int64
    var packetsReceived = 0
    var packetsSent = 0
    var requests = 0
    var lastZxid = Zxid(-1)

    init(remote: String, establishedWallMs: Int64) {
        self.remote = remote
        self.establishedWallMs = establishedWallMs
    }

    mutating func received(_ packet: QuorumPacket) {
        packetsReceived += 1
        if packet.type == .request { requests += 1 }
    }

    mutating func sent(_ packet: QuorumPacket) {
        packetsSent += 1
        if packet.type == .proposal || packet.type == .inform { lastZxid = packet.zxid }
    }

    /// `orst`: the counts start over.
    mutating func reset() {
        packetsReceived = 0
        packetsSent = 0
        requests = 0
    }
}
