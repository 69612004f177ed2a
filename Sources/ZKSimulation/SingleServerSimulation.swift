/// One server under simulation: the real `Replica` and two real `StorageEngine`s (the log lane and
/// the snapshot lane) over a `MemoryDisk`, driven by one seeded random number generator that decides
/// every step: which client writes, when each storage lane runs and how much of its queue it takes,
/// when storage results reach the replica, when time passes, when a connection drops, when the disk
/// fails, and when the power goes out (unsynced bytes lost, torn tails) or the process is killed
/// (the page cache survives). After every restart, recovery runs from the disk as it is and the
/// checkers of `Checkers.swift` compare what came back with what clients were told.
///
/// The same seed replays the same run, step for step; `trace` records it for a failing seed.
import ZKCore
import ZKProtocol
import ZKDataTree
import ZKStorage
import ZKReplica

/// Mistakes put in on purpose, to show the checkers catch them.
public enum SimulationBug: String, CaseIterable, Sendable {
    /// The disk acknowledges `fdatasync` of log files and persists nothing (a skipped or misplaced
    /// sync in the log writer).
    case syncsAreLost = "syncs-lost"
    /// The shell tells the replica txns are durable as it hands them to the log lane, before the
    /// engine wrote them: the durable-before-reply rule broken.
    case durableBeforeWrite = "durable-before-write"
}

public struct SimulationOptions: Sendable {
    public var seed: UInt64
    public var steps = 1500
    public var clients = 3
    public var bug: SimulationBug?
    /// Record every step (slower); a failing seed is replayed with this on to print its trace.
    public var trace = false
    /// Start from a data directory whose last txn has this counter in epoch 0 (to cross the
    /// counter's end: 0xfffffff0 gets there in a few steps).
    public var startCounter: UInt32?

    public init(seed: UInt64) { self.seed = seed }
}

public struct SimulationReport: Sendable {
    public var seed: UInt64
    /// The first checker violation (or a recovery that failed); nil if the run was correct.
    public var failure: String?
    public var trace: [String] = []
    public var steps = 0
    public var powerLosses = 0
    public var kills = 0
    public var txnsProposed = 0
    public var writesAcknowledged = 0
    public var snapshotsWritten = 0
    public var logFailures = 0
    public var lastZxid = Zxid.zero

    public var summary: String {
        "seed \(seed): \(failure == nil ? "ok" : "FAILED") after \(steps) steps, \(powerLosses) power losses, \(kills) kills, "
            + "\(txnsProposed) txns, \(writesAcknowledged) writes acknowledged, \(snapshotsWritten) snapshots, "
            + "\(logFailures) log failures, last zxid 0x\(lastZxid.hex)"
    }
}

public final class SingleServerSimulation {
    private let options: SimulationOptions
    private var random: SeededRandom
    private let disk = MemoryDisk()
    private let layout = StorageLayout(dataDir: "data", dataLogDir: "log")
    private let config: ReplicaConfig
    private let preallocateBytes: Int64
    private var report: SimulationReport

    private var clock = Clock(monotonicMs: 1_000, wallMs: 1_767_225_600_000)
    private var clients: [SimulatedClient] = []
    private var history: History

    // The running server (replaced at every restart).
    private var replica: Replica!
    private var logEngine: StorageEngine!
    private var snapshotEngine: StorageEngine!
    private var logQueue: [StorageCommand] = []
    private var snapshotQueue: [StorageCommand] = []
    /// Results the lanes produced and the replica has not been handed yet, in the order produced.
    private var results: [StorageResult] = []
    private var connections: [ConnectionID: Int] = [:]
    private var nextConnection = ConnectionID(1)
    /// The last txn this incarnation handed to the log, and the newest zxid a recovery ever held.
    private var lastAppended = Zxid.zero
    private var finalThrough = Zxid.zero
    private var ready = Ready()
    private var failure: String?
    private let faultWeights: FaultWeights

