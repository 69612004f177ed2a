import ZKCore

/// The server's configuration: the settings of Apache ZooKeeper's `zoo.cfg`, as a value.
///
/// Property names follow Apache's keys (with units last: `tickTimeMs` is `tickTime`). Every property
/// defaults to Apache ZooKeeper's default, except `fourLetterWordWhitelist` (see
/// `defaultFourLetterWords`). `ConfigParser` builds one from a file; `embeddedDefaults` builds the
/// one `zk-server` uses when run without arguments.
public struct ServerConfig: Sendable, Equatable {
    // MARK: Basics

    /// `tickTime`: the length of one tick, the unit of `initLimit`, `syncLimit` and session expiry.
    public var tickTimeMs: Int = 2000
    /// `dataDir`: snapshots, `myid`, epoch files (and the txn log unless `dataLogDir` is set).
    public var dataDir: String
    /// `dataLogDir`: the transaction log directory; the parser sets it to `dataDir` when absent.
    public var dataLogDir: String
    /// `clientPort`. 0 asks the kernel for a free port (useful in tests).
    public var clientPort: Int = 2181
    /// `clientPortAddress`: the address to bind the client port to; nil = all interfaces.
    public var clientPortAddress: String?
    /// `secureClientPort`: accepted and kept, but TLS is not supported (the parser warns).
    public var secureClientPort: Int?
    /// `maxClientCnxns`: concurrent connections from one IP address; 0 = unlimited.
    public var maxClientCnxns: Int = 60
    /// `maxCnxns`: concurrent client connections in total; 0 = no configured limit
    /// (`Limits.connectionsMax` then applies).
    public var maxCnxns: Int = 0
    /// `minSessionTimeout` as configured; nil (or -1 in the file) = `2 * tickTime`.
    public var configuredMinSessionTimeoutMs: Int?
    /// `maxSessionTimeout` as configured; nil (or -1 in the file) = `20 * tickTime`.
    public var configuredMaxSessionTimeoutMs: Int?

    // MARK: Ensemble

    /// `initLimit`: ticks a follower may take to connect and sync to the leader; 0 = not set
    /// (an error in an ensemble, as in Apache ZooKeeper).
    public var initLimitTicks: Int = 0
    /// `syncLimit`: ticks a follower may lag behind the leader; 0 = not set (an error in an ensemble).
    public var syncLimitTicks: Int = 0
    /// `electionAlg`: only 3 (fast leader election over TCP) exists since ZooKeeper 3.6.
    public var electionAlg: Int = 3
    /// `server.N` lines, in file order.
    public var servers: [QuorumServer] = []
    /// This server's id in the ensemble, from `dataDir/myid` (`ServerMain.loadMyID`); nil standalone.
    public var myID: ServerID?
    /// `peerType`: this server's role when it is listed in `servers` without a type.
    public var peerType: QuorumServer.LearnerType = .participant
    /// `standaloneEnabled`: with one `server.N` line, run standalone (true) or as an ensemble of one.
    public var standaloneEnabled: Bool = true
    /// `reconfigEnabled`: dynamic reconfiguration (the `reconfig` operation).
    public var reconfigEnabled: Bool = false
    /// `quorumListenOnAllIPs`: bind the quorum and election ports on all interfaces.
    public var quorumListenOnAllIPs: Bool = false
    /// `syncEnabled`: observers log and snapshot transactions like followers do.
    public var syncEnabled: Bool = true
    /// `cnxTimeout` (`zookeeper.cnxTimeout`): timeout for opening an election connection.
    public var cnxTimeoutMs: Int = 5000
    /// `dynamicConfigFile`: a file of `server.N` lines, read with `ConfigParser.applyDynamicConfig`.
    public var dynamicConfigFile: String?
    /// The quorum configuration's version: the dynamic file's `version=` (hex), else the hex suffix of
    /// its name (`zoo.cfg.dynamic.100000000`, how Apache names the files it writes), else 0 (a
    /// static configuration). It travels in election notifications and NEWLEADER, where Apache
    /// peers compare it with their own.
    public var quorumVersion: Int64 = 0

    // MARK: Storage

