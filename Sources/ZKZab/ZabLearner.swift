/// A follower's or observer's side of Zab (`Learner.registerWithLeader`, `syncWithLeader`,
/// `Follower.processPacket`, `Observer.processPacket`) as a deterministic state machine: packets from
/// the leader, durability reports and the clock in; packets to the leader, log appends, truncation,
/// epoch writes and commits out.
///
/// Durability rules (stricter than Apache where Apache is loose, never looser):
/// - ACKEPOCH leaves only after a larger `acceptedEpoch` is durable.
/// - `currentEpoch` is written only after every proposal received during synchronization is
///   durable in the log, a TRUNC is done and a SNAP's snapshot is installed; the ACK of NEWLEADER
///   leaves only after `currentEpoch` is durable.
/// - The ACK of a proposal leaves only after the log is durable through it.
/// - Nothing is applied before its COMMIT (an observer's INFORM is a commit).
import ZKCore
import ZKProtocol

public enum LearnerEffect: Sendable, Equatable {
    case send(QuorumPacket)
    case persistEpoch(ZabEpochKind, Epoch)
    /// Append the txn to the log (the learner reports `durable(through:)` once it is synced).
    case append(Proposal)
    /// Cut the log back to `zxid` (TRUNC), then report `truncated`; if a snapshot newer than `zxid`
    /// exists, remove every snapshot and log instead and report `truncationImpossible`.
    case truncateLog(after: Zxid)
    /// The bytes after this SNAP on the leader's stream are a snapshot at `zxid`: read it, replace
    /// the tree, make it durable, then report `snapshotInstalled`.
    case receiveSnapshot(zxid: Zxid)
    /// Txns through this zxid are committed: apply them.
    case commit(through: Zxid)
    /// Synchronized: serve clients.
    case serving(epoch: Epoch)
    /// The leader answered a REVALIDATE.
    case revalidated(SessionID, valid: Bool)
    /// The leader's SYNC: the oldest forwarded `sync` is answered (every commit before it arrived).
    case syncCompleted
    /// Following is over (the leader is gone, silent, or sent something wrong): look again.
    case lookAgain(reason: String)
}

public struct ZabLearner: Sendable {
    public enum Phase: Sendable, Equatable { case connecting, discovery, synchronization, broadcast, stopped }

    public let myID: ServerID
    public let leaderID: ServerID
    public let isObserver: Bool
    public let timing: ZabTiming
    public private(set) var phase = Phase.connecting
    public private(set) var epoch: Epoch?
    public private(set) var history: ZabHistory
    /// The last txn handed to the log (durable or not).
    public private(set) var lastAppendedZxid: Zxid
    public private(set) var durableZxid: Zxid
    public private(set) var lastCommittedZxid: Zxid

    private var newLeaderZxid: Zxid?
    /// The last txn received before NEWLEADER: the history the new epoch starts from.
    private var newLeaderSyncZxid = Zxid(0)
    private var currentEpochRequested = false
    private var currentEpochDurable = false
    private var snapshotPending = false
    private var truncationPending = false
    /// Proposals logged and not yet acknowledged (broadcast) or waiting for the NEWLEADER ACK.
    private var unacknowledged: [Zxid] = []
    /// Proposals received and not yet committed, oldest first.
    private var uncommitted: [Zxid] = []
    private var lastHeardMs: Int64
    /// Between the NEWLEADER ACK and UPTODATE: proposals are acknowledged as they become durable,
    /// clients are not served yet.
    private var phaseAwaitsUpToDate = false
    /// Sessions this server's clients touched since the last ping (sent in the PING reply).
    private var touches: [SessionID: Int32] = [:]

    public init(myID: ServerID, leaderID: ServerID, isObserver: Bool, timing: ZabTiming, history: ZabHistory, nowMs: Int64) {
        self.myID = myID
        self.leaderID = leaderID
        self.isObserver = isObserver
        self.timing = timing
        self.history = history
        lastAppendedZxid = history.lastLoggedZxid
        durableZxid = history.lastLoggedZxid
        lastCommittedZxid = history.lastProcessedZxid
        lastHeardMs = nowMs
    }

    // MARK: Inputs

