/// Autopurge (`PurgeTxnLog.purge`): keep the newest `retainCount` snapshots and the logs needed to
/// replay from the oldest of them; everything older goes.
import ZKCore

public enum Purge {
    public struct Plan: Sendable, Equatable {
        public var snapshotsToDelete: [String]
        public var logsToDelete: [String]
    }

    /// Which files to delete, from the names in the snapshot and log directories.
    public static func plan(snapshotNames: [String], logNames: [String], retainCount: Int) -> Plan {
        let snapshots = snapshotNames.compactMap { n in TxnLogFormat.zxid(inFileName: n, prefix: "snapshot").map { ($0, n) } }
            .sorted { $0.0 < $1.0 }
        let logs = logNames.compactMap { n in TxnLogFormat.zxid(inFileName: n, prefix: "log").map { ($0, n) } }
            .sorted { $0.0 < $1.0 }
        let retain = max(1, retainCount)
        guard snapshots.count > retain else { return Plan(snapshotsToDelete: [], logsToDelete: []) }
        let oldestKept = snapshots[snapshots.count - retain].0
        let neededLogs = Set(Recovery.logsNeeded(logs, after: oldestKept).map(\.1))
        return Plan(snapshotsToDelete: snapshots.filter { $0.0 < oldestKept }.map(\.1),
                    logsToDelete: logs.filter { !neededLogs.contains($0.1) }.map(\.1))
    }

    /// Deletes what `plan` says. Returns the deleted paths.
    public static func run(disk: Disk, layout: StorageLayout, retainCount: Int) throws(DiskError) -> [String] {
        let plan = plan(snapshotNames: try disk.list(layout.snapshotDirectory),
                        logNames: try disk.list(layout.logDirectory), retainCount: retainCount)
        var deleted: [String] = []
        for name in plan.snapshotsToDelete {
            try disk.remove(layout.snapshotDirectory + "/" + name)
            deleted.append(layout.snapshotDirectory + "/" + name)
        }
        for name in plan.logsToDelete {
            try disk.remove(layout.logDirectory + "/" + name)
            deleted.append(layout.logDirectory + "/" + name)
        }
        return deleted
    }
}
