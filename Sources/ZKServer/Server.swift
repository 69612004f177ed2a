/// The production shell: one event-loop thread that owns the listening socket, the client sockets
/// and the `Replica`; two storage threads (log lane, snapshot lane) and a host-facts sampler. Each
/// loop turn reads every readable socket, feeds whole frames to the replica, feeds it the storage
/// results, then carries out its `Ready`: storage commands to their lanes first, then the replies.
///
/// Backpressure: while the replica is throttled (`Replica.isThrottled`: too many unanswered
/// requests or txns in flight), or above the per-connection output limit, the shell stops reading
/// (removes read interest) instead of queueing more.
import ZKCore
import ZKProtocol
import ZKDataTree
import ZKStorage
import ZKZab
import ZKReplica
import ZKPosix
import Synchronization

public enum ServerError: Error, CustomStringConvertible {
    case fatal(String)
    public var description: String {
        switch self {
        case .fatal(let message): return message
        }
    }
}

/// Not thread-safe, except `requestStop()`, which any thread may call.
public final class Server: @unchecked Sendable {
    let config: ServerConfig
    let logger: Logger
    let replica: Replica
    let loop: EventLoop
    var listener: TCPListener?
    var sockets: [UInt64: ClientSocket] = [:]
    var connectionsPerIP: [String: Int] = [:]
    var nextConnectionID: UInt64 = 1
    var ready = Ready()
    var events: [EventLoop.Event] = []
    var readBuffer: [UInt8]
    var readingPaused = false
    var lastTickMs: Int64
    /// Tree memory freed since the last `malloc_trim`, and how much makes one worth it.
    var freedTreeBytes = 0
    static let trimThresholdBytes = 32 << 20
    /// How long a closing connection may keep replies its client does not read.
    static let closeFlushTimeoutMs: Int64 = 2_000
    var stopping = false
    var acceptsPaused = false
    let stopRequested = Mutex(false)
    let tickIntervalMs: Int64
    static let listenerToken: UInt64 = 0
    let layout: StorageLayout
    /// The log lane's thread (appends, rolls, purges) and the snapshot lane's.
    var logLane: StorageThread?
    var snapshotLane: StorageThread?
    var logBatch: [StorageCommand] = []
    var snapshotBatch: [StorageCommand] = []
    var storageResults: [StorageResult] = []
    let startupNeedsSnapshot: Bool
    /// Samples the host facts four-letter words report, off the loop.
    let hostFacts: HostFactsSampler
    /// The election and quorum ports, in an ensemble (nil standalone).
    var peers: PeerNetwork?
    /// Apache's AdminServer over HTTP (`admin.enableServer`), nil when off or when it could not bind.
    var admin: HTTPServer?
    /// Prometheus' `/metrics` (`metricsProvider.className`), nil when off.
    var metricsServer: HTTPServer?
    /// When this process started, for `process_start_time_seconds`.
    let startWallMs = wallClockMilliseconds()
    let myID: ServerID?

    /// The port the client listener is bound to (useful with `clientPort=0`).
    public var clientPort: UInt16 { listener?.localPort ?? 0 }

