import Testing
@testable import ZKCore
@testable import ZKProtocol
@testable import ZKDataTree
@testable import ZKReplica

/// The trap: the zxid counter reaching 0xffffffff stopped the server (and stopped it again at every
/// restart, since the tree's last zxid was the exhausted one). Apache's leader moves to a new
/// epoch; a standalone server does the same: the next txn is (epoch + 1, counter 1).
@Suite struct ZxidRolloverTests {
    static func tree(at zxid: Zxid) -> DataTree {
        let tree = DataTree(extendedTypesEnabled: false)
        tree.setLastProcessedZxid(zxid)
        return tree
    }

    @Test func theCounterRollsIntoTheNextEpoch() throws {
        let h = Harness(tree: Self.tree(at: Zxid(epoch: Epoch(0), counter: 0xffff_fffe)))
        let (c, _) = h.connect()
        // createSession took the counter's last value.
        #expect(h.replica.lastProcessedZxid == Zxid(epoch: Epoch(0), counter: 0xffff_ffff))
        let created = h.create(c, "/after")
        #expect(created.err == .ok)
        #expect(Zxid(created.zxid) == Zxid(epoch: Epoch(1), counter: 1))
        let set = h.setData(c, "/after", [1])
        #expect(Zxid(set.zxid) == Zxid(epoch: Epoch(1), counter: 2))
        let node = try #require(h.replica.tree.node("/after"))
        #expect(node.stat.czxid == Zxid(epoch: Epoch(1), counter: 1).rawValue)
        #expect(node.stat.mzxid == Zxid(epoch: Epoch(1), counter: 2).rawValue)
        #expect(h.logEntries.map(\.zxid) == [0xffff_ffff, 0x1_0000_0001, 0x1_0000_0002])
    }

    /// A server restarted on a tree whose last txn exhausted the counter starts in the next epoch
    /// (the old code trapped at once, on every restart).
    @Test func aRestartAfterTheExhaustedCounterStartsInTheNextEpoch() {
        let h = Harness(tree: Self.tree(at: Zxid(epoch: Epoch(3), counter: 0xffff_ffff)))
        let (c, _) = h.connect()
        #expect(h.replica.lastProcessedZxid == Zxid(epoch: Epoch(4), counter: 1))
        #expect(Zxid(h.create(c, "/x").zxid) == Zxid(epoch: Epoch(4), counter: 2))
    }

    /// Dropped txns (a failed log) give their zxids back, also across an epoch boundary.
    @Test func zxidsDroppedByALogFailureAreReusedAfterTheBoundary() {
        let h = Harness(tree: Self.tree(at: Zxid(epoch: Epoch(0), counter: 0xffff_fffe)))
        let (c, _) = h.connect()
        _ = h.send(c, .create, CreateRequest(path: "/lost", data: [], acl: ACL.openACLUnsafe, flags: 0))
        #expect(h.replica.lastProposedZxid == Zxid(epoch: Epoch(1), counter: 1))
        h.handle(.logFailed("EIO"))
        #expect(h.replica.lastProposedZxid == Zxid(epoch: Epoch(0), counter: 0xffff_ffff))
    }

    @Test func zxidArithmetic() {
        let last = Zxid(epoch: Epoch(7), counter: .max)
        #expect(last.isCounterExhausted)
        #expect(!Zxid(epoch: Epoch(7), counter: .max - 1).isCounterExhausted)
        #expect(last.firstOfNextEpoch() == Zxid(epoch: Epoch(8), counter: 1))
        #expect(last.firstOfNextEpoch() > last)
    }
}
