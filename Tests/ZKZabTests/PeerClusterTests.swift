import Testing
@testable import ZKCore
@testable import ZKProtocol
@testable import ZKZab

/// Whole ensembles of `ZabPeer`s in one thread: election, discovery, sync and broadcast over FIFO
/// channels carrying real wire bytes, in-memory disks that lose what was not synced when a server
/// crashes, a clock, and a seeded schedule of message deliveries, disk syncs, proposals, crashes and
/// restarts. Checked on every seed: at most one leader established per epoch; every server's
/// committed txns are one history (each a prefix of the longest); once healed and quiet, every
/// server holds every txn a leader committed, and the same txns.
struct PeerCluster {
    struct Disk {
        var log: [Proposal] = []
        var durableCount = 0
        var acceptedEpoch = Epoch(0)
        var currentEpoch = Epoch(0)
        var pendingEpochs: [(ZabEpochKind, Epoch)] = []
        /// The snapshot a SNAP installed: the txns it holds.
        var snapshot: [Proposal] = []
        var lastLogged: Zxid { log.last?.zxid ?? snapshot.last?.zxid ?? Zxid(0) }
        /// Recovery: the snapshot, then every logged txn after it.
        var recovered: [Proposal] { snapshot + log.filter { $0.zxid > (snapshot.last?.zxid ?? Zxid(0)) } }
    }

    struct Connection { var learner: ServerID; var leader: ServerID }
    enum Message { case bytes([UInt8]); case snapshot([Proposal]) }

    var config: (verifier: QuorumVerifier, timing: ZabTiming)
    var peers: [ServerID: ZabPeer] = [:]
    var disks: [ServerID: Disk] = [:]
    /// The tree: txns applied, in order.
    var applied: [ServerID: [Proposal]] = [:]
    var up: Set<ServerID> = []
    var listening: Set<ServerID> = []
    var electionChannels: [Pair: [[UInt8]]] = [:]
    var connections: [LearnerID: Connection] = [:]
    var connectionOf: [ServerID: LearnerID] = [:]
    var pendingConnects: [ServerID: (leader: ServerID, sinceMs: Int64)] = [:]
    var toLeader: [LearnerID: [Message]] = [:]
    var toLearner: [LearnerID: [Message]] = [:]
    var decoders: [LearnerID: (toLeader: QuorumPacketDecoder, toLearner: QuorumPacketDecoder)] = [:]
    var nextConnection: UInt64 = 1
    var nowMs: Int64 = 0
    var nextTickMs: Int64 = 0
    var random: SeededRandom
    let seed: UInt64
    var leadersByEpoch: [Epoch: ServerID] = [:]
    var committedByLeaders: [Zxid: [UInt8]] = [:]
    var failures: [String] = []
    var trace: [String] = []
    var proposalsMade = 0
    var proposing = true

    struct Pair: Hashable { var from: ServerID; var to: ServerID }

    init(voters: Int, seed: UInt64) {
        self.seed = seed
        random = SeededRandom(seed: seed)
        let members = (1...voters).map { QuorumMember(id: ServerID(Int64($0)), host: "h\($0)", quorumPort: 2888, electionPort: 3888) }
        config = (QuorumVerifier(members: members), ZabTiming(tickTimeMs: 1000, initLimitTicks: 10, syncLimitTicks: 5))
        for member in members {
            disks[member.id] = Disk()
            start(member.id)
        }
    }

    // MARK: Servers

    mutating func start(_ id: ServerID) {
        let disk = disks[id]!
        var peerConfig = PeerConfig(myID: id, verifier: config.verifier, timing: config.timing)
        peerConfig.maxNotificationIntervalMs = 2000
        peers[id] = ZabPeer(config: peerConfig, acceptedEpoch: disk.acceptedEpoch, currentEpoch: disk.currentEpoch, lastLoggedZxid: disk.lastLogged)
        applied[id] = disk.recovered
        up.insert(id)
        trace.append("\(nowMs) start \(id) at \(disk.lastLogged)")
        var effects: [PeerEffect] = []
        peers[id]!.start(nowMs: nowMs, into: &effects)
        handle(effects, of: id)
    }

