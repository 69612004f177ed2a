/// Reading the logged history back, and cutting it short: what a Zab leader needs to DIFF a
/// learner (`FileTxnLog.read(zxid)`), and what a learner does on TRUNC (`FileTxnLog.truncate`).
import ZKCore
import ZKProtocol

public enum TxnLogHistory {
    /// The logged txns after `zxid`, oldest first, at most `countMax` of them. Reading stops at a
    /// damaged record (what follows it was never durable).
    public static func txns(after zxid: Zxid, countMax: Int, disk: Disk, layout: StorageLayout) throws(RecoveryError) -> [TxnLogFormat.Record] {
        var found: [TxnLogFormat.Record] = []
        let logs = try Recovery.sortedFiles(disk, layout.logDirectory, prefix: "log")
        for (_, name) in Recovery.logsNeeded(logs, after: zxid) {
            let parsed = try parse(layout.logDirectory + "/" + name, disk)
            for record in parsed.records where record.zxid > zxid {
                invariant(found.last.map { $0.zxid < record.zxid } ?? true, "log records out of order in \(name)")
                found.append(record)
                if found.count == countMax { return found }
            }
            if parsed.problem != nil { break }
        }
        return found
    }

    /// Drops every txn after `zxid`: later files are removed, the file holding `zxid` is cut right
    /// after its record. The caller rolls the writer first, so the next txn starts a new file.
    /// Returns the last txn the logs still hold (nil if none): below `zxid` when the logs ended
    /// before it (a lagging learner's log cut back for a SNAP).
    @discardableResult
    public static func truncate(after zxid: Zxid, disk: Disk, layout: StorageLayout) throws(DiskError) -> Zxid? {
        let logs: [(Zxid, String)]
        do { logs = try Recovery.sortedFiles(disk, layout.logDirectory, prefix: "log") } catch {
            throw DiskError(.other, error.description)
        }
        var last: Zxid?
        for (first, name) in logs.reversed() {
            let path = layout.logDirectory + "/" + name
            if first > zxid {
                try disk.remove(path)
                continue
            }
            let parsed: TxnLogFormat.ParsedLog
            do { parsed = try parse(path, disk) } catch { throw DiskError(.other, error.description) }
            let kept = parsed.records.last(where: { $0.zxid <= zxid })
            let end = kept?.endOffset ?? TxnLogFormat.headerBytes
            let file = try disk.openForWriting(path)
            defer { file.close() }
            try file.truncate(to: Int64(min(end, max(parsed.validEnd, TxnLogFormat.headerBytes))))
            try file.sync()
            last = kept?.zxid
            if last != nil { break }
        }
        try disk.syncDirectory(layout.logDirectory)
        return last
    }

    private static func parse(_ path: String, _ disk: Disk) throws(RecoveryError) -> TxnLogFormat.ParsedLog {
        do {
            let size = Int(try disk.size(path))
            return try TxnLogFormat.parse(fileSize: size) { (offset, count) throws(DiskError) in
                try disk.read(path, at: offset, count: count)
            }
        } catch {
            throw RecoveryError("cannot read \(path): \(error)")
        }
    }
}
