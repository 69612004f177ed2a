/// The server shell's part in an ensemble: what the replica starts from (`myid`, the epoch
/// files, the quorum from `server.N` lines), the network's inputs handed to the replica, and the
/// two blocking jobs Zab asks of the shell between roles: reloading the database from disk and
/// saving a snapshot the leader sent.
import ZKCore
import ZKProtocol
import ZKDataTree
import ZKStorage
import ZKZab
import ZKReplica
import ZKPosix

extension Server {
    /// The quorum, this server's id and its epoch files. A missing `currentEpoch` is the epoch of the last
    /// logged txn and a missing `acceptedEpoch` is `currentEpoch`, as Apache's `loadDataBase` takes them.
    static func ensembleStart(_ config: ServerConfig, layout: StorageLayout, database: RecoveredDatabase, logger: Logger) throws(ServerError) -> EnsembleStart {
        let lastZxid = database.lastZxid
        guard let myID = config.myID else { throw .fatal("an ensemble member started without its myid") }
        let members = config.servers.map { server in
            // The client address as Apache's QuorumServer prints it: "host:port", 0.0.0.0 for any.
            QuorumMember(id: server.id, host: server.host, quorumPort: server.quorumPort, electionPort: server.electionPort,
                         role: server.learnerType == .observer ? .observer : .participant,
                         dynamicClientAddress: server.clientPort.map { port in
                             let host = server.clientHost ?? "0.0.0.0"
                             return (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
                         })
        }
        let timing = ZabTiming(tickTimeMs: Int64(config.tickTimeMs), initLimitTicks: Int64(config.initLimitTicks),
                               syncLimitTicks: Int64(config.syncLimitTicks))
        var peer = PeerConfig(myID: myID, verifier: QuorumVerifier(members: members, version: config.quorumVersion), timing: timing)
        // Apache waits 200 ms after a quorum agrees before it trusts the vote; 25 ms is plenty for
        // a better vote to arrive on a LAN, and an eighth of the time without a leader. Timing only:
        // the votes and the rules are Apache's.
        peer.finalizeWaitMs = 25
        let disk = PosixDisk()
        let current: Epoch
        let accepted: Epoch
        do {
            current = try EpochFile.read(.currentEpoch, disk: disk, layout: layout) ?? lastZxid.epoch
            accepted = try EpochFile.read(.acceptedEpoch, disk: disk, layout: layout) ?? current
        } catch {
            throw .fatal("Unable to read the epoch files in \(layout.snapshotDirectory): \(error)")
        }
        guard current <= accepted else {
            throw .fatal("The current epoch, \(current.rawValue), is newer than the accepted epoch, \(accepted.rawValue), in \(layout.snapshotDirectory)")
        }
        guard lastZxid.epoch <= current else {
            throw .fatal("The current epoch, \(current.rawValue), is older than the last zxid, 0x\(lastZxid.hex)")
        }
        logger.info("myid \(myID), acceptedEpoch \(accepted.rawValue), currentEpoch \(current.rawValue), last zxid 0x\(lastZxid.hex)")
        // The DIFF window starts with the txns recovery replayed from the log, as Apache's does: a
        // leader restarted a moment ago can DIFF a follower that was a little behind, not SNAP it.
        var committedLog: [Proposal] = []
        if database.replayedTxns > 0 {
            do {
                committedLog = try TxnLogHistory.txns(after: database.snapshotZxid ?? Zxid(0), countMax: database.replayedTxns, disk: disk, layout: layout)
                    .suffix(peer.committedLogCountMax).map { Proposal(zxid: $0.zxid, data: $0.txn) }
            } catch {
                logger.warn("Cannot read the log back for the DIFF window: \(error); followers behind will get a snapshot")
            }
        }
        return EnsembleStart(peer: peer, acceptedEpoch: accepted, currentEpoch: current, lastLoggedZxid: lastZxid, committedLog: committedLog)
    }

    /// Hands what the network received to the replica.
    func feedPeerInputs() {
        guard let peers else { return }
        while !peers.inputs.isEmpty {
            let inputs = peers.inputs
            peers.inputs.removeAll()
            for input in inputs { replica.handle(.peer(input), now: Server.clock()) }
        }
    }

    func carryOut(_ output: PeerOutput) {
        switch output {
        case .reloadDatabase:
            reloadDatabase()
        case .saveSnapshot:
            let engine = StorageEngine(disk: PosixDisk(), layout: layout, preallocateBytes: 0, forceSync: true,
                                       limits: config.limits, nanoseconds: monotonicNanoseconds)
            let result = engine.writeSnapshot(of: replica.tree, sessions: replica.sessionTable)
            engine.close()
            var failure: String?
            if case .snapshotWritten = result {} else { failure = "\(result)" }
            replica.handle(.peer(.snapshotSaved(failure: failure)), now: Server.clock())
        case .sendNotification, .listenForLearners, .sendToLearner, .closeLearner, .connectToLeader, .sendToLeader,
             .closeLeaderConnection:
            peers?.carryOut(output, nowMs: monotonicMilliseconds())
        }
        feedPeerInputs()
    }

    /// Waits for the log lane to finish what it was sent (and hands its results to the replica
    /// first), then loads the database from disk, as at startup.
    private func reloadDatabase() {
        logLane?.waitIdle()
        handleStorageResults()
        if replica.logFailure != nil {
            // The log failed (a full disk, say): the lane refuses everything since. Leaving the role
            // is the place to try again, as Apache does with a new FollowerZooKeeperServer: a new
            // lane, after recovery has cut whatever the failed write left, and the replica forgets
            // the failure with the reload. If the disk is still bad, the next write fails again.
            logLane?.stop()
            logLane = nil
            do { try startLogLane() } catch {
                logger.error("Cannot restart the transaction log after its failure: \(error); shutting down")
                stopping = true
                return
            }
            logger.info("Transaction log lane restarted after its failure")
        }
        let start = monotonicMilliseconds()
        do {
            let database = try Recovery.recover(disk: PosixDisk(), layout: layout, extendedTypesEnabled: config.extendedTypesEnabled)
            for warning in database.warnings { logger.warn(warning) }
            logger.info("Database reloaded in \(monotonicMilliseconds() - start) ms: last zxid 0x\(database.lastZxid.hex), \(database.replayedTxns) txns replayed")
            replica.handle(.peer(.databaseReloaded(tree: database.tree, sessions: database.sessions, lastZxid: database.lastZxid)), now: Server.clock())
        } catch {
            // The data on disk cannot be read back: this server must not vote with a history it
            // cannot serve. Stop, as Apache does when loadDataBase fails.
            logger.error("Unable to reload the database: \(error); shutting down")
            stopping = true
        }
    }
}