    public init(config: ServerConfig, logger: Logger) throws(ServerError) {
        self.config = config
        self.logger = logger
        try Server.prepareDataDirectories(config)
        var replicaConfig = ReplicaConfig()
        replicaConfig.tickTimeMs = Int32(config.tickTimeMs)
        replicaConfig.minSessionTimeoutMs = Int32(clamping: config.minSessionTimeoutMs)
        replicaConfig.maxSessionTimeoutMs = Int32(clamping: config.maxSessionTimeoutMs)
        replicaConfig.limits = config.limits
        replicaConfig.workClockNanoseconds = { UInt64(monotonicNanoseconds()) }
        replicaConfig.extendedTypesEnabled = config.extendedTypesEnabled
        replicaConfig.superDigest = config.superDigest
        replicaConfig.skipACL = config.skipACL
        replicaConfig.reconfigEnabled = config.reconfigEnabled
        replicaConfig.fourLetterWordWhitelist = Set(config.enabledFourLetterWords.compactMap(FourLetterWord.init(rawValue:)))
        replicaConfig.sessionIDSeedMs = wallClockMilliseconds()
        replicaConfig.containerCheckIntervalMs = Int64(config.containerCheckIntervalMs)
        replicaConfig.snapCount = config.snapCount
        replicaConfig.autopurgeIntervalMs = Int64(config.autopurgePurgeIntervalMs ?? config.autopurgePurgeIntervalHours * 3_600_000)
        replicaConfig.autopurgeRetainCount = config.autopurgeSnapRetainCount
        replicaConfig.forceSync = config.forceSync
        replicaConfig.randomSeed = UInt64(bitPattern: wallClockMilliseconds())
        layout = StorageLayout(dataDir: config.dataDir, dataLogDir: config.dataLogDir)
        let recoveryStartMs = monotonicMilliseconds()
        let database = try Server.recover(config, layout: layout, logger: logger)
        let dbInitMs = monotonicMilliseconds() - recoveryStartMs
        // An ensemble member snapshots at startup only when it has none (a fresh data directory), as
        // Apache's followers do: its log may end with txns no quorum acknowledged, and a snapshot of
        // those would make a leader's TRUNC below them impossible.
        startupNeedsSnapshot = database.snapshotZxid == nil || (database.replayedTxns > 0 && config.isStandalone)
        var ensemble: EnsembleStart?
        if config.isStandalone {
            myID = nil
        } else {
            let start = try Server.ensembleStart(config, layout: layout, database: database, logger: logger)
            myID = start.peer.myID
            replicaConfig.serverID = start.peer.myID
            ensemble = start
        }
        replica = Replica(config: replicaConfig, tree: database.tree, sessions: database.sessions, now: Server.clock(), ensemble: ensemble)
        replica.metrics.recordStartup(dbInitMs: dbInitMs, snapshotLoadMs: database.snapshotLoadNanoseconds / 1_000_000,
                              replayMs: database.replayNanoseconds / 1_000_000, txnsReplayed: database.replayedTxns)
        if let zxid = database.snapshotZxid {
            // `last_snapshot` reports the loaded snapshot until one is written, with the file's time (Apache's).
            let path = layout.snapshotDirectory + "/" + SnapshotFormat.fileName(zxid: zxid)
            replica.lastSnapshot = (zxid, FileSystem.modificationTimeSeconds(path) ?? wallClockMilliseconds() / 1000)
        }
        // An ensemble ticks often: election timeouts are a few hundred ms, pings half a tick.
        let tickMs = Int64(max(10, min(config.tickTimeMs / 2, config.containerCheckIntervalMs)))
        tickIntervalMs = ensemble == nil ? tickMs : min(tickMs, 50)
        lastTickMs = monotonicMilliseconds()
        hostFacts = try Server.makeHostFactsSampler(config: config)
        readBuffer = [UInt8](repeating: 0, count: config.limits.readBufferBytes)
        do {
            loop = try EventLoop()
        } catch {
            throw .fatal("cannot create the event loop: \(error)")
        }
        if let ensemble {
            peers = try PeerNetwork(myID: ensemble.peer.myID, verifier: ensemble.peer.verifier, listenOnAllIPs: config.quorumListenOnAllIPs,
                                loop: loop, logger: logger)
        }
    }

    static func clock() -> Clock { Clock(monotonicMs: monotonicMilliseconds(), wallMs: wallClockMilliseconds()) }

    /// Creates `dataDir/version-2` and `dataLogDir/version-2`; an unusable directory is fatal.
    static func prepareDataDirectories(_ config: ServerConfig) throws(ServerError) {
        for directory in [config.dataDir, config.dataLogDir] {
            let versioned = directory + "/version-2"
            do {
                try FileSystem.makeDirectories(versioned)
            } catch {
                throw .fatal("Unable to create data directory \(versioned): \(error)")
            }
            guard FileSystem.isWritableDirectory(versioned) else {
                throw .fatal("Cannot write to data directory \(versioned)")
            }
        }
    }

    /// Starts the log lane's storage thread: at startup, and again when an ensemble member reloads
    /// its database after the log failed (a fresh writer continues after what recovery found).
    func startLogLane() throws(ServerError) {
        let logLane = try StorageThread(name: "SyncThread", layout: layout, preallocateBytes: Int64(config.preAllocSizeKiB) * 1024,
                                        forceSync: config.forceSync, limits: config.limits, loopWaker: loop.waker)
        try logLane.start()
        self.logLane = logLane
    }

