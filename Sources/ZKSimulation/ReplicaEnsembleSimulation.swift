/// Whole servers in an ensemble under simulation: N real `Replica`s (with their real `ZabPeer`s),
/// each with two real `StorageEngine`s over its own `MemoryDisk`, clients that speak the wire
/// protocol to any of them, a network of FIFO links (election notifications, quorum-port byte
/// streams) that partitions cut, and one seeded random number generator that decides every step:
/// which client writes, which link delivers, when each storage lane runs, when time passes, when a
/// server loses power (unsynced bytes lost, torn tails) and restarts from its disk, when a server is
/// cut off and when the network heals, when a server's process pauses (nothing reaches it, its disk
/// and timers stop, the others' time goes on) and when its disk turns slow. The shell's two blocking jobs are done inline: a reload is
/// the log lane run dry, then `Recovery` over the server's disk; a SNAP's snapshot is saved with
/// `StorageEngine.writeSnapshot`.
///
/// Checkers, independent of the code under test:
/// - **One committed history**: every txn a server commits (applies through the quorum's COMMIT or
///   as the leader) has the same bytes as every other server's txn of that zxid.
/// - **At most one established leader per epoch.**
/// - After the run, the network heals and the ensemble settles: **the trees are equal** on every
///   server (node for node), **no acknowledged write is lost** (each client's model against every
///   tree), **every ephemeral's session is in the session table**, and every request was answered
///   or its connection closed.
import ZKCore
import ZKProtocol
import ZKDataTree
import ZKStorage
import ZKZab
import ZKReplica

public struct ReplicaEnsembleOptions: Sendable {
    public var seed: UInt64
    public var servers = 3
    public var clients = 3
    public var steps = 3_000
    public var trace = false
    /// Receives each trace line as it happens (zk-sim prints them, so an invariant that traps
    /// mid-run leaves its lead-up on the screen).
    public var traceSink: (@Sendable (String) -> Void)?
    public init(seed: UInt64) { self.seed = seed }
}

public struct ReplicaEnsembleReport: Sendable {
    public var seed: UInt64
    public var failure: String?
    public var trace: [String] = []
    public var steps = 0
    public var crashes = 0
    public var partitions = 0
    public var committed = 0
    public var writesAcknowledged = 0
    public var leaders: [String] = []

    public var summary: String {
        "seed \(seed): \(failure == nil ? "ok" : "FAILED") after \(steps) steps, \(crashes) crashes, \(partitions) partitions, "
            + "\(committed) txns committed, \(writesAcknowledged) writes acknowledged, leaders \(leaders.joined(separator: " "))"
    }
}

public final class ReplicaEnsembleSimulation {
    final class Server {
        let id: ServerID
        let disk = MemoryDisk()
        var replica: Replica!
        var logEngine: StorageEngine!
        var snapshotEngine: StorageEngine!
        var logQueue: [StorageCommand] = []
        var snapshotQueue: [StorageCommand] = []
        var results: [StorageResult] = []
        var up = false
        var listening = false
        var wantsLeader: ServerID?
        /// Txns this incarnation logged, by zxid (the committed-history checker reads them).
        var logged: [Zxid: [UInt8]] = [:]
        /// Commits through this zxid were checked (or came from a reload, which is not a commit).
        var checkedThrough = Zxid.zero
        init(id: ServerID) { self.id = id }
    }

    /// A learner's connection to a leader's quorum port: two FIFO byte streams.
    final class Link {
        let id: LearnerID
        let learner: ServerID
        let leader: ServerID
        var toLeader: [[UInt8]] = []
        var toLearner: [[UInt8]] = []
        init(id: LearnerID, learner: ServerID, leader: ServerID) {
            self.id = id
            self.learner = learner
            self.leader = leader
        }
    }

    struct Pair: Hashable { var from: ServerID; var to: ServerID }

