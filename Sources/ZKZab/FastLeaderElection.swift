/// Fast leader election (`FastLeaderElection.lookForLeader` and its `WorkerReceiver`) as a deterministic
/// state machine: notifications and timeouts in, notifications to send and the election's outcome out.
/// No threads, no clock: the caller passes the time with every input and calls `timeout` once
/// `deadlineMs` has passed. The election runs for the life of the server: between elections it answers
/// LOOKING servers with the current vote, so that a server joining late follows the established leader.
///
/// The rules, each as Apache 3.8 has it:
/// - A round starts by incrementing the logical clock and voting for oneself (myid, last logged zxid,
///   current epoch), sent to every voter (oneself included: that vote counts like any other).
/// - Votes are ordered by peer epoch, then zxid, then server id (`totalOrderPredicate`); a vote for a
///   server that is not a voter never wins.
/// - A LOOKING notification of a later round moves this server to that round (votes of the old round
///   are dropped); one of an earlier round is ignored, and its sender is told the current vote.
/// - Once the votes received for the current proposal are a quorum, the server waits `finalizeWaitMs`
///   for a better one; a better one puts the election back, anything else received meanwhile is
///   dropped. With no better vote, the proposal is the leader.
/// - FOLLOWING and LEADING notifications are tallied in the current round and, separately, out of
///   election: a quorum that follows a leader which says it is LEADING is followed (`checkLeader`).
/// - With no notification for a while, the vote is sent again; the wait doubles from
///   `minNotificationIntervalMs` up to `maxNotificationIntervalMs`.
import ZKCore
import ZKProtocol

/// A vote as the election compares it (`Vote`).
public struct Vote: Sendable, Equatable, CustomStringConvertible {
    public var leader: ServerID
    public var zxid: Zxid
    public var electionEpoch: Int64
    public var peerEpoch: Epoch
    public var state: PeerState
    /// The notification format version it came in (0 for the short forms).
    public var version: Int32

    public init(leader: ServerID, zxid: Zxid, electionEpoch: Int64, peerEpoch: Epoch,
                state: PeerState = .looking, version: Int32 = 0) {
        self.leader = leader
        self.zxid = zxid
        self.electionEpoch = electionEpoch
        self.peerEpoch = peerEpoch
        self.state = state
        self.version = version
    }

    /// `Vote.equals`: all four numbers while either side is LOOKING; out of election only the leader
    /// and its epoch (zxids and rounds of established servers may differ, ZOOKEEPER-1805), and only
    /// the leader when one side predates versioned notifications (ZOOKEEPER-1732).
    public func agrees(with other: Vote) -> Bool {
        if state == .looking || other.state == .looking {
            return leader == other.leader && zxid == other.zxid && electionEpoch == other.electionEpoch
                && peerEpoch == other.peerEpoch
        }
        if (version > 0) != (other.version > 0) { return leader == other.leader }
        return leader == other.leader && peerEpoch == other.peerEpoch
    }

    public var description: String {
        "(leader \(leader), zxid \(zxid), round 0x\(String(electionEpoch, radix: 16)), epoch 0x\(String(peerEpoch.rawValue, radix: 16)), \(state))"
    }
}

public struct ElectionConfig: Sendable {
    public var myID: ServerID
    public var verifier: QuorumVerifier
    /// `FastLeaderElection.finalizeWait`.
    public var finalizeWaitMs: Int64 = 200
    /// `zookeeper.fastleader.minNotificationInterval` (default: finalizeWait).
    public var minNotificationIntervalMs: Int64 = 200
    /// `zookeeper.fastleader.maxNotificationInterval`.
    public var maxNotificationIntervalMs: Int64 = 60_000

    public init(myID: ServerID, verifier: QuorumVerifier) {
        self.myID = myID
        self.verifier = verifier
    }

    /// Observers (and servers missing from the verifier) vote for nobody and are never counted.
    public var isParticipant: Bool { verifier.isVoter(myID) }
}

public enum ElectionEffect: Sendable, Equatable {
    /// Send this notification to that server (never to oneself: the election delivers those).
    case send(Notification, to: ServerID)
    /// The election is over: lead, follow or observe `vote.leader`.
    case elected(Vote, as: PeerState)
}

public struct FastLeaderElection: Sendable {
    public let config: ElectionConfig
    /// LOOKING during an election; afterwards what the election decided, until the next one.
    public private(set) var peerState: PeerState = .looking
    /// The election round (`logicalclock`).
    public private(set) var logicalClock: Int64 = 0
    /// The vote this server proposes while LOOKING.
    public private(set) var proposal: Vote
    /// The outcome of the last election, reported to LOOKING servers between elections.
    public private(set) var currentVote: Vote
    /// When `timeout` must be called (nil: no election running).
    public private(set) var deadlineMs: Int64?

    /// This server's own standing for the round: its last logged zxid and current epoch.
    private var ownZxid = Zxid(0)
    private var ownEpoch = Epoch(0)
    /// Votes of this round (`recvset`) and of servers out of election (`outofelection`).
    private var received: [ServerID: Vote] = [:]
    private var outOfElection: [ServerID: Vote] = [:]
    private var notificationIntervalMs: Int64
    /// While true, a quorum agrees with the proposal and a better vote has `deadlineMs` to arrive.
    private var finalizing = false
    /// Notifications to oneself, delivered before an input returns.
    private var loopback: [Notification] = []

