/// One server's Zab: the election, then the role it decided (leader, follower or observer), then the
/// election again when the role ends (`QuorumPeer.run`). The replica drives it and carries out its
/// effects; the shell moves the bytes. Everything the roles need from the server's history (epochs,
/// the last logged zxid) is kept here from the inputs, so a new round starts from what is durable.
import ZKCore
import ZKProtocol

public struct PeerConfig: Sendable {
    public var myID: ServerID
    public var verifier: QuorumVerifier
    public var timing: ZabTiming
    /// Proposals a leader keeps for DIFF.
    public var committedLogCountMax = 500
    /// Election intervals (Apache's defaults; tests and the simulator shorten them).
    public var finalizeWaitMs: Int64 = 200
    public var maxNotificationIntervalMs: Int64 = 60_000

    public init(myID: ServerID, verifier: QuorumVerifier, timing: ZabTiming) {
        self.myID = myID
        self.verifier = verifier
        self.timing = timing
    }
}

public enum PeerEffect: Sendable, Equatable {
    // Election port.
    case sendNotification(Notification, to: ServerID)
    // Quorum port, leader side.
    case sendToLearner(QuorumPacket, LearnerID)
    case sendSnapshot(zxid: Zxid, to: LearnerID)
    case closeLearner(LearnerID, reason: String)
    /// Listen on the quorum port (leading) or stop listening.
    case listenForLearners(Bool)
    // Quorum port, learner side.
    case connectToLeader(ServerID)
    case sendToLeader(QuorumPacket)
    case closeLeaderConnection
    // Storage.
    case persistEpoch(ZabEpochKind, Epoch)
    case append(Proposal)
    /// Cut the log back (`truncated`), or, below the newest snapshot, remove the data
    /// (`truncationImpossible`).
    case truncateLog(after: Zxid)
    case receiveSnapshot(zxid: Zxid)
    // The state machine.
    case commit(through: Zxid)
    /// The role ended: the tree must be reloaded from disk (every logged txn applied, as Apache's
    /// `loadDataBase` does) before serving again.
    case reloadDatabase
    /// The server's state changed (LOOKING, LEADING, FOLLOWING, OBSERVING) or it started or stopped
    /// serving clients.
    case stateChanged(PeerState, serving: Bool)
    // Requests between servers.
    case request(ForwardedRequest, authInfo: [Id], from: LearnerID)
    case revalidate(SessionTouch, from: LearnerID)
    case revalidated(SessionID, valid: Bool)
    case touchSessions([SessionTouch])
    case syncReached(LearnerID?)
    case syncCompleted
    case log(LogLevel, String)
}

public struct ZabPeer: Sendable {
    public let config: PeerConfig
    public private(set) var election: FastLeaderElection
    public private(set) var leader: ZabLeader?
    public private(set) var learner: ZabLearner?
    public private(set) var state: PeerState = .looking
    /// What is durable: the epoch files and the log.
    public private(set) var acceptedEpoch: Epoch
    public private(set) var currentEpoch: Epoch
    public private(set) var lastLoggedZxid: Zxid
    /// The newest committed proposals (a new leader's DIFF window), oldest first.
    private var committedLog: [Proposal] = []
    /// Proposals appended and not yet committed (a follower's), oldest first.
    private var appended: [Proposal] = []
    private var lookingSinceMs: Int64 = 0
    /// Between a role's end and `databaseReloaded`: no election runs.
    public private(set) var awaitingReload = false

    /// `committedLog`: the newest logged txns, oldest first (Apache's `loadDataBase` fills the DIFF
    /// window with the txns it replays from the log); more than `committedLogCountMax` are trimmed.
    public init(config: PeerConfig, acceptedEpoch: Epoch, currentEpoch: Epoch, lastLoggedZxid: Zxid, committedLog: [Proposal] = []) {
        self.committedLog = Array(committedLog.filter { $0.zxid <= lastLoggedZxid }.suffix(config.committedLogCountMax))
        self.config = config
        var electionConfig = ElectionConfig(myID: config.myID, verifier: config.verifier)
        electionConfig.finalizeWaitMs = config.finalizeWaitMs
        electionConfig.minNotificationIntervalMs = config.finalizeWaitMs
        electionConfig.maxNotificationIntervalMs = config.maxNotificationIntervalMs
        election = FastLeaderElection(config: electionConfig)
        self.acceptedEpoch = acceptedEpoch
        self.currentEpoch = currentEpoch
        self.lastLoggedZxid = lastLoggedZxid
    }

    public var isServing: Bool {
        switch state {
        case .leading: return leader?.phase == .broadcast
        case .following, .observing: return learner?.isServing ?? false
        case .looking: return false
        }
    }