    private let options: ReplicaEnsembleOptions
    private var random: SeededRandom
    private let layout = StorageLayout(dataDir: "data", dataLogDir: "log")
    private var config = ReplicaConfig()
    private var verifier: QuorumVerifier
    private var servers: [ServerID: Server] = [:]
    private var ids: [ServerID]
    private var election: [Pair: [Notification]] = [:]
    private var links: [LearnerID: Link] = [:]
    private var nextLink: UInt64 = 1
    private var isolated: Set<ServerID> = []
    /// Servers whose process is stopped (SIGSTOP) for this many more steps: nothing reaches them,
    /// their disks and timers do not run; the others' time goes on.
    private var paused: [ServerID: Int] = [:]
    /// Servers whose disk is slow: their storage lanes run a fifth as often.
    private var slowDisks: Set<ServerID> = []
    private var clients: [SimulatedClient] = []
    private var clientServer: [Int: ServerID] = [:]
    private var connections: [ConnectionID: Int] = [:]
    private var nextConnection = ConnectionID(1)
    private var committed: [Zxid: [UInt8]] = [:]
    private var leaderOfEpoch: [Epoch: ServerID] = [:]
    private var clock = Clock(monotonicMs: 1_000, wallMs: 1_767_225_600_000)
    private var report: ReplicaEnsembleReport
    private var ready = Ready()
    private var failure: String?
    private let crashWeight: Int
    private let partitionWeight: Int

    public init(_ options: ReplicaEnsembleOptions) {
        self.options = options
        random = SeededRandom(seed: options.seed)
        report = ReplicaEnsembleReport(seed: options.seed)
        ids = (1...options.servers).map { ServerID(Int64($0)) }
        verifier = QuorumVerifier(members: ids.map { QuorumMember(id: $0, host: "10.0.0.\($0.rawValue)", quorumPort: 2888, electionPort: 3888) })
        config.snapCount = Int.random(in: 8...200, using: &random)
        config.limits.snapshotChunkNodesMax = Int.random(in: 1...8, using: &random)
        config.tickTimeMs = 100
        config.minSessionTimeoutMs = 400
        config.maxSessionTimeoutMs = 10_000
        crashWeight = Int.random(in: 0...4, using: &random)
        partitionWeight = Int.random(in: 0...4, using: &random)
        for id in ids {
            let server = Server(id: id)
            server.disk.makeDirectory(layout.snapshotDirectory)
            server.disk.makeDirectory(layout.logDirectory)
            servers[id] = server
        }
        for i in 0..<options.clients {
            let client = SimulatedClient(id: i, timeoutMs: Int32.random(in: 1_000...10_000, using: &random))
            client.createsEphemerals = true
            clients.append(client)
        }
        // A read after sync sees the owner's write acknowledged before the sync, or a later one.
        let all = clients
        for client in clients {
            client.readValidator = { owner, path, index, seen in
                let writes = all[owner].issued[path] ?? []
                guard index < writes.count else { return "a read of \(path) refers to write \(index) of \(writes.count)" }
                if writes[index...].contains(where: { $0 == seen }) { return nil }
                let text = seen.map { String(decoding: $0, as: UTF8.self) } ?? "no node"
                return "a read of \(path) after sync saw \(text), older than client \(owner)'s write acknowledged before the sync"
            }
        }
    }

    public func run() -> ReplicaEnsembleReport {
        for id in ids { boot(id) }
        while failure == nil, report.steps < options.steps {
            report.steps += 1
            advancePauses()
            step()
            checkClients()
        }
        if failure == nil { settle() }
        report.failure = failure
        report.writesAcknowledged = clients.reduce(0) { $0 + $1.writesAcknowledged }
        report.committed = committed.count
        return report
    }

    // MARK: Steps

