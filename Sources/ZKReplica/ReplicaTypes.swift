/// The replica's inputs, effects and configuration: the whole contract between the deterministic
/// core and a shell (the POSIX server or a simulator).
import ZKCore
import ZKProtocol
import ZKDataTree
import ZKStorage
import ZKZab

/// The two clocks the core needs, read by the shell: monotonic for timeouts, wall for txn times.
public struct Clock: Sendable, Equatable {
    public var monotonicMs: Int64
    public var wallMs: Int64
    public init(monotonicMs: Int64, wallMs: Int64) { self.monotonicMs = monotonicMs; self.wallMs = wallMs }
}

/// A client's address as the shell saw it when accepting.
public struct RemoteAddress: Sendable, Equatable {
    /// The literal address ("127.0.0.1"), used by `ip` ACLs.
    public var ip: String
    public var port: Int
    /// Java's `InetSocketAddress.toString()` form, as logs and `cons` print it: "/127.0.0.1:52740",
    /// "/[0:0:0:0:0:0:0:1]:52740" (the shell renders IPv6 the way Java does).
    public var javaDescription: String
    public init(ip: String, port: Int, javaDescription: String? = nil) {
        self.ip = ip
        self.port = port
        self.javaDescription = javaDescription ?? "/\(ip):\(port)"
    }
}

/// Facts about the host that only the shell can read, sampled when a four-letter word asks.
public struct HostSnapshot: Sendable, Equatable {
    public var openFileDescriptors: Int = -1
    public var maxFileDescriptors: Int = -1
    public var residentMemoryBytes: Int = 0
    public var virtualMemoryBytes: Int = 0
    /// User plus system CPU time of the process so far, and when it started (Unix seconds): `/metrics`.
    public var cpuSeconds: Double = 0
    public var startTimeSeconds: Double = 0
    /// The client listener's address as Jackson writes an InetSocketAddress (`127.0.0.1:2181`).
    public var clientAddress = ""
    public var dataDirSizeBytes: Int = 0
    public var dataLogDirSizeBytes: Int = 0
    /// The `conf` four-letter word's lines (key=value), rendered by the shell from its configuration.
    public var conf: [String] = []
    /// `envi` lines (key, value) in order, after `zookeeper.version`.
    public var environment: [(String, String)] = []
    /// The AdminServer's `configuration` entries (Apache's `ZooKeeperServerConf.toMap`).
    public var adminConfiguration: [(String, JSONValue)] = []
    /// The configuration file as it was read at startup (`initial_configuration`).
    public var initialConfiguration = ""
    public init() {}
    public static func == (a: HostSnapshot, b: HostSnapshot) -> Bool {
        a.openFileDescriptors == b.openFileDescriptors && a.maxFileDescriptors == b.maxFileDescriptors
            && a.residentMemoryBytes == b.residentMemoryBytes && a.dataDirSizeBytes == b.dataDirSizeBytes
            && a.dataLogDirSizeBytes == b.dataLogDirSizeBytes && a.conf == b.conf
            && a.environment.map { $0.0 + "=" + $0.1 } == b.environment.map { $0.0 + "=" + $0.1 }
    }
}

public enum ReplicaInput: Sendable {
    /// A client connection was accepted.
    case connected(ConnectionID, RemoteAddress)
    /// One complete frame (without its length prefix) arrived on a connection.
    case frame(ConnectionID, [UInt8])
    /// A four-letter word arrived on a fresh connection.
    case fourLetterWord(ConnectionID, FourLetterWord, argument: Int64?, host: HostSnapshot)
    /// The connection is gone (EOF, error, or closed after a `.close` effect).
    case disconnected(ConnectionID)
    /// The shell refused a connection (maxClientCnxns, maxCnxns): counted as `connection_rejected`.
    case connectionRejected
    /// Time passed: expire sessions, delete empty containers and expired TTL nodes, purge.
    case tick
    /// What storage did with the commands the replica asked for (`.persist` effects): txns durable
    /// through a zxid, a failed log, snapshot progress, purge results.
    case storage(StorageResult)
    /// Something from the other servers of an ensemble, or the shell's answer to a `.peer` effect.
    case peer(PeerInput)

    /// Every txn up to and including this zxid is durable in the log.
    public static func logSynced(through zxid: Zxid) -> ReplicaInput {
        .storage(.durable(through: zxid, txns: 0, syncNanoseconds: 0))
    }

    /// The log cannot be written (ENOSPC, EIO): txns not yet durable are lost, and no write is
    /// accepted until the server restarts.
    public static func logFailed(_ reason: String) -> ReplicaInput { .storage(.logFailed(reason)) }
}

public enum ReplicaEffect: Sendable {
    /// Queue bytes (one or more frames, or a four-letter word's text) for a connection.
    case send(ConnectionID, [UInt8])
    /// Close the connection once everything queued for it is written.
    case close(ConnectionID)
    /// Carry out a storage command (on its lane, in order); results come back as `.storage` inputs.
    case persist(StorageCommand)
    /// A log line for the shell's logger. `source` names the component, like Apache's class names.
    case log(LogLevel, source: String, line: UInt, String)
    /// Network and database work for an ensemble (never on a standalone server).
    case peer(PeerOutput)
}

