/// The leader's side of Zab after an election (`Leader.lead`, `LearnerHandler.run`) as a deterministic
/// state machine: learner packets, durability reports, proposals and the clock in; packets, epoch
/// writes, commits and step-downs out.
///
/// Phases, each waiting for a quorum of voters (the leader counts as one):
/// 1. Discovery: FOLLOWERINFO from learners; the new epoch is one above every accepted epoch seen,
///    persisted as `acceptedEpoch` before any LEADERINFO leaves. ACKEPOCH from a quorum; a voter with
///    a newer history than the leader's makes it step down. Then `currentEpoch` is persisted.
/// 2. Synchronization: per learner, DIFF/TRUNC (with the committed txns it lacks) or SNAP
///    (`SyncPlan`), then the proposals still in flight, then NEWLEADER. The leader starts serving once
///    a quorum has acknowledged NEWLEADER and its own `currentEpoch` is durable; each of those
///    learners, and every later one once it acknowledges NEWLEADER, gets UPTODATE.
/// 3. Broadcast: a proposal goes to every synced voter; it commits once a quorum has it durable
///    (the leader's own durability counts through `durable(through:)`), in zxid order. Observers get
///    INFORM on commit. Pings every half tick; a learner silent or leaving a proposal unacknowledged
///    for `syncLimit` ticks is dropped; a leader without a synced quorum steps down.
import ZKCore
import ZKProtocol

public enum LeaderEffect: Sendable, Equatable {
    case send(QuorumPacket, to: LearnerID)
    /// Write SNAP, then the snapshot of the tree at `zxid` (the leader's last processed txn), then
    /// the `BenWasHere` signature, at this point of the learner's stream.
    case sendSnapshot(zxid: Zxid, to: LearnerID)
    case close(LearnerID, reason: String)
    /// Make the epoch durable, then report `epochPersisted`.
    case persistEpoch(ZabEpochKind, Epoch)
    /// Txns through this zxid are committed: apply them and answer their clients.
    case commit(through: Zxid)
    /// The leader serves: a quorum is synced at `epoch`.
    case established(epoch: Epoch)
    /// A learner forwarded a client's write, session creation or sync (REQUEST).
    case request(ForwardedRequest, authInfo: [Id], from: LearnerID)
    /// A learner asks whether a session it has a reconnect for is still alive (REVALIDATE).
    case revalidate(SessionTouch, from: LearnerID)
    /// Sessions a learner's clients touched since its last ping.
    case touchSessions([SessionTouch])
    /// A `sync` the leader was asked for has reached its point in the log (`sync(for:)`).
    case syncReached(LearnerID?)
    /// Leadership is over: look for a leader again.
    case stepDown(reason: String)
}

public struct ZabLeader: Sendable {
    public enum Phase: Sendable, Equatable { case discovery, synchronization, broadcast, stopped }

    private struct Learner {
        enum Stage: Equatable { case connected, infoReceived, leaderInfoSent, epochAcked, newLeaderSent, synced }
        var sid: ServerID?
        var isObserver = false
        var stage = Stage.connected
        var acceptedEpoch = Epoch(0)
        var lastLoggedZxid = Zxid(0)
        var currentEpoch: Int32 = -1
        var lastHeardMs: Int64
        /// Proposals sent and not acknowledged, oldest first, with when they were sent
        /// (`SyncLimitCheck`).
        var unacknowledged: [(Zxid, Int64)] = []
        /// Proposals and commits go to this learner (set once its sync was queued).
        var forwarding = false
    }

    private struct Outstanding {
        var proposal: Proposal
        var acks: Set<ServerID>
    }

    public let myID: ServerID
    public let verifier: QuorumVerifier
    public let timing: ZabTiming
    /// Proposals kept committed for DIFF (`ZKDatabase.commitLogCount`).
    public let committedLogCountMax: Int
    public private(set) var phase = Phase.discovery
    /// The epoch being established (known once a quorum sent FOLLOWERINFO).
    public private(set) var epoch: Epoch?
    public private(set) var lastProposedZxid: Zxid
    public private(set) var lastCommittedZxid: Zxid