    /// Power loss: unsynced appends and epoch writes are gone; every connection breaks.
    mutating func crash(_ id: ServerID) {
        guard up.contains(id) else { return }
        trace.append("\(nowMs) crash \(id)")
        up.remove(id)
        listening.remove(id)
        pendingConnects[id] = nil
        disks[id]!.log = Array(disks[id]!.log.prefix(disks[id]!.durableCount))
        disks[id]!.pendingEpochs.removeAll()
        for pair in electionChannels.keys where pair.from == id || pair.to == id { electionChannels[pair] = nil }
        for (learnerID, connection) in connections where connection.learner == id || connection.leader == id {
            breakConnection(learnerID)
        }
        peers[id] = nil
    }

    mutating func breakConnection(_ learnerID: LearnerID) {
        guard let connection = connections.removeValue(forKey: learnerID) else { return }
        toLeader[learnerID] = nil
        toLearner[learnerID] = nil
        decoders[learnerID] = nil
        if connectionOf[connection.learner] == learnerID { connectionOf[connection.learner] = nil }
        if up.contains(connection.leader) { peers[connection.leader]!.learnerDisconnected(learnerID) }
        if up.contains(connection.learner) {
            var effects: [PeerEffect] = []
            peers[connection.learner]!.leaderDisconnected(nowMs: nowMs, into: &effects)
            handle(effects, of: connection.learner)
        }
    }

    // MARK: Effects

    mutating func handle(_ effects: [PeerEffect], of id: ServerID) {
        for effect in effects {
            guard up.contains(id) else { return }
            switch effect {
            case .sendNotification(let n, let to):
                if up.contains(to) { electionChannels[Pair(from: id, to: to), default: []].append(n.serialized()) }
            case .sendToLearner(let packet, let learnerID):
                toLearner[learnerID]?.append(.bytes(packet.serialized()))
            case .sendSnapshot(let zxid, let learnerID):
                if applied[id]!.last?.zxid ?? Zxid(0) != zxid { failures.append("\(id) sent a snapshot at \(zxid) of a tree at \(applied[id]!.last?.zxid ?? Zxid(0))") }
                toLearner[learnerID]?.append(.bytes(QuorumPacket(.snap, zxid: zxid).serialized()))
                toLearner[learnerID]?.append(.snapshot(applied[id]!))
            case .closeLearner(let learnerID, _):
                breakConnection(learnerID)
            case .listenForLearners(let on):
                if on { listening.insert(id) } else {
                    listening.remove(id)
                    for (learnerID, connection) in connections where connection.leader == id { breakConnection(learnerID) }
                }
            case .connectToLeader(let leader):
                pendingConnects[id] = (leader, nowMs)
            case .sendToLeader(let packet):
                if let learnerID = connectionOf[id] { toLeader[learnerID]?.append(.bytes(packet.serialized())) }
            case .closeLeaderConnection:
                pendingConnects[id] = nil
                if let learnerID = connectionOf[id] { breakConnection(learnerID) }
            case .persistEpoch(let kind, let epoch):
                disks[id]!.pendingEpochs.append((kind, epoch))
            case .append(let proposal):
                if let last = disks[id]!.log.last, proposal.zxid <= last.zxid { failures.append("\(id) appended \(proposal.zxid) after \(last.zxid)") }
                disks[id]!.log.append(proposal)
            case .truncateLog(let zxid):
                disks[id]!.log.removeAll { $0.zxid > zxid }
                disks[id]!.durableCount = disks[id]!.log.count
                applied[id] = disks[id]!.recovered  // Apache reloads the database after truncating
                var more: [PeerEffect] = []
                peers[id]!.truncated(nowMs: nowMs, into: &more)
                handle(more, of: id)
            case .receiveSnapshot:
                break  // the snapshot follows on the channel
            case .commit(let zxid):
                commit(id, through: zxid)
            case .reloadDatabase:
                // The storage queue drains first (nothing is lost without a crash), then recovery runs.
                disks[id]!.durableCount = disks[id]!.log.count
                applied[id] = disks[id]!.recovered
                var more: [PeerEffect] = []
                peers[id]!.databaseReloaded(lastLoggedZxid: disks[id]!.lastLogged, nowMs: nowMs, into: &more)
                handle(more, of: id)
            case .stateChanged(let state, let serving):
                trace.append("\(nowMs) \(id) \(state)\(serving ? " serving" : "")")
                if state == .leading, serving, let epoch = peers[id]!.leader?.epoch {
                    if let other = leadersByEpoch[epoch], other != id { failures.append("epoch \(epoch.rawValue) established by \(other) and \(id)") }
                    leadersByEpoch[epoch] = id
                }
            case .request, .revalidate, .revalidated, .touchSessions, .syncReached, .syncCompleted, .log:
                break
            }
        }
    }