    public init(_ options: SimulationOptions) {
        self.options = options
        random = SeededRandom(seed: options.seed)
        report = SimulationReport(seed: options.seed)
        var config = ReplicaConfig()
        // Small numbers everywhere, so one short run crosses every boundary: snapshots every few
        // dozen txns, snapshots streamed a few nodes per chunk with little room for chunks in
        // flight, log files preallocated and zeroed in small steps, and admission control that
        // engages under a modest pipeline.
        config.snapCount = Int.random(in: 4...120, using: &random)
        config.limits.snapshotChunkNodesMax = Int.random(in: 1...8, using: &random)
        config.limits.snapshotChunksInFlightMax = Int.random(in: 1...4, using: &random)
        config.limits.snapshotSyncStepBytes = Int.random(in: 64...2048, using: &random)
        config.limits.logZeroStepBytes = Int.random(in: 64...2048, using: &random)
        config.limits.outstandingRequestsMax = Int.random(in: 4...64, using: &random)
        config.limits.txnsInFlightMax = Int.random(in: 2...64, using: &random)
        config.autopurgeIntervalMs = Bool.random(using: &random) ? 0 : Int64.random(in: 2_000...20_000, using: &random)
        config.autopurgeRetainCount = Int.random(in: 3...5, using: &random)
        config.randomSeed = random.next()
        self.config = config
        preallocateBytes = Int64.random(in: 256...8192, using: &random)
        faultWeights = FaultWeights(drop: Int.random(in: 0...40, using: &random), powerLoss: Int.random(in: 1...30, using: &random),
                                    kill: Int.random(in: 0...10, using: &random), logFault: Int.random(in: 0...8, using: &random))
        history = History(extendedTypesEnabled: config.extendedTypesEnabled)
        disk.makeDirectory(layout.snapshotDirectory)
        disk.makeDirectory(layout.logDirectory)
        disk.syncsAreLost = options.bug == .syncsAreLost
        disk.syncsAreLostOnlyFor = "/log."
        for id in 0..<options.clients {
            clients.append(SimulatedClient(id: id, timeoutMs: Int32.random(in: 6_000...30_000, using: &random)))
        }
    }

    /// Runs every step (stopping at the first violation), then lets storage go idle, checks that
    /// every request was answered, and ends with a power loss and a last recovery check.
    public func run() -> SimulationReport {
        if let counter = options.startCounter { seedDataDirectory(counter: counter) }
        boot()
        while failure == nil, report.steps < options.steps {
            report.steps += 1
            step()
            checkClients()
        }
        if failure == nil { quiesce() }
        if failure == nil { powerLoss(tearing: true) }
        report.failure = failure
        report.lastZxid = finalThrough
        report.writesAcknowledged = clients.reduce(0) { $0 + $1.writesAcknowledged }
        return report
    }

    // MARK: Steps

    /// Chooses the next step. Fault rates differ from seed to seed (some runs crash every few
    /// dozen steps, some go long enough for many snapshots and purges between crashes).
    private func step() {
        var roll = Int.random(in: 0..<faultWeights.total, using: &random)
        func next(_ weight: Int) -> Bool {
            defer { roll -= weight }
            return roll < weight
        }
        if next(330) { return clientStep(clients.randomElement(using: &random)!) }
        if next(170) { return runLane(.log) }
        if next(80) { return runLane(.snapshot) }
        if next(220) { return deliverResults() }
        if next(140) { return tick() }
        if next(faultWeights.drop) { return dropConnection() }
        if next(faultWeights.powerLoss) { return powerLoss(tearing: Bool.random(using: &random)) }
        if next(faultWeights.kill) { return kill() }
        injectLogFault()
    }

    private struct FaultWeights {
        var drop: Int, powerLoss: Int, kill: Int, logFault: Int
        var total: Int { 940 + drop + powerLoss + kill + logFault }
    }

    private func clientStep(_ client: SimulatedClient) {
        switch client.state {
        case .disconnected:
            let id = nextConnection
            nextConnection = ConnectionID(id.rawValue + 1)
            connections[id] = client.id
            trace("client \(client.id) connects on \(id)\(client.session.map { " resuming 0x\($0.hex)" } ?? "")")
            replica.handle(.connected(id, RemoteAddress(ip: "10.0.0.\(client.id + 1)", port: Int(id.rawValue))), now: clock)
            replica.handle(.frame(id, client.connect(id)), now: clock)
        case .connecting:
            return
        case .connected(let id):
            // The shell stops reading from clients while the replica is throttled.
            guard !replica.isThrottled, client.inFlight.count < 16, let request = client.nextWrite(&random) else { return }
            trace("client \(client.id) sends \(client.inFlight.last!.write)")
            replica.handle(.frame(id, request), now: clock)
        }
        pump()
    }

