/// The protocol's enumerations, with Apache ZooKeeper's numeric values (`ZooDefs.OpCode`,
/// `KeeperException.Code`, `Watcher.Event`, `CreateMode`, `ZooDefs.Perms`).

/// Request and txn types (`ZooDefs.OpCode`).
public enum OpCode: Int32, Sendable, CaseIterable {
    case notification = 0
    case create = 1
    case delete = 2
    case exists = 3
    case getData = 4
    case setData = 5
    case getACL = 6
    case setACL = 7
    case getChildren = 8
    case sync = 9
    case ping = 11
    case getChildren2 = 12
    case check = 13
    case multi = 14
    case create2 = 15
    case reconfig = 16
    case checkWatches = 17
    case removeWatches = 18
    case createContainer = 19
    case deleteContainer = 20
    case createTTL = 21
    case multiRead = 22
    case auth = 100
    case setWatches = 101
    case sasl = 102
    case getEphemerals = 103
    case getAllChildrenNumber = 104
    case setWatches2 = 105
    case addWatch = 106
    case whoAmI = 107
    case createSession = -10
    case closeSession = -11
    case error = -1

    /// The short names the `cons` four-letter word prints as `lop=` (FinalRequestProcessor's table).
    public var shortName: String {
        switch self {
        case .ping: return "PING"
        case .createSession: return "SESS"
        case .multi: return "MULT"
        case .multiRead: return "MLTR"
        case .create, .create2, .createContainer, .createTTL: return "CREA"
        case .delete, .deleteContainer: return "DELE"
        case .setData: return "SETD"
        case .reconfig: return "RECO"
        case .setACL: return "SETA"
        case .closeSession: return "CLOS"
        case .sync: return "SYNC"
        case .check: return "CHEC"
        case .exists: return "EXIS"
        case .getData: return "GETD"
        case .setWatches: return "SETW"
        case .setWatches2: return "STW2"
        case .addWatch: return "ADDW"
        case .getACL: return "GETA"
        case .getChildren, .getChildren2: return "GETC"
        case .getAllChildrenNumber: return "GETACN"
        case .checkWatches: return "CHKW"
        case .removeWatches: return "REMW"
        case .whoAmI: return "HOMI"
        case .getEphemerals: return "GETE"
        case .notification, .auth, .sasl, .error: return "NA"
        }
    }
}

/// `KeeperException.Code`.
public enum ErrorCode: Int32, Error, Sendable, CaseIterable {
    case ok = 0
    case systemError = -1
    case runtimeInconsistency = -2
    case dataInconsistency = -3
    case connectionLoss = -4
    case marshallingError = -5
    case unimplemented = -6
    case operationTimeout = -7
    case badArguments = -8
    case unknownSession = -12
    case newConfigNoQuorum = -13
    case reconfigInProgress = -14
    case apiError = -100
    case noNode = -101
    case noAuth = -102
    case badVersion = -103
    case noChildrenForEphemerals = -108
    case nodeExists = -110
    case notEmpty = -111
    case sessionExpired = -112
    case invalidCallback = -113
    case invalidACL = -114
    case authFailed = -115
    case sessionMoved = -118
    case notReadOnly = -119
    case ephemeralOnLocalSession = -120
    case noWatcher = -121
    case requestTimeout = -122
    case reconfigDisabled = -123
    case sessionClosedRequireSaslAuth = -124
    case quotaExceeded = -125
    case throttledOp = -127
}

/// `Watcher.Event.EventType`.
public enum EventType: Int32, Sendable {
    case none = -1
    case nodeCreated = 1
    case nodeDeleted = 2
    case nodeDataChanged = 3
    case nodeChildrenChanged = 4
    case dataWatchRemoved = 5
    case childWatchRemoved = 6
    case persistentWatchRemoved = 7
}

/// `Watcher.Event.KeeperState`.
public enum KeeperState: Int32, Sendable {
    case unknown = -1
    case disconnected = 0
    case noSyncConnected = 1
    case syncConnected = 3
    case authFailed = 4
    case connectedReadOnly = 5
    case saslAuthenticated = 6
    case expired = -112
    case closed = 7
}

/// `Watcher.WatcherType`, used by checkWatches and removeWatches.
public enum WatcherType: Int32, Sendable {
    case children = 1
    case data = 2
    case any = 3
}

/// `AddWatchMode`.
public enum AddWatchMode: Int32, Sendable {
    case persistent = 0
    case persistentRecursive = 1
}

/// `CreateMode`, decoded from the create request's flags.
public enum CreateMode: Int32, Sendable, CaseIterable {
    case persistent = 0
    case ephemeral = 1
    case persistentSequential = 2
    case ephemeralSequential = 3
    case container = 4
    case persistentWithTTL = 5
    case persistentSequentialWithTTL = 6

    public var isEphemeral: Bool { self == .ephemeral || self == .ephemeralSequential }
    public var isSequential: Bool {
        self == .persistentSequential || self == .ephemeralSequential || self == .persistentSequentialWithTTL
    }
    public var isContainer: Bool { self == .container }
    public var isTTL: Bool { self == .persistentWithTTL || self == .persistentSequentialWithTTL }
}

/// `ZooDefs.Perms` bits.
public struct Permissions: OptionSet, Sendable, Hashable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public static let read = Permissions(rawValue: 1)
    public static let write = Permissions(rawValue: 2)
    public static let create = Permissions(rawValue: 4)
    public static let delete = Permissions(rawValue: 8)
    public static let admin = Permissions(rawValue: 16)
    public static let all = Permissions(rawValue: 31)
}

/// Special xids of the client protocol.
public enum SpecialXid {
    public static let notification: Int32 = -1
    public static let ping: Int32 = -2
    public static let auth: Int32 = -4
    public static let setWatches: Int32 = -8
}

/// `ephemeralOwner` encodings for the extended node types (`EphemeralType`).
public enum EphemeralOwner {
    /// Containers: Long.MIN_VALUE.
    public static let container: Int64 = Int64.min
    /// TTL nodes: `0xFF00000000000000 | ttlMillis`.
    public static let ttlMask: Int64 = Int64(bitPattern: 0xFF00_0000_0000_0000)
    public static let ttlMax: Int64 = 0xFF_FFFF_FFFF

    public static func ttl(_ ms: Int64) -> Int64 { ttlMask | ms }
    public static func isTTL(_ owner: Int64) -> Bool {
        owner != container && (owner & ttlMask) == ttlMask && (owner & 0x00FF_FF00_0000_0000) == 0
    }
    public static func ttlValue(_ owner: Int64) -> Int64 { owner & ttlMax }
}
