/// Vocabulary shared by the leader and learner state machines.
import ZKCore
import ZKProtocol

/// A learner's connection to the leader's quorum port, as the leader's shell names it (the sid is
/// known only once FOLLOWERINFO arrives, and a sid may reconnect while its old connection lingers).
public struct LearnerID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public static func < (a: LearnerID, b: LearnerID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "learner#\(rawValue)" }
}

/// Zab's two epoch files (`acceptedEpoch`, `currentEpoch` in the snapshot directory).
public enum ZabEpochKind: Sendable, Equatable {
    /// The epoch this server has agreed to follow (set in discovery).
    case accepted
    /// The epoch whose history this server has (set at NEWLEADER).
    case current
}

/// Timing, from `zoo.cfg`: `tickTime`, `initLimit` and `syncLimit`.
public struct ZabTiming: Sendable, Equatable {
    public var tickTimeMs: Int64
    public var initLimitTicks: Int64
    public var syncLimitTicks: Int64

    public init(tickTimeMs: Int64, initLimitTicks: Int64, syncLimitTicks: Int64) {
        self.tickTimeMs = tickTimeMs
        self.initLimitTicks = initLimitTicks
        self.syncLimitTicks = syncLimitTicks
    }

    /// How long discovery and synchronization may take (`initLimit * tickTime`).
    public var initLimitMs: Int64 { initLimitTicks * tickTimeMs }
    /// How long a synced peer may stay silent or leave a proposal unacknowledged.
    public var syncLimitMs: Int64 { syncLimitTicks * tickTimeMs }
    /// The leader pings every half tick (`Leader.lead`).
    public var pingIntervalMs: Int64 { max(1, tickTimeMs / 2) }
}

/// What a server knows of its own history when it takes a role: the epochs in its epoch files and
/// the last txn in its log and tree.
public struct ZabHistory: Sendable, Equatable {
    public var acceptedEpoch: Epoch
    public var currentEpoch: Epoch
    /// The last txn in the log (durable).
    public var lastLoggedZxid: Zxid
    /// The last txn applied to the tree (a leader's DIFF is computed from it).
    public var lastProcessedZxid: Zxid
    /// The newest committed proposals, oldest first (the leader's DIFF window).
    public var committedLog: [Proposal]

    public init(acceptedEpoch: Epoch, currentEpoch: Epoch, lastLoggedZxid: Zxid, lastProcessedZxid: Zxid,
                committedLog: [Proposal] = []) {
        self.acceptedEpoch = acceptedEpoch
        self.currentEpoch = currentEpoch
        self.lastLoggedZxid = lastLoggedZxid
        self.lastProcessedZxid = lastProcessedZxid
        self.committedLog = committedLog
    }
}