    private func step() {
        var roll = Int.random(in: 0..<(1_008 + crashWeight + partitionWeight), using: &random)
        func next(_ weight: Int) -> Bool {
            defer { roll -= weight }
            return roll < weight
        }
        if next(200) { return clientStep(clients.randomElement(using: &random)!) }
        if next(320) { return deliver() }
        if next(160) { return runLane(servers[ids.randomElement(using: &random)!]!, snapshot: false) }
        if next(40) { return runLane(servers[ids.randomElement(using: &random)!]!, snapshot: true) }
        if next(160) { return deliverResults(servers[ids.randomElement(using: &random)!]!) }
        if next(100) { return tick(Int64.random(in: 1...20, using: &random)) }
        if next(5) { return dropClientConnection() }
        if next(20) {
            if let down = ids.filter({ !servers[$0]!.up }).randomElement(using: &random) { boot(down) }
            return
        }
        if next(crashWeight) { return crash(ids.randomElement(using: &random)!) }
        if next(partitionWeight) { return partitionOrHeal() }
        if next(3) { return pauseOrSlow() }
    }

    /// A pause (a stopped process, as SIGSTOP or a long GC would) or a slow disk for one server.
    private func pauseOrSlow() {
        let id = ids.randomElement(using: &random)!
        if Bool.random(using: &random) {
            guard paused[id] == nil, servers[id]!.up else { return }
            let steps = Int.random(in: 20...400, using: &random)
            trace("server \(id) pauses for \(steps) steps")
            paused[id] = steps
        } else if slowDisks.remove(id) != nil {
            trace("server \(id)'s disk is fast again")
        } else {
            trace("server \(id)'s disk turns slow")
            slowDisks.insert(id)
        }
    }

    private func isPaused(_ id: ServerID) -> Bool { paused[id] != nil }

    /// Paused servers count down one step each.
    private func advancePauses() {
        for id in paused.keys.sorted() {
            paused[id]! -= 1
            if paused[id]! <= 0 {
                paused[id] = nil
                trace("server \(id) resumes")
            }
        }
    }

    private func clientStep(_ client: SimulatedClient) {
        switch client.state {
        case .disconnected:
            let candidates = ids.filter { servers[$0]!.up && !isPaused($0) }
            guard let target = candidates.randomElement(using: &random) else { return }
            let id = nextConnection
            nextConnection = ConnectionID(id.rawValue + 1)
            connections[id] = client.id
            clientServer[client.id] = target
            trace("client \(client.id) connects to \(target) on \(id)")
            let replica = servers[target]!.replica!
            replica.handle(.connected(id, RemoteAddress(ip: "10.1.0.\(client.id)", port: Int(id.rawValue))), now: clock)
            replica.handle(.frame(id, client.connect(id)), now: clock)
            pump(target)
        case .connecting:
            return
        case .connected(let id):
            guard let target = clientServer[client.id], let server = servers[target], server.up, !isPaused(target),
                  !server.replica.isThrottled, client.inFlight.count < 8 else { return }
            // One step in six: sync, then read a node some client wrote and was acknowledged.
            let requests: [[UInt8]]?
            if Int.random(in: 0..<6, using: &random) == 0 {
                requests = client.nextSyncedRead(of: clients.randomElement(using: &random)!, &random)
            } else {
                requests = client.nextWrite(&random).map { [$0] }
            }
            guard let requests else { return }
            for request in requests {
                trace("client \(client.id) sends \(client.inFlight[client.inFlight.count - requests.count].write) to \(target)")
                server.replica.handle(.frame(id, request), now: clock)
            }
            pump(target)
        }
    }

