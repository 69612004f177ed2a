/// What the single-server simulator checks, independently of the code under test:
///
/// - **One zxid sequence.** Every txn the replica hands to the log has the zxid after the previous
///   one (the next epoch's first after an exhausted counter); after a restart the sequence resumes
///   after the recovered zxid, and a zxid is reused only for a txn that was never durable.
/// - **No acknowledged write lost.** A recovered server holds every txn at or below the largest
///   zxid any client saw, and every node each client was told it wrote, with that data.
/// - **The recovered tree is the tree at the recovered zxid**: equal, node for node (path, data,
///   stat, ACL), to a reference tree that applied the same txns, and its session table equal to the
///   reference's.
/// - **Sessions never go backwards.** A session whose creation a client saw acknowledged survives a
///   restart unless its closeSession txn is part of the recovered history.
import ZKCore
import ZKProtocol
import ZKDataTree

struct History {
    /// Txns in zxid order, as proposed; a suffix is replaced when a restart reuses its zxids.
    private(set) var entries: [TxnEntry] = []
    /// The reference: a tree and session table that applied `entries[..<appliedCount]`, every one of
    /// which is final (a recovered server held it).
    let reference: DataTree
    private(set) var referenceSessions: [SessionID: Int32] = [:]
    private var appliedCount = 0

    init(extendedTypesEnabled: Bool) {
        reference = DataTree(extendedTypesEnabled: extendedTypesEnabled)
    }

    var lastZxid: Zxid { entries.last.map { Zxid($0.zxid) } ?? .zero }

    /// The replica handed a txn to the log. Returns a violation, if any.
    mutating func proposed(_ entry: TxnEntry, after previous: Zxid, finalThrough: Zxid) -> String? {
        let zxid = Zxid(entry.zxid)
        let expected = previous.isCounterExhausted ? previous.firstOfNextEpoch() : previous.next()
        guard zxid == expected else {
            return "txn 0x\(zxid.hex) proposed after 0x\(previous.hex) (expected 0x\(expected.hex))"
        }
        if let index = entries.firstIndex(where: { Zxid($0.zxid) >= zxid }) {
            // A zxid proposed again: the txns it replaces were never durable, so never acknowledged.
            guard zxid > finalThrough else {
                return "txn 0x\(zxid.hex) proposed again although a recovered server held 0x\(finalThrough.hex)"
            }
            precondition(index >= appliedCount)
            entries.removeSubrange(index...)
        }
        entries.append(entry)
        return nil
    }

    /// A restart recovered through `zxid`: the txns up to it are final; the rest are forgotten.
    /// Returns a violation if the server recovered a txn that was never proposed.
    mutating func recovered(through zxid: Zxid) -> String? {
        guard zxid <= lastZxid else { return "recovered through 0x\(zxid.hex), but the last txn proposed was 0x\(lastZxid.hex)" }
        while appliedCount < entries.count, Zxid(entries[appliedCount].zxid) <= zxid {
            let entry = entries[appliedCount]
            var changes: [TreeChange] = []
            _ = reference.apply(entry, changes: &changes)
            switch entry.sessionChange {
            case .created(let id, let timeoutMs): referenceSessions[id] = timeoutMs
            case .closed(let id):
                referenceSessions[id] = nil
                closedSessions.insert(id)
            case nil: break
            }
            appliedCount += 1
        }
        entries.removeSubrange(appliedCount...)
        return nil
    }

    /// Sessions whose closeSession txn is part of the final history.
    private(set) var closedSessions: Set<SessionID> = []

    /// Starts the history with a txn that is already final (a seeded data directory).
    mutating func seed(_ entry: TxnEntry) {
        precondition(entries.isEmpty)
        entries.append(entry)
        _ = recovered(through: Zxid(entry.zxid))
    }
}

enum TreeComparison {
    /// The first difference between two trees, walking both from "/" in name order; nil if equal.
    static func difference(_ a: DataTree, _ b: DataTree) -> String? {
        if a.lastProcessedZxid != b.lastProcessedZxid {
            return "last zxid 0x\(a.lastProcessedZxid.hex) != 0x\(b.lastProcessedZxid.hex)"
        }
        var stack = ["/"]
        while let path = stack.popLast() {
            guard let x = a.node(path) else { return "\(path) missing from the recovered tree" }
            guard let y = b.node(path) else { return "\(path) missing from the reference tree" }
            if x.data != y.data { return "\(path): data differs" }
            // Each ensemble member sets /zookeeper/config itself when it starts (its mtime is that
            // server's clock, as in Apache); everything else about it must agree.
            var xStat = x.stat, yStat = y.stat
            if path == DataTree.configPath { xStat.mtime = 0; yStat.mtime = 0 }
            if xStat != yStat { return "\(path): stat \(x.stat) != \(y.stat)" }
            if x.acl != y.acl { return "\(path): ACL differs" }
            let xs = x.children.sorted(), ys = y.children.sorted()
            if xs != ys { return "\(path): children \(xs) != \(ys)" }
            for child in xs.reversed() { stack.append(path == "/" ? "/" + child : path + "/" + child) }
        }
        return nil
    }
}