    private var history: ZabHistory
    private var learners: [LearnerID: Learner] = [:]
    private var connectingFollowers: Set<ServerID> = []
    private var maxAcceptedEpoch: Epoch
    private var acceptedEpochDurable = false
    private var electingFollowers: Set<ServerID> = []
    private var currentEpochRequested = false
    private var currentEpochDurable = false
    private var newLeaderAcks: Set<ServerID> = []
    private var outstanding: [Outstanding] = []
    private var durableZxid: Zxid
    private var pendingSyncs: [(after: Zxid, learner: LearnerID?)] = []
    private let startedMs: Int64
    private var nextPingMs: Int64
    private var nextQuorumCheckMs: Int64

    public init(myID: ServerID, verifier: QuorumVerifier, timing: ZabTiming, history: ZabHistory,
                committedLogCountMax: Int = 500, nowMs: Int64, into effects: inout [LeaderEffect]) {
        invariant(verifier.isVoter(myID), "server \(myID) leads but is not a voter")
        self.myID = myID
        self.verifier = verifier
        self.timing = timing
        self.history = history
        self.committedLogCountMax = committedLogCountMax
        lastProposedZxid = history.lastLoggedZxid
        lastCommittedZxid = history.lastProcessedZxid
        durableZxid = history.lastLoggedZxid
        maxAcceptedEpoch = history.acceptedEpoch
        connectingFollowers = [myID]
        startedMs = nowMs
        nextPingMs = nowMs + timing.pingIntervalMs
        nextQuorumCheckMs = nowMs + timing.tickTimeMs
        decideEpochIfQuorum(&effects)
    }

    // MARK: Inputs

    public mutating func learnerConnected(_ id: LearnerID, nowMs: Int64) {
        guard phase != .stopped else { return }
        learners[id] = Learner(lastHeardMs: nowMs)
    }

    public mutating func learnerDisconnected(_ id: LearnerID) {
        learners[id] = nil
        // A voter's votes in discovery stay counted, as in Apache: they were given.
    }

    public mutating func received(_ packet: QuorumPacket, from id: LearnerID, nowMs: Int64, into effects: inout [LeaderEffect]) {
        guard phase != .stopped, learners[id] != nil else { return }
        learners[id]!.lastHeardMs = nowMs
        switch packet.type {
        case .followerInfo, .observerInfo: learnerInfo(packet, from: id, &effects)
        case .ackEpoch: ackEpoch(packet, from: id, nowMs: nowMs, &effects)
        case .ack: ack(packet.zxid, from: id, nowMs: nowMs, &effects)
        case .ping:
            do {
                let touches = try SessionTouch.decodeAll(packet.data)
                if !touches.isEmpty { effects.append(.touchSessions(touches)) }
            } catch {
                drop(id, "a malformed PING reply: \(error)", &effects)
            }
        case .request:
            guard learners[id]!.stage == .synced else { return drop(id, "REQUEST before UPTODATE", &effects) }
            do {
                effects.append(.request(try ForwardedRequest(decoding: packet.data ?? []), authInfo: packet.authInfo ?? [], from: id))
            } catch {
                drop(id, "a malformed REQUEST: \(error)", &effects)
            }
        case .revalidate:
            do {
                var r = JuteReader(packet.data ?? [])
                effects.append(.revalidate(SessionTouch(session: SessionID(try r.readLong()), timeoutMs: try r.readInt()), from: id))
            } catch {
                drop(id, "a malformed REVALIDATE: \(error)", &effects)
            }
        case .proposal, .commit, .sync, .inform, .commitAndActivate, .newLeader, .upToDate, .diff, .trunc, .snap,
             .leaderInfo, .informAndActivate:
            drop(id, "\(packet.type) is not a learner's packet", &effects)
        }
    }

    /// The leader's own log is durable through `zxid`.
    public mutating func durable(through zxid: Zxid, nowMs: Int64, into effects: inout [LeaderEffect]) {
        guard phase != .stopped, zxid > durableZxid else { return }
        invariant(zxid <= lastProposedZxid, "durable through \(zxid) beyond the last proposal \(lastProposedZxid)")
        durableZxid = zxid
        for i in outstanding.indices where outstanding[i].proposal.zxid <= zxid { outstanding[i].acks.insert(myID) }
        commitReady(&effects)
    }