    /// Writes the startup snapshot, starts the storage thread, binds the client port and starts
    /// listening for signals.
    public func start() throws(ServerError) {
        Signals.ignoreSIGPIPE()
        // Like Apache, start from a fresh snapshot, so the data directory always has one and the
        // txns just replayed need not be replayed again; unless the newest snapshot is already that.
        if startupNeedsSnapshot { try writeSnapshotNow() }
        let preallocateBytes = Int64(config.preAllocSizeKiB) * 1024
        try startLogLane()
        let snapshotLane = try StorageThread(name: "SnapThread", layout: layout, preallocateBytes: preallocateBytes,
                                             forceSync: config.forceSync, limits: config.limits, loopWaker: loop.waker)
        try snapshotLane.start()
        self.snapshotLane = snapshotLane
        let host = config.clientPortAddress ?? "0.0.0.0"
        do {
            let port = UInt16(config.clientPort), backlog = Int32(config.limits.listenBacklog)
            let listener = try config.clientPortAddress.map { try TCPListener(host: $0, port: port, backlog: backlog) }
                ?? TCPListener.anyInterface(port: port, backlog: backlog)
            self.listener = listener
            try loop.register(listener.fd, interest: .read, token: Server.listenerToken)
            try loop.watchSignals(Server.watchedSignals)
        } catch {
            throw .fatal("Failed to bind to \(host):\(config.clientPort): \(error)")
        }
        try hostFacts.start()
        startAdminServer()
        try startMetricsServer()
        // Java names its (dual-stack) wildcard listener 0.0.0.0/0.0.0.0 too.
        let bound = listener!.isWildcard ? "0.0.0.0/0.0.0.0:\(clientPort)" : listener!.localAddress.javaDescription
        logger.info("binding to port \(bound)")
        if let peers, let myID {
            try peers.start()
            logger.info("Started server \(myID) of an ensemble of \(config.servers.count), client port \(clientPort), dataDir \(config.dataDir), tickTime \(config.tickTimeMs), initLimit \(config.initLimitTicks), syncLimit \(config.syncLimitTicks)")
            replica.handle(.peer(.start), now: Server.clock())
            feedPeerInputs()
        } else {
            logger.info("Started server, serving standalone on client port \(clientPort), dataDir \(config.dataDir), tickTime \(config.tickTimeMs)")
        }
    }

    /// Asks a running server to shut down, from any thread (tests, embedding).
    public func requestStop() {
        stopRequested.withLock { $0 = true }
        loop.waker.wakeup()
    }

    /// Runs until SIGTERM or SIGINT (or `requestStop`). Returns normally after a clean shutdown.
    public func run() throws(ServerError) {
        while !stopping {
            let nowMs = monotonicMilliseconds()
            var wakeMs = lastTickMs + tickIntervalMs
            if let retry = peers?.nextRetryMs { wakeMs = min(wakeMs, retry) }
            // Election timeouts (the finalize wait) are finer than the tick.
            if let deadline = replica.peerDeadlineMs { wakeMs = min(wakeMs, deadline) }
            let timeout = Int32(max(0, min(tickIntervalMs, wakeMs - nowMs)))
            do {
                try loop.wait(timeoutMs: timeout, into: &events)
            } catch {
                throw .fatal("event loop failed: \(error)")
            }
            for event in events { handle(event) }
            if let peers, let retry = peers.nextRetryMs, monotonicMilliseconds() >= retry {
                peers.tick(nowMs: monotonicMilliseconds())
            }
            feedPeerInputs()
            if stopRequested.withLock({ $0 }) { stopping = true }
            handleStorageResults()
            let electionDue = replica.peerDeadlineMs.map { monotonicMilliseconds() >= $0 } ?? false
            if electionDue || monotonicMilliseconds() - lastTickMs >= tickIntervalMs {
                lastTickMs = monotonicMilliseconds()
                replica.handle(.tick, now: Server.clock())
                dropStalledCloses(nowMs: lastTickMs)
                releaseFreedTreeMemory()
                peers?.tick(nowMs: lastTickMs)
                admin?.tick(nowMs: lastTickMs)
                metricsServer?.tick(nowMs: lastTickMs)
                feedPeerInputs()
                if acceptsPaused, let listener {
                    acceptsPaused = false
                    try? loop.modify(listener.fd, interest: .read, token: Server.listenerToken)
                }
            }
            drainEffects()
            updateReadInterest()
        }
        shutdown()
    }

