/// A storage thread: appends txns to the log and fsyncs them in groups, writes snapshot bytes
/// and purges old files, so that no blocking disk call ever runs on the event loop. The server runs
/// two: one for the log (and purge), one for snapshots, so writing and syncing a large snapshot never
/// delays a group commit.
///
/// The loop thread sends commands through a mutex-protected queue and wakes this thread with an
/// eventfd; results come back the same way, waking the loop. Commands are carried out in order, so
/// a snapshot or a roll lands between exactly the txns the loop put around it. Every append waiting
/// when the thread wakes is written with one write and one fdatasync (group commit).
import Synchronization
import ZKCore
import ZKStorage
import ZKPosix

enum StorageCommand: Sendable {
    case append([UInt8], Zxid)
    case roll
    case snapshotBegin(Zxid)
    case snapshotChunk([UInt8])
    case snapshotEnd
    case purge(retainCount: Int)
    case stop
}

enum StorageResult: Sendable {
    case synced(Zxid, syncMs: Int64, txns: Int)
    case failed(String)
    case snapshotWritten(Zxid, elapsedMs: Int64, bytes: Int)
    case snapshotFailed(String)
    case purged([String])
    case purgeFailed(String)
}

final class StorageThread: @unchecked Sendable {
    // Unchecked: `writer` and the snapshot state are touched only by the storage thread; the two
    // queues are behind mutexes and the wakers are Sendable.
    private let commands = Mutex<[StorageCommand]>([])
    private let results = Mutex<[StorageResult]>([])
    private let disk: PosixDisk
    private let layout: StorageLayout
    private let writer: TxnLogWriter
    private let loop: EventLoop
    private let loopWaker: Waker
    private var thread: PosixThread?
    private var snapshotFile: DiskFile?
    private var snapshotZxid: Zxid?
    private var snapshotOffset: Int64 = 0
    private var snapshotStartMs: Int64 = 0
    private var snapshotFailure: String?
    private var snapshotSyncedOffset: Int64 = 0
    /// Snapshot bytes written between syncs. Syncing as we go keeps the kernel from piling up a
    /// whole snapshot of dirty pages whose final flush would stall the log's group commits.
    private static let snapshotSyncStepBytes: Int64 = 4 << 20

    init(layout: StorageLayout, preallocateBytes: Int64, forceSync: Bool, loopWaker: Waker) throws(ServerError) {
        disk = PosixDisk()
        self.layout = layout
        writer = TxnLogWriter(disk: disk, directory: layout.logDirectory, preallocateBytes: preallocateBytes, forceSync: forceSync)
        self.loopWaker = loopWaker
        do { loop = try EventLoop(maxEventsPerWait: 4) } catch { throw .fatal("cannot create the storage event loop: \(error)") }
    }

    func start() throws(ServerError) {
        do {
            thread = try PosixThread(name: "SyncThread") { [self] in run() }
        } catch {
            throw .fatal("cannot start the storage thread: \(error)")
        }
    }

    func send(_ command: StorageCommand) {
        commands.withLock { $0.append(command) }
        loop.waker.wakeup()
    }

    func send(_ batch: [StorageCommand]) {
        guard !batch.isEmpty else { return }
        commands.withLock { $0.append(contentsOf: batch) }
        loop.waker.wakeup()
    }

    /// Commands sent and not yet taken up by the thread (backpressure for snapshot chunks).
    var queuedCommands: Int { commands.withLock { $0.count } }

    func takeResults() -> [StorageResult] {
        results.withLock { queue in
            defer { queue.removeAll(keepingCapacity: true) }
            return queue
        }
    }

    func stop() {
        send(.stop)
        thread?.join()
        thread = nil
        writer.close()
    }

    private func post(_ result: StorageResult) {
        results.withLock { $0.append(result) }
        loopWaker.wakeup()
    }

    private func run() {
        var events: [EventLoop.Event] = []
        while true {
            let batch = commands.withLock { queue in
                defer { queue.removeAll(keepingCapacity: true) }
                return queue
            }
            if batch.isEmpty {
                try? loop.wait(timeoutMs: -1, into: &events)
                continue
            }
            if !execute(batch) { return }
        }
    }

    /// Carries out a batch in order; appends are grouped until the next other command.
    private func execute(_ batch: [StorageCommand]) -> Bool {
        var appended = 0
        for command in batch {
            switch command {
            case .append(let bytes, let zxid):
                do { try writer.append(bytes, zxid: zxid); appended += 1 } catch { post(.failed(error.description)) }
                continue
            case .roll, .snapshotBegin, .snapshotChunk, .snapshotEnd, .purge, .stop:
                commitAppends(&appended)
            }
            switch command {
            case .append: break
            case .roll: do { try writer.roll() } catch { post(.failed(error.description)) }
            case .snapshotBegin(let zxid): beginSnapshot(zxid)
            case .snapshotChunk(let bytes): writeSnapshot(bytes)
            case .snapshotEnd: endSnapshot()
            case .purge(let retainCount): purge(retainCount)
            case .stop: return false
            }
        }
        commitAppends(&appended)
        return true
    }

    private func commitAppends(_ appended: inout Int) {
        guard appended > 0 else { return }
        let start = monotonicNanoseconds()
        do {
            if let zxid = try writer.commit() {
                post(.synced(zxid, syncMs: (monotonicNanoseconds() - start) / 1_000_000, txns: appended))
            }
        } catch {
            post(.failed(error.description))
        }
        appended = 0
    }

    private func beginSnapshot(_ zxid: Zxid) {
        snapshotZxid = zxid
        snapshotOffset = 0
        snapshotSyncedOffset = 0
        snapshotFailure = nil
        snapshotStartMs = monotonicMilliseconds()
        do {
            snapshotFile = try disk.create(temporarySnapshotPath(zxid))
        } catch {
            snapshotFailure = error.description
        }
    }

    private func writeSnapshot(_ bytes: [UInt8]) {
        guard snapshotFailure == nil, let file = snapshotFile else { return }
        do {
            try file.write(bytes, at: snapshotOffset)
            snapshotOffset += Int64(bytes.count)
            if snapshotOffset - snapshotSyncedOffset >= StorageThread.snapshotSyncStepBytes {
                try file.sync()
                snapshotSyncedOffset = snapshotOffset
            }
        } catch {
            snapshotFailure = error.description
        }
    }

    /// fsync, then rename into place (Apache's AtomicFileOutputStream), then fsync the directory.
    private func endSnapshot() {
        guard let zxid = snapshotZxid else { return }
        defer { snapshotFile?.close(); snapshotFile = nil; snapshotZxid = nil }
        let temporary = temporarySnapshotPath(zxid)
        do {
            if let failure = snapshotFailure { throw DiskError(.other, failure) }
            try snapshotFile?.sync()
            try disk.rename(temporary, to: layout.snapshotDirectory + "/" + SnapshotFormat.fileName(zxid: zxid))
            try disk.syncDirectory(layout.snapshotDirectory)
            post(.snapshotWritten(zxid, elapsedMs: monotonicMilliseconds() - snapshotStartMs, bytes: Int(snapshotOffset)))
        } catch {
            try? disk.remove(temporary)
            post(.snapshotFailed("\(error)"))
        }
    }

    private func temporarySnapshotPath(_ zxid: Zxid) -> String {
        layout.snapshotDirectory + "/tmp." + SnapshotFormat.fileName(zxid: zxid)
    }

    private func purge(_ retainCount: Int) {
        do { post(.purged(try Purge.run(disk: disk, layout: layout, retainCount: retainCount))) } catch {
            post(.purgeFailed(error.description))
        }
    }
}