    mutating func commit(_ id: ServerID, through zxid: Zxid) {
        let last = applied[id]!.last?.zxid ?? Zxid(0)
        guard zxid > last else { return }
        let source = disks[id]!.log
        let new = source.filter { $0.zxid > last && $0.zxid <= zxid }
        if new.last?.zxid != zxid { failures.append("\(id) committed \(zxid) without having it") }
        applied[id]! += new
        if peers[id]!.state == .leading {
            for proposal in new { committedByLeaders[proposal.zxid] = proposal.data }
        }
    }

    // MARK: Steps

    mutating func step(faults: Bool) {
        nowMs += Int64(random.next() % 20)
        let roll = random.next() % 100
        if nowMs >= nextTickMs {
            nextTickMs = nowMs + 500
            for id in up.sorted() {
                var effects: [PeerEffect] = []
                peers[id]!.tick(nowMs: nowMs, into: &effects)
                handle(effects, of: id)
            }
            retryConnects()
            return
        }
        if faults && roll < 1 {
            let victim = ServerID(Int64(random.next() % UInt64(config.verifier.members.count)) + 1)
            if up.contains(victim) && up.count > 1 { crash(victim) } else if !up.contains(victim) { start(victim) }
            return
        }
        if roll < 8, proposalsMade < 400, let leader = up.sorted().first(where: { peers[$0]!.isServing && peers[$0]!.state == .leading }),
           proposing, let zxid = peers[leader]!.nextZxid() {
            proposalsMade += 1
            let proposal = Proposal(zxid: zxid, data: Array("\(zxid) by \(leader)".utf8))
            disks[leader]!.log.append(proposal)
            var effects: [PeerEffect] = []
            peers[leader]!.propose(proposal, nowMs: nowMs, into: &effects)
            handle(effects, of: leader)
            return
        }
        if roll < 20 {
            let pending = up.sorted().filter { disks[$0]!.durableCount < disks[$0]!.log.count || !disks[$0]!.pendingEpochs.isEmpty }
            if let id = pending.randomElement(using: &random) {
                syncDisk(id)
                return
            }
        }
        deliverOne()
    }

    mutating func syncDisk(_ id: ServerID) {
        if !disks[id]!.pendingEpochs.isEmpty {
            let (kind, epoch) = disks[id]!.pendingEpochs.removeFirst()
            switch kind {
            case .accepted: disks[id]!.acceptedEpoch = epoch
            case .current: disks[id]!.currentEpoch = epoch
            }
            var effects: [PeerEffect] = []
            peers[id]!.epochPersisted(kind, epoch, nowMs: nowMs, into: &effects)
            handle(effects, of: id)
            return
        }
        disks[id]!.durableCount = disks[id]!.log.count
        var effects: [PeerEffect] = []
        peers[id]!.durable(through: disks[id]!.log.last!.zxid, nowMs: nowMs, into: &effects)
        handle(effects, of: id)
    }