    /// One link delivers its oldest message.
    private func deliver() {
        var choices: [(String, () -> Void)] = []
        for pair in election.keys.sorted(by: { ($0.from, $0.to) < ($1.from, $1.to) })
        where !(election[pair]?.isEmpty ?? true) && !isPaused(pair.to) {
            choices.append(("election", { [unowned self] in
                let n = election[pair]!.removeFirst()
                trace("\(pair.from) → \(pair.to): \(n.state) vote \(n.leader) 0x\(n.zxid.hex) round \(n.electionEpoch)")
                servers[pair.to]!.replica.handle(.peer(.notification(n, from: pair.from)), now: clock)
                pump(pair.to)
            }))
        }
        for id in links.keys.sorted() {
            let link = links[id]!
            if !link.toLeader.isEmpty && !isPaused(link.leader) {
                choices.append(("to leader", { [unowned self] in
                    let bytes = link.toLeader.removeFirst()
                    servers[link.leader]!.replica.handle(.peer(.learnerBytes(id, bytes)), now: clock)
                    pump(link.leader)
                }))
            }
            if !link.toLearner.isEmpty && !isPaused(link.learner) {
                choices.append(("to learner", { [unowned self] in
                    // A TCP stream may deliver any split: sometimes half a message.
                    var bytes = link.toLearner.removeFirst()
                    if bytes.count > 8, Int.random(in: 0..<4, using: &random) == 0 {
                        let cut = Int.random(in: 1..<bytes.count, using: &random)
                        link.toLearner.insert(Array(bytes[cut...]), at: 0)
                        bytes = Array(bytes[..<cut])
                    }
                    servers[link.learner]!.replica.handle(.peer(.leaderBytes(bytes)), now: clock)
                    pump(link.learner)
                }))
            }
        }
        guard let choice = choices.randomElement(using: &random) else { return }
        choice.1()
    }

    private func runLane(_ server: Server, snapshot: Bool) {
        guard server.up, !isPaused(server.id) else { return }
        if slowDisks.contains(server.id), Int.random(in: 0..<5, using: &random) != 0 { return }
        let queue = snapshot ? server.snapshotQueue : server.logQueue
        guard !queue.isEmpty else { return }
        let count = Int.random(in: 1...queue.count, using: &random)
        let batch = Array(queue.prefix(count))
        if snapshot {
            server.snapshotQueue.removeFirst(count)
            server.snapshotEngine.execute(batch, into: &server.results)
        } else {
            server.logQueue.removeFirst(count)
            server.logEngine.execute(batch, into: &server.results)
        }
    }

    private func deliverResults(_ server: Server) {
        guard server.up, !isPaused(server.id), !server.results.isEmpty else { return }
        let count = Int.random(in: 1...server.results.count, using: &random)
        let delivered = server.results.prefix(count)
        server.results.removeFirst(count)
        for result in delivered where server.up {
            server.replica.handle(.storage(result), now: clock)
            pump(server.id)
        }
    }

    private func tick(_ ms: Int64) {
        clock.monotonicMs += ms
        clock.wallMs += ms
        for id in ids where servers[id]!.up && !isPaused(id) {
            servers[id]!.replica.handle(.tick, now: clock)
            pump(id)
            connectLearner(id)
        }
    }

    private func dropClientConnection() {
        guard let client = clients.filter({ $0.connection != nil }).randomElement(using: &random), let id = client.connection,
              let target = clientServer[client.id] else { return }
        trace("network drops client \(client.id)'s \(id)")
        disconnectClient(id, notify: target)
    }

    private func disconnectClient(_ id: ConnectionID, notify target: ServerID?) {
        guard let index = connections.removeValue(forKey: id) else { return }
        clients[index].disconnected()
        if let target, let server = servers[target], server.up {
            server.replica.handle(.disconnected(id), now: clock)
            pump(target)
        }
    }

    // MARK: Faults

    private func crash(_ id: ServerID) {
        let server = servers[id]!
        guard server.up else { return }
        report.crashes += 1
        trace("POWER LOSS of \(id)")
        server.up = false
        server.listening = false
        server.wantsLeader = nil
        for (connection, index) in connections where clientServer[index] == id {
            disconnectClient(connection, notify: nil)
        }
        for link in links.values.sorted(by: { $0.id < $1.id }) where link.leader == id || link.learner == id {
            breakLink(link.id)
        }
        for pair in election.keys where pair.from == id || pair.to == id { election[pair] = nil }
        server.logQueue.removeAll()
        server.snapshotQueue.removeAll()
        server.results.removeAll()
        server.disk.crash(tearing: &random, tornTails: Bool.random(using: &random))
    }