/// Inputs from an ensemble's network, as the shell sees them: election notifications already
/// framed and decoded (the shell owns port 3888's handshake), quorum-port bytes as they arrived
/// (the replica frames them, since a SNAP's snapshot follows its packet unframed).
/// Unchecked: `.databaseReloaded` hands over a tree the shell just built and no longer touches; every
/// input is delivered on the thread that owns the replica.
public enum PeerInput: @unchecked Sendable {
    /// Start the election (once, after the shell is listening).
    case start
    case notification(Notification, from: ServerID)
    /// A learner connected to this leader's quorum port.
    /// `remote` is the learner's address as Java prints it (`/127.0.0.1:40412`).
    case learnerConnected(LearnerID, remote: String)
    case learnerBytes(LearnerID, [UInt8])
    case learnerDisconnected(LearnerID)
    /// The connection to the leader's quorum port is up.
    case leaderConnected
    case leaderBytes([UInt8])
    /// The connection to the leader failed or broke.
    case leaderDisconnected
    /// The answer to `.reloadDatabase`: the tree, sessions and last txn on disk.
    case databaseReloaded(tree: DataTree, sessions: [SessionID: Int32], lastZxid: Zxid)
    /// The answer to `.saveSnapshot`: the tree is in a durable snapshot (or the write failed).
    case snapshotSaved(failure: String?)
}

/// What an ensemble's replica asks its shell to do, in order.
public enum PeerOutput: Sendable, Equatable {
    case sendNotification(Notification, to: ServerID)
    /// Listen on the quorum port (leading) or stop and close every learner connection.
    case listenForLearners(Bool)
    case sendToLearner(LearnerID, [UInt8])
    case closeLearner(LearnerID)
    /// Connect (and keep retrying, re-resolving the name) to this server's quorum port.
    case connectToLeader(ServerID)
    case sendToLeader([UInt8])
    case closeLeaderConnection
    /// Load the database from disk (newest snapshot and every logged txn) and answer with
    /// `.databaseReloaded`; every storage command sent before is done by then.
    case reloadDatabase
    /// Write a snapshot of the current tree now and answer with `.snapshotSaved`.
    case saveSnapshot
}

/// Starting an ensemble replica: the quorum, this server's id and what its epoch files and log say.
public struct EnsembleStart: Sendable {
    public var peer: PeerConfig
    public var acceptedEpoch: Epoch
    public var currentEpoch: Epoch
    public var lastLoggedZxid: Zxid
    /// The newest txns of the log, oldest first: the DIFF window a leader starts with.
    public var committedLog: [Proposal]
    public init(peer: PeerConfig, acceptedEpoch: Epoch, currentEpoch: Epoch, lastLoggedZxid: Zxid, committedLog: [Proposal] = []) {
        self.peer = peer
        self.acceptedEpoch = acceptedEpoch
        self.currentEpoch = currentEpoch
        self.lastLoggedZxid = lastLoggedZxid
        self.committedLog = committedLog
    }
}

/// What one or more `handle` calls produced, in the order a shell must carry it out (etcd raft's
/// `Ready`): first hand `persist` to storage, then deliver `output`. A reply never depends on a
/// command in the same `Ready` (replies to writes wait for the `.durable` input), but a Zab ACK will,
/// so the shape makes the safe order the only one a shell can write.
public struct Ready: Sendable {
    /// Storage commands, in order; each goes to the lane `StorageCommand.lane` names.
    public var persist: [StorageCommand] = []
    /// Sends, closes and log lines, in order (never `.persist`).
    public var output: [ReplicaEffect] = []
    public init() {}
    public var isEmpty: Bool { persist.isEmpty && output.isEmpty }
}

/// Everything the replica is configured with. Values, not globals.
public struct ReplicaConfig: Sendable {
    public var serverID = ServerID(1)
    public var tickTimeMs: Int32 = 2000
    public var minSessionTimeoutMs: Int32 = 4000
    public var maxSessionTimeoutMs: Int32 = 40000
    public var limits = Limits()
    public var extendedTypesEnabled = false
    /// `super:<base64 sha1>`; a client that authenticates as this digest may do anything.
    public var superDigest: String?
    public var skipACL = false
    public var reconfigEnabled = false
    /// Four-letter words that answer; the rest answer "not in the whitelist".
    public var fourLetterWordWhitelist: Set<FourLetterWord> = Set(FourLetterWord.allCases)
    /// Wall-clock ms used to seed session ids.
    public var sessionIDSeedMs: Int64 = 0
    /// How often empty containers and expired TTL nodes are looked for (`znode.container.checkIntervalMs`).
    public var containerCheckIntervalMs: Int64 = 60_000
    /// The server's `Zookeeper version:` string (see `ServerVersion`).
    public var versionString = ServerVersion.full
    /// A snapshot after snapCount/2 + rand(snapCount/2) txns (`SyncRequestProcessor`).
    public var snapCount = 100_000
    /// Autopurge every this many ms (0: never) keeping this many snapshots.
    public var autopurgeIntervalMs: Int64 = 0
    public var autopurgeRetainCount = 3
    /// Whether the log is fsynced (only then are fsync times reported).
    public var forceSync = true
    /// Seeds the replica's only randomness (snapshot thresholds), so a simulator run replays.
    public var randomSeed: UInt64 = 0
    /// A monotonic clock in nanoseconds for bounding work in time (the POSIX shell's); nil in the
    /// simulator, where work is bounded by counts alone and so replays exactly. Only the pace of a
    /// snapshot depends on it, never what is written.
    public var workClockNanoseconds: (@Sendable () -> UInt64)?

    public init() {}
}

