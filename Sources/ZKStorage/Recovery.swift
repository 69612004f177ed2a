/// Startup recovery (`FileTxnSnapLog.restore`): the newest valid snapshot, then every logged txn
/// after it, in zxid order.
///
/// - A damaged tail of the newest log (partial record, bad checksum, missing end marker) is cut off,
///   with a warning: those txns were never acknowledged, because a reply needs a completed sync.
/// - A snapshot that fails its checks is skipped for the one before it (up to 100 are tried).
/// - A txn missing between the snapshot and the end of the logs stops startup: replaying past a gap
///   would silently lose acknowledged writes.
import ZKCore
import ZKProtocol
import ZKDataTree

public struct StorageLayout: Sendable, Equatable {
    /// `dataDir/version-2`: snapshots (and epoch files).
    public var snapshotDirectory: String
    /// `dataLogDir/version-2`: txn logs.
    public var logDirectory: String
    public init(dataDir: String, dataLogDir: String) {
        snapshotDirectory = dataDir + "/version-2"
        logDirectory = dataLogDir + "/version-2"
    }
}

public struct RecoveryError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

public struct RecoveredDatabase {
    public var tree: DataTree
    /// Sessions alive at the last txn, with their timeouts.
    public var sessions: [SessionID: Int32]
    /// The zxid of the snapshot recovery started from; nil on a fresh data directory.
    public var snapshotZxid: Zxid?
    public var lastZxid: Zxid
    public var replayedTxns: Int
    public var warnings: [String]
    /// How long loading the snapshot and replaying the logs took (`startup_snap_load_time`,
    /// `startup_txns_load_time`), by the clock the caller passed.
    public var snapshotLoadNanoseconds: Int64 = 0
    public var replayNanoseconds: Int64 = 0
}

public enum Recovery {
    static let snapshotsTriedMax = 100

    public static func recover(disk: Disk, layout: StorageLayout, extendedTypesEnabled: Bool,
                               nanoseconds: () -> Int64 = { 0 }) throws(RecoveryError) -> RecoveredDatabase {
        var warnings: [String] = []
        let start = nanoseconds()
        let logs = try sortedFiles(disk, layout.logDirectory, prefix: "log")
        guard let (snapshotZxid, loaded) = try newestValidSnapshot(disk, layout, extendedTypesEnabled, &warnings) else {
            if !logs.isEmpty {
                throw RecoveryError("No snapshot found in \(layout.snapshotDirectory), but there are log entries in \(layout.logDirectory). Something is broken!")
            }
            return RecoveredDatabase(tree: DataTree(extendedTypesEnabled: extendedTypesEnabled), sessions: [:],
                                     snapshotZxid: nil, lastZxid: .zero, replayedTxns: 0, warnings: warnings)
        }
        var database = RecoveredDatabase(tree: loaded.tree, sessions: Dictionary(loaded.sessions, uniquingKeysWith: { $1 }),
                                         snapshotZxid: snapshotZxid, lastZxid: snapshotZxid, replayedTxns: 0, warnings: warnings)
        let loadedAt = nanoseconds()
        database.snapshotLoadNanoseconds = loadedAt - start
        try replay(logs, from: snapshotZxid, disk: disk, layout: layout, into: &database)
        database.replayNanoseconds = nanoseconds() - loadedAt
        return database
    }

    /// `prefix.<hex>` files of a directory, oldest first.
    static func sortedFiles(_ disk: Disk, _ directory: String, prefix: String) throws(RecoveryError) -> [(Zxid, String)] {
        let names: [String]
        do {
            names = try disk.list(directory)
        } catch {
            if error.kind == .notFound { return [] }
            throw RecoveryError("cannot list \(directory): \(error)")
        }
        return names.compactMap { name in TxnLogFormat.zxid(inFileName: name, prefix: prefix).map { ($0, name) } }
            .sorted { $0.0 < $1.0 }
    }

    private static func newestValidSnapshot(_ disk: Disk, _ layout: StorageLayout, _ extendedTypesEnabled: Bool,
                                            _ warnings: inout [String]) throws(RecoveryError) -> (Zxid, SnapshotReader.Loaded)? {
        let snapshots = try sortedFiles(disk, layout.snapshotDirectory, prefix: "snapshot")
        for (zxid, name) in snapshots.reversed().prefix(snapshotsTriedMax) {
            let path = layout.snapshotDirectory + "/" + name
            do {
                let loaded = try SnapshotReader.read(path: path, disk: disk, snapshotZxid: zxid, extendedTypesEnabled: extendedTypesEnabled)
                return (zxid, loaded)
            } catch {
                warnings.append("Invalid snapshot \(path): \(error); trying the previous snapshot")
            }
        }
        if !snapshots.isEmpty {
            throw RecoveryError("No valid snapshot in \(layout.snapshotDirectory) (\(snapshots.count) tried)")
        }
        return nil
    }

