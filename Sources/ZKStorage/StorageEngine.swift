/// Carries out `StorageCommand`s over a `Disk`, in order, and reports `StorageResult`s: the whole
/// storage policy below the replica, with no threads and no syscalls of its own. The POSIX shell
/// runs one engine per lane on a storage thread over `PosixDisk`; the simulator runs them inline
/// over an in-memory disk that loses unsynced data.
///
/// Rules:
/// - **Group commit.** Consecutive appends in a batch are written with one write and one sync;
///   `.durable(through:)` is reported only after that sync (or after the write with `forceSync` off,
///   as Apache's `forceSync=no`).
/// - **A failed log stays failed.** After any failure of the log lane (a write, a sync, a file
///   creation, a roll, a truncation) every later log command is refused without touching the disk,
///   and `.logFailed` is reported once: carrying on could leave a gap (log N+1 after lost txn N)
///   that makes the next start refuse the directory.
/// - Snapshot bytes are synced every `Limits.snapshotSyncStepBytes` as they are written, then the
///   file is synced and renamed into place (Apache's AtomicFileOutputStream).
import ZKCore
import ZKProtocol
import ZKDataTree

public final class StorageEngine {
    private let disk: Disk
    private let layout: StorageLayout
    private let writer: TxnLogWriter
    private let limits: Limits
    private let nanoseconds: () -> Int64
    /// Why the log lane stopped for good, if it did.
    public private(set) var logFailure: String?
    private var snapshot: SnapshotInProgress?

    private struct SnapshotInProgress {
        var zxid: Zxid
        var file: DiskFile?
        var offset: Int64 = 0
        var syncedOffset: Int64 = 0
        var startNanoseconds: Int64
        var failure: String?
    }

    /// `nanoseconds` reads a monotonic clock, for the durations `mntr` reports (the simulator passes
    /// its simulated clock).
    public init(disk: Disk, layout: StorageLayout, preallocateBytes: Int64, forceSync: Bool, limits: Limits,
                nanoseconds: @escaping () -> Int64) {
        self.disk = disk
        self.layout = layout
        self.limits = limits
        self.nanoseconds = nanoseconds
        writer = TxnLogWriter(disk: disk, directory: layout.logDirectory, preallocateBytes: preallocateBytes,
                              forceSync: forceSync, zeroStepBytes: limits.logZeroStepBytes)
    }

    /// Carries out a batch in order; appends are grouped until the next other command.
    public func execute(_ batch: [StorageCommand], into results: inout [StorageResult]) {
        var appended = 0
        for command in batch {
            if case .append(let zxid, let record) = command {
                append(zxid, record, &appended, &results)
                continue
            }
            commitAppends(&appended, &results)
            switch command {
            case .append: break
            case .roll: logLane(&results) { w throws(DiskError) in try w.roll() }
            case .truncateLog(let zxid): truncate(after: zxid, &results)
            case .persistEpoch(let file, let epoch): persist(file, epoch, &results)
            case .purge(let retainCount): purge(retainCount, &results)
            case .snapshotBegin(let zxid): beginSnapshot(zxid)
            case .snapshotChunk(let bytes): writeSnapshot(bytes, &results)
            case .snapshotEnd: endSnapshot(&results)
            }
        }
        commitAppends(&appended, &results)
    }

    /// Writes a whole snapshot of `tree` now, on the caller's thread: the startup snapshot (Apache
    /// writes one before serving, so the data directory always has one and the txns just replayed
    /// need not be replayed again). Returns `.snapshotWritten` or `.snapshotFailed`.
    public func writeSnapshot(of tree: DataTree, sessions: [(SessionID, Int32)]) -> StorageResult {
        var writer = SnapshotWriter(tree: tree, sessions: sessions)
        var results: [StorageResult] = []
        beginSnapshot(writer.zxid)
        while let chunk = writer.nextChunk(nodesMax: limits.snapshotChunkNodesMax, bytesMax: limits.snapshotChunkBytesMax) {
            writeSnapshot(chunk, &results)
        }
        endSnapshot(&results)
        return results.last { if case .snapshotChunkWritten = $0 { return false } else { return true } } ?? .snapshotFailed("no snapshot written")
    }

    /// Closes the current log file (shutdown).
    public func close() {
        writer.close()
        snapshot?.file?.close()
        snapshot = nil
    }

    // MARK: The log lane

    private func append(_ zxid: Zxid, _ record: [UInt8], _ appended: inout Int, _ results: inout [StorageResult]) {
        guard logFailure == nil else { return }
        do {
            try writer.append(record, zxid: zxid)
            appended += 1
        } catch {
            fail(error.description, &results)
        }
    }

    private func commitAppends(_ appended: inout Int, _ results: inout [StorageResult]) {
        guard appended > 0, logFailure == nil else { appended = 0; return }
        let start = nanoseconds()
        do {
            if let zxid = try writer.commit() {
                results.append(.durable(through: zxid, txns: appended, syncNanoseconds: nanoseconds() - start))
            }
        } catch {
            fail(error.description, &results)
        }
        appended = 0
    }