    public init(config: ElectionConfig) {
        self.config = config
        notificationIntervalMs = config.minNotificationIntervalMs
        proposal = Vote(leader: config.myID, zxid: Zxid(0), electionEpoch: 0, peerEpoch: Epoch(0))
        currentVote = proposal
    }

    // MARK: Inputs

    /// Starts a round (`lookForLeader`): at startup, and whenever the server stops leading or
    /// following.
    public mutating func startLooking(lastLoggedZxid: Zxid, currentEpoch: Epoch, nowMs: Int64, into effects: inout [ElectionEffect]) {
        peerState = .looking
        logicalClock += 1
        ownZxid = lastLoggedZxid
        ownEpoch = currentEpoch
        received.removeAll()
        outOfElection.removeAll()
        finalizing = false
        notificationIntervalMs = config.minNotificationIntervalMs
        proposal = initialVote
        sendNotifications(&effects)
        deadlineMs = nowMs + notificationIntervalMs
        deliverLoopback(nowMs: nowMs, &effects)
    }

    /// A notification from another server (after the election connection's handshake).
    public mutating func received(_ n: Notification, from sender: ServerID, nowMs: Int64, into effects: inout [ElectionEffect]) {
        invariant(sender != config.myID, "a notification from oneself arrived from the network")
        receive(n, from: sender, nowMs: nowMs, &effects)
        deliverLoopback(nowMs: nowMs, &effects)
    }

    /// `deadlineMs` has passed.
    public mutating func timeout(nowMs: Int64, into effects: inout [ElectionEffect]) {
        guard peerState == .looking, let deadline = deadlineMs, nowMs >= deadline else { return }
        if finalizing {
            elect(proposal.leader == config.myID ? .leading : learningState,
                  Vote(leader: proposal.leader, zxid: proposal.zxid, electionEpoch: logicalClock, peerEpoch: proposal.peerEpoch),
                  &effects)
            return
        }
        // Nothing heard for a while: send the vote again (the shell reconnects where it must).
        sendNotifications(&effects)
        notificationIntervalMs = min(notificationIntervalMs * 2, config.maxNotificationIntervalMs)
        deadlineMs = nowMs + notificationIntervalMs
        deliverLoopback(nowMs: nowMs, &effects)
    }

    /// The established epoch, once a new leader has proposed it (`QuorumPeer.updateElectionVote`):
    /// servers joining later compare leader and epoch.
    public mutating func updateElectionVote(peerEpoch: Epoch) {
        currentVote.peerEpoch = peerEpoch
    }

    // MARK: Receiving (`WorkerReceiver`, then `lookForLeader`'s loop)

    private mutating func receive(_ n: Notification, from sender: ServerID, nowMs: Int64, _ effects: inout [ElectionEffect]) {
        guard config.verifier.isVoter(sender) else {
            // A non-voter (an observer) is told the current vote at once.
            reply(to: sender, currentVote, electionEpoch: logicalClock, &effects)
            return
        }
        guard peerState == .looking else {
            if n.state == .looking { reply(to: sender, currentVote, electionEpoch: currentVote.electionEpoch, &effects) }
            return
        }
        if n.state == .looking && n.electionEpoch < logicalClock {
            reply(to: sender, proposal, electionEpoch: logicalClock, &effects)
        }
        if finalizing {
            // Only a better vote interrupts the wait; the rest is dropped, as Apache's poll loop does
            // (and each one restarts the wait, as each poll does).
            if better(n.leader, n.zxid, n.peerEpoch, than: proposal) {
                finalizing = false
            } else {
                deadlineMs = nowMs + config.finalizeWaitMs
                return
            }
        }
        deadlineMs = nowMs + notificationIntervalMs
        // A vote for a server that is not a voter is ignored (Apache logs it).
        guard config.verifier.isVoter(n.leader) else { return }
        switch n.state {
        case .looking: receivedLooking(n, from: sender, nowMs: nowMs, &effects)
        case .observing: break
        case .following, .leading: receivedFromEstablished(n, from: sender, &effects)
        }
    }

    private mutating func receivedLooking(_ n: Notification, from sender: ServerID, nowMs: Int64, _ effects: inout [ElectionEffect]) {
        if n.zxid.rawValue == -1 { return }
        if n.electionEpoch > logicalClock {
            logicalClock = n.electionEpoch
            received.removeAll()
            proposal = better(n.leader, n.zxid, n.peerEpoch, than: initialVote)
                ? Vote(leader: n.leader, zxid: n.zxid, electionEpoch: logicalClock, peerEpoch: n.peerEpoch)
                : initialVote
            sendNotifications(&effects)
        } else if n.electionEpoch < logicalClock {
            return
        } else if better(n.leader, n.zxid, n.peerEpoch, than: proposal) {
            proposal = Vote(leader: n.leader, zxid: n.zxid, electionEpoch: logicalClock, peerEpoch: n.peerEpoch)
            sendNotifications(&effects)
        }
        received[sender] = Vote(leader: n.leader, zxid: n.zxid, electionEpoch: n.electionEpoch, peerEpoch: n.peerEpoch)
        let candidate = Vote(leader: proposal.leader, zxid: proposal.zxid, electionEpoch: logicalClock, peerEpoch: proposal.peerEpoch)
        if hasQuorum(received, agreeingWith: candidate) {
            finalizing = true
            deadlineMs = nowMs + config.finalizeWaitMs
        }
    }

