/// The ensemble simulator: whole ensembles of `ZabPeer`s (the real election, leader and learner) in
/// one thread. Channels carry real wire bytes (election notifications; quorum packets through the
/// real `QuorumPacketDecoder`), disks are in memory and lose unsynced appends and epoch writes when
/// a server crashes, time is simulated, and one seeded generator picks every step: deliver a
/// message, sync a disk, propose a txn at the serving leader, crash or restart a server, partition
/// the network or heal it. Each connection stays FIFO, as TCP does; a partition breaks the quorum
/// connections across it and drops election messages across it.
///
/// Checked after every step: at most one leader established per epoch; the committed txns of every
/// live server are one history with the data the leader committed. After the run the network heals
/// and every server restarts, and once all serve and nothing is in flight: every server holds the
/// same txns, and every txn a leader committed.
///
/// The replica (tree, sessions, clients) is not in this simulation yet: a txn is an opaque proposal.
import ZKCore
import ZKProtocol
import ZKZab

public struct EnsembleOptions: Sendable {
    public var seed: UInt64
    public var servers = 3
    public var steps = 6000
    public var proposalsMax = 400
    public init(seed: UInt64) { self.seed = seed }
}

public struct EnsembleResult: Sendable {
    public var seed: UInt64
    public var failures: [String]
    public var trace: [String]
    public var epochs: Int
    public var crashes: Int
    public var partitions: Int
    public var committed: Int
}

public struct EnsembleSimulation {
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
    var nextConnectionNumber: UInt64 = 1
    var nowMs: Int64 = 0
    var nextTickMs: Int64 = 0
    var random: SeededRandom
    let seed: UInt64
    public private(set) var leadersByEpoch: [Epoch: ServerID] = [:]
    var committedByLeaders: [Zxid: [UInt8]] = [:]
    var failures: [String] = []
    var trace: [String] = []
    var proposalsMade = 0
    var proposing = true

    struct Pair: Hashable { var from: ServerID; var to: ServerID }

    let options: EnsembleOptions
    /// Per mille of steps that crash or restart a server, and that partition or heal the network.
    let crashPerMille: UInt64
    let partitionPerMille: UInt64
    /// Links cut by the current partition (both directions are listed).
    var cut: Set<Pair> = []
    var partitions = 0

    public init(_ options: EnsembleOptions) {
        self.options = options
        seed = options.seed
        random = SeededRandom(seed: options.seed)
        crashPerMille = 2 + random.next() % 14
        partitionPerMille = random.next() % 12
        let voters = options.servers
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
        trace.append("\(nowMs) start \(id) at \(disk.lastLogged), accepted epoch \(disk.acceptedEpoch.rawValue), current epoch \(disk.currentEpoch.rawValue)")
        var effects: [PeerEffect] = []
        peers[id]!.start(nowMs: nowMs, into: &effects)
        handle(effects, of: id)
    }