    /// The connection to the leader's quorum port is up: register (FOLLOWERINFO / OBSERVERINFO).
    public mutating func connected(nowMs: Int64, into effects: inout [LearnerEffect]) {
        guard phase == .connecting else { return }
        phase = .discovery
        lastHeardMs = nowMs
        let info = LearnerInfo(serverID: myID, configVersion: 0)
        effects.append(.send(QuorumPacket(isObserver ? .observerInfo : .followerInfo,
                                          zxid: Zxid(epoch: history.acceptedEpoch, counter: 0), data: info.serialized())))
    }

    public mutating func disconnected(into effects: inout [LearnerEffect]) {
        stop("connection to the leader \(leaderID) lost", &effects)
    }

    public mutating func received(_ packet: QuorumPacket, nowMs: Int64, into effects: inout [LearnerEffect]) {
        guard phase != .stopped, phase != .connecting else { return }
        lastHeardMs = nowMs
        switch packet.type {
        case .leaderInfo: leaderInfo(packet, &effects)
        case .diff, .trunc, .snap: syncStart(packet, &effects)
        case .proposal: proposal(packet, &effects)
        case .commit: commit(packet.zxid, &effects)
        case .inform:
            guard isObserver else { return stop("INFORM sent to a follower", &effects) }
            proposal(packet, &effects)
            commit(packet.zxid, &effects)
        case .newLeader: newLeader(packet, &effects)
        case .upToDate: upToDate(&effects)
        case .ping:
            guard phase == .broadcast || phase == .synchronization else { return stop("PING before synchronization", &effects) }
            let entries = touches.map { SessionTouch(session: $0.key, timeoutMs: $0.value) }.sorted { $0.session < $1.session }
            touches.removeAll(keepingCapacity: true)
            effects.append(.send(QuorumPacket(.ping, zxid: packet.zxid, data: SessionTouch.serialize(entries))))
        case .revalidate:
            do {
                let reply = try RevalidateReply(decoding: packet.data)
                effects.append(.revalidated(reply.session, valid: reply.valid))
            } catch {
                stop("a malformed REVALIDATE reply: \(error)", &effects)
            }
        case .sync:
            effects.append(.syncCompleted)
        case .commitAndActivate, .informAndActivate:
            stop("\(packet.type): dynamic reconfiguration is not supported", &effects)
        case .request, .ack, .followerInfo, .observerInfo, .ackEpoch:
            stop("\(packet.type) is not a leader's packet", &effects)
        }
    }

    /// The log is durable through `zxid`: acknowledge what that covers.
    public mutating func durable(through zxid: Zxid, into effects: inout [LearnerEffect]) {
        guard phase != .stopped, zxid > durableZxid else { return }
        invariant(zxid <= lastAppendedZxid, "durable through \(zxid) beyond the last append \(lastAppendedZxid)")
        durableZxid = zxid
        if phase == .broadcast {
            acknowledgeDurable(&effects)
        } else {
            persistCurrentEpochIfReady(&effects)
        }
    }

    public mutating func epochPersisted(_ kind: ZabEpochKind, _ persisted: Epoch, into effects: inout [LearnerEffect]) {
        guard phase != .stopped, persisted == epoch else { return }
        switch kind {
        case .accepted:
            guard history.acceptedEpoch < persisted else { return }
            history.acceptedEpoch = persisted
            sendAckEpoch(currentEpoch: Int32(truncatingIfNeeded: history.currentEpoch.rawValue), &effects)
        case .current:
            history.currentEpoch = persisted
            currentEpochDurable = true
            ackNewLeaderIfReady(&effects)
        }
    }

    /// The log was cut back after TRUNC.
    public mutating func truncated(into effects: inout [LearnerEffect]) {
        guard truncationPending else { return }
        truncationPending = false
        persistCurrentEpochIfReady(&effects)
    }

    /// TRUNC asked for a point below this server's newest snapshot (one a SNAP installed, holding
    /// txns the new leader never committed): the log cannot be cut back there. The shell has removed
    /// the server's snapshots and logs (its epoch files stay), so it rejoins empty and the leader
    /// sends it a snapshot.
    public mutating func truncationImpossible(into effects: inout [LearnerEffect]) {
        guard truncationPending else { return }
        truncationPending = false
        stop("cannot truncate the log to \(history.lastLoggedZxid): a snapshot is newer; the data was removed to resynchronize", &effects)
    }

    /// The snapshot received after SNAP replaced the tree and is durable.
    public mutating func snapshotInstalled(into effects: inout [LearnerEffect]) {
        guard snapshotPending else { return }
        snapshotPending = false
        persistCurrentEpochIfReady(&effects)
    }

