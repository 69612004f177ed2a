/// A storage thread: runs one lane's `StorageEngine` over `PosixDisk`, so that no blocking disk call
/// ever runs on the event loop. The server runs two: the log lane (appends, rolls, purge) and the
/// snapshot lane, so writing and syncing a large snapshot never delays a group commit. All policy
/// (group commit, the sticky failure rule, snapshot sync steps) is the engine's; this file is only
/// the thread, the queues and the eventfd.
///
/// The loop thread sends commands through a mutex-protected queue and wakes this thread with an
/// eventfd; results come back the same way, waking the loop. Every command waiting when the thread
/// wakes is one batch, so the appends in it are one group commit; the results of each run of
/// appends and of each other command are handed back as soon as it is done. The queue is bounded by the
/// replica's admission control (`Limits.txnsInFlightMax` txns, `snapshotChunksInFlightMax` chunks)
/// plus one loop turn's reads.
import Synchronization
import ZKCore
import ZKStorage
import ZKPosix

final class StorageThread: @unchecked Sendable {
    // Unchecked: `engine` is touched only by the storage thread (and by `stop` after the join); the
    // two queues are behind mutexes and the wakers are Sendable.
    private struct Queue {
        var commands: [StorageCommand] = []
        var stopping = false
        /// A batch taken from `commands` is being carried out.
        var busy = false
    }
    private let queue = Mutex(Queue())
    private let results = Mutex<[StorageResult]>([])
    private let engine: StorageEngine
    private let name: String
    private let loop: EventLoop
    private let loopWaker: Waker
    /// Signalled after every batch, for `waitIdle` (only the loop thread waits on it).
    private let idle: EventLoop
    private var thread: PosixThread?

    init(name: String, layout: StorageLayout, preallocateBytes: Int64, forceSync: Bool, limits: Limits,
         loopWaker: Waker) throws(ServerError) {
        self.name = name
        engine = StorageEngine(disk: PosixDisk(), layout: layout, preallocateBytes: preallocateBytes,
                               forceSync: forceSync, limits: limits, nanoseconds: monotonicNanoseconds)
        self.loopWaker = loopWaker
        do {
            loop = try EventLoop(maxEventsPerWait: 4)
            idle = try EventLoop(maxEventsPerWait: 1)
        } catch {
            throw .fatal("cannot create the storage event loops: \(error)")
        }
    }

    func start() throws(ServerError) {
        do {
            thread = try PosixThread(name: name) { [self] in run() }
        } catch {
            throw .fatal("cannot start the storage thread \(name): \(error)")
        }
    }

    func send(_ batch: [StorageCommand]) {
        guard !batch.isEmpty else { return }
        queue.withLock { $0.commands.append(contentsOf: batch) }
        loop.waker.wakeup()
    }

    func takeResults(into buffer: inout [StorageResult]) {
        results.withLock { queue in
            buffer.append(contentsOf: queue)
            queue.removeAll(keepingCapacity: true)
        }
    }

    /// Blocks until every command sent so far is carried out (a Zab role change reloads the
    /// database from disk, which must see them). The thread publishes its results before it looks
    /// for more work, so an empty queue and an idle thread mean every result is published.
    func waitIdle() {
        var events: [EventLoop.Event] = []
        // The thread signals `idle` each time it finishes a batch; the condition is checked again
        // after every signal (one may be left from an earlier batch), never by polling on a timer.
        while queue.withLock({ !$0.commands.isEmpty || $0.busy }) {
            try? idle.wait(timeoutMs: 1_000, into: &events)
        }
    }

    /// Carries out every command sent so far, then stops the thread and closes the log.
    func stop() {
        queue.withLock { $0.stopping = true }
        loop.waker.wakeup()
        thread?.join()
        thread = nil
        engine.close()
    }

    private func run() {
        var events: [EventLoop.Event] = []
        var batch: [StorageCommand] = []
        var produced: [StorageResult] = []
        while true {
            let stopping = queue.withLock { q in
                swap(&batch, &q.commands)
                q.busy = !batch.isEmpty
                return q.stopping
            }
            if batch.isEmpty {
                if stopping { return }
                try? loop.wait(timeoutMs: -1, into: &events)
                continue
            }
            // One segment at a time (a run of appends is one segment: one group commit), each
            // segment's results published at once. A batch of four snapshot chunks then reports each
            // chunk as it is written, so the loop refills the lane while the rest are still being
            // written, instead of finding the lane idle after the last one.
            var start = 0
            while start < batch.count {
                var end = start + 1
                if case .append = batch[start] {
                    while end < batch.count, case .append = batch[end] { end += 1 }
                }
                engine.execute(Array(batch[start..<end]), into: &produced)
                start = end
                if !produced.isEmpty {
                    results.withLock { $0.append(contentsOf: produced) }
                    produced.removeAll(keepingCapacity: true)
                    loopWaker.wakeup()
                }
            }
            batch.removeAll(keepingCapacity: true)
            queue.withLock { $0.busy = false }
            idle.waker.wakeup()
        }
    }
}