    public mutating func epochPersisted(_ kind: ZabEpochKind, _ persisted: Epoch, nowMs: Int64, into effects: inout [LeaderEffect]) {
        guard phase != .stopped, let epoch, persisted == epoch else { return }
        switch kind {
        case .accepted:
            guard !acceptedEpochDurable else { return }
            acceptedEpochDurable = true
            history.acceptedEpoch = epoch
            for id in learners.keys.sorted() where learners[id]!.stage == .infoReceived { sendLeaderInfo(id, &effects) }
        case .current:
            guard !currentEpochDurable else { return }
            currentEpochDurable = true
            history.currentEpoch = epoch
            newLeaderAcks.insert(myID)
            establishIfQuorum(&effects)
        }
    }

    /// The next zxid to propose, or nil when the epoch's counter is exhausted (the leader then steps
    /// down so that a new epoch starts, as Apache does) or the leader does not serve.
    public func nextZxid() -> Zxid? {
        guard phase == .broadcast, !lastProposedZxid.isCounterExhausted else { return nil }
        return lastProposedZxid.epoch == epoch ? lastProposedZxid.next() : Zxid(epoch: epoch!, counter: 1)
    }

    /// Proposes a txn prepared at `nextZxid()`: log it (the caller does), send it to the synced voters.
    public mutating func propose(_ proposal: Proposal, nowMs: Int64, into effects: inout [LeaderEffect]) {
        invariant(phase == .broadcast, "a proposal while not serving")
        invariant(proposal.zxid == nextZxid(), "proposal \(proposal.zxid) out of order after \(lastProposedZxid)")
        lastProposedZxid = proposal.zxid
        outstanding.append(Outstanding(proposal: proposal, acks: []))
        let packet = QuorumPacket(.proposal, zxid: proposal.zxid, data: proposal.data)
        for id in learners.keys.sorted() where learners[id]!.forwarding && !learners[id]!.isObserver {
            effects.append(.send(packet, to: id))
            learners[id]!.unacknowledged.append((proposal.zxid, nowMs))
        }
        if proposal.zxid.isCounterExhausted {
            // The next txn would need a counter the epoch does not have: serve it, then re-elect.
            invariant(nextZxid() == nil, "exhausted counter still proposable")
        }
    }

    /// Answers a `revalidate` request.
    public mutating func revalidated(_ session: SessionID, valid: Bool, for id: LearnerID, into effects: inout [LeaderEffect]) {
        guard learners[id] != nil else { return }
        effects.append(.send(QuorumPacket(.revalidate, zxid: Zxid(-1), data: RevalidateReply(session: session, valid: valid).serialized()), to: id))
    }

    /// A `sync` from a learner's client (`id`) or the leader's own (nil): reported once every txn
    /// proposed so far is committed (`Leader.processSync`); a learner also gets SYNC after those
    /// commits on its stream.
    public mutating func sync(for id: LearnerID?, into effects: inout [LeaderEffect]) {
        if outstanding.isEmpty {
            completeSync(id, &effects)
        } else {
            pendingSyncs.append((after: lastProposedZxid, learner: id))
        }
    }

    public mutating func tick(nowMs: Int64, into effects: inout [LeaderEffect]) {
        guard phase != .stopped else { return }
        if phase != .broadcast {
            if nowMs - startedMs > timing.initLimitMs {
                let waitingFor = epoch == nil ? "epoch from quorum" : currentEpochRequested ? "NEWLEADER ACKs from a quorum" : "epoch ACKs from a quorum"
                stop("Timeout while waiting for \(waitingFor)", &effects)
            }
            return
        }
        if nowMs >= nextPingMs {
            nextPingMs = nowMs + timing.pingIntervalMs
            for id in learners.keys.sorted() {
                let learner = learners[id]!
                if let oldest = learner.unacknowledged.first, nowMs - oldest.1 > timing.syncLimitMs {
                    drop(id, "Closing connection to peer due to transaction timeout", &effects)
                } else if nowMs - learner.lastHeardMs > timing.syncLimitMs {
                    drop(id, "Closing connection to peer: nothing heard for \(timing.syncLimitTicks) ticks", &effects)
                } else if learner.stage == .synced {
                    effects.append(.send(QuorumPacket(.ping, zxid: lastProposedZxid), to: id))
                }
            }
        }
        if nowMs >= nextQuorumCheckMs {
            nextQuorumCheckMs = nowMs + timing.tickTimeMs
            let synced = [myID] + learners.values.filter { $0.stage == .synced && !$0.isObserver }.compactMap(\.sid)
            if !verifier.containsQuorum(synced) {
                let ids = synced.map(\.description).sorted().joined(separator: ",")
                stop("Not sufficient followers synced, only synced with sids: [ \(ids) ]", &effects)
            }
        }
    }