    /// A client of this server touched its session (reported at the next ping).
    public mutating func touch(_ session: SessionID, timeoutMs: Int32) {
        touches[session] = timeoutMs
    }

    /// Forwards a client's write, session creation or sync to the leader.
    public func forward(_ request: ForwardedRequest, authInfo: [Id], into effects: inout [LearnerEffect]) {
        guard phase == .broadcast else { return }
        effects.append(.send(QuorumPacket(.request, zxid: Zxid(-1), data: request.serialized(), authInfo: authInfo)))
    }

    /// Asks the leader whether a session that reconnected here is still alive.
    public func revalidate(_ session: SessionID, timeoutMs: Int32, into effects: inout [LearnerEffect]) {
        guard phase == .broadcast else { return }
        effects.append(.send(QuorumPacket(.revalidate, zxid: Zxid(-1), data: SessionTouch.serialize([SessionTouch(session: session, timeoutMs: timeoutMs)]))))
    }

    public mutating func tick(nowMs: Int64, into effects: inout [LearnerEffect]) {
        guard phase != .stopped else { return }
        let limitMs = phase == .broadcast ? timing.syncLimitMs : timing.initLimitMs
        if nowMs - lastHeardMs > limitMs {
            stop("nothing from the leader \(leaderID) for \(limitMs) ms", &effects)
        }
    }

    // MARK: Discovery

    private mutating func leaderInfo(_ packet: QuorumPacket, _ effects: inout [LearnerEffect]) {
        guard phase == .discovery, epoch == nil else { return stop("LEADERINFO out of order", &effects) }
        let version: Int32
        do { version = try QuorumInt.decode(packet.data) } catch { return stop("a malformed LEADERINFO: \(error)", &effects) }
        guard version >= LearnerInfo.protocolVersion else { return stop("leader protocol version 0x\(String(version, radix: 16)) is older than Zab 1.0", &effects) }
        let newEpoch = packet.zxid.epoch
        epoch = newEpoch
        if newEpoch > history.acceptedEpoch {
            effects.append(.persistEpoch(.accepted, newEpoch))  // ACKEPOCH once it is durable
        } else if newEpoch == history.acceptedEpoch {
            sendAckEpoch(currentEpoch: -1, &effects)
        } else {
            stop("Leaders epoch, \(newEpoch.rawValue) is less than accepted epoch, \(history.acceptedEpoch.rawValue)", &effects)
        }
    }

    private mutating func sendAckEpoch(currentEpoch: Int32, _ effects: inout [LearnerEffect]) {
        phase = .synchronization
        effects.append(.send(QuorumPacket(.ackEpoch, zxid: history.lastLoggedZxid, data: QuorumInt.encode(currentEpoch))))
    }

    // MARK: Synchronization

    private mutating func syncStart(_ packet: QuorumPacket, _ effects: inout [LearnerEffect]) {
        guard phase == .synchronization, newLeaderZxid == nil, !snapshotPending, !truncationPending, uncommitted.isEmpty,
              lastAppendedZxid == history.lastLoggedZxid else {
            return stop("\(packet.type) out of order", &effects)
        }
        switch packet.type {
        case .diff:
            break
        case .trunc:
            truncationPending = true
            resetHistory(to: packet.zxid)
            effects.append(.truncateLog(after: packet.zxid))
        case .snap:
            snapshotPending = true
            resetHistory(to: packet.zxid)
            effects.append(.receiveSnapshot(zxid: packet.zxid))
        case .request, .proposal, .ack, .commit, .ping, .revalidate, .sync, .inform, .commitAndActivate, .newLeader,
             .followerInfo, .upToDate, .observerInfo, .leaderInfo, .ackEpoch, .informAndActivate:
            invariant(false, "syncStart called for \(packet.type)")
        }
    }

    /// After TRUNC or SNAP the learner's history ends at `zxid`: its log, its tree and what it
    /// committed.
    private mutating func resetHistory(to zxid: Zxid) {
        lastAppendedZxid = zxid
        durableZxid = zxid
        lastCommittedZxid = zxid
        history.lastLoggedZxid = zxid
        history.lastProcessedZxid = zxid
    }

