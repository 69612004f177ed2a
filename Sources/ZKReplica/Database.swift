/// The replicated state machine (Apache's `ZKDatabase` plus its `PrepRequestProcessor`): the tree,
/// the replicated session table, and the prepare stage that turns requests into txns. It knows
/// nothing of connections, watches or the wire: requests come in as `Request` values (from a local
/// client or, on a Zab leader, from any server), txns go out, and committed txns come back to
/// `apply` in zxid order. Every server of an ensemble applies the same txns and so holds the same
/// `Database`.
///
/// Invariants, each checked on both sides:
/// - zxids are handed out one after another (`nextZxid`), and applied in that order (here and in
///   `DataTree.apply`);
/// - a txn is applied only after the caller says it is committed (`committedThrough`).
import ZKCore
import ZKProtocol
import ZKDataTree

/// A write request as the state machine sees it: who asked (session and cxid, which match the
/// reply to its request, as Apache's CommitProcessor does), what, and with which identities. No
/// `Connection`: a follower forwards exactly this to the leader.
struct Request {
    var session: SessionID
    var cxid: Int32
    var write: WriteRequest
    var authInfo: [Id]
}

/// What applying one committed txn did.
struct AppliedTxn {
    var result: ApplyResult
    var sessionChange: SessionChange?
}

final class Database {
    private(set) var tree: DataTree
    /// The replicated session table: every session whose createSession txn was applied and whose
    /// closeSession txn was not, with its negotiated timeout.
    private(set) var sessionTimeouts: [SessionID: Int32]
    private var preparer = Preparer()
    /// The newest zxid handed out by `nextZxid`.
    private(set) var lastProposedZxid: Zxid
    private let config: ReplicaConfig

    init(tree: DataTree, sessions: [SessionID: Int32], config: ReplicaConfig) {
        self.tree = tree
        sessionTimeouts = sessions
        lastProposedZxid = tree.lastProcessedZxid
        self.config = config
    }

    var lastAppliedZxid: Zxid { tree.lastProcessedZxid }

    /// Replaces the tree and the session table (a Zab role ended and the database was reloaded from
    /// disk, or a leader's SNAP arrived). Nothing may be prepared and unapplied.
    func replace(tree: DataTree, sessions: [SessionID: Int32]) {
        self.tree = tree
        sessionTimeouts = sessions
        preparer.pending = PendingChanges()
        lastProposedZxid = tree.lastProcessedZxid
    }

    /// A Zab leader's epoch is established: its first txn is `epoch << 32 | 1`.
    func startEpoch(_ epoch: Epoch) {
        let start = Zxid(epoch: epoch, counter: 0)
        invariant(start >= lastProposedZxid, "epoch \(epoch.rawValue) starts below the last proposed txn 0x\(lastProposedZxid.hex)")
        lastProposedZxid = start
    }

    /// A Zab learner received a txn the leader prepared: it will be applied here in its turn.
    func noteProposed(_ zxid: Zxid) {
        invariant(zxid > lastProposedZxid, "txn 0x\(zxid.hex) received after 0x\(lastProposedZxid.hex)")
        lastProposedZxid = zxid
    }
    var hasPreparedTxns: Bool { lastProposedZxid > lastAppliedZxid }

    /// The next zxid. When the epoch's counter is used up, the next epoch starts at counter 1: what
    /// Apache's leader gets from the re-election it forces, and what a standalone server must do
    /// rather than stop (and, since the tree's last zxid is the exhausted one, stop again after
    /// every restart).
    private func nextZxid() -> Zxid {
        let next = lastProposedZxid.isCounterExhausted ? lastProposedZxid.firstOfNextEpoch() : lastProposedZxid.next()
        invariant(next > lastProposedZxid, "zxid 0x\(next.hex) handed out after 0x\(lastProposedZxid.hex)")
        lastProposedZxid = next
        return next
    }

    // MARK: Prepare

    func prepare(_ request: Request, time: Int64) -> TxnEntry {
        let zxid = nextZxid()
        if case .closeSession = request.write {
            return preparer.prepareCloseSession(request.session, cxid: request.cxid, tree: tree, zxid: zxid, time: time)
        }
        let context = PrepareContext(tree: tree, session: request.session, authInfo: request.authInfo, zxid: zxid,
                                     time: time, extendedTypesEnabled: config.extendedTypesEnabled,
                                     skipACL: config.skipACL, reconfigEnabled: config.reconfigEnabled)
        return preparer.prepare(request.write, cxid: request.cxid, context: context)
    }

    func prepareCreateSession(_ session: SessionID, timeoutMs: Int32, time: Int64) -> TxnEntry {
        preparer.prepareCreateSession(session, timeoutMs: timeoutMs, zxid: nextZxid(), time: time)
    }

    /// The closeSession txn of an expired session (cxid 0, as Apache's expirer).
    func prepareExpiry(_ session: SessionID, time: Int64) -> TxnEntry {
        preparer.prepareCloseSession(session, cxid: 0, tree: tree, zxid: nextZxid(), time: time)
    }

    /// A deleteContainer txn for an empty container or an expired TTL node, unless a prepared txn
    /// already touches the path.
    func prepareDeleteContainer(_ path: String, time: Int64) -> TxnEntry? {
        guard preparer.pending.byPath[PathKey(path)] == nil else { return nil }
        return preparer.prepareDeleteContainer(path, tree: tree, zxid: nextZxid(), time: time)
    }

    /// Forgets every prepared txn that was not applied (the log failed, so they never will be); their
    /// zxids are handed out again.
    func dropPrepared() {
        preparer.pending = PendingChanges()
        lastProposedZxid = lastAppliedZxid
    }

    // MARK: Apply

    /// Applies a committed txn: the next one in zxid order.
    /// Applies a committed txn; the tree changes it made (for watches) replace `changes`' contents
    /// (a buffer the caller reuses: one allocation fewer per txn on the hottest path).
    func apply(_ entry: TxnEntry, committedThrough: Zxid, changes: inout [TreeChange]) -> AppliedTxn {
        let zxid = Zxid(entry.zxid)
        invariant(zxid <= committedThrough, "txn 0x\(zxid.hex) applied before it was committed (0x\(committedThrough.hex))")
        invariant(zxid > lastAppliedZxid && zxid <= lastProposedZxid,
                  "txn 0x\(zxid.hex) applied out of order (applied 0x\(lastAppliedZxid.hex), proposed 0x\(lastProposedZxid.hex))")
        changes.removeAll(keepingCapacity: true)
        let result = tree.apply(entry, changes: &changes)
        preparer.pending.applied(through: zxid)
        return AppliedTxn(result: result, sessionChange: applySession(entry))
    }

    private func applySession(_ entry: TxnEntry) -> SessionChange? {
        guard let change = entry.sessionChange else { return nil }
        switch change {
        case .created(let id, let timeoutMs): sessionTimeouts[id] = timeoutMs
        case .closed(let id): guard sessionTimeouts.removeValue(forKey: id) != nil else { return nil }
        }
        return change
    }

    /// The session table in id order, for snapshots.
    var sessionTable: [(SessionID, Int32)] {
        sessionTimeouts.map { ($0.key, $0.value) }.sorted { $0.0 < $1.0 }
    }
}