    /// The sids of the voters that are synced (for `mntr`'s zk_synced_followers).
    public var syncedObservers: [ServerID] { learners.values.filter { $0.stage == .synced && $0.isObserver }.compactMap(\.sid).sorted() }
    public var syncedFollowers: [ServerID] { learners.values.filter { $0.stage == .synced && !$0.isObserver }.compactMap(\.sid).sorted() }
    public var followers: [ServerID] { learners.values.filter { !$0.isObserver }.compactMap(\.sid).sorted() }
    /// The synced observers' connections, by sid (the AdminServer's `observers`).
    public var syncedObserverLinks: [(id: LearnerID, sid: ServerID)] {
        learners.filter { $0.value.stage == .synced && $0.value.isObserver && $0.value.sid != nil }
            .map { ($0.key, $0.value.sid!) }.sorted { $0.sid < $1.sid }
    }
    /// Every connected learner that said who it is, observers too (`mntr`'s zk_learners).
    public var learnerCount: Int { learners.values.filter { $0.sid != nil }.count }
    public var pendingSyncCount: Int { pendingSyncs.count }

    // MARK: Discovery

    private mutating func learnerInfo(_ packet: QuorumPacket, from id: LearnerID, _ effects: inout [LeaderEffect]) {
        guard learners[id]!.stage == .connected else { return drop(id, "a second \(packet.type)", &effects) }
        let info: LearnerInfo
        do { info = try LearnerInfo(decoding: packet.data ?? []) } catch { return drop(id, "a malformed \(packet.type): \(error)", &effects) }
        guard info.protocolVersion >= LearnerInfo.protocolVersion else {
            return drop(id, "learner protocol version 0x\(String(info.protocolVersion, radix: 16)) is older than Zab 1.0", &effects)
        }
        let sid = info.serverID
        let isObserver = packet.type == .observerInfo || !verifier.isVoter(sid)
        guard verifier.member(sid) != nil || isObserver else { return drop(id, "server \(sid) is not in the configuration", &effects) }
        for (other, learner) in learners where other != id && learner.sid == sid {
            drop(other, "server \(sid) connected again", &effects)
        }
        learners[id]!.sid = sid
        learners[id]!.isObserver = isObserver
        learners[id]!.acceptedEpoch = packet.zxid.epoch
        learners[id]!.stage = .infoReceived
        if !isObserver && epoch == nil {
            connectingFollowers.insert(sid)
            maxAcceptedEpoch = max(maxAcceptedEpoch, packet.zxid.epoch)
            decideEpochIfQuorum(&effects)
        } else if acceptedEpochDurable {
            sendLeaderInfo(id, &effects)
        }
    }

    private mutating func decideEpochIfQuorum(_ effects: inout [LeaderEffect]) {
        guard epoch == nil, verifier.containsQuorum(connectingFollowers) else { return }
        let decided = Epoch(maxAcceptedEpoch.rawValue + 1)
        epoch = decided
        effects.append(.persistEpoch(.accepted, decided))
    }

    private mutating func sendLeaderInfo(_ id: LearnerID, _ effects: inout [LeaderEffect]) {
        guard let epoch else { return }
        learners[id]!.stage = .leaderInfoSent
        effects.append(.send(QuorumPacket(.leaderInfo, zxid: Zxid(epoch: epoch, counter: 0), data: QuorumInt.encode(LearnerInfo.protocolVersion)), to: id))
    }