    mutating func retryConnects() {
        for (id, pending) in pendingConnects.sorted(by: { $0.key < $1.key }) where up.contains(id) {
            if up.contains(pending.leader) && listening.contains(pending.leader) {
                pendingConnects[id] = nil
                let learnerID = LearnerID(nextConnection)
                nextConnection += 1
                connections[learnerID] = Connection(learner: id, leader: pending.leader)
                connectionOf[id] = learnerID
                toLeader[learnerID] = []
                toLearner[learnerID] = []
                decoders[learnerID] = (QuorumPacketDecoder(limits: Limits()), QuorumPacketDecoder(limits: Limits()))
                peers[pending.leader]!.learnerConnected(learnerID, nowMs: nowMs)
                var effects: [PeerEffect] = []
                peers[id]!.leaderConnected(nowMs: nowMs, into: &effects)
                handle(effects, of: id)
            } else if nowMs - pending.sinceMs > config.timing.initLimitMs {
                pendingConnects[id] = nil
                var effects: [PeerEffect] = []
                peers[id]!.leaderDisconnected(nowMs: nowMs, into: &effects)
                handle(effects, of: id)
            }
        }
    }

    mutating func deliverOne() {
        let election = electionChannels.filter { !$0.value.isEmpty }.keys.sorted { ($0.from, $0.to) < ($1.from, $1.to) }
        let leaderBound = toLeader.filter { !$0.value.isEmpty }.keys.sorted()
        let learnerBound = toLearner.filter { !$0.value.isEmpty }.keys.sorted()
        let total = election.count + leaderBound.count + learnerBound.count
        guard total > 0 else { return }
        var pick = Int(random.next() % UInt64(total))
        if pick < election.count {
            let pair = election[pick]
            let bytes = electionChannels[pair]!.removeFirst()
            guard up.contains(pair.to) else { return }
            var effects: [PeerEffect] = []
            peers[pair.to]!.notification(try! Notification(decoding: bytes), from: pair.from, nowMs: nowMs, into: &effects)
            handle(effects, of: pair.to)
            return
        }
        pick -= election.count
        if pick < leaderBound.count {
            let learnerID = leaderBound[pick]
            guard case .bytes(let bytes) = toLeader[learnerID]!.removeFirst(), let connection = connections[learnerID] else { return }
            decoders[learnerID]!.toLeader.append(bytes[...])
            while connections[learnerID] != nil, let packet = try! decoders[learnerID]!.toLeader.next() {
                var effects: [PeerEffect] = []
                peers[connection.leader]!.learnerPacket(packet, from: learnerID, nowMs: nowMs, into: &effects)
                handle(effects, of: connection.leader)
            }
            return
        }
        pick -= leaderBound.count
        let learnerID = learnerBound[pick]
        guard let connection = connections[learnerID] else { return }
        switch toLearner[learnerID]!.removeFirst() {
        case .bytes(let bytes):
            decoders[learnerID]!.toLearner.append(bytes[...])
            while connections[learnerID] != nil, let packet = try! decoders[learnerID]!.toLearner.next() {
                var effects: [PeerEffect] = []
                peers[connection.learner]!.leaderPacket(packet, nowMs: nowMs, into: &effects)
                handle(effects, of: connection.learner)
            }
        case .snapshot(let tree):
            let id = connection.learner
            disks[id]!.snapshot = tree
            disks[id]!.log = []
            disks[id]!.durableCount = 0
            applied[id] = tree
            var effects: [PeerEffect] = []
            peers[id]!.snapshotInstalled(nowMs: nowMs, into: &effects)
            handle(effects, of: id)
        }
    }

    // MARK: Checks

    /// Every server's applied txns are one history (a prefix of the longest), in committed terms.
    mutating func checkOneHistory() {
        let histories = up.sorted().map { (id: $0, txns: applied[$0]!.filter { committedByLeaders[$0.zxid] != nil }) }
        guard let longest = histories.max(by: { $0.txns.count < $1.txns.count }) else { return }
        for h in histories where Array(longest.txns.prefix(h.txns.count)) != h.txns {
            failures.append("\(h.id)'s committed txns are not a prefix of \(longest.id)'s")
        }
        for (id, txns) in histories {
            for t in txns where committedByLeaders[t.zxid] != t.data { failures.append("\(id) applied \(t.zxid) with other data than committed") }
        }
    }