    /// The leader's id while following or observing, this server's while leading.
    public var leaderID: ServerID? {
        switch state {
        case .leading: return config.myID
        case .following, .observing: return learner?.leaderID
        case .looking: return nil
        }
    }

    /// When `tick` must be called next at the latest (election timeouts are finer than ticks).
    public var deadlineMs: Int64? { election.deadlineMs }

    // MARK: Inputs

    public mutating func start(nowMs: Int64, into effects: inout [PeerEffect]) {
        look(nowMs: nowMs, &effects)
    }

    public mutating func notification(_ n: Notification, from sender: ServerID, nowMs: Int64, into effects: inout [PeerEffect]) {
        // Between roles the election's last outcome is stale: say nothing (the sender resends).
        guard !awaitingReload else { return }
        var electionEffects: [ElectionEffect] = []
        election.received(n, from: sender, nowMs: nowMs, into: &electionEffects)
        carryOut(electionEffects, nowMs: nowMs, &effects)
    }

    public mutating func tick(nowMs: Int64, into effects: inout [PeerEffect]) {
        var electionEffects: [ElectionEffect] = []
        election.timeout(nowMs: nowMs, into: &electionEffects)
        carryOut(electionEffects, nowMs: nowMs, &effects)
        if leader != nil {
            var out: [LeaderEffect] = []
            leader!.tick(nowMs: nowMs, into: &out)
            carryOut(out, nowMs: nowMs, &effects)
        }
        if learner != nil {
            var out: [LearnerEffect] = []
            learner!.tick(nowMs: nowMs, into: &out)
            carryOut(out, nowMs: nowMs, &effects)
        }
    }

    public mutating func learnerConnected(_ id: LearnerID, nowMs: Int64) {
        leader?.learnerConnected(id, nowMs: nowMs)
    }

    public mutating func learnerDisconnected(_ id: LearnerID) {
        leader?.learnerDisconnected(id)
    }

    public mutating func learnerPacket(_ packet: QuorumPacket, from id: LearnerID, nowMs: Int64, into effects: inout [PeerEffect]) {
        guard leader != nil else { return effects.append(.closeLearner(id, reason: "not leading")) }
        var out: [LeaderEffect] = []
        leader!.received(packet, from: id, nowMs: nowMs, into: &out)
        carryOut(out, nowMs: nowMs, &effects)
    }

    public mutating func leaderConnected(nowMs: Int64, into effects: inout [PeerEffect]) {
        guard learner != nil else { return }
        var out: [LearnerEffect] = []
        learner!.connected(nowMs: nowMs, into: &out)
        carryOut(out, nowMs: nowMs, &effects)
    }

    /// The connection to the leader could not be made or broke.
    public mutating func leaderDisconnected(nowMs: Int64, into effects: inout [PeerEffect]) {
        guard learner != nil else { return }
        var out: [LearnerEffect] = []
        learner!.disconnected(into: &out)
        carryOut(out, nowMs: nowMs, &effects)
    }

    public mutating func leaderPacket(_ packet: QuorumPacket, nowMs: Int64, into effects: inout [PeerEffect]) {
        guard learner != nil else { return }
        var out: [LearnerEffect] = []
        learner!.received(packet, nowMs: nowMs, into: &out)
        carryOut(out, nowMs: nowMs, &effects)
    }

    /// The log is durable through `zxid` (a leader's own proposals or a learner's appends).
    public mutating func durable(through zxid: Zxid, nowMs: Int64, into effects: inout [PeerEffect]) {
        if zxid > lastLoggedZxid { lastLoggedZxid = zxid }
        if leader != nil {
            var out: [LeaderEffect] = []
            leader!.durable(through: zxid, nowMs: nowMs, into: &out)
            carryOut(out, nowMs: nowMs, &effects)
        } else if learner != nil {
            var out: [LearnerEffect] = []
            learner!.durable(through: zxid, into: &out)
            carryOut(out, nowMs: nowMs, &effects)
        }
    }

    public mutating func epochPersisted(_ kind: ZabEpochKind, _ epoch: Epoch, nowMs: Int64, into effects: inout [PeerEffect]) {
        switch kind {
        case .accepted: acceptedEpoch = max(acceptedEpoch, epoch)
        case .current: currentEpoch = max(currentEpoch, epoch)
        }
        if leader != nil {
            var out: [LeaderEffect] = []
            leader!.epochPersisted(kind, epoch, nowMs: nowMs, into: &out)
            carryOut(out, nowMs: nowMs, &effects)
        } else if learner != nil {
            var out: [LearnerEffect] = []
            learner!.epochPersisted(kind, epoch, into: &out)
            carryOut(out, nowMs: nowMs, &effects)
        }
    }

    public mutating func truncated(nowMs: Int64, into effects: inout [PeerEffect]) {
        guard learner != nil else { return }
        var out: [LearnerEffect] = []
        learner!.truncated(into: &out)
        carryOut(out, nowMs: nowMs, &effects)
    }