    private mutating func ackEpoch(_ packet: QuorumPacket, from id: LearnerID, nowMs: Int64, _ effects: inout [LeaderEffect]) {
        guard learners[id]!.stage == .leaderInfoSent else { return drop(id, "ACKEPOCH out of order", &effects) }
        let peerCurrentEpoch: Int32
        do { peerCurrentEpoch = try QuorumInt.decode(packet.data) } catch { return drop(id, "a malformed ACKEPOCH: \(error)", &effects) }
        learners[id]!.stage = .epochAcked
        learners[id]!.lastLoggedZxid = packet.zxid
        learners[id]!.currentEpoch = peerCurrentEpoch
        let learner = learners[id]!
        if peerCurrentEpoch != -1 {
            // `StateSummary.isMoreRecentThan`: a voter with a newer history must not be overwritten.
            let peerEpoch = Epoch(Int64(peerCurrentEpoch))
            if peerEpoch > history.currentEpoch || (peerEpoch == history.currentEpoch && packet.zxid > history.lastLoggedZxid) {
                return stop("Follower is ahead of the leader, leader summary: \(history.currentEpoch.rawValue) (current epoch), \(history.lastLoggedZxid) (last zxid)", &effects)
            }
        }
        if !learner.isObserver, let sid = learner.sid { electingFollowers.insert(sid) }
        if currentEpochRequested {
            synchronize(id, nowMs: nowMs, &effects)
        } else if verifier.containsQuorum(electingFollowers.union([myID])) {
            currentEpochRequested = true
            phase = .synchronization
            effects.append(.persistEpoch(.current, epoch!))
            for other in learners.keys.sorted() where learners[other]!.stage == .epochAcked { synchronize(other, nowMs: nowMs, &effects) }
        }
    }

    // MARK: Synchronization

    private mutating func synchronize(_ id: LearnerID, nowMs: Int64, _ effects: inout [LeaderEffect]) {
        let learner = learners[id]!
        let plan = SyncPlan.decide(peerLastZxid: learner.lastLoggedZxid, lastProcessedZxid: lastCommittedZxid,
                                   committedLog: history.committedLog)
        var through: Zxid
        switch plan {
        case .packets(let packets, let last):
            for packet in packets { effects.append(.send(packet, to: id)) }
            through = last
        case .snapshot:
            effects.append(.sendSnapshot(zxid: lastCommittedZxid, to: id))
            through = lastCommittedZxid
        }
        // `startForwarding`: what is in flight beyond the sync point, then every new proposal.
        if !learner.isObserver {
            // Every outstanding proposal is past the sync point, so the learner gets it again and
            // acknowledges it again once it is durable. An ACK from an earlier connection no longer
            // counts: a TRUNC (the learner logged proposals this leader had not yet committed) or a
            // SNAP has just taken those txns off its disk. Counted anyway, it commits a txn that
            // only this leader holds, and an election without this leader loses it.
            if let sid = learner.sid {
                for i in outstanding.indices { outstanding[i].acks.remove(sid) }
            }
            for entry in outstanding where entry.proposal.zxid > through {
                effects.append(.send(QuorumPacket(.proposal, zxid: entry.proposal.zxid, data: entry.proposal.data), to: id))
                learners[id]!.unacknowledged.append((entry.proposal.zxid, nowMs))
                through = entry.proposal.zxid
            }
        }
        learners[id]!.forwarding = true
        learners[id]!.stage = .newLeaderSent
        effects.append(.send(QuorumPacket(.newLeader, zxid: Zxid(epoch: epoch!, counter: 0), data: Array(verifier.text.utf8)), to: id))
    }