    /// `autopurge.snapRetainCount`: snapshots (and their logs) kept by autopurge; at least 3.
    public var autopurgeSnapRetainCount: Int = 3
    /// `autopurge.purgeInterval` (also the misspelled `autopurge.purgeInteval`): hours between
    /// purges; 0 = autopurge off.
    public var autopurgePurgeIntervalHours: Int = 0
    /// `autopurge.purgeIntervalMs`: our own key, for tests that cannot wait an hour; overrides
    /// `autopurge.purgeInterval` when set.
    public var autopurgePurgeIntervalMs: Int?
    /// `snapCount` (`zookeeper.snapCount`): transactions between snapshots (randomized ±50%).
    public var snapCount: Int = 100_000
    /// `snapSizeLimitInKb` (`zookeeper.snapSizeLimitInKb`): logged bytes between snapshots; ≤ 0 = off.
    public var snapSizeLimitKiB: Int = 4_194_304
    /// `preAllocSize` (`zookeeper.preAllocSize`): txn log files grow in steps of this many KiB.
    public var preAllocSizeKiB: Int = 65536
    /// `forceSync` (`zookeeper.forceSync`): fsync the txn log before acknowledging.
    public var forceSync: Bool = true

    // MARK: Limits and features

    /// `jute.maxbuffer`: the largest packet, string or buffer accepted (bytes).
    public var juteMaxBufferBytes: Int = 0xFFFFF
    /// `globalOutstandingLimit` (`zookeeper.globalOutstandingLimit`).
    public var globalOutstandingLimit: Int = 1000
    /// `extendedTypesEnabled` (`zookeeper.extendedTypesEnabled`): TTL nodes.
    public var extendedTypesEnabled: Bool = false
    /// `superDigest` (`zookeeper.DigestAuthenticationProvider.superDigest`): `super:base64(sha1)`,
    /// see `zookeeperDigest(user:password:)`. The identity that may do anything.
    public var superDigest: String?
    /// `skipACL` (`zookeeper.skipACL`): do not check ACLs at all.
    public var skipACL: Bool = false
    /// `znode.container.checkIntervalMs`: how often empty containers and expired TTL nodes are deleted.
    public var containerCheckIntervalMs: Int = 60_000
    /// `localSessionsEnabled`.
    public var localSessionsEnabled: Bool = false
    /// `localSessionsUpgradingEnabled`.
    public var localSessionsUpgradingEnabled: Bool = false
    /// `readonlymode.enabled`: serve reads while out of quorum; also enables `isro`.
    public var readOnlyModeEnabled: Bool = false
    /// `4lw.commands.whitelist`.
    public var fourLetterWordWhitelist: FourLetterWordWhitelist = .only(ServerConfig.defaultFourLetterWords)

    // MARK: Admin server and logging

    /// `admin.enableServer` (Apache's AdminServer, HTTP), on by default as in Apache.
    public var adminEnableServer: Bool = true
    /// `admin.serverAddress`.
    public var adminServerAddress: String = "0.0.0.0"
    /// `admin.serverPort`.
    public var adminServerPort: Int = 8080
    /// The configuration file's text as read at startup (the AdminServer's `initial_configuration`).
    public var initialConfiguration = ""
    /// `admin.commandURL`: where the commands live.
    public var adminCommandURL: String = "/commands"
    /// `metricsProvider.className`: Prometheus' provider serves `/metrics`; Apache's default
    /// provider (and no class) serves nothing beyond `mntr`.
    public var prometheusMetricsEnabled = false
    /// `metricsProvider.httpHost` and `metricsProvider.httpPort`: where `/metrics` listens.
    public var metricsHTTPHost: String = "0.0.0.0"
    public var metricsHTTPPort: Int = 7000
    public static let prometheusProviderClass = "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider"
    public static let defaultProviderClass = "org.apache.zookeeper.metrics.impl.DefaultMetricsProvider"
    /// `logLevel` or `log.level`: our own key (Apache sets this in log4j.properties, which
    /// `start-zookeeper --log_level` writes as `zookeeper.console.threshold`).
    public var logLevel: LogLevel = .info

    /// A configuration with Apache's defaults and the given data directory (also the log directory).
    public init(dataDir: String) {
        self.dataDir = dataDir
        self.dataLogDir = dataDir
    }

    /// The configuration of `zk-server` run with no arguments: a standalone server on port 2181 on
    /// all interfaces, data (snapshots and txn log) in `<workingDirectory>/data`, INFO logging.
    public static func embeddedDefaults(workingDirectory: String) -> ServerConfig {
        var base = workingDirectory
        while base.count > 1 && base.hasSuffix("/") { base.removeLast() }
        return ServerConfig(dataDir: (base == "/" ? "" : base) + "/data")
    }
}

// MARK: - Derived values