    /// Runs a log-lane operation unless the lane has failed; a failure stops the lane.
    private func logLane(_ results: inout [StorageResult], _ body: (TxnLogWriter) throws(DiskError) -> Void) {
        guard logFailure == nil else { return }
        do { try body(writer) } catch { fail(error.description, &results) }
    }

    private func fail(_ reason: String, _ results: inout [StorageResult]) {
        guard logFailure == nil else { return }
        logFailure = reason
        results.append(.logFailed(reason))
    }

    /// TRUNC: the log is cut back after `zxid`. Unless a snapshot is newer than `zxid`: it holds txns
    /// the leader's history does not have, and neither it nor an older snapshot plus the log is
    /// known to be the leader's history at `zxid` (a SNAP replaces a log's history wholesale). Then
    /// nothing is touched: the reload that follows shows the data still ends past `zxid`, and the
    /// learner leaves that leader with its data intact. Removing the data instead would be
    /// amnesia, which Zab does not survive: the replica-level simulator (seed 40) showed an emptied
    /// server helping elect a leader that lacked an acknowledged write the emptied one had held.
    private func truncate(after zxid: Zxid, _ results: inout [StorageResult]) {
        guard logFailure == nil else { return }
        let snapshots: [(Zxid, String)]
        do { snapshots = try Recovery.sortedFiles(disk, layout.snapshotDirectory, prefix: "snapshot") } catch {
            return fail("cannot list the snapshots before a truncation: \(error)", &results)
        }
        if let newest = snapshots.last?.0, newest > zxid {
            results.append(.logTruncated(after: zxid))
            return
        }
        logLane(&results) { w throws(DiskError) in
            try w.roll()
            // The writer continues after what the log really holds, which is below `zxid` when the
            // log ended before it (a SNAP's cut-back of a lagging log).
            let kept = try TxnLogHistory.truncate(after: zxid, disk: disk, layout: layout)
            try w.rewind(to: kept ?? Zxid(0))
        }
        if logFailure == nil { results.append(.logTruncated(after: zxid)) }
    }

    /// Epoch files gate Zab's promises, so a failure to write one stops the log lane like a failed sync.
    private func persist(_ file: EpochFile, _ epoch: Epoch, _ results: inout [StorageResult]) {
        guard logFailure == nil else { return }
        logLane(&results) { _ throws(DiskError) in try EpochFile.write(file, epoch, disk: disk, layout: layout) }
        if logFailure == nil { results.append(.epochPersisted(file, epoch)) }
    }

    private func purge(_ retainCount: Int, _ results: inout [StorageResult]) {
        do { results.append(.purged(try Purge.run(disk: disk, layout: layout, retainCount: retainCount))) } catch {
            results.append(.purgeFailed(error.description))
        }
    }

    // MARK: The snapshot lane

    private func beginSnapshot(_ zxid: Zxid) {
        invariant(snapshot == nil, "snapshot 0x\(zxid.hex) begun while another is being written")
        var started = SnapshotInProgress(zxid: zxid, startNanoseconds: nanoseconds())
        do {
            started.file = try disk.create(temporarySnapshotPath(zxid))
        } catch {
            started.failure = error.description
        }
        snapshot = started
    }

    private func writeSnapshot(_ bytes: [UInt8], _ results: inout [StorageResult]) {
        defer { results.append(.snapshotChunkWritten) }
        guard var current = snapshot, current.failure == nil, let file = current.file else { return }
        do {
            try file.write(bytes, at: current.offset)
            current.offset += Int64(bytes.count)
            if current.offset - current.syncedOffset >= Int64(limits.snapshotSyncStepBytes) {
                try file.sync()
                current.syncedOffset = current.offset
            }
        } catch {
            current.failure = error.description
        }
        snapshot = current
    }

    private func endSnapshot(_ results: inout [StorageResult]) {
        guard let current = snapshot else { return }
        snapshot = nil
        defer { current.file?.close() }
        let temporary = temporarySnapshotPath(current.zxid)
        do {
            if let failure = current.failure { throw DiskError(.other, failure) }
            try current.file?.sync()
            try disk.rename(temporary, to: layout.snapshotDirectory + "/" + SnapshotFormat.fileName(zxid: current.zxid))
            try disk.syncDirectory(layout.snapshotDirectory)
            results.append(.snapshotWritten(current.zxid, bytes: Int(current.offset),
                                            elapsedNanoseconds: nanoseconds() - current.startNanoseconds))
        } catch {
            try? disk.remove(temporary)
            results.append(.snapshotFailed("\(error)"))
        }
    }

    /// "tmp.snapshot.<zxid>": a name neither we nor Apache read as a snapshot while incomplete
    /// (Apache's parser would take "snapshot.<zxid>.tmp" for one).
    private func temporarySnapshotPath(_ zxid: Zxid) -> String {
        layout.snapshotDirectory + "/tmp." + SnapshotFormat.fileName(zxid: zxid)
    }
}