    /// A storage lane takes the first few commands of its queue and carries them out in one batch.
    private func runLane(_ lane: StorageCommand.Lane) {
        let queue = lane == .log ? logQueue : snapshotQueue
        guard !queue.isEmpty else { return }
        let count = Int.random(in: 1...queue.count, using: &random)
        let batch = Array(queue.prefix(count))
        let before = results.count
        switch lane {
        case .log:
            logQueue.removeFirst(count)
            logEngine.execute(batch, into: &results)
        case .snapshot:
            snapshotQueue.removeFirst(count)
            snapshotEngine.execute(batch, into: &results)
        }
        trace("\(lane) lane ran \(count) commands: \(results[before...].map(describe).joined(separator: ", "))")
    }

    /// The replica is handed the first few results (the order of the lanes' results is kept).
    private func deliverResults() {
        guard !results.isEmpty else { return }
        let count = Int.random(in: 1...results.count, using: &random)
        let delivered = results.prefix(count)
        results.removeFirst(count)
        for result in delivered {
            switch result {
            case .snapshotWritten: report.snapshotsWritten += 1
            case .logFailed: report.logFailures += 1
            case .durable, .snapshotChunkWritten, .snapshotFailed, .purged, .purgeFailed, .logTruncated, .epochPersisted: break
            }
            trace("replica handles \(describe(result))")
            replica.handle(.storage(result), now: clock)
            pump()
        }
    }

    private func tick() {
        // Mostly small steps; sometimes long enough for sessions of disconnected clients to expire.
        let elapsed = Int64.random(in: 0..<20, using: &random) == 0 ? Int64.random(in: 5_000...40_000, using: &random)
                                                                     : Int64.random(in: 1...1_000, using: &random)
        advanceClock(by: elapsed)
        trace("tick after \(elapsed) ms")
        replica.handle(.tick, now: clock)
        pump()
    }

    private func dropConnection() {
        guard let client = clients.filter({ $0.connection != nil }).randomElement(using: &random),
              let id = client.connection else { return }
        trace("network drops \(id) of client \(client.id)")
        disconnect(id)
        pump()
    }

    /// The next write or sync of a log file fails (EIO, ENOSPC): the log lane must stop for good.
    private func injectLogFault() {
        let operation: MemoryDisk.Operation = Bool.random(using: &random) ? .write : .sync
        let kind: DiskError.Kind = Bool.random(using: &random) ? .io : .noSpace
        guard disk.pendingFaults == 0 else { return }
        trace("the next \(operation) of a log file will fail with \(kind)")
        disk.failNext(operation, kind, pathContaining: "/log.")
    }

    // MARK: The shell

    /// Carries out what the replica produced, in `Ready`'s order, until it produces nothing more.
    private func pump() {
        while failure == nil {
            replica.takeReady(into: &ready)
            if ready.isEmpty { return }
            let persist = ready.persist, output = ready.output
            var appendedNow: Zxid?
            for command in persist {
                switch command.lane {
                case .log: logQueue.append(command)
                case .snapshot: snapshotQueue.append(command)
                }
                if case .append(_, let record) = command {
                    report.txnsProposed += 1
                    guard let entry = try? TxnEntry.decode(record) else {
                        fail("an appended record does not decode")
                        return
                    }
                    if let violation = history.proposed(entry, after: lastAppended, finalThrough: finalThrough) {
                        fail(violation)
                        return
                    }
                    lastAppended = Zxid(entry.zxid)
                    appendedNow = lastAppended
                }
            }
            for effect in output {
                switch effect {
                case .send(let id, let bytes):
                    guard let index = connections[id] else { continue }
                    clients[index].receive(bytes)
                case .close(let id):
                    guard connections[id] != nil else { continue }
                    trace("replica closes \(id)")
                    disconnect(id)
                case .log(let level, let source, _, let line):
                    if level >= .warn { trace("\(level) \(source): \(line)") }
                case .persist(let command):
                    fail("a .persist effect in Ready.output: \(command)")
                    return
                case .peer(let output):
                    fail("a standalone replica asked for ensemble work: \(output)")
                    return
                }
            }
            if options.bug == .durableBeforeWrite, let zxid = appendedNow {
                replica.handle(.logSynced(through: zxid), now: clock)
            }
        }
    }

