/// Durable storage in the server shell: recovery at startup, handing txns to the storage thread,
/// turning its results into `.logSynced`/`.logFailed` inputs, scheduling snapshots (every
/// `snapCount` txns, randomized like Apache's so the servers of an ensemble do not all snapshot at
/// once) and autopurge.
import ZKCore
import ZKProtocol
import ZKDataTree
import ZKStorage
import ZKReplica
import ZKPosix

/// count/sum/min/max of a duration, reported by `mntr` as Apache's BASIC summaries.
struct DurationSummary {
    var count: Int64 = 0
    var sum: Int64 = 0
    var min: Int64 = 0
    var max: Int64 = 0

    mutating func add(_ ms: Int64) {
        min = count == 0 ? ms : Swift.min(min, ms)
        max = Swift.max(max, ms)
        count += 1
        sum += ms
    }

    func metrics(_ name: String) -> [(String, String)] {
        let average = count == 0 ? "0.0" : String(Double(sum) / Double(count))
        return [("avg_\(name)", average), ("min_\(name)", String(min)), ("max_\(name)", String(max)),
                ("cnt_\(name)", String(count)), ("sum_\(name)", String(sum))]
    }
}

extension Server {
    /// Loads the newest snapshot and replays the logs; a fresh directory starts empty.
    static func recover(_ config: ServerConfig, layout: StorageLayout, logger: Logger) throws(ServerError) -> RecoveredDatabase {
        let start = monotonicMilliseconds()
        let database: RecoveredDatabase
        do {
            database = try Recovery.recover(disk: PosixDisk(), layout: layout, extendedTypesEnabled: config.extendedTypesEnabled)
        } catch {
            throw .fatal("Unable to load database on disk: \(error)")
        }
        for warning in database.warnings { logger.warn(warning) }
        if let zxid = database.snapshotZxid {
            logger.info("Snapshot loaded from \(layout.snapshotDirectory)/\(SnapshotFormat.fileName(zxid: zxid)), \(database.replayedTxns) txns replayed, last zxid 0x\(database.lastZxid.hex), \(database.sessions.count) sessions, in \(monotonicMilliseconds() - start) ms")
        } else {
            logger.info("No snapshot in \(layout.snapshotDirectory): starting with an empty database")
        }
        return database
    }

    /// Writes a snapshot of the current tree on this thread (at startup, as Apache does, so the
    /// data directory always has one, and the logs replayed so far need not be replayed again).
    func writeSnapshotNow() throws(ServerError) {
        let disk = PosixDisk()
        var writer = SnapshotWriter(tree: replica.tree, sessions: replica.sessionTable)
        let name = SnapshotFormat.fileName(zxid: writer.zxid)
        let path = layout.snapshotDirectory + "/" + name
        let start = monotonicMilliseconds()
        do {
            // "tmp.snapshot.<zxid>": a name neither we nor Apache read as a snapshot while incomplete
            // (Apache's parser would take "snapshot.<zxid>.tmp" for one).
            let temporary = layout.snapshotDirectory + "/tmp." + name
            let file = try disk.create(temporary)
            defer { file.close() }
            var offset: Int64 = 0
            while let chunk = writer.nextChunk(nodesMax: 65536) {
                try file.write(chunk, at: offset)
                offset += Int64(chunk.count)
            }
            try file.sync()
            try disk.rename(temporary, to: path)
            try disk.syncDirectory(layout.snapshotDirectory)
        } catch {
            throw .fatal("Unable to write snapshot \(path): \(error)")
        }
        snapshotTimes.add(monotonicMilliseconds() - start)
        logger.info("Snapshot \(path) written (\(writer.nodesWritten) nodes) in \(monotonicMilliseconds() - start) ms")
    }

    /// Hands the turn's txns to the storage thread, in zxid order.
    func sendToLog(_ entries: [TxnEntry]) {
        storage?.send(entries.map { .append($0.serialized(), Zxid($0.zxid)) })
    }

    /// Turns storage results into replica inputs, and moves an ongoing snapshot forward.
    func handleStorageResults() {
        guard let storage, let snapshotter else { return }
        for result in storage.takeResults() + snapshotter.takeResults() {
            switch result {
            case .synced(let zxid, let syncMs, let txns):
                if config.forceSync { fsyncTimes.add(syncMs) }
                txnsSinceSnapshot += txns
                replica.handle(.logSynced(through: zxid), now: Server.clock())
            case .failed(let reason):
                logger.error("Transaction log failure: \(reason)")
                replica.handle(.logFailed(reason), now: Server.clock())
            case .snapshotWritten(let zxid, let elapsedMs, let bytes):
                snapshotInProgress = false
                snapshotTimes.add(elapsedMs)
                logger.info("Snapshot \(SnapshotFormat.fileName(zxid: zxid)) written (\(bytes) bytes) in \(elapsedMs) ms")
            case .snapshotFailed(let reason):
                snapshotInProgress = false
                logger.warn("Snapshot failed: \(reason)")
            case .purged(let paths):
                for path in paths { logger.info("Purged \(path)") }
            case .purgeFailed(let reason):
                logger.warn("Autopurge failed: \(reason)")
            }
        }
        maybeStartSnapshot()
        continueSnapshot()
    }

    /// `SyncRequestProcessor.shouldSnapshot`: after snapCount/2 + rand(snapCount/2) txns.
    private func maybeStartSnapshot() {
        guard let storage, let snapshotter, !snapshotInProgress, replica.logFailure == nil,
              txnsSinceSnapshot >= snapshotThreshold else { return }
        txnsSinceSnapshot = 0
        snapshotThreshold = Server.randomThreshold(config.snapCount, &random)
        snapshotInProgress = true
        let writer = SnapshotWriter(tree: replica.tree, sessions: replica.sessionTable)
        storage.send(.roll)
        snapshotter.send(.snapshotBegin(writer.zxid))
        snapshotWriter = writer
        logger.info("Creating new log file and snapshot at zxid 0x\(writer.zxid.hex)")
    }

    /// A slice of the snapshot per loop turn, so requests keep flowing while it is written.
    func continueSnapshot() {
        // At most a few chunks wait for the disk: a slow disk slows the snapshot, not memory.
        guard var writer = snapshotWriter, let snapshotter, snapshotter.queuedCommands < 4 else { return }
        if let chunk = writer.nextChunk(nodesMax: 4096) {
            snapshotter.send(.snapshotChunk(chunk))
            snapshotWriter = writer
            if writer.isFinished {
                snapshotter.send(.snapshotEnd)
                snapshotWriter = nil
            }
        } else {
            snapshotWriter = nil
        }
    }

    static func randomThreshold(_ snapCount: Int, _ random: inout SeededRandom) -> Int {
        let half = max(1, snapCount / 2)
        return half + Int.random(in: 0..<half, using: &random)
    }

    /// Autopurge: at startup and every `autopurge.purgeInterval` hours (0 = never), as Apache's
    /// DatadirCleanupManager does.
    func purgeIfDue(nowMs: Int64) {
        let intervalMs = Int64(config.autopurgePurgeIntervalMs ?? config.autopurgePurgeIntervalHours * 3_600_000)
        guard intervalMs > 0, nowMs >= nextPurgeMs else { return }
        nextPurgeMs = nowMs + intervalMs
        storage?.send(.purge(retainCount: config.autopurgeSnapRetainCount))
    }

    var storageMetrics: [(String, String)] {
        fsyncTimes.metrics("fsynctime") + snapshotTimes.metrics("snapshottime")
    }
}