    /// The logs that can hold txns after `zxid`: the last one starting at or before it, and all later.
    static func logsNeeded(_ logs: [(Zxid, String)], after zxid: Zxid) -> [(Zxid, String)] {
        let firstAfter = logs.firstIndex { $0.0 > zxid } ?? logs.count
        return Array(logs[max(0, firstAfter - 1)...])
    }

    private static func replay(_ logs: [(Zxid, String)], from snapshotZxid: Zxid, disk: Disk, layout: StorageLayout,
                               into database: inout RecoveredDatabase) throws(RecoveryError) {
        let needed = logsNeeded(logs, after: snapshotZxid)
        var last = snapshotZxid
        var changes: [TreeChange] = []
        for (index, (_, name)) in needed.enumerated() {
            let path = layout.logDirectory + "/" + name
            let parsed: TxnLogFormat.ParsedLog
            do {
                let size = Int(try disk.size(path))
                parsed = try TxnLogFormat.parse(fileSize: size) { (offset, count) throws(DiskError) in
                    try disk.read(path, at: offset, count: count)
                }
            } catch {
                throw RecoveryError("cannot read \(path): \(error)")
            }
            if parsed.problem == .badHeader { throw RecoveryError("\(path) is not a txn log (bad header)") }
            if parsed.problem == .incompleteHeader {
                // Created just before a crash; it holds nothing. Apache cannot start with such a file
                // in the directory, so it goes.
                database.warnings.append("\(path): \(TxnLogFormat.TailProblem.incompleteHeader); removing it (it holds no txns)")
                try? disk.remove(path)
                continue
            }
            if case .corruptBeforeValidRecords(let offset) = parsed.problem {
                throw RecoveryError("\(path): the record at offset \(offset) is corrupt (checksum) and intact records follow it; refusing to start rather than drop them (Apache refuses too: CRC check failed)")
            }
            for record in parsed.records where record.zxid > last {
                guard isNext(record.zxid, after: last) else {
                    throw RecoveryError("Missing transactions: expected the txn after 0x\(last.hex) but \(path) continues with 0x\(record.zxid.hex); a log file is missing or damaged")
                }
                try apply(record, path: path, into: &database, changes: &changes)
                last = record.zxid
            }
            if let problem = parsed.problem {
                let isLast = index == needed.count - 1
                database.warnings.append("\(path): \(problem); \(isLast ? "truncating the log there" : "reading stops there") (last good zxid 0x\(last.hex))")
                if isLast { truncate(disk, path, to: parsed.validEnd, &database.warnings) }
            }
        }
        database.lastZxid = last
    }

    /// Zxids are consecutive within an epoch; a new epoch starts again at counter 1.
    static func isNext(_ zxid: Zxid, after previous: Zxid) -> Bool {
        zxid.rawValue == previous.rawValue + 1 || (zxid.epoch > previous.epoch && zxid.counter == 1)
    }

    private static func apply(_ record: TxnLogFormat.Record, path: String, into database: inout RecoveredDatabase,
                              changes: inout [TreeChange]) throws(RecoveryError) {
        let entry: TxnEntry
        do { entry = try TxnEntry.decode(record.txn) } catch {
            throw RecoveryError("\(path): unreadable txn 0x\(record.zxid.hex): \(error)")
        }
        changes.removeAll(keepingCapacity: true)
        _ = database.tree.apply(entry, changes: &changes)
        database.replayedTxns += 1
        switch entry.sessionChange {
        case .created(let session, let timeoutMs): database.sessions[session] = timeoutMs
        case .closed(let session): database.sessions[session] = nil
        case nil: break
        }
    }

    private static func truncate(_ disk: Disk, _ path: String, to size: Int, _ warnings: inout [String]) {
        do {
            let file = try disk.openForWriting(path)
            defer { file.close() }
            try file.truncate(to: Int64(size))
            try file.sync()
        } catch {
            warnings.append("\(path): could not truncate the damaged tail: \(error)")
        }
    }
}