    private func partitionOrHeal() {
        if !isolated.isEmpty, Bool.random(using: &random) {
            trace("network heals")
            isolated.removeAll()
            return
        }
        let id = ids.randomElement(using: &random)!
        // Never so many that no quorum is left: the run must be able to make progress.
        guard !isolated.contains(id), ids.count - isolated.count - 1 > ids.count / 2 else { return }
        report.partitions += 1
        trace("network isolates \(id)")
        isolated.insert(id)
        for link in links.values.sorted(by: { $0.id < $1.id }) where link.leader == id || link.learner == id {
            breakLink(link.id)
        }
        for pair in election.keys where pair.from == id || pair.to == id { election[pair] = nil }
    }

    private func reachable(_ a: ServerID, _ b: ServerID) -> Bool {
        servers[a]!.up && servers[b]!.up && !isolated.contains(a) && !isolated.contains(b)
    }

    // MARK: Servers

    private func boot(_ id: ServerID) {
        let server = servers[id]!
        let recovered: RecoveredDatabase
        do {
            recovered = try Recovery.recover(disk: server.disk, layout: layout, extendedTypesEnabled: config.extendedTypesEnabled)
        } catch {
            return fail("server \(id) cannot recover: \(error)")
        }
        let current: Epoch
        let accepted: Epoch
        do {
            current = try EpochFile.read(.currentEpoch, disk: server.disk, layout: layout) ?? recovered.lastZxid.epoch
            accepted = try EpochFile.read(.acceptedEpoch, disk: server.disk, layout: layout) ?? current
        } catch {
            return fail("server \(id) cannot read its epoch files: \(error)")
        }
        trace("server \(id) boots at 0x\(recovered.lastZxid.hex), epochs \(accepted.rawValue)/\(current.rawValue)")
        var replicaConfig = config
        replicaConfig.serverID = id
        replicaConfig.sessionIDSeedMs = clock.wallMs
        replicaConfig.randomSeed = random.next()
        var peer = PeerConfig(myID: id, verifier: verifier, timing: ZabTiming(tickTimeMs: 100, initLimitTicks: 20, syncLimitTicks: 10))
        peer.finalizeWaitMs = 20
        peer.maxNotificationIntervalMs = 400
        peer.committedLogCountMax = Int.random(in: 2...50, using: &random)
        // The DIFF window starts with the txns recovery replayed, as the shell's does.
        var committedLog: [Proposal] = []
        if recovered.replayedTxns > 0, let records = try? TxnLogHistory.txns(after: recovered.snapshotZxid ?? .zero, countMax: recovered.replayedTxns,
                                                                               disk: server.disk, layout: layout) {
            committedLog = records.map { Proposal(zxid: $0.zxid, data: $0.txn) }
        }
        server.replica = Replica(config: replicaConfig, tree: recovered.tree, sessions: recovered.sessions, now: clock,
                                 ensemble: EnsembleStart(peer: peer, acceptedEpoch: accepted, currentEpoch: current,
                                                         lastLoggedZxid: recovered.lastZxid, committedLog: committedLog))
        server.logEngine = StorageEngine(disk: server.disk, layout: layout, preallocateBytes: 1024, forceSync: true,
                                         limits: config.limits, nanoseconds: { [unowned self] in clock.monotonicMs * 1_000_000 })
        server.snapshotEngine = StorageEngine(disk: server.disk, layout: layout, preallocateBytes: 1024, forceSync: true,
                                              limits: config.limits, nanoseconds: { [unowned self] in clock.monotonicMs * 1_000_000 })
        server.logged = [:]
        server.checkedThrough = recovered.lastZxid
        server.up = true
        if recovered.snapshotZxid == nil {  // as the shell: an ensemble member only when it has none
            _ = server.snapshotEngine.writeSnapshot(of: server.replica.tree, sessions: server.replica.sessionTable)
        }
        server.replica.handle(.peer(.start), now: clock)
        pump(id)
    }