    private mutating func proposal(_ packet: QuorumPacket, _ effects: inout [LearnerEffect]) {
        guard phase == .synchronization || phase == .broadcast else { return stop("PROPOSAL before synchronization", &effects) }
        guard packet.zxid > lastAppendedZxid else {
            return stop("proposal \(packet.zxid) does not follow \(lastAppendedZxid)", &effects)
        }
        guard let data = packet.data, !data.isEmpty else { return stop("PROPOSAL \(packet.zxid) without a txn", &effects) }
        lastAppendedZxid = packet.zxid
        uncommitted.append(packet.zxid)
        if !isObserver { unacknowledged.append(packet.zxid) }
        effects.append(.append(Proposal(zxid: packet.zxid, data: data)))
    }

    private mutating func commit(_ zxid: Zxid, _ effects: inout [LearnerEffect]) {
        guard phase == .synchronization || phase == .broadcast else { return stop("COMMIT before synchronization", &effects) }
        // Apache commits the head of its queue and warns on a mismatch; a COMMIT of a txn this server
        // never received would apply a hole, so it ends the connection instead.
        guard let index = uncommitted.firstIndex(of: zxid) else {
            if zxid <= lastCommittedZxid { return }  // a repeat, harmless
            return stop("COMMIT of \(zxid), never proposed", &effects)
        }
        uncommitted.removeFirst(index + 1)
        lastCommittedZxid = zxid
        effects.append(.commit(through: zxid))
    }

    private mutating func newLeader(_ packet: QuorumPacket, _ effects: inout [LearnerEffect]) {
        guard phase == .synchronization, newLeaderZxid == nil, let epoch, packet.zxid == Zxid(epoch: epoch, counter: 0) else {
            return stop("NEWLEADER out of order (\(packet.zxid))", &effects)
        }
        newLeaderZxid = packet.zxid
        newLeaderSyncZxid = lastAppendedZxid
        persistCurrentEpochIfReady(&effects)
    }

    /// `currentEpoch` says "this server has the new epoch's starting history", so it is written only
    /// once that history is durable: the synchronization's txns in the log, the truncation done, the
    /// snapshot installed. Written earlier, a crash could leave the new epoch with a log missing
    /// committed txns, and that server's vote would then win an election and truncate them away on
    /// the others (the ensemble simulator found this; Apache 3.8 has the same window, ZOOKEEPER-4643).
    private mutating func persistCurrentEpochIfReady(_ effects: inout [LearnerEffect]) {
        guard phase == .synchronization, newLeaderZxid != nil, !currentEpochRequested, !snapshotPending, !truncationPending,
              durableZxid >= newLeaderSyncZxid, let epoch else { return }
        currentEpochRequested = true
        effects.append(.persistEpoch(.current, epoch))
    }

    private mutating func ackNewLeaderIfReady(_ effects: inout [LearnerEffect]) {
        guard phase == .synchronization, let newLeaderZxid, currentEpochDurable, !snapshotPending, !truncationPending,
              durableZxid >= newLeaderSyncZxid else { return }
        effects.append(.send(QuorumPacket(.ack, zxid: newLeaderZxid)))
        self.newLeaderZxid = nil
        phase = .broadcast
        phaseAwaitsUpToDate = true
        // Then each proposal received while synchronizing, as Apache's follower acknowledges them once
        // logged (the leader ignores the ones it already committed, and needs the rest to commit).
        acknowledgeDurable(&effects)
    }

    private mutating func upToDate(_ effects: inout [LearnerEffect]) {
        guard phase == .broadcast, phaseAwaitsUpToDate, let epoch else { return stop("UPTODATE out of order", &effects) }
        phaseAwaitsUpToDate = false
        effects.append(.send(QuorumPacket(.ack, zxid: Zxid(epoch: epoch, counter: 0))))
        effects.append(.serving(epoch: epoch))
    }

    // MARK: Broadcast

    private mutating func acknowledgeDurable(_ effects: inout [LearnerEffect]) {
        var acked = 0
        while acked < unacknowledged.count, unacknowledged[acked] <= durableZxid {
            effects.append(.send(QuorumPacket(.ack, zxid: unacknowledged[acked])))
            acked += 1
        }
        unacknowledged.removeFirst(acked)
        history.lastLoggedZxid = durableZxid
    }

    private mutating func stop(_ reason: String, _ effects: inout [LearnerEffect]) {
        guard phase != .stopped else { return }
        phase = .stopped
        effects.append(.lookAgain(reason: reason))
    }

    /// Whether clients may be served (after UPTODATE).
    public var isServing: Bool { phase == .broadcast && !phaseAwaitsUpToDate }
}