    /// The log could not be cut back (a newer snapshot): the data was removed (see `ZabLearner`).
    public mutating func truncationImpossible(nowMs: Int64, into effects: inout [PeerEffect]) {
        guard learner != nil else { return }
        lastLoggedZxid = Zxid(0)
        committedLog.removeAll()
        var out: [LearnerEffect] = []
        learner!.truncationImpossible(into: &out)
        carryOut(out, nowMs: nowMs, &effects)
    }

    public mutating func snapshotInstalled(nowMs: Int64, into effects: inout [PeerEffect]) {
        guard learner != nil else { return }
        var out: [LearnerEffect] = []
        learner!.snapshotInstalled(into: &out)
        carryOut(out, nowMs: nowMs, &effects)
    }

    // MARK: Leader side

    public func nextZxid() -> Zxid? { leader?.nextZxid() }

    /// A txn the leader's replica prepared at `nextZxid()` and appended to its log.
    public mutating func propose(_ proposal: Proposal, nowMs: Int64, into effects: inout [PeerEffect]) {
        invariant(leader != nil, "a proposal while not leading")
        var out: [LeaderEffect] = []
        leader!.propose(proposal, nowMs: nowMs, into: &out)
        appended.append(proposal)
        carryOut(out, nowMs: nowMs, &effects)
    }

    public mutating func sync(for id: LearnerID?, nowMs: Int64, into effects: inout [PeerEffect]) {
        guard leader != nil else { return }
        var out: [LeaderEffect] = []
        leader!.sync(for: id, into: &out)
        carryOut(out, nowMs: nowMs, &effects)
    }

    public mutating func revalidated(_ session: SessionID, valid: Bool, for id: LearnerID, nowMs: Int64, into effects: inout [PeerEffect]) {
        guard leader != nil else { return }
        var out: [LeaderEffect] = []
        leader!.revalidated(session, valid: valid, for: id, into: &out)
        carryOut(out, nowMs: nowMs, &effects)
    }

    // MARK: Learner side

    public func forward(_ request: ForwardedRequest, authInfo: [Id], into effects: inout [PeerEffect]) {
        guard let learner else { return }
        var out: [LearnerEffect] = []
        learner.forward(request, authInfo: authInfo, into: &out)
        for case .send(let packet) in out { effects.append(.sendToLeader(packet)) }
    }

    public func revalidate(_ session: SessionID, timeoutMs: Int32, into effects: inout [PeerEffect]) {
        guard let learner else { return }
        var out: [LearnerEffect] = []
        learner.revalidate(session, timeoutMs: timeoutMs, into: &out)
        for case .send(let packet) in out { effects.append(.sendToLeader(packet)) }
    }

    public mutating func touch(_ session: SessionID, timeoutMs: Int32) {
        learner?.touch(session, timeoutMs: timeoutMs)
    }

    // MARK: Roles

    private mutating func look(nowMs: Int64, _ effects: inout [PeerEffect]) {
        state = .looking
        lookingSinceMs = nowMs
        effects.append(.stateChanged(.looking, serving: false))
        effects.append(.log(.info, "LOOKING"))
        var electionEffects: [ElectionEffect] = []
        election.startLooking(lastLoggedZxid: lastLoggedZxid, currentEpoch: currentEpoch, nowMs: nowMs, into: &electionEffects)
        carryOut(electionEffects, nowMs: nowMs, &effects)
    }

    private mutating func carryOut(_ electionEffects: [ElectionEffect], nowMs: Int64, _ effects: inout [PeerEffect]) {
        for effect in electionEffects {
            switch effect {
            case .send(let n, let to):
                effects.append(.sendNotification(n, to: to))
            case .elected(let vote, let role):
                state = role
                effects.append(.stateChanged(role, serving: false))
                effects.append(.log(.info, "\(role) - LEADER ELECTION TOOK - \(nowMs - lookingSinceMs) MS"))
                let history = ZabHistory(acceptedEpoch: acceptedEpoch, currentEpoch: currentEpoch, lastLoggedZxid: lastLoggedZxid,
                                         lastProcessedZxid: lastLoggedZxid, committedLog: committedLog)
                switch role {
                case .leading:
                    effects.append(.listenForLearners(true))
                    var out: [LeaderEffect] = []
                    leader = ZabLeader(myID: config.myID, verifier: config.verifier, timing: config.timing, history: history,
                                       committedLogCountMax: config.committedLogCountMax, nowMs: nowMs, into: &out)
                    carryOut(out, nowMs: nowMs, &effects)
                case .following, .observing:
                    learner = ZabLearner(myID: config.myID, leaderID: vote.leader, isObserver: role == .observing,
                                         timing: config.timing, history: history, nowMs: nowMs)
                    effects.append(.connectToLeader(vote.leader))
                case .looking:
                    invariant(false, "elected as LOOKING")
                }
            }
        }
    }

