@testable import ZKCore
@testable import ZKProtocol
@testable import ZKZab

/// One leader and its learners, each with an in-memory log (appends become durable when the harness
/// syncs that disk), epoch files (durable when the harness completes the write) and a "tree": the
/// proposals applied, in order. Packets cross FIFO channels as bytes and are decoded by the real
/// `QuorumPacketDecoder`; a SNAP carries the leader's applied proposals as the snapshot. Steps are
/// chosen by a seeded random source, so a failing seed replays.
struct ZabCluster {
    struct Server {
        var id: ServerID
        var log: [Proposal] = []
        var durableCount = 0
        var acceptedEpoch = Epoch(0)
        var currentEpoch = Epoch(0)
        var pendingEpochs: [(ZabEpochKind, Epoch)] = []
        var applied: [Proposal] = []
        var lastLogged: Zxid { log.last?.zxid ?? snapshotZxid }
        var snapshotZxid = Zxid(0)
        var history: ZabHistory {
            ZabHistory(acceptedEpoch: acceptedEpoch, currentEpoch: currentEpoch, lastLoggedZxid: lastLogged,
                       lastProcessedZxid: applied.last?.zxid ?? snapshotZxid, committedLog: applied)
        }
    }

    enum Message { case bytes([UInt8]); case snapshot([Proposal]) }

    var servers: [ServerID: Server] = [:]
    var verifier: QuorumVerifier
    let timing = ZabTiming(tickTimeMs: 2000, initLimitTicks: 10, syncLimitTicks: 5)
    var leaderID: ServerID
    var leader: ZabLeader?
    var learners: [ServerID: ZabLearner] = [:]
    var learnerIDs: [ServerID: LearnerID] = [:]
    var toLeader: [LearnerID: [Message]] = [:]
    var toLearner: [ServerID: [Message]] = [:]
    var leaderDecoders: [LearnerID: QuorumPacketDecoder] = [:]
    var learnerDecoders: [ServerID: QuorumPacketDecoder] = [:]
    var nowMs: Int64 = 0
    var random: SeededRandom
    var established: Epoch?
    var stepDown: String?
    var lookAgain: [ServerID: String] = [:]
    var closed: [ServerID: String] = [:]
    var serving: Set<ServerID> = []
    var syncsReached: [LearnerID?] = []
    var syncsCompleted: [ServerID: Int] = [:]
    var requests: [(ForwardedRequest, LearnerID)] = []
    var touched: [SessionTouch] = []
    var sentByLearner: [ServerID: [QuorumPacket]] = [:]
    var nextLearnerID: UInt64 = 1
    /// Disks that never sync (a stuck device): their appends are never reported durable.
    var frozenDisks: Set<ServerID> = []
    /// Per server: the effects of durability-dependent sends are checked against the disk.
    var violations: [String] = []

    init(voters: Int, observers: Int = 0, leader: Int64, seed: UInt64, committedLogCountMax: Int = 500,
         prepare: (inout [ServerID: Server]) -> Void = { _ in }) {
        random = SeededRandom(seed: seed)
        var members: [QuorumMember] = []
        for i in 1...(voters + observers) {
            let id = ServerID(Int64(i))
            members.append(QuorumMember(id: id, host: "127.0.0.1", quorumPort: 2000 + i, electionPort: 3000 + i,
                                        role: i > voters ? .observer : .participant))
            servers[id] = Server(id: id)
        }
        verifier = QuorumVerifier(members: members)
        prepare(&servers)
        leaderID = ServerID(leader)
        var effects: [LeaderEffect] = []
        self.leader = ZabLeader(myID: leaderID, verifier: verifier, timing: timing, history: servers[leaderID]!.history,
                                committedLogCountMax: committedLogCountMax, nowMs: 0, into: &effects)
        handle(effects)
    }

    mutating func connect(_ id: ServerID) {
        let learnerID = LearnerID(nextLearnerID)
        nextLearnerID += 1
        learnerIDs[id] = learnerID
        toLeader[learnerID] = []
        toLearner[id] = []
        leaderDecoders[learnerID] = QuorumPacketDecoder(limits: Limits())
        learnerDecoders[id] = QuorumPacketDecoder(limits: Limits())
        lookAgain[id] = nil
        closed[id] = nil
        serving.remove(id)
        learners[id] = ZabLearner(myID: id, leaderID: leaderID, isObserver: !verifier.isVoter(id), timing: timing,
                                  history: servers[id]!.history, nowMs: nowMs)
        leader!.learnerConnected(learnerID, nowMs: nowMs)
        var effects: [LearnerEffect] = []
        learners[id]!.connected(nowMs: nowMs, into: &effects)
        handle(effects, of: id)
    }

    /// The connection of `id` breaks both ways.
    mutating func disconnect(_ id: ServerID) {
        guard let learnerID = learnerIDs.removeValue(forKey: id) else { return }
        leader?.learnerDisconnected(learnerID)
        toLeader[learnerID] = nil
        toLearner[id] = nil
        var effects: [LearnerEffect] = []
        learners[id]?.disconnected(into: &effects)
        handle(effects, of: id)
    }

