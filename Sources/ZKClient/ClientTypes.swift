/// The public vocabulary of the client library: requests, responses, events, states, errors.
import ZKCore
import ZKProtocol

/// A failed request: ZooKeeper's error code and, for path-based requests, the path (without chroot).
public struct ZooKeeperError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: ErrorCode
    public var path: String?
    public init(_ code: ErrorCode, path: String? = nil) { self.code = code; self.path = path }
    /// Java's `KeeperException.getMessage()`: "KeeperErrorCode = NoNode for /x".
    public var description: String {
        "KeeperErrorCode = \(code.javaName)" + (path.map { " for \($0)" } ?? "")
    }
}

extension ErrorCode {
    /// `KeeperException.getCodeMessage`.
    public var javaName: String {
        switch self {
        case .ok: return "ok"
        case .systemError: return "SystemError"
        case .runtimeInconsistency: return "RuntimeInconsistency"
        case .dataInconsistency: return "DataInconsistency"
        case .connectionLoss: return "ConnectionLoss"
        case .marshallingError: return "MarshallingError"
        case .unimplemented: return "Unimplemented"
        case .operationTimeout: return "OperationTimeout"
        case .badArguments: return "BadArguments"
        case .unknownSession: return "UnknownSession"
        case .newConfigNoQuorum: return "NewConfigNoQuorum"
        case .reconfigInProgress: return "ReconfigInProgress"
        case .apiError: return "APIError"
        case .noNode: return "NoNode"
        case .noAuth: return "NoAuth"
        case .badVersion: return "BadVersion"
        case .noChildrenForEphemerals: return "NoChildrenForEphemerals"
        case .nodeExists: return "NodeExists"
        case .notEmpty: return "Directory not empty"
        case .sessionExpired: return "Session expired"
        case .invalidCallback: return "Invalid callback"
        case .invalidACL: return "InvalidACL"
        case .authFailed: return "AuthFailed"
        case .sessionMoved: return "Session moved"
        case .notReadOnly: return "Not a read-only call"
        case .ephemeralOnLocalSession: return "Ephemeral node on local session"
        case .noWatcher: return "No such watcher"
        case .requestTimeout: return "Request timeout"
        case .reconfigDisabled: return "Reconfig is disabled"
        case .sessionClosedRequireSaslAuth: return "Session closed because client failed to authenticate"
        case .quotaExceeded: return "Quota has exceeded"
        case .throttledOp: return "Op throttled due to high load"
        }
    }
}

/// Where the client is with its session.
public enum ClientState: Sendable, Equatable {
    case connecting
    case connected
    case connectedReadOnly
    /// The connection was lost; the client is trying the hosts again and the session may resume.
    case disconnected
    /// The server said the session is gone; this client is finished.
    case expired
    case authFailed
    case closed

    public var isAlive: Bool { self != .expired && self != .authFailed && self != .closed }
    /// zkCli's names: CONNECTING, CONNECTED, CONNECTEDREADONLY, CLOSED, …
    public var javaName: String {
        switch self {
        case .connecting, .disconnected: return "CONNECTING"
        case .connected: return "CONNECTED"
        case .connectedReadOnly: return "CONNECTEDREADONLY"
        case .expired, .closed: return "CLOSED"
        case .authFailed: return "AUTH_FAILED"
        }
    }
}

/// A watch notification, or a change of connection state (type `.none`).
public struct WatchedEvent: Sendable, Equatable, CustomStringConvertible {
    public var type: EventType
    public var state: KeeperState
    public var path: String?
    public init(type: EventType, state: KeeperState, path: String?) { self.type = type; self.state = state; self.path = path }
    /// Java's `WatchedEvent.toString()`: "WatchedEvent state:SyncConnected type:None path:null".
    public var description: String {
        "WatchedEvent state:\(state.javaName) type:\(type.javaName) path:\(path ?? "null")"
    }
}

extension EventType {
    public var javaName: String {
        switch self {
        case .none: return "None"
        case .nodeCreated: return "NodeCreated"
        case .nodeDeleted: return "NodeDeleted"
        case .nodeDataChanged: return "NodeDataChanged"
        case .nodeChildrenChanged: return "NodeChildrenChanged"
        case .dataWatchRemoved: return "DataWatchRemoved"
        case .childWatchRemoved: return "ChildWatchRemoved"
        case .persistentWatchRemoved: return "PersistentWatchRemoved"
        }
    }
}

extension KeeperState {
    public var javaName: String {
        switch self {
        case .unknown: return "Unknown"
        case .disconnected: return "Disconnected"
        case .noSyncConnected: return "NoSyncConnected"
        case .syncConnected: return "SyncConnected"
        case .authFailed: return "AuthFailed"
        case .connectedReadOnly: return "ConnectedReadOnly"
        case .saslAuthenticated: return "SaslAuthenticated"
        case .expired: return "Expired"
        case .closed: return "Closed"
        }
    }
}

/// A watcher: called on the client's event thread, never on the IO thread.
public typealias Watcher = @Sendable (WatchedEvent) -> Void

/// Which watcher a read registers. `.default` is the client's own watcher (given at creation), which
/// like Java's default watcher is notified once per event however often it was registered.
public enum Watch: Sendable {
    case none
    case `default`
    case custom(Watcher)

    var isSet: Bool {
        switch self {
        case .none: return false
        case .default, .custom: return true
        }
    }
}

/// Every request the client can send. Paths are as the caller sees them (the chroot is added).
public enum Request: Sendable {
    case create(path: String, data: [UInt8]?, acl: [ACL], mode: CreateMode, ttl: Int64?, withStat: Bool)
    case delete(path: String, version: Int32)
    case exists(path: String, watch: Watch)
    case getData(path: String, watch: Watch)
    case setData(path: String, data: [UInt8]?, version: Int32)
    case getACL(path: String)
    case setACL(path: String, acl: [ACL], version: Int32)
    case getChildren(path: String, watch: Watch, withStat: Bool)
    case sync(path: String)
    case check(path: String, version: Int32)
    case multi([MultiOp])
    case multiRead([MultiOp])
    case checkWatches(path: String, type: WatcherType)
    case removeWatches(path: String, type: WatcherType)
    case addWatch(path: String, mode: AddWatchMode, watch: Watch)
    case getEphemerals(prefix: String)
    case getAllChildrenNumber(path: String)
    case whoAmI
    case getConfig(watch: Watch)
    case reconfig(joining: String?, leaving: String?, newMembers: String?, fromConfig: Int64)
    case addAuth(scheme: String, auth: [UInt8])

    public var path: String? {
        switch self {
        case .create(let p, _, _, _, _, _), .delete(let p, _), .exists(let p, _), .getData(let p, _),
             .setData(let p, _, _), .getACL(let p), .setACL(let p, _, _), .getChildren(let p, _, _), .sync(let p),
             .check(let p, _), .checkWatches(let p, _), .removeWatches(let p, _), .addWatch(let p, _, _),
             .getAllChildrenNumber(let p):
            return p
        case .getEphemerals(let p): return p
        case .multi, .multiRead, .whoAmI, .getConfig, .reconfig, .addAuth: return nil
        }
    }
}

/// A successful reply.
public enum Response: Sendable, Equatable {
    case none
    case created(path: String, stat: Stat?)
    case stat(Stat)
    case data([UInt8]?, Stat)
    case acl([ACL], Stat)
    case children([String], Stat?)
    case path(String)
    case multi([MultiResult])
    case count(Int32)
    case strings([String])
    case clientInfo([ClientInfo])
}
