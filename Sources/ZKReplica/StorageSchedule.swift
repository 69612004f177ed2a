/// The storage policy above the disk, decided in the core so a simulator exercises it: when to
/// snapshot (`SyncRequestProcessor.shouldSnapshot`: after snapCount/2 + rand(snapCount/2) txns, so
/// the servers of an ensemble do not all snapshot at once), streaming the snapshot in chunks with
/// backpressure (at most `Limits.snapshotChunksInFlightMax` chunks waiting for the disk, so a slow
/// disk slows the snapshot, not memory), rolling the log with it, and autopurge timing.
import ZKCore
import ZKStorage
import ZKDataTree

struct StorageSchedule {
    private let snapCount: Int
    private let purgeIntervalMs: Int64
    private let retainCount: Int
    private let limits: Limits
    private let workClock: (@Sendable () -> UInt64)?
    private var random: SeededRandom
    private var txnsSinceSnapshot = 0
    private var threshold: Int
    /// The snapshot being streamed, and how many of its chunks the disk has not written yet.
    private var writer: SnapshotWriter?
    private var chunksInFlight = 0
    /// From `snapshotBegin` until `snapshotWritten`/`snapshotFailed`.
    private(set) var snapshotInProgress = false
    private var nextPurgeMs: Int64
    /// Client requests received since the last chunk, and when that chunk's serialization ended (on
    /// the work clock): the share of the loop a snapshot may take (`chunkBudgetNanoseconds`).
    private var requestsSinceChunk = 0
    private var lastChunkEndNs: UInt64 = 0

    init(config: ReplicaConfig, nowMs: Int64) {
        snapCount = config.snapCount
        purgeIntervalMs = config.autopurgeIntervalMs
        retainCount = config.autopurgeRetainCount
        limits = config.limits
        workClock = config.workClockNanoseconds
        random = SeededRandom(seed: config.randomSeed)
        threshold = StorageSchedule.randomThreshold(config.snapCount, &random)
        // Autopurge runs at the first tick, then every interval (Apache's DatadirCleanupManager).
        nextPurgeMs = nowMs
    }

    static func randomThreshold(_ snapCount: Int, _ random: inout SeededRandom) -> Int {
        let half = max(1, snapCount / 2)
        return half + Int.random(in: 0..<half, using: &random)
    }

    /// A client request arrived (the loop has other work than the snapshot).
    mutating func noteRequest() { requestsSinceChunk &+= 1 }

    /// How long the next chunk may take: the whole budget when the loop had nothing else to do since
    /// the last chunk; otherwise half the time that passed since (so requests keep at least two
    /// thirds of a busy loop), but never less than a tenth of the budget, so a snapshot of any tree
    /// under any load still ends in bounded time.
    private func chunkBudgetNanoseconds(now: UInt64) -> UInt64 {
        let full = UInt64(limits.snapshotChunkMicrosecondsMax) * 1_000
        guard requestsSinceChunk > 0, lastChunkEndNs > 0, now > lastChunkEndNs else { return full }
        return min(full, max(full / 10, (now - lastChunkEndNs) / 2))
    }

    /// A group commit finished: counts its txns toward the next snapshot.
    mutating func logged(txns: Int) {
        txnsSinceSnapshot += txns
    }

    /// Starts a snapshot of `tree` when enough txns were logged since the last one: the log rolls
    /// in the same step, so the snapshot's zxid lies between the txns the old and new logs hold.
    mutating func maybeStartSnapshot(tree: DataTree, sessions: [(SessionID, Int32)], _ persist: inout [StorageCommand]) -> Zxid? {
        guard !snapshotInProgress, txnsSinceSnapshot >= threshold else { return nil }
        txnsSinceSnapshot = 0
        threshold = StorageSchedule.randomThreshold(snapCount, &random)
        let started = SnapshotWriter(tree: tree, sessions: sessions)
        writer = started
        snapshotInProgress = true
        chunksInFlight = 0
        persist.append(.roll)
        persist.append(.snapshotBegin(started.zxid))
        streamSnapshot(&persist)
        return started.zxid
    }

    /// Sends chunks until `snapshotChunksInFlightMax` wait for the disk, then `.snapshotEnd` once
    /// the writer is done. Chunks are taken from the live tree as it was when the snapshot began
    /// (the tree captures nodes that change meanwhile).
    mutating func streamSnapshot(_ persist: inout [StorageCommand]) {
        // The writer is advanced in place: a copy of it would share, and then copy, its stack of
        // frames on every chunk (a parent with 200,000 children made each chunk cost milliseconds).
        while writer != nil, chunksInFlight < limits.snapshotChunksInFlightMax {
            var deadline: (() -> Bool)?
            if let workClock {
                let now = workClock()
                let end = now + chunkBudgetNanoseconds(now: now)
                deadline = { workClock() >= end }
            }
            defer {
                requestsSinceChunk = 0
                if let workClock { lastChunkEndNs = workClock() }
            }
            guard let chunk = writer!.nextChunk(nodesMax: limits.snapshotChunkNodesMax, bytesMax: limits.snapshotChunkBytesMax,
                                                pastDeadline: deadline) else {
                writer = nil
                persist.append(.snapshotEnd)
                return
            }
            persist.append(.snapshotChunk(chunk))
            chunksInFlight += 1
            if writer!.isFinished {
                writer = nil
                persist.append(.snapshotEnd)
                return
            }
        }
    }

    mutating func chunkWritten(_ persist: inout [StorageCommand]) {
        invariant(chunksInFlight > 0, "a snapshot chunk written that was never sent")
        chunksInFlight -= 1
        streamSnapshot(&persist)
    }

    mutating func snapshotFinished() {
        snapshotInProgress = false
    }

    /// Whether autopurge is due at `nowMs`; if so the next one is scheduled.
    mutating func purgeIfDue(nowMs: Int64, _ persist: inout [StorageCommand]) {
        guard purgeIntervalMs > 0, nowMs >= nextPurgeMs else { return }
        nextPurgeMs = nowMs + purgeIntervalMs
        persist.append(.purge(retainCount: retainCount))
    }
}