    // MARK: Effects

    mutating func handle(_ effects: [LeaderEffect]) {
        for effect in effects {
            switch effect {
            case .send(let packet, let to):
                if packet.type == .proposal, servers[leaderID]!.log.contains(where: { $0.zxid == packet.zxid }) == false,
                   servers[leaderID]!.applied.contains(where: { $0.zxid == packet.zxid }) == false {
                    violations.append("leader sent \(packet.zxid) it does not have")
                }
                toLearner[learnerOf(to)]?.append(.bytes(packet.serialized()))
            case .sendSnapshot(let zxid, let to):
                let leaderServer = servers[leaderID]!
                if (leaderServer.applied.last?.zxid ?? leaderServer.snapshotZxid) != zxid { violations.append("snapshot at \(zxid) is not the leader's tree") }
                toLearner[learnerOf(to)]?.append(.bytes(QuorumPacket(.snap, zxid: zxid).serialized()))
                toLearner[learnerOf(to)]?.append(.snapshot(leaderServer.applied))
            case .close(let learnerID, let reason):
                let id = learnerOf(learnerID)
                closed[id] = reason
                learnerIDs[id] = nil
                toLeader[learnerID] = nil
                toLearner[id] = nil
                var more: [LearnerEffect] = []
                learners[id]?.disconnected(into: &more)
                handle(more, of: id)
            case .persistEpoch(let kind, let epoch):
                servers[leaderID]!.pendingEpochs.append((kind, epoch))
            case .commit(let through):
                apply(leaderID, through: through)
            case .established(let epoch):
                established = epoch
            case .request(let request, _, let from):
                requests.append((request, from))
            case .revalidate(let touch, let from):
                var more: [LeaderEffect] = []
                leader!.revalidated(touch.session, valid: touch.session.rawValue % 2 == 0, for: from, into: &more)
                handle(more)
            case .touchSessions(let touches):
                touched += touches
            case .syncReached(let learner):
                syncsReached.append(learner)
            case .stepDown(let reason):
                stepDown = reason
            }
        }
    }

    mutating func handle(_ effects: [LearnerEffect], of id: ServerID) {
        for effect in effects {
            switch effect {
            case .send(let packet):
                sentByLearner[id, default: []].append(packet)
                checkDurability(of: packet, from: id)
                guard let learnerID = learnerIDs[id] else { continue }
                toLeader[learnerID]?.append(.bytes(packet.serialized()))
            case .persistEpoch(let kind, let epoch):
                servers[id]!.pendingEpochs.append((kind, epoch))
            case .append(let proposal):
                servers[id]!.log.append(proposal)
            case .truncateLog(let zxid):
                servers[id]!.log.removeAll { $0.zxid > zxid }
                servers[id]!.durableCount = servers[id]!.log.count
                servers[id]!.applied.removeAll { $0.zxid > zxid }
                var more: [LearnerEffect] = []
                learners[id]!.truncated(into: &more)
                handle(more, of: id)
            case .receiveSnapshot:
                break  // the snapshot message follows on the channel
            case .commit(let through):
                apply(id, through: through)
            case .serving:
                serving.insert(id)
            case .revalidated:
                break
            case .syncCompleted:
                syncsCompleted[id, default: 0] += 1
            case .lookAgain(let reason):
                lookAgain[id] = reason
            }
        }
    }

    /// ACKs and ACKEPOCHs must not run ahead of the disk.
    mutating func checkDurability(of packet: QuorumPacket, from id: ServerID) {
        let server = servers[id]!
        switch packet.type {
        case .ack where packet.zxid.counter != 0:
            let durable = server.log.prefix(server.durableCount).last?.zxid ?? server.snapshotZxid
            if packet.zxid > durable { violations.append("\(id) acked \(packet.zxid) with the log durable through \(durable)") }
        case .ack:
            // NEWLEADER's ACK (and the one after UPTODATE): currentEpoch must be durable.
            if server.currentEpoch != packet.zxid.epoch {
                violations.append("\(id) acked NEWLEADER before currentEpoch \(packet.zxid.epoch.rawValue) was durable")
            }
        case .ackEpoch:
            if let epoch = learners[id]?.epoch, server.acceptedEpoch < epoch {
                violations.append("\(id) sent ACKEPOCH before acceptedEpoch \(epoch.rawValue) was durable")
            }
        case .request, .proposal, .commit, .ping, .revalidate, .sync, .inform, .commitAndActivate, .newLeader, .followerInfo,
             .upToDate, .diff, .trunc, .snap, .observerInfo, .leaderInfo, .informAndActivate:
            break
        }
    }

    mutating func apply(_ id: ServerID, through zxid: Zxid) {
        var server = servers[id]!
        let last = server.applied.last?.zxid ?? server.snapshotZxid
        for proposal in server.log where proposal.zxid > last && proposal.zxid <= zxid {
            server.applied.append(proposal)
        }
        if server.applied.last?.zxid != zxid { violations.append("\(id) committed \(zxid) without having it (applied through \(server.applied.last?.zxid ?? Zxid(0)))") }
        servers[id] = server
    }