extension ServerConfig {
    /// The smallest session timeout granted: `minSessionTimeout`, or `2 * tickTime` when unset.
    public var minSessionTimeoutMs: Int { configuredMinSessionTimeoutMs ?? 2 * tickTimeMs }
    /// The largest session timeout granted: `maxSessionTimeout`, or `20 * tickTime` when unset.
    public var maxSessionTimeoutMs: Int { configuredMaxSessionTimeoutMs ?? 20 * tickTimeMs }

    /// The voting members (`server.N` lines that are not observers).
    public var participants: [QuorumServer] { servers.filter { $0.learnerType == .participant } }

    /// Standalone when there are no `server.N` lines, or only one voting member and
    /// `standaloneEnabled` (ZooKeeper 3.5+ `QuorumPeerConfig.isDistributed`, negated).
    public var isStandalone: Bool {
        servers.isEmpty || (standaloneEnabled && participants.count <= 1)
    }

    /// The `server.N` entry of `id`, if listed.
    public func quorumServer(_ id: ServerID) -> QuorumServer? { servers.first { $0.id == id } }

    /// The bounds derived from this configuration (the rest keep `Limits`' defaults).
    public var limits: Limits {
        var limits = Limits()
        limits.packetSizeBytesMax = juteMaxBufferBytes
        limits.connectionsPerAddressMax = maxClientCnxns
        limits.outstandingRequestsMax = globalOutstandingLimit
        if maxCnxns > 0 { limits.connectionsMax = maxCnxns }
        return limits
    }

    /// The four-letter words this server answers. As in ZooKeeper 3.5+, `srvr` is always enabled
    /// (`zkServer.sh status` uses it) and `isro` is enabled when `readonlymode.enabled` is true.
    public var enabledFourLetterWords: Set<String> {
        var words: Set<String>
        switch fourLetterWordWhitelist {
        case .all: words = Set(ServerConfig.knownFourLetterWords)
        case .only(let list): words = Set(list)
        }
        words.insert("srvr")
        if readOnlyModeEnabled { words.insert("isro") }
        return words
    }

    public func isFourLetterWordEnabled(_ word: String) -> Bool { enabledFourLetterWords.contains(word) }

    /// The whitelist used when `4lw.commands.whitelist` is not set. Apache ZooKeeper 3.5+ enables
    /// only `srvr`, which breaks the Kubernetes tutorial's `ruok` probe; 3.4 enabled everything but
    /// `wchc`/`wchp`. This set keeps the read-only, cheap, commonly scripted words: the probe's
    /// `ruok`, status (`srvr`, `stat`, `mntr`, `isro`), configuration (`conf`, `envi`), connections
    /// (`cons`) and summaries (`wchs`, `dirs`). Left out: words that change state (`crst`, `srst`,
    /// `stmk`), may be expensive or list every session/path (`dump`, `wchc`, `wchp`), and `gtmk`, `hash`.
    public static let defaultFourLetterWords: [String] =
        ["ruok", "srvr", "stat", "mntr", "conf", "cons", "envi", "isro", "wchs", "dirs"]

    /// Every four-letter word ZooKeeper 3.8 knows (`*` in the whitelist enables all of them).
    public static let knownFourLetterWords: [String] =
        ["conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "ruok", "stmk", "srst", "srvr", "stat",
         "wchc", "wchp", "wchs", "mntr", "isro", "hash"]
}

/// `4lw.commands.whitelist`: `*` or a comma-separated list.
public enum FourLetterWordWhitelist: Sendable, Equatable {
    case all
    case only([String])
}

/// One `server.N=host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]` line.
public struct QuorumServer: Sendable, Equatable {
    public enum LearnerType: String, Sendable, Equatable {
        case participant
        case observer
    }

    /// N, 1…255 (the id is also the top byte of the session ids this server creates).
    public var id: ServerID
    /// Host name or address of the quorum and election ports (IPv6 without brackets).
    public var host: String
    /// Followers connect to the leader on this port (2888 by convention).
    public var quorumPort: Int
    /// Leader election connections use this port (3888 by convention).
    public var electionPort: Int
    public var learnerType: LearnerType
    /// From the `;` part: the client address; nil = all interfaces.
    public var clientHost: String?
    /// From the `;` part: the client port; nil when the line has no `;` part.
    public var clientPort: Int?

    public init(
        id: ServerID, host: String, quorumPort: Int, electionPort: Int,
        learnerType: LearnerType = .participant, clientHost: String? = nil, clientPort: Int? = nil
    ) {
        self.id = id
        self.host = host
        self.quorumPort = quorumPort
        self.electionPort = electionPort
        self.learnerType = learnerType
        self.clientHost = clientHost
        self.clientPort = clientPort
    }
}