    private mutating func ack(_ zxid: Zxid, from id: LearnerID, nowMs: Int64, _ effects: inout [LeaderEffect]) {
        let learner = learners[id]!
        guard let sid = learner.sid else { return drop(id, "ACK before FOLLOWERINFO", &effects) }
        if learner.stage == .newLeaderSent {
            guard zxid == Zxid(epoch: epoch!, counter: 0) else { return drop(id, "ACK of \(zxid) before the NEWLEADER ACK", &effects) }
            learners[id]!.stage = .synced
            if phase == .broadcast {
                effects.append(.send(QuorumPacket(.upToDate, zxid: Zxid(-1)), to: id))
            } else if !learner.isObserver {
                newLeaderAcks.insert(sid)
                establishIfQuorum(&effects)
            }
            return
        }
        guard learner.stage == .synced else { return drop(id, "ACK out of order", &effects) }
        // The ACK a learner sends after UPTODATE (zxid = epoch << 32) acknowledges no txn.
        if zxid.counter == 0 { return }
        guard !learner.isObserver else { return }
        learners[id]!.unacknowledged.removeAll { $0.0 <= zxid }
        guard let first = outstanding.first?.proposal.zxid, zxid >= first else { return }  // already committed
        guard zxid <= lastProposedZxid else { return drop(id, "ACK of \(zxid), never proposed", &effects) }
        let index = Int(zxid.counter) - Int(first.counter)
        if zxid.epoch == first.epoch, index >= 0, index < outstanding.count, outstanding[index].proposal.zxid == zxid {
            outstanding[index].acks.insert(sid)
        }
        commitReady(&effects)
    }

    private mutating func establishIfQuorum(_ effects: inout [LeaderEffect]) {
        guard phase == .synchronization, currentEpochDurable, verifier.containsQuorum(newLeaderAcks) else { return }
        phase = .broadcast
        lastProposedZxid = max(lastProposedZxid, Zxid(epoch: epoch!, counter: 0))
        for id in learners.keys.sorted() where learners[id]!.stage == .synced {
            effects.append(.send(QuorumPacket(.upToDate, zxid: Zxid(-1)), to: id))
        }
        // Last, so that a caller proposing at once puts its first PROPOSAL after every UPTODATE.
        effects.append(.established(epoch: epoch!))
    }

    // MARK: Broadcast

    /// Commits, in zxid order, every outstanding proposal a quorum has durable.
    private mutating func commitReady(_ effects: inout [LeaderEffect]) {
        var committed = 0
        while committed < outstanding.count, verifier.containsQuorum(outstanding[committed].acks) {
            let proposal = outstanding[committed].proposal
            invariant(proposal.zxid > lastCommittedZxid, "commit of \(proposal.zxid) after \(lastCommittedZxid)")
            lastCommittedZxid = proposal.zxid
            let commit = QuorumPacket(.commit, zxid: proposal.zxid)
            let inform = QuorumPacket(.inform, zxid: proposal.zxid, data: proposal.data)
            for id in learners.keys.sorted() where learners[id]!.forwarding {
                effects.append(.send(learners[id]!.isObserver ? inform : commit, to: id))
            }
            history.committedLog.append(proposal)
            committed += 1
        }
        guard committed > 0 else { return }
        outstanding.removeFirst(committed)
        if history.committedLog.count > committedLogCountMax {
            history.committedLog.removeFirst(history.committedLog.count - committedLogCountMax)
        }
        effects.append(.commit(through: lastCommittedZxid))
        while let first = pendingSyncs.first, first.after <= lastCommittedZxid {
            pendingSyncs.removeFirst()
            completeSync(first.learner, &effects)
        }
        if outstanding.isEmpty && lastProposedZxid.isCounterExhausted {
            stop("zxid lower 32 bits have rolled over, forcing re-election, and therefore new epoch start", &effects)
        }
    }

    private mutating func completeSync(_ id: LearnerID?, _ effects: inout [LeaderEffect]) {
        if let id {
            guard learners[id] != nil else { return }
            effects.append(.send(QuorumPacket(.sync, zxid: Zxid(0)), to: id))
        }
        effects.append(.syncReached(id))
    }

    // MARK: Ending

    private mutating func drop(_ id: LearnerID, _ reason: String, _ effects: inout [LeaderEffect]) {
        guard learners.removeValue(forKey: id) != nil else { return }
        effects.append(.close(id, reason: reason))
    }

    private mutating func stop(_ reason: String, _ effects: inout [LeaderEffect]) {
        guard phase != .stopped else { return }
        phase = .stopped
        for id in learners.keys.sorted() { effects.append(.close(id, reason: "leader stepping down")) }
        learners.removeAll()
        effects.append(.stepDown(reason: reason))
    }
}
