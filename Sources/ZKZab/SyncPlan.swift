/// How a leader brings a connecting learner up to date (`LearnerHandler.syncFollower` and
/// `queueCommittedProposals`): DIFF with the committed txns the learner lacks, TRUNC when it has txns
/// the leader never committed, SNAP when the leader's committed log does not reach back far enough.
import ZKCore
import ZKProtocol

/// A txn as Zab carries it: its zxid and its serialized `TxnEntry` (a PROPOSAL's data).
public struct Proposal: Sendable, Equatable {
    public var zxid: Zxid
    public var data: [UInt8]

    public init(zxid: Zxid, data: [UInt8]) {
        self.zxid = zxid
        self.data = data
    }
}

public enum SyncPlan: Sendable, Equatable {
    /// Send these packets (DIFF or TRUNC first, then PROPOSAL/COMMIT pairs); the learner is then at
    /// `through`.
    case packets([QuorumPacket], through: Zxid)
    /// Send SNAP and the leader's snapshot at its last processed zxid.
    case snapshot

    /// - Parameters:
    ///   - peerLastZxid: the learner's last logged zxid (from its ACKEPOCH).
    ///   - lastProcessedZxid: the leader's tree's.
    ///   - committedLog: the leader's most recent committed proposals, oldest first.
    public static func decide(peerLastZxid: Zxid, lastProcessedZxid: Zxid, committedLog: [Proposal]) -> SyncPlan {
        let peerIsNewEpoch = peerLastZxid.counter == 0
        let minCommitted = committedLog.first?.zxid ?? lastProcessedZxid
        let maxCommitted = committedLog.last?.zxid ?? lastProcessedZxid
        if lastProcessedZxid == peerLastZxid {
            return .packets([QuorumPacket(.diff, zxid: peerLastZxid)], through: peerLastZxid)
        }
        if peerLastZxid > maxCommitted && !peerIsNewEpoch {
            return .packets([QuorumPacket(.trunc, zxid: maxCommitted)], through: maxCommitted)
        }
        if minCommitted <= peerLastZxid && peerLastZxid <= maxCommitted {
            return queueCommitted(committedLog, peerLastZxid: peerLastZxid, lastCommitted: maxCommitted) ?? .snapshot
        }
        return .snapshot
    }

    /// `queueCommittedProposals` over the committed log; nil where Apache falls back to a snapshot
    /// (the learner's own last txn is of another epoch than the first one it lacks, or no operation
    /// packet could be chosen).
    private static func queueCommitted(_ log: [Proposal], peerLastZxid: Zxid, lastCommitted: Zxid) -> SyncPlan? {
        let peerIsNewEpoch = peerLastZxid.counter == 0
        var packets: [QuorumPacket] = []
        var needOperation = true
        var queued = peerLastZxid
        var previous: Zxid?
        for proposal in log {
            let zxid = proposal.zxid
            if zxid < peerLastZxid {
                previous = zxid
                continue
            }
            if needOperation {
                if zxid == peerLastZxid {
                    packets.append(QuorumPacket(.diff, zxid: lastCommitted))
                    needOperation = false
                    continue
                }
                if peerIsNewEpoch {
                    packets.append(QuorumPacket(.diff, zxid: lastCommitted))
                    needOperation = false
                } else if zxid > peerLastZxid {
                    // The learner has a txn the leader lacks: cut it back to the leader's previous one,
                    // unless that would cross into another epoch.
                    guard zxid.epoch == peerLastZxid.epoch, let previous else { return nil }
                    packets.append(QuorumPacket(.trunc, zxid: previous))
                    needOperation = false
                }
            }
            if zxid <= queued { continue }
            packets.append(QuorumPacket(.proposal, zxid: zxid, data: proposal.data))
            packets.append(QuorumPacket(.commit, zxid: zxid))
            queued = zxid
        }
        if needOperation && peerIsNewEpoch {
            packets.append(QuorumPacket(.diff, zxid: lastCommitted))
            needOperation = false
        }
        if needOperation { return nil }
        return .packets(packets, through: queued)
    }
}