    func learnerOf(_ learnerID: LearnerID) -> ServerID {
        learnerIDs.first { $0.value == learnerID }?.key ?? ServerID(-1)
    }

    // MARK: Steps

    /// Delivers one message, syncs one disk or completes one epoch write; false if none is pending.
    mutating func step() -> Bool {
        var choices: [Int] = []
        let leaderChannels = toLeader.filter { !$0.value.isEmpty }.keys.sorted()
        let learnerChannels = toLearner.filter { !$0.value.isEmpty }.keys.sorted()
        let disks = servers.filter { $0.value.durableCount < $0.value.log.count && !frozenDisks.contains($0.key) }.keys.sorted()
        let epochs = servers.filter { !$0.value.pendingEpochs.isEmpty }.keys.sorted()
        if !leaderChannels.isEmpty { choices.append(0) }
        if !learnerChannels.isEmpty { choices.append(1) }
        if !disks.isEmpty { choices.append(2) }
        if !epochs.isEmpty { choices.append(3) }
        guard !choices.isEmpty else { return false }
        switch choices[Int(random.next() % UInt64(choices.count))] {
        case 0:
            let learnerID = leaderChannels[Int(random.next() % UInt64(leaderChannels.count))]
            guard case .bytes(let bytes) = toLeader[learnerID]!.removeFirst() else { return true }
            leaderDecoders[learnerID]!.append(bytes[...])
            while let packet = try! leaderDecoders[learnerID]!.next() {
                var effects: [LeaderEffect] = []
                leader!.received(packet, from: learnerID, nowMs: nowMs, into: &effects)
                handle(effects)
                if toLeader[learnerID] == nil { break }
            }
        case 1:
            let id = learnerChannels[Int(random.next() % UInt64(learnerChannels.count))]
            switch toLearner[id]!.removeFirst() {
            case .bytes(let bytes):
                learnerDecoders[id]!.append(bytes[...])
                while let packet = try! learnerDecoders[id]!.next() {
                    var effects: [LearnerEffect] = []
                    learners[id]!.received(packet, nowMs: nowMs, into: &effects)
                    handle(effects, of: id)
                    if toLearner[id] == nil { break }
                }
            case .snapshot(let tree):
                servers[id]!.applied = tree
                servers[id]!.log = []
                servers[id]!.durableCount = 0
                servers[id]!.snapshotZxid = tree.last?.zxid ?? Zxid(0)
                var effects: [LearnerEffect] = []
                learners[id]!.snapshotInstalled(into: &effects)
                handle(effects, of: id)
            }
        case 2:
            let id = disks[Int(random.next() % UInt64(disks.count))]
            servers[id]!.durableCount = servers[id]!.log.count
            let zxid = servers[id]!.log.last!.zxid
            if id == leaderID {
                var effects: [LeaderEffect] = []
                leader!.durable(through: zxid, nowMs: nowMs, into: &effects)
                handle(effects)
            } else {
                var effects: [LearnerEffect] = []
                learners[id]?.durable(through: zxid, into: &effects)
                handle(effects, of: id)
            }
        default:
            let id = epochs[Int(random.next() % UInt64(epochs.count))]
            let (kind, epoch) = servers[id]!.pendingEpochs.removeFirst()
            switch kind {
            case .accepted: servers[id]!.acceptedEpoch = epoch
            case .current: servers[id]!.currentEpoch = epoch
            }
            if id == leaderID {
                var effects: [LeaderEffect] = []
                leader!.epochPersisted(kind, epoch, nowMs: nowMs, into: &effects)
                handle(effects)
            } else {
                var effects: [LearnerEffect] = []
                learners[id]?.epochPersisted(kind, epoch, into: &effects)
                handle(effects, of: id)
            }
        }
        return true
    }

    mutating func settle() {
        var steps = 0
        while step() {
            steps += 1
            precondition(steps < 100_000, "the cluster did not settle")
        }
    }

    /// Proposes `count` txns through the leader (as its replica would: log, then propose).
    mutating func proposeTxns(_ count: Int, settleBetween: Bool = false) {
        for _ in 0..<count {
            guard let zxid = leader!.nextZxid() else { return }
            let proposal = Proposal(zxid: zxid, data: Array("txn \(zxid)".utf8))
            servers[leaderID]!.log.append(proposal)
            var effects: [LeaderEffect] = []
            leader!.propose(proposal, nowMs: nowMs, into: &effects)
            handle(effects)
            if settleBetween { settle() } else { _ = step() }
        }
    }

    mutating func tick(advanceMs: Int64) {
        nowMs += advanceMs
        var effects: [LeaderEffect] = []
        leader?.tick(nowMs: nowMs, into: &effects)
        handle(effects)
        for id in learners.keys.sorted() {
            var more: [LearnerEffect] = []
            learners[id]!.tick(nowMs: nowMs, into: &more)
            handle(more, of: id)
        }
    }

    func appliedZxids(_ id: ServerID) -> [Zxid] { servers[id]!.applied.map(\.zxid) }
}