    /// Carries out what a server's replica produced, as the POSIX shell does, until it is quiet.
    private func pump(_ id: ServerID) {
        let server = servers[id]!
        while failure == nil, server.up {
            server.replica.takeReady(into: &ready)
            let persist = ready.persist, output = ready.output
            for command in persist {
                switch command.lane {
                case .log: server.logQueue.append(command)
                case .snapshot: server.snapshotQueue.append(command)
                }
                if case .append(let zxid, let record) = command { server.logged[zxid] = record }
                if case .truncateLog(let zxid) = command {
                    // TRUNC, or a SNAP's snapshot installed: what the tree holds up to here came
                    // from the leader's history, not from commits of this server's own log.
                    for key in server.logged.keys where key > zxid { server.logged[key] = nil }
                    server.checkedThrough = max(server.checkedThrough, zxid)
                }
            }
            checkCommits(server)
            if ready.isEmpty { return }
            for effect in output where server.up {
                carryOut(effect, server)
            }
        }
    }

    private func carryOut(_ effect: ReplicaEffect, _ server: Server) {
        let id = server.id
        switch effect {
        case .send(let connection, let bytes):
            guard let index = connections[connection] else { return }
            clients[index].receive(bytes)
        case .close(let connection):
            guard connections[connection] != nil else { return }
            disconnectClient(connection, notify: id)
        case .persist(let command):
            fail("a .persist effect in Ready.output: \(command)")
        case .log(let level, let source, _, let line):
            if level >= .warn { trace("\(id) \(level) \(source): \(line)") }
        case .peer(let output):
            carryOut(output, server)
        }
    }

    private func carryOut(_ output: PeerOutput, _ server: Server) {
        let id = server.id
        switch output {
        case .sendNotification(let n, let to):
            guard reachable(id, to) else { return }
            election[Pair(from: id, to: to), default: []].append(n)
        case .listenForLearners(let on):
            server.listening = on
            if !on {
                for link in links.values.sorted(by: { $0.id < $1.id }) where link.leader == id { breakLink(link.id) }
            }
        case .sendToLearner(let learnerID, let bytes):
            links[learnerID]?.toLearner.append(bytes)
        case .closeLearner(let learnerID):
            breakLink(learnerID)
        case .connectToLeader(let leader):
            server.wantsLeader = leader
            connectLearner(id)
        case .sendToLeader(let bytes):
            links.values.first { $0.learner == id }?.toLeader.append(bytes)
        case .closeLeaderConnection:
            server.wantsLeader = nil
            if let link = links.values.first(where: { $0.learner == id }) { breakLink(link.id) }
        case .reloadDatabase:
            server.logEngine.execute(server.logQueue, into: &server.results)
            server.logQueue.removeAll()
            let results = server.results
            server.results.removeAll()
            for result in results { server.replica.handle(.storage(result), now: clock) }
            if server.replica.logFailure != nil {
                // As the POSIX shell does: a reload after a log failure comes with a fresh log lane.
                server.logEngine.close()
                server.logEngine = StorageEngine(disk: server.disk, layout: layout, preallocateBytes: 1024, forceSync: true,
                                                 limits: config.limits, nanoseconds: { [unowned self] in clock.monotonicMs * 1_000_000 })
            }
            do {
                let database = try Recovery.recover(disk: server.disk, layout: layout, extendedTypesEnabled: config.extendedTypesEnabled)
                trace("server \(id) reloads at 0x\(database.lastZxid.hex)")
                server.checkedThrough = database.lastZxid
                server.replica.handle(.peer(.databaseReloaded(tree: database.tree, sessions: database.sessions, lastZxid: database.lastZxid)), now: clock)
            } catch {
                fail("server \(id) cannot reload its database: \(error)")
            }
        case .saveSnapshot:
            // On its own engine, as the shell does: the snapshot lane may be writing a scheduled one.
            let engine = StorageEngine(disk: server.disk, layout: layout, preallocateBytes: 0, forceSync: true,
                                       limits: config.limits, nanoseconds: { 0 })
            let result = engine.writeSnapshot(of: server.replica.tree, sessions: server.replica.sessionTable)
            engine.close()
            var failure: String?
            if case .snapshotWritten = result {} else { failure = "\(result)" }
            trace("server \(id) saves the leader's snapshot at 0x\(server.replica.lastProcessedZxid.hex)")
            server.checkedThrough = server.replica.lastProcessedZxid
            server.replica.handle(.peer(.snapshotSaved(failure: failure)), now: clock)
        }
    }