    /// Heals: every server up, then runs until everyone serves and nothing is in flight.
    mutating func healAndSettle() -> Bool {
        for id in config.verifier.members.map(\.id) where !up.contains(id) { start(id) }
        proposing = false
        for _ in 0..<200_000 {
            step(faults: false)
            let quiet = electionChannels.values.allSatisfy(\.isEmpty) && toLeader.values.allSatisfy(\.isEmpty)
                && toLearner.values.allSatisfy(\.isEmpty) && up.allSatisfy { disks[$0]!.durableCount == disks[$0]!.log.count && disks[$0]!.pendingEpochs.isEmpty }
            if quiet && up.allSatisfy({ peers[$0]!.isServing }) { return true }
        }
        return false
    }

    func describe() -> String {
        up.sorted().map { "\($0): \(peers[$0]!.state) serving \(peers[$0]!.isServing) logged \(disks[$0]!.lastLogged) applied \(applied[$0]!.count)" }
            .joined(separator: "; ")
    }
}

@Suite struct PeerClusterTests {
    static func run(seed: UInt64, steps: Int = 6000) -> PeerCluster {
        var cluster = PeerCluster(voters: 3, seed: seed)
        for _ in 0..<steps {
            cluster.step(faults: true)
            cluster.checkOneHistory()
            if !cluster.failures.isEmpty { break }
        }
        if cluster.failures.isEmpty {
            if !cluster.healAndSettle() { cluster.failures.append("did not settle: \(cluster.describe())") }
            cluster.checkOneHistory()
            let reference = cluster.applied[ServerID(1)]!
            for id in cluster.up.sorted() where cluster.applied[id]! != reference {
                cluster.failures.append("\(id) differs from 1 after healing: \(cluster.applied[id]!.count) vs \(reference.count) txns")
            }
            let held = Set(reference.map(\.zxid))
            for zxid in cluster.committedByLeaders.keys where !held.contains(zxid) {
                cluster.failures.append("committed \(zxid) lost")
            }
        }
        return cluster
    }

    @Test(arguments: 1...40)
    func threeServersWithCrashesAndRestartsKeepOneHistory(seed: UInt64) {
        let cluster = PeerClusterTests.run(seed: seed)
        #expect(cluster.failures.isEmpty, "seed \(seed): \(cluster.failures.prefix(5))\ntrace tail:\n\(cluster.trace.suffix(40).joined(separator: "\n"))")
        #expect(cluster.committedByLeaders.count > 0, "seed \(seed): nothing was committed")
    }

    @Test func aFaultFreeEnsembleCommitsEverything() {
        var cluster = PeerCluster(voters: 3, seed: 99)
        for _ in 0..<3000 { cluster.step(faults: false) }
        let settled = cluster.healAndSettle()
        #expect(settled, "\(cluster.describe())")
        #expect(cluster.leadersByEpoch.count == 1)
        let reference = cluster.applied[ServerID(1)]!
        #expect(reference.count == cluster.proposalsMade)
        for id in 2...3 as ClosedRange<Int64> { #expect(cluster.applied[ServerID(id)]! == reference) }
        #expect(reference.first?.zxid == Zxid(0x1_0000_0001))
    }
}

@Suite struct PeerClusterScheduleTests {
    /// The fault schedule is not idle: servers crash and restart, leadership moves, txns commit in
    /// several epochs, and still every seed keeps one history (the test above).
    @Test func theScheduleCrashesServersAndMovesLeadership() {
        var epochs = 0, crashes = 0, committed = 0
        for seed in 1...10 as ClosedRange<UInt64> {
            let cluster = PeerClusterTests.run(seed: seed)
            epochs += cluster.leadersByEpoch.count
            crashes += cluster.trace.filter { $0.contains(" crash ") }.count
            committed += cluster.committedByLeaders.count
        }
        #expect(crashes >= 20, "\(crashes) crashes")
        #expect(epochs >= 20, "\(epochs) epochs established")
        #expect(committed >= 500, "\(committed) txns committed")
    }
}