    /// Power loss: unsynced appends and epoch writes are gone; every connection breaks.
    mutating func crash(_ id: ServerID) {
        guard up.contains(id) else { return }
        let durable = disks[id]!.log.prefix(disks[id]!.durableCount).last?.zxid ?? disks[id]!.snapshot.last?.zxid ?? Zxid(0)
        trace.append("\(nowMs) crash \(id) (log durable through \(durable), \(disks[id]!.log.count - disks[id]!.durableCount) appends lost)")
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
                if up.contains(to) && !cut.contains(Pair(from: id, to: to)) {
                    electionChannels[Pair(from: id, to: to), default: []].append(n.serialized())
                }
            case .sendToLearner(let packet, let learnerID):
                switch packet.type {
                case .diff, .trunc, .newLeader, .leaderInfo:
                    trace.append("\(nowMs) \(id) → \(connections[learnerID].map { "\($0.learner)" } ?? "?") \(packet.type) \(packet.zxid) (applied \(applied[id]!.last?.zxid ?? Zxid(0)))")
                case .request, .proposal, .ack, .commit, .ping, .revalidate, .sync, .inform, .commitAndActivate, .followerInfo,
                     .upToDate, .snap, .observerInfo, .ackEpoch, .informAndActivate:
                    break
                }
                toLearner[learnerID]?.append(.bytes(packet.serialized()))
            case .sendSnapshot(let zxid, let learnerID):
                if applied[id]!.last?.zxid ?? Zxid(0) != zxid { failures.append("\(id) sent a snapshot at \(zxid) of a tree at \(applied[id]!.last?.zxid ?? Zxid(0))") }
                trace.append("\(nowMs) \(id) → \(connections[learnerID].map { "\($0.learner)" } ?? "?") SNAP \(zxid)")
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
            case .sendToLeader(let packet) where packet.type == .ackEpoch:
                trace.append("\(nowMs) \(id) ACKEPOCH \(packet.zxid) (log \(disks[id]!.lastLogged), durable \(disks[id]!.log.prefix(disks[id]!.durableCount).last?.zxid ?? Zxid(0)))")
                if let learnerID = connectionOf[id] { toLeader[learnerID]?.append(.bytes(packet.serialized())) }
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
                var more: [PeerEffect] = []
                if let snapshotZxid = disks[id]!.snapshot.last?.zxid, snapshotZxid > zxid {
                    // The snapshot a SNAP installed holds txns past the truncation point: start over.
                    trace.append("\(nowMs) \(id) cannot truncate to \(zxid) below its snapshot at \(snapshotZxid): data removed")
                    disks[id]!.log = []
                    disks[id]!.snapshot = []
                    disks[id]!.durableCount = 0
                    applied[id] = []
                    peers[id]!.truncationImpossible(nowMs: nowMs, into: &more)
                } else {
                    disks[id]!.log.removeAll { $0.zxid > zxid }
                    disks[id]!.durableCount = disks[id]!.log.count
                    applied[id] = disks[id]!.recovered  // Apache reloads the database after truncating
                    peers[id]!.truncated(nowMs: nowMs, into: &more)
                }
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
            case .log(let level, let message) where level >= .warn:
                trace.append("\(nowMs) \(id) \(message)")
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
        let fault = random.next() % 1000
        if faults && fault < crashPerMille {
            let victim = ServerID(Int64(random.next() % UInt64(config.verifier.members.count)) + 1)
            if up.contains(victim) && up.count > 1 { crash(victim) } else if !up.contains(victim) { start(victim) }
            return
        }
        if faults && fault >= 500 && fault < 500 + partitionPerMille {
            partitionOrHeal()
            return
        }
        if roll < 8, proposalsMade < options.proposalsMax, let leader = up.sorted().first(where: { peers[$0]!.isServing && peers[$0]!.state == .leading }),
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
            if up.contains(pending.leader) && listening.contains(pending.leader) && !cut.contains(Pair(from: id, to: pending.leader)) {
                pendingConnects[id] = nil
                let learnerID = LearnerID(nextConnectionNumber)
                nextConnectionNumber += 1
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
            let n: Notification
            do { n = try Notification(decoding: bytes) } catch {
                failures.append("\(pair.from) sent an undecodable notification: \(error)")
                return
            }
            var effects: [PeerEffect] = []
            peers[pair.to]!.notification(n, from: pair.from, nowMs: nowMs, into: &effects)
            handle(effects, of: pair.to)
            return
        }
        pick -= election.count
        if pick < leaderBound.count {
            let learnerID = leaderBound[pick]
            guard case .bytes(let bytes) = toLeader[learnerID]!.removeFirst(), let connection = connections[learnerID] else { return }
            decoders[learnerID]!.toLeader.append(bytes[...])
            while connections[learnerID] != nil, let packet = nextPacket(learnerID, toLeader: true) {
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
            while connections[learnerID] != nil, let packet = nextPacket(learnerID, toLeader: false) {
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

    /// The next whole packet on a connection; bytes that do not decode are a failure (our own
    /// peers wrote them) and break the connection.
    mutating func nextPacket(_ learnerID: LearnerID, toLeader: Bool) -> QuorumPacket? {
        do {
            return toLeader ? try decoders[learnerID]!.toLeader.next() : try decoders[learnerID]!.toLearner.next()
        } catch {
            failures.append("undecodable quorum bytes on \(learnerID): \(error)")
            breakConnection(learnerID)
            return nil
        }
    }

    /// Cuts the servers into two sides at random (or heals the cut).
    mutating func partitionOrHeal() {
        if !cut.isEmpty {
            trace.append("\(nowMs) heal")
            cut.removeAll()
            return
        }
        let ids = config.verifier.members.map(\.id)
        var side: Set<ServerID> = []
        for id in ids where random.next() % 2 == 0 { side.insert(id) }
        guard !side.isEmpty, side.count < ids.count else { return }
        partitions += 1
        trace.append("\(nowMs) partition \(side.sorted()) | \(Set(ids).subtracting(side).sorted())")
        for a in ids { for b in ids where side.contains(a) != side.contains(b) { cut.insert(Pair(from: a, to: b)) } }
        for pair in electionChannels.keys where cut.contains(pair) { electionChannels[pair] = nil }
        for (learnerID, connection) in connections where cut.contains(Pair(from: connection.learner, to: connection.leader)) {
            breakConnection(learnerID)
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
        if !cut.isEmpty { trace.append("\(nowMs) heal") }
        cut.removeAll()
        for id in config.verifier.members.map(\.id) where !up.contains(id) { start(id) }
        proposing = false
        for iteration in 0..<200_000 {
            // A server that accepted the epoch of a leader that never established it (a partition cut
            // the attempt short) refuses an established leader with a lower epoch, and joins only at
            // the next election, as in Apache ("Leaders epoch, 4 is less than accepted epoch, 5").
            // If the healed ensemble has not settled after a long while, restart the leader once to
            // hold that election.
            if iteration == 50_000, let leader = up.sorted().first(where: { peers[$0]!.state == .leading }) {
                trace.append("\(nowMs) restarting leader \(leader) to end a stale accepted epoch")
                crash(leader)
                start(leader)
            }
            step(faults: false)
            let quiet = electionChannels.values.allSatisfy(\.isEmpty) && toLeader.values.allSatisfy(\.isEmpty)
                && toLearner.values.allSatisfy(\.isEmpty) && up.allSatisfy { disks[$0]!.durableCount == disks[$0]!.log.count && disks[$0]!.pendingEpochs.isEmpty }
            // Settled: one leader, followed by everyone (a leader cut off by the partition steps
            // down at its next quorum check, so a stale one does not count).
            let leaders = up.filter { peers[$0]!.state == .leading }
            if quiet, leaders.count == 1, up.allSatisfy({ peers[$0]!.isServing && peers[$0]!.leaderID == leaders.first }) {
                return true
            }
        }
        return false
    }

    func describe() -> String {
        up.sorted().map { "\($0): \(peers[$0]!.state) serving \(peers[$0]!.isServing) logged \(disks[$0]!.lastLogged) applied \(applied[$0]!.count)" }
            .joined(separator: "; ")
    }

    /// Runs the seed: the faulty steps, then healing and the final checks.
    public mutating func run() -> EnsembleResult {
        for _ in 0..<options.steps {
            step(faults: true)
            checkOneHistory()
            if !failures.isEmpty { break }
        }
        if failures.isEmpty {
            if !healAndSettle() { failures.append("did not settle after healing: \(describe())") }
            checkOneHistory()
            let reference = applied[ServerID(1)]!
            for id in up.sorted() where applied[id]! != reference {
                failures.append("\(id) differs from 1 after healing: \(applied[id]!.count) vs \(reference.count) txns")
            }
            let held = Set(reference.map(\.zxid))
            for zxid in committedByLeaders.keys.sorted() where !held.contains(zxid) {
                failures.append("committed \(zxid) lost")
            }
        }
        return EnsembleResult(seed: seed, failures: failures, trace: trace, epochs: leadersByEpoch.count,
                              crashes: trace.filter { $0.contains(" crash ") }.count, partitions: partitions,
                              committed: committedByLeaders.count)
    }
}
