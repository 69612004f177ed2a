/// Appends txns to the current log file and makes them durable in groups (`FileTxnLog.append` and
/// `commit`). Used by one thread, the storage thread.
///
/// - A file is created at the first txn after startup or after `roll()`, named by that txn's zxid.
/// - Space is preallocated in `preallocateBytes` steps (the file grows sparse, padded with zeros),
///   so most syncs write data without changing the file's size.
/// - `commit()` writes everything appended since the last commit with one write, then one
///   fdatasync (unless `forceSync` is off): group commit.
/// - After a failed write or sync the writer is broken: what was already durable stays intact (the
///   unsynced tail is zeroed back where possible, and recovery cuts any torn record), and every
///   later call fails until the server restarts.
import ZKCore
import ZKProtocol

public final class TxnLogWriter {
    private let disk: Disk
    private let directory: String
    private let preallocateBytes: Int64
    private let forceSync: Bool
    private var file: DiskFile?
    private var fileName: String?
    /// Where the next record goes in the current file.
    private var position: Int64 = 0
    /// The current file's size including preallocated zeros.
    private var allocated: Int64 = 0
    /// How far zeros were actually written (see `zeroAhead`).
    private var zeroedThrough: Int64 = 0
    /// Zeros written ahead of the write position, in steps of this size (`Limits.logZeroStepBytes`).
    private let zeroStepBytes: Int64
    private var pending = JuteWriter(capacity: 64 * 1024)
    private var pendingLastZxid: Zxid?
    public private(set) var lastCommittedZxid: Zxid?
    public private(set) var failure: DiskError?
    /// Bytes of txn records in the current file (for rolling by size).
    public private(set) var currentFileBytes: Int64 = 0
    /// Durations are measured by the shell; these count work done.
    public private(set) var syncCount = 0

    public init(disk: Disk, directory: String, preallocateBytes: Int64, forceSync: Bool, zeroStepBytes: Int = 1 << 20) {
        self.disk = disk
        self.zeroStepBytes = Int64(max(4096, zeroStepBytes))
        self.directory = directory
        self.preallocateBytes = max(4096, preallocateBytes)
        self.forceSync = forceSync
    }

    /// Buffers one serialized txn entry (`TxnEntry.serialized()`).
    public func append(_ txn: [UInt8], zxid: Zxid) throws(DiskError) {
        if let failure { throw failure }
        if let last = pendingLastZxid ?? lastCommittedZxid {
            invariant(zxid > last, "txn 0x\(zxid.hex) appended after 0x\(last.hex)")
        }
        if file == nil && pending.bytes.isEmpty { try open(firstZxid: zxid) }
        TxnLogFormat.appendRecord(txn, to: &pending)
        pendingLastZxid = zxid
    }

    /// Writes and syncs everything appended since the last commit. Returns the last durable zxid.
    @discardableResult
    public func commit() throws(DiskError) -> Zxid? {
        if let failure { throw failure }
        guard let zxid = pendingLastZxid, let file else { return lastCommittedZxid }
        let bytes = pending.bytes
        do {
            try preallocate(file, through: position + Int64(bytes.count))
            try zeroAhead(file, through: position + Int64(bytes.count))
            try file.write(bytes, at: position)
            if forceSync { try file.sync() }
        } catch {
            fail(error, file: file, written: bytes.count)
            throw error
        }
        syncCount += forceSync ? 1 : 0
        position += Int64(bytes.count)
        currentFileBytes += Int64(bytes.count)
        pending.reset()
        pendingLastZxid = nil
        lastCommittedZxid = zxid
        return zxid
    }

    /// The next txn starts a new file (done when a snapshot starts, as Apache does).
    public func roll() throws(DiskError) {
        if let failure { throw failure }
        try commit()
        file?.close()
        file = nil
        fileName = nil
        currentFileBytes = 0
    }

    /// After the log was cut back to `zxid` (Zab's TRUNC): the next txn starts a new file and may
    /// follow `zxid`.
    public func rewind(to zxid: Zxid) throws(DiskError) {
        if let failure { throw failure }
        invariant(pendingLastZxid == nil, "rewound with uncommitted appends")
        file?.close()
        file = nil
        fileName = nil
        currentFileBytes = 0
        lastCommittedZxid = zxid
    }

    public func close() {
        file?.close()
        file = nil
    }

    private func open(firstZxid: Zxid) throws(DiskError) {
        let name = TxnLogFormat.fileName(firstZxid: firstZxid)
        let created: DiskFile
        do {
            created = try disk.create(directory + "/" + name)
        } catch {
            // A log file that could not be created (EMFILE, ENOSPC) breaks the writer like any other
            // failure: carrying on would start the next file after a gap of lost txns.
            failure = error
            throw error
        }
        do {
            try created.write(TxnLogFormat.fileHeader(), at: 0)
            try disk.syncDirectory(directory)
        } catch {
            created.close()
            failure = error
            throw error
        }
        file = created
        fileName = name
        position = Int64(TxnLogFormat.headerBytes)
        allocated = position
        zeroedThrough = position
        currentFileBytes = 0
    }

    /// Grows the file in whole steps when the write would come within 4 KiB of its end.
    private func preallocate(_ file: DiskFile, through end: Int64) throws(DiskError) {
        guard end + 4096 > allocated else { return }
        var size = allocated
        while end + 4096 > size { size += preallocateBytes }
        try file.truncate(to: size)
        allocated = size
    }

    /// Writes real zeros a little ahead of the records. Preallocation grows the file sparse (as
    /// Apache does); the first write into a hole then allocates blocks, and the fdatasync after it
    /// must journal that allocation. Blocks zeroed ahead of time make group-commit syncs pure data
    /// writes, which measured about twice as fast here. Small steps keep any single sync short.
    private func zeroAhead(_ file: DiskFile, through end: Int64) throws(DiskError) {
        let target = min(allocated, end + zeroStepBytes / 4)
        guard target > zeroedThrough else { return }
        let zeros = [UInt8](repeating: 0, count: Int(zeroStepBytes))
        while zeroedThrough < target {
            let count = Int(min(zeroStepBytes, allocated - zeroedThrough))
            try file.write(count == zeros.count ? zeros : Array(zeros[0..<count]), at: zeroedThrough)
            zeroedThrough += Int64(count)
        }
    }

    /// Remembers the failure and tries to put zeros back over what a failed write may have left, so
    /// the log stays a clean prefix (recovery would cut a torn record anyway).
    private func fail(_ error: DiskError, file: DiskFile, written: Int) {
        failure = error
        try? file.write([UInt8](repeating: 0, count: written), at: position)
    }
}
