/// The contract between the replica and durable storage: commands the replica asks for, in the order
/// they must take effect, and the results that come back as replica inputs.
///
/// Commands go down one of two lanes, each carried out in order by its own `StorageEngine` (on its
/// own thread in the POSIX shell): the log lane (appends with group commit, rolls, truncation,
/// epoch files, purge) and the snapshot lane (snapshot bytes), so a large snapshot never delays a
/// group commit. A roll and the snapshot it belongs to are issued in the same replica step, so the
/// snapshot's zxid lies between exactly the txns the log put around the roll.
import ZKCore
import ZKProtocol

public enum StorageCommand: Sendable {
    /// Append the txn with this zxid, serialized (`TxnEntry.serialized()`); it becomes durable with
    /// the next group commit (`.durable(through:)`). The command carries bytes, not the entry: the
    /// replica serializes while the log thread is in the previous fsync, and the log thread never
    /// touches (retains, releases, frees) the objects of an entry the replica still holds, which
    /// measured several percent of write throughput on two cores.
    case append(Zxid, record: [UInt8])
    /// The next txn starts a new log file (done when a snapshot starts, as Apache does).
    case roll
    /// Start writing `snapshot.<zxid>` (through a temporary name).
    case snapshotBegin(Zxid)
    /// The next bytes of the snapshot being written.
    case snapshotChunk([UInt8])
    /// Sync the snapshot, then rename it into place.
    case snapshotEnd
    /// Autopurge: keep the newest `retainCount` snapshots and the logs they need.
    case purge(retainCount: Int)
    /// Zab's TRUNC: drop every logged txn after this zxid.
    case truncateLog(after: Zxid)
    /// Write `acceptedEpoch` or `currentEpoch` (atomically); Zab acts on it only once persisted.
    case persistEpoch(EpochFile, Epoch)

    /// Appends `entry`, serialized now.
    public static func append(_ entry: TxnEntry) -> StorageCommand { .append(Zxid(entry.zxid), record: entry.serialized()) }

    public enum Lane: Sendable { case log, snapshot }

    public var lane: Lane {
        switch self {
        case .snapshotBegin, .snapshotChunk, .snapshotEnd: return .snapshot
        case .append, .roll, .purge, .truncateLog, .persistEpoch: return .log
        }
    }
}

public enum StorageResult: Sendable, Equatable {
    /// Every txn appended so far, through this zxid, is durable (one group commit of `txns` txns).
    case durable(through: Zxid, txns: Int, syncNanoseconds: Int64)
    /// The log cannot be written (ENOSPC, EIO, a failed file creation). Txns not yet durable are
    /// lost, and the log lane refuses every later command: what is on disk stays a clean prefix.
    case logFailed(String)
    /// One snapshot chunk was written (backpressure: the replica sends the next one).
    case snapshotChunkWritten
    case snapshotWritten(Zxid, bytes: Int, elapsedNanoseconds: Int64)
    case snapshotFailed(String)
    case purged([String])
    case purgeFailed(String)
    case logTruncated(after: Zxid)
    case epochPersisted(EpochFile, Epoch)
}