    private func disconnect(_ id: ConnectionID) {
        guard let index = connections.removeValue(forKey: id) else { return }
        clients[index].disconnected()
        replica.handle(.disconnected(id), now: clock)
    }

    // MARK: Restarts

    /// Power loss: the disk keeps only what was synced (and, tearing, a random part of the rest).
    private func powerLoss(tearing: Bool) {
        report.powerLosses += 1
        trace("POWER LOSS\(tearing ? " (torn tails)" : "")")
        stopServer()
        disk.crash(tearing: &random, tornTails: tearing)
        boot()
    }

    /// The process dies but the machine does not: what was written survives, synced or not.
    private func kill() {
        report.kills += 1
        trace("KILL")
        stopServer()
        boot()
    }

    private func stopServer() {
        for client in clients where client.connection != nil { client.disconnected() }
        connections.removeAll()
        logQueue.removeAll()
        snapshotQueue.removeAll()
        results.removeAll()
        // A restart takes time (and session ids are seeded from the clock, as Apache's are).
        advanceClock(by: Int64.random(in: 1_000...5_000, using: &random))
    }

    /// Recovers from the disk, checks what came back, and starts a new replica over it (writing the
    /// startup snapshot first when the server would).
    private func boot() {
        let recovered: RecoveredDatabase
        do {
            recovered = try Recovery.recover(disk: disk, layout: layout, extendedTypesEnabled: config.extendedTypesEnabled)
        } catch {
            fail("recovery failed: \(error)")
            return
        }
        trace("recovered through 0x\(recovered.lastZxid.hex) (snapshot \(recovered.snapshotZxid.map { "0x" + $0.hex } ?? "none"), \(recovered.replayedTxns) txns replayed)")
        check(recovered)
        guard failure == nil else { return }
        finalThrough = recovered.lastZxid
        lastAppended = recovered.lastZxid

        var config = self.config
        config.sessionIDSeedMs = clock.wallMs
        config.randomSeed = random.next()
        replica = Replica(config: config, tree: recovered.tree, sessions: recovered.sessions, now: clock)
        logEngine = StorageEngine(disk: disk, layout: layout, preallocateBytes: preallocateBytes, forceSync: true,
                                  limits: config.limits, nanoseconds: { [unowned self] in clock.monotonicMs * 1_000_000 })
        snapshotEngine = StorageEngine(disk: disk, layout: layout, preallocateBytes: preallocateBytes, forceSync: true,
                                       limits: config.limits, nanoseconds: { [unowned self] in clock.monotonicMs * 1_000_000 })
        if recovered.snapshotZxid == nil || recovered.replayedTxns > 0 {
            let result = snapshotEngine.writeSnapshot(of: replica.tree, sessions: replica.sessionTable)
            guard case .snapshotWritten = result else {
                fail("startup snapshot failed: \(result)")
                return
            }
            report.snapshotsWritten += 1
            replica.handle(.storage(result), now: clock)
        }
        pump()
    }

    /// Writes a data directory holding one txn with `counter` in epoch 0, as if the server had
    /// been running for a long time.
    private func seedDataDirectory(counter: UInt32) {
        let entry = TxnEntry(header: TxnHeader(clientId: 0, cxid: 0, zxid: Zxid(epoch: Epoch(0), counter: counter).rawValue,
                                               time: clock.wallMs, type: OpCode.create.rawValue),
                             txn: .create(path: "/seeded", data: [1], acl: ACL.openACLUnsafe, ephemeral: false, parentCVersion: 1))
        let tree = DataTree(extendedTypesEnabled: config.extendedTypesEnabled)
        var changes: [TreeChange] = []
        _ = tree.apply(entry, changes: &changes)
        let engine = StorageEngine(disk: disk, layout: layout, preallocateBytes: 0, forceSync: true, limits: config.limits,
                                   nanoseconds: { 0 })
        _ = engine.writeSnapshot(of: tree, sessions: [])
        history.seed(entry)
    }