    /// `receivedFollowingNotification` (LEADING notifications take the same path with the oracle off).
    private mutating func receivedFromEstablished(_ n: Notification, from sender: ServerID, _ effects: inout [ElectionEffect]) {
        let vote = Vote(leader: n.leader, zxid: n.zxid, electionEpoch: n.electionEpoch, peerEpoch: n.peerEpoch,
                        state: n.state, version: n.version)
        let endVote = Vote(leader: n.leader, zxid: n.zxid, electionEpoch: n.electionEpoch, peerEpoch: n.peerEpoch)
        let role: PeerState = n.leader == config.myID ? .leading : learningState
        if n.electionEpoch == logicalClock {
            received[sender] = vote
            if hasQuorum(received, agreeingWith: vote) && leaderConfirmed(in: received, n.leader, n.electionEpoch) {
                elect(role, endVote, &effects)
                return
            }
        }
        outOfElection[sender] = vote
        if hasQuorum(outOfElection, agreeingWith: vote) && leaderConfirmed(in: outOfElection, n.leader, n.electionEpoch) {
            logicalClock = n.electionEpoch
            elect(role, endVote, &effects)
        }
    }

    // MARK: Rules

    /// `totalOrderPredicate`: is (leader, zxid, epoch) a better vote than `current`?
    private func better(_ leader: ServerID, _ zxid: Zxid, _ epoch: Epoch, than current: Vote) -> Bool {
        guard config.verifier.isVoter(leader) else { return false }
        if epoch != current.peerEpoch { return epoch > current.peerEpoch }
        if zxid != current.zxid { return zxid > current.zxid }
        return leader > current.leader
    }

    private func hasQuorum(_ votes: [ServerID: Vote], agreeingWith vote: Vote) -> Bool {
        config.verifier.containsQuorum(votes.lazy.filter { $0.value.agrees(with: vote) }.map(\.key))
    }

    /// `checkLeader`: another server is followed only once it says it is LEADING; this server leads
    /// only if the votes are of its own round.
    private func leaderConfirmed(in votes: [ServerID: Vote], _ leader: ServerID, _ electionEpoch: Int64) -> Bool {
        if leader != config.myID { return votes[leader]?.state == .leading }
        return logicalClock == electionEpoch
    }

    private var learningState: PeerState { config.isParticipant ? .following : .observing }

    /// The vote a round starts with: oneself, or nobody for an observer (`getInitId` and friends).
    private var initialVote: Vote {
        config.isParticipant
            ? Vote(leader: config.myID, zxid: ownZxid, electionEpoch: logicalClock, peerEpoch: ownEpoch)
            : Vote(leader: ServerID(Int64.min), zxid: Zxid(Int64.min), electionEpoch: logicalClock, peerEpoch: Epoch(Int64.min))
    }

    private mutating func elect(_ role: PeerState, _ vote: Vote, _ effects: inout [ElectionEffect]) {
        invariant(role != .looking, "an election ended LOOKING")
        invariant(role != .leading || vote.leader == config.myID, "leading for server \(vote.leader)")
        peerState = role
        currentVote = vote
        received.removeAll()
        outOfElection.removeAll()
        finalizing = false
        deadlineMs = nil
        loopback.removeAll()
        effects.append(.elected(vote, as: role))
    }

    // MARK: Sending

    private mutating func sendNotifications(_ effects: inout [ElectionEffect]) {
        let text = config.verifier.text
        for voter in config.verifier.voters {
            let n = Notification(state: .looking, leader: proposal.leader, zxid: proposal.zxid, electionEpoch: logicalClock,
                                 peerEpoch: proposal.peerEpoch, config: text)
            if voter.id == config.myID { loopback.append(n) } else { effects.append(.send(n, to: voter.id)) }
        }
    }

    private mutating func reply(to sender: ServerID, _ vote: Vote, electionEpoch: Int64, _ effects: inout [ElectionEffect]) {
        let n = Notification(state: peerState, leader: vote.leader, zxid: vote.zxid, electionEpoch: electionEpoch,
                             peerEpoch: vote.peerEpoch, config: config.verifier.text)
        effects.append(.send(n, to: sender))
    }

    private mutating func deliverLoopback(nowMs: Int64, _ effects: inout [ElectionEffect]) {
        var delivered = 0
        while !loopback.isEmpty {
            let n = loopback.removeFirst()
            receive(n, from: config.myID, nowMs: nowMs, &effects)
            delivered += 1
            invariant(delivered <= 64, "election loopback did not settle")
        }
    }
}