    private mutating func carryOut(_ leaderEffects: [LeaderEffect], nowMs: Int64, _ effects: inout [PeerEffect]) {
        for effect in leaderEffects {
            switch effect {
            case .send(let packet, let to): effects.append(.sendToLearner(packet, to))
            case .sendSnapshot(let zxid, let to): effects.append(.sendSnapshot(zxid: zxid, to: to))
            case .close(let id, let reason): effects.append(.closeLearner(id, reason: reason))
            case .persistEpoch(let kind, let epoch): effects.append(.persistEpoch(kind, epoch))
            case .commit(let zxid):
                committed(through: zxid)
                effects.append(.commit(through: zxid))
            case .established(let epoch):
                election.updateElectionVote(peerEpoch: epoch)
                effects.append(.stateChanged(.leading, serving: true))
            case .request(let request, let authInfo, let from): effects.append(.request(request, authInfo: authInfo, from: from))
            case .revalidate(let touch, let from): effects.append(.revalidate(touch, from: from))
            case .touchSessions(let touches): effects.append(.touchSessions(touches))
            case .syncReached(let id): effects.append(.syncReached(id))
            case .stepDown(let reason):
                effects.append(.log(.warn, "Leader stepping down: \(reason)"))
                leader = nil
                effects.append(.listenForLearners(false))
                roleEnded(nowMs: nowMs, &effects)
            }
        }
    }

    private mutating func carryOut(_ learnerEffects: [LearnerEffect], nowMs: Int64, _ effects: inout [PeerEffect]) {
        for effect in learnerEffects {
            switch effect {
            case .send(let packet): effects.append(.sendToLeader(packet))
            case .persistEpoch(let kind, let epoch): effects.append(.persistEpoch(kind, epoch))
            case .append(let proposal):
                appended.append(proposal)
                effects.append(.append(proposal))
            case .truncateLog(let zxid):
                lastLoggedZxid = zxid
                appended.removeAll()
                committedLog.removeAll { $0.zxid > zxid }
                effects.append(.truncateLog(after: zxid))
            case .receiveSnapshot(let zxid):
                lastLoggedZxid = zxid
                appended.removeAll()
                committedLog.removeAll()
                effects.append(.receiveSnapshot(zxid: zxid))
            case .commit(let zxid):
                committed(through: zxid)
                effects.append(.commit(through: zxid))
            case .serving(let epoch):
                election.updateElectionVote(peerEpoch: epoch)
                effects.append(.stateChanged(state, serving: true))
            case .revalidated(let session, let valid): effects.append(.revalidated(session, valid: valid))
            case .syncCompleted: effects.append(.syncCompleted)
            case .lookAgain(let reason):
                effects.append(.log(.warn, "Exception when following the leader: \(reason)"))
                learner = nil
                effects.append(.closeLeaderConnection)
                roleEnded(nowMs: nowMs, &effects)
            }
        }
    }

    /// Moves committed proposals into the DIFF window.
    private mutating func committed(through zxid: Zxid) {
        var count = 0
        while count < appended.count, appended[count].zxid <= zxid { count += 1 }
        committedLog.append(contentsOf: appended.prefix(count))
        appended.removeFirst(count)
        if committedLog.count > config.committedLogCountMax {
            committedLog.removeFirst(committedLog.count - config.committedLogCountMax)
        }
    }

    /// A role ended: the tree is reloaded from disk (which applies every logged txn, committed or
    /// not, as Apache's reload does), so they count as committed for the next DIFF window. The next
    /// election waits for `databaseReloaded`, which says what the log really holds (appends still
    /// queued for the disk when the role ended are in it by then).
    private mutating func roleEnded(nowMs: Int64, _ effects: inout [PeerEffect]) {
        committedLog.append(contentsOf: appended)
        appended.removeAll()
        state = .looking
        awaitingReload = true
        effects.append(.stateChanged(.looking, serving: false))
        effects.append(.reloadDatabase)
    }

    /// The tree was reloaded after `.reloadDatabase`: its last zxid is the log's. Starts the election.
    public mutating func databaseReloaded(lastLoggedZxid zxid: Zxid, nowMs: Int64, into effects: inout [PeerEffect]) {
        guard awaitingReload else { return }
        awaitingReload = false
        lastLoggedZxid = zxid
        committedLog.removeAll { $0.zxid > zxid }
        // A window that does not reach the data's last txn has a hole at its end (a TRUNC counted
        // here that storage could not carry out): a DIFF from it would skip txns. Without it,
        // followers behind get SNAP, which is exact.
        if let last = committedLog.last?.zxid, last != zxid { committedLog.removeAll() }
        look(nowMs: nowMs, &effects)
    }
}