    /// After large deletes the tree's freed pages sit in the allocator; give them back to the system
    /// once enough has been freed (checked once a tick, so a burst of deletes costs one trim).
    private func releaseFreedTreeMemory() {
        freedTreeBytes += replica.tree.takeReleasedMemoryBytes()
        guard freedTreeBytes >= Server.trimThresholdBytes else { return }
        freedTreeBytes = 0
        MemoryRelease.trimFreeMemory()
    }

    private func handle(_ event: EventLoop.Event) {
        switch event.token {
        case Server.listenerToken: acceptConnections()
        case EventLoop.signalToken: receiveSignal()
        case EventLoop.wakeupToken: break
        case let token where HTTPServer.owns(token):
            let http = admin?.owns(token) == true ? admin : metricsServer
            http?.handle(event, readBuffer: &readBuffer, nowMs: monotonicMilliseconds())
        case let token where PeerNetwork.owns(token):
            peers?.handle(event, readBuffer: &readBuffer)
        default:
            guard let socket = sockets[event.token] else { return }
            if event.readable || event.hangup || event.error { read(socket) }
            if event.writable, sockets[event.token] != nil {
                write(socket)
                resumeFrames(socket)
            }
        }
    }

    /// SIGTERM and SIGINT stop the server; as a container's PID 1 it also reaps orphans on SIGCHLD.
    static var watchedSignals: [Int32] {
        [Signals.terminate, Signals.interrupt] + (Signals.isNamespaceInit ? [Signals.childExited] : [])
    }

    private func receiveSignal() {
        while let signal = try? loop.nextSignal() {
            if signal == Signals.childExited {
                Signals.reapExitedChildren()
                continue
            }
            logger.info("Received signal \(signal == Signals.terminate ? "SIGTERM" : "SIGINT"), shutting down")
            stopping = true
        }
    }
}

extension Server {
    /// Starts the AdminServer when configured. As in Apache, a port it cannot bind is logged and the
    /// server runs on without it.
    func startAdminServer() {
        guard config.adminEnableServer else { return }
        let names = AdminCommand.allCases.map(\.rawValue)
        do {
            let routes = AdminRoutes(commandURL: config.adminCommandURL, commandNames: names) { [unowned self] name, arguments in
                replica.adminCommand(name, arguments: arguments, host: hostSnapshot(facts: hostFacts))
            }
            admin = try HTTPServer(name: "AdminServer", host: config.adminServerAddress, port: config.adminServerPort,
                                   tokens: HTTPServer.adminTokens, loop: loop, logger: logger, respond: routes.response)
            logger.info("Started AdminServer on address \(config.adminServerAddress), port \(admin!.localPort) and command URL \(config.adminCommandURL)")
        } catch {
            logger.warn("Problem starting AdminServer on \(config.adminServerAddress):\(config.adminServerPort): \(error); running without it")
        }
    }
}

extension Server {
    /// Starts Prometheus' `/metrics` when configured. Apache cannot boot without its metrics provider,
    /// so a port that cannot be bound stops startup here too.
    func startMetricsServer() throws(ServerError) {
        guard config.prometheusMetricsEnabled else { return }
        let routes = MetricsRoutes { [unowned self] in replica.prometheusText(host: hostSnapshot(facts: hostFacts)) }
        do {
            metricsServer = try HTTPServer(name: "PrometheusMetricsProvider", host: config.metricsHTTPHost,
                                           port: config.metricsHTTPPort, tokens: HTTPServer.metricsTokens, loop: loop,
                                           logger: logger, respond: routes.response)
        } catch {
            throw .fatal("Cannot start the /metrics endpoint on \(config.metricsHTTPHost):\(config.metricsHTTPPort): \(error)")
        }
        logger.info("Started /metrics HTTP endpoint at host: \(config.metricsHTTPHost), port: \(metricsServer!.localPort)")
    }
}