    /// A learner that wants its leader connects once the leader listens and is reachable.
    private func connectLearner(_ id: ServerID) {
        let server = servers[id]!
        guard server.up, let leader = server.wantsLeader, !links.values.contains(where: { $0.learner == id }),
              reachable(id, leader), servers[leader]!.listening else { return }
        let link = Link(id: LearnerID(nextLink), learner: id, leader: leader)
        nextLink += 1
        links[link.id] = link
        trace("\(id) connects to leader \(leader) (\(link.id))")
        servers[leader]!.replica.handle(.peer(.learnerConnected(link.id, remote: "/127.0.0.\(id.rawValue):0")), now: clock)
        pump(leader)
        server.replica.handle(.peer(.leaderConnected), now: clock)
        pump(id)
    }

    private func breakLink(_ id: LearnerID) {
        guard let link = links.removeValue(forKey: id) else { return }
        trace("link \(id) (\(link.learner) → \(link.leader)) breaks")
        if let leader = servers[link.leader], leader.up {
            leader.replica.handle(.peer(.learnerDisconnected(id)), now: clock)
            pump(link.leader)
        }
        if let learner = servers[link.learner], learner.up, learner.wantsLeader != nil {
            learner.replica.handle(.peer(.leaderDisconnected), now: clock)
            pump(link.learner)
        }
    }

    // MARK: Checkers

    /// Every txn a server committed since the last check has the bytes the ensemble committed at
    /// its zxid; and an established leader is the only one of its epoch.
    private func checkCommits(_ server: Server) {
        let replica = server.replica!
        if let epoch = replica.establishedLeaderEpoch {
            if let other = leaderOfEpoch[epoch], other != server.id {
                return fail("two leaders established epoch \(epoch.rawValue): \(other) and \(server.id)")
            }
            if leaderOfEpoch[epoch] == nil {
                leaderOfEpoch[epoch] = server.id
                report.leaders.append("\(server.id)@\(epoch.rawValue)")
                trace("server \(server.id) leads epoch \(epoch.rawValue)")
            }
        }
        let through = replica.committedZxid
        guard through > server.checkedThrough else { return }
        for zxid in server.logged.keys.sorted() where zxid > server.checkedThrough && zxid <= through {
            let bytes = server.logged[zxid]!
            if let known = committed[zxid], known != bytes {
                return fail("server \(server.id) committed a different txn at 0x\(zxid.hex) than the ensemble did")
            }
            committed[zxid] = bytes
        }
        server.checkedThrough = through
    }

    private func checkClients() {
        for client in clients {
            if let violation = client.violations.first { return fail(violation) }
        }
    }