    // MARK: Checkers

    /// What a recovered server holds, against what clients were told and the reference history.
    private func check(_ recovered: RecoveredDatabase) {
        let zxid = recovered.lastZxid
        if recovered.tree.lastProcessedZxid != zxid {
            return fail("the recovered tree is at 0x\(recovered.tree.lastProcessedZxid.hex) but recovery reports 0x\(zxid.hex)")
        }
        for client in clients where client.lastZxidSeen > zxid {
            return fail("acknowledged write lost: client \(client.id) saw zxid 0x\(client.lastZxidSeen.hex), the recovered server holds only through 0x\(zxid.hex)")
        }
        if zxid < finalThrough {
            return fail("the log went backwards: recovered through 0x\(zxid.hex) after an earlier recovery held 0x\(finalThrough.hex)")
        }
        if let violation = history.recovered(through: zxid) { return fail(violation) }
        if let difference = TreeComparison.difference(recovered.tree, history.reference) {
            return fail("the recovered tree is not the tree at 0x\(zxid.hex): \(difference)")
        }
        if recovered.sessions != history.referenceSessions {
            return fail("recovered sessions \(recovered.sessions) != the reference's \(history.referenceSessions)")
        }
        for client in clients {
            if let session = client.session, recovered.sessions[session] == nil, !history.closedSessions.contains(session) {
                return fail("session 0x\(session.hex) of client \(client.id) went backwards: it was created, never closed, and is gone")
            }
            if let violation = client.check(against: recovered.tree) { return fail(violation) }
        }
    }

    private func checkClients() {
        for client in clients {
            if let violation = client.violations.first { return fail(violation) }
        }
    }

    /// Storage runs until nothing is left; then every request must have been answered.
    private func quiesce() {
        var rounds = 0
        while failure == nil, !(logQueue.isEmpty && snapshotQueue.isEmpty && results.isEmpty) {
            rounds += 1
            if rounds > 10_000 { return fail("storage never went idle") }
            logEngine.execute(logQueue, into: &results)
            snapshotEngine.execute(snapshotQueue, into: &results)
            logQueue.removeAll()
            snapshotQueue.removeAll()
            let delivered = results
            results.removeAll()
            for result in delivered {
                replica.handle(.storage(result), now: clock)
                pump()
            }
        }
        checkClients()
        for client in clients where failure == nil {
            if case .connecting = client.state { fail("client \(client.id)'s ConnectRequest was never answered") }
            if let unanswered = client.inFlight.first { fail("client \(client.id)'s \(unanswered.write) was never answered") }
        }
    }

    // MARK: Helpers

    private func advanceClock(by ms: Int64) {
        clock.monotonicMs += ms
        clock.wallMs += ms
    }

    private func fail(_ violation: String) {
        guard failure == nil else { return }
        failure = violation
        trace("VIOLATION: \(violation)")
    }

    private func trace(_ line: @autoclosure () -> String) {
        guard options.trace else { return }
        report.trace.append("[\(report.steps)] \(line())")
    }

    private func describe(_ result: StorageResult) -> String {
        switch result {
        case .durable(let zxid, let txns, _): return "durable through 0x\(zxid.hex) (\(txns) txns)"
        case .logFailed(let reason): return "log failed: \(reason)"
        case .snapshotChunkWritten: return "chunk written"
        case .snapshotWritten(let zxid, let bytes, _): return "snapshot 0x\(zxid.hex) written (\(bytes) bytes)"
        case .snapshotFailed(let reason): return "snapshot failed: \(reason)"
        case .purged(let paths): return "purged \(paths)"
        case .purgeFailed(let reason): return "purge failed: \(reason)"
        case .logTruncated(let zxid): return "truncated after 0x\(zxid.hex)"
        case .epochPersisted(let file, let epoch): return "\(file) = \(epoch.rawValue)"
        }
    }
}
