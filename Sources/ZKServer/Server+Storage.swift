/// Durable storage in the server shell: recovery and the startup snapshot, handing the replica's
/// storage commands to the thread of their lane, and its results back as `.storage` inputs. What to
/// store and when (snapshots, rolls, purges) is the replica's `StorageSchedule`; how is the
/// `StorageEngine`'s.
import ZKCore
import ZKProtocol
import ZKDataTree
import ZKStorage
import ZKReplica
import ZKPosix

extension Server {
    /// Loads the newest snapshot and replays the logs; a fresh directory starts empty.
    static func recover(_ config: ServerConfig, layout: StorageLayout, logger: Logger) throws(ServerError) -> RecoveredDatabase {
        let start = monotonicMilliseconds()
        let database: RecoveredDatabase
        do {
            database = try Recovery.recover(disk: PosixDisk(), layout: layout, extendedTypesEnabled: config.extendedTypesEnabled,
                                            nanoseconds: monotonicNanoseconds)
        } catch {
            throw .fatal("Unable to load database on disk: \(error)")
        }
        for warning in database.warnings { logger.warn(warning) }
        // Loading left the snapshot's buffers free in the heap: give them back before serving.
        MemoryRelease.trimFreeMemory()
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
        let engine = StorageEngine(disk: PosixDisk(), layout: layout, preallocateBytes: 0, forceSync: true,
                                   limits: config.limits, nanoseconds: monotonicNanoseconds)
        defer { engine.close() }
        let zxid = replica.lastProcessedZxid
        let result = engine.writeSnapshot(of: replica.tree, sessions: replica.sessionTable)
        guard case .snapshotWritten = result else {
            throw .fatal("Unable to write snapshot \(layout.snapshotDirectory)/\(SnapshotFormat.fileName(zxid: zxid)): \(result)")
        }
        // Through the replica (which logs it), so `mntr` counts it as Apache counts its startup snapshot.
        replica.handle(.storage(result), now: Server.clock())
    }

    /// Hands storage commands to their lanes' threads, in order within each lane.
    func persist(_ commands: [StorageCommand]) {
        guard !commands.isEmpty, let logLane, let snapshotLane else { return }
        logBatch.removeAll(keepingCapacity: true)
        snapshotBatch.removeAll(keepingCapacity: true)
        for command in commands {
            switch command.lane {
            case .log: logBatch.append(command)
            case .snapshot: snapshotBatch.append(command)
            }
        }
        logLane.send(logBatch)
        snapshotLane.send(snapshotBatch)
    }

    /// Turns storage results into replica inputs.
    func handleStorageResults() {
        guard let logLane, let snapshotLane else { return }
        storageResults.removeAll(keepingCapacity: true)
        logLane.takeResults(into: &storageResults)
        snapshotLane.takeResults(into: &storageResults)
        for result in storageResults {
            if case .logFailed(let reason) = result { logger.error("Transaction log failure: \(reason)") }
            replica.handle(.storage(result), now: Server.clock())
        }
    }
}