    /// Heals the network, restarts every server, and runs the ensemble without faults until every
    /// server serves at one zxid; then compares trees, clients' models and ephemerals.
    private func settle() {
        isolated.removeAll()
        paused.removeAll()
        slowDisks.removeAll()
        for id in ids where !servers[id]!.up { boot(id) }
        var rounds = 0
        while failure == nil {
            rounds += 1
            if rounds % 50_000 == 0, let leader = ids.first(where: { servers[$0]!.replica.establishedLeaderEpoch != nil }) ?? ids.last {
                // A server that accepted the epoch of a leader that never established it refuses
                // an established leader with a lower epoch until the next election (a liveness
                // limit Apache shares): restart the leader, every 50,000 rounds, until one election
                // includes that server in the quorum that decides the epoch.
                trace("not settled after \(rounds) rounds (\(describeServers())): restarting \(leader)")
                crash(leader)
                if !servers[leader]!.up { boot(leader) }
            }
            if rounds > 300_000 { return fail("the ensemble did not settle after healing (\(describeServers()))") }
            let roll = Int.random(in: 0..<10, using: &random)
            if roll < 5 {
                deliver()
            } else if roll < 7 {
                for id in ids {
                    runLane(servers[id]!, snapshot: false)
                    runLane(servers[id]!, snapshot: true)
                    deliverResults(servers[id]!)
                }
            } else if roll < 8, let client = clients.randomElement(using: &random), client.connection == nil || client.inFlight.isEmpty {
                if client.connection == nil { clientStep(client) }
            } else {
                tick(Int64.random(in: 1...10, using: &random))
            }
            if isSettled() { break }
        }
        guard failure == nil else { return }
        trace("settled: \(describeServers())")
        let first = servers[ids[0]]!.replica!
        for id in ids.dropFirst() {
            if let difference = TreeComparison.difference(servers[id]!.replica.tree, first.tree) {
                return fail("server \(id)'s tree differs from server \(ids[0])'s: \(difference)")
            }
        }
        for id in ids {
            let replica = servers[id]!.replica!
            for client in clients {
                if let violation = client.check(against: replica.tree) { return fail("on server \(id): \(violation)") }
            }
            let sessions = Set(replica.sessionTable.map(\.0.rawValue))
            for (path, owner) in ephemerals(replica.tree) where !sessions.contains(owner) {
                return fail("server \(id): ephemeral \(path) of session 0x\(SessionID(owner).hex), which is not in the session table")
            }
        }
    }

    private func isSettled() -> Bool {
        let replicas = ids.map { servers[$0]!.replica! }
        guard replicas.allSatisfy(\.isServing), replicas.filter({ $0.establishedLeaderEpoch != nil }).count == 1 else { return false }
        let zxid = replicas[0].lastProcessedZxid
        guard replicas.allSatisfy({ $0.lastProcessedZxid == zxid && $0.txnsInFlight == 0 }) else { return false }
        guard ids.allSatisfy({ servers[$0]!.logQueue.isEmpty && servers[$0]!.results.isEmpty }) else { return false }
        guard links.values.allSatisfy({ $0.toLeader.isEmpty && $0.toLearner.isEmpty }) else { return false }
        return clients.allSatisfy { $0.inFlight.isEmpty }
    }

    private func ephemerals(_ tree: DataTree) -> [(String, Int64)] {
        var found: [(String, Int64)] = []
        var stack = ["/"]
        while let path = stack.popLast() {
            guard let node = tree.node(path) else { continue }
            if node.stat.ephemeralOwner > 0, EphemeralOwner.ttlValue(node.stat.ephemeralOwner) == 0 { found.append((path, node.stat.ephemeralOwner)) }
            for child in node.children.sorted() { stack.append(path == "/" ? "/" + child : path + "/" + child) }
        }
        return found
    }

    private func describeServers() -> String {
        ids.map { id in
            let server = servers[id]!
            guard server.up else { return "\(id) down" }
            let replica = server.replica!
            return "\(id) \(replica.peerState.map { "\($0)" } ?? "?")\(replica.isServing ? "" : " (not serving)") at 0x\(replica.lastProcessedZxid.hex)"
        }.joined(separator: ", ")
    }

    private func fail(_ violation: String) {
        guard failure == nil else { return }
        failure = violation
        trace("VIOLATION: \(violation)")
    }

    private func trace(_ line: @autoclosure () -> String) {
        guard options.trace || options.traceSink != nil else { return }
        let text = "[\(report.steps)] t=\(clock.monotonicMs) \(line())"
        if let sink = options.traceSink { sink(text) } else { report.trace.append(text) }
    }
}
