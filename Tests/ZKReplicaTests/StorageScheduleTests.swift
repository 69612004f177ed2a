import Testing
@testable import ZKCore
@testable import ZKProtocol
@testable import ZKDataTree
@testable import ZKStorage
@testable import ZKReplica

/// The storage policy the replica decides: when to snapshot, how the snapshot streams with
/// backpressure, when autopurge runs, and what `mntr` reports of fsync and snapshot times.
@Suite struct StorageScheduleTests {
    static func tree(nodes: Int) -> DataTree {
        let tree = DataTree(extendedTypesEnabled: false)
        var changes: [TreeChange] = []
        for i in 0..<nodes {
            let entry = TxnEntry(header: TxnHeader(clientId: 1, cxid: Int32(i), zxid: Int64(i + 1), time: 1, type: OpCode.create.rawValue),
                                 txn: .create(path: "/n\(i)", data: [], acl: ACL.openACLUnsafe, ephemeral: false, parentCVersion: Int32(i + 1)))
            _ = tree.apply(entry, changes: &changes)
        }
        return tree
    }

    static func schedule(snapCount: Int = 10, chunkNodes: Int = 2, chunksInFlight: Int = 2, purgeMs: Int64 = 0) -> StorageSchedule {
        var config = ReplicaConfig()
        config.snapCount = snapCount
        config.limits.snapshotChunkNodesMax = chunkNodes
        config.limits.snapshotChunksInFlightMax = chunksInFlight
        config.autopurgeIntervalMs = purgeMs
        config.autopurgeRetainCount = 4
        return StorageSchedule(config: config, nowMs: 1_000)
    }

    static func kinds(_ commands: [StorageCommand]) -> [String] {
        commands.map {
            switch $0 {
            case .append: "append"
            case .roll: "roll"
            case .snapshotBegin(let zxid): "begin \(zxid.rawValue)"
            case .snapshotChunk: "chunk"
            case .snapshotEnd: "end"
            case .purge(let n): "purge \(n)"
            case .truncateLog: "truncate"
            case .persistEpoch: "epoch"
            }
        }
    }

    /// Between snapCount/2 and snapCount txns (Apache's randomized threshold), never sooner.
    @Test func aSnapshotStartsAfterTheRandomizedThresholdWithARoll() {
        let tree = Self.tree(nodes: 5)
        for seed in UInt64(0)..<20 {
            var config = ReplicaConfig()
            config.snapCount = 10
            config.randomSeed = seed
            var s = StorageSchedule(config: config, nowMs: 0)
            var persist: [StorageCommand] = []
            var logged = 0
            while s.maybeStartSnapshot(tree: tree, sessions: [], &persist) == nil {
                s.logged(txns: 1)
                logged += 1
                #expect(logged <= 10)
            }
            #expect((5...10).contains(logged), "seed \(seed): snapshot after \(logged) txns")
            #expect(Array(Self.kinds(persist).prefix(2)) == ["roll", "begin 5"])
            #expect(s.snapshotInProgress)
        }
    }

    @Test func chunksStreamWithBackpressureAndOneSnapshotAtATime() {
        var s = Self.schedule(chunkNodes: 2, chunksInFlight: 2)
        let tree = Self.tree(nodes: 7) // 8 nodes with "/", "/zookeeper", "/zookeeper/quota"... at least 4 chunks
        var persist: [StorageCommand] = []
        s.logged(txns: 100)
        #expect(s.maybeStartSnapshot(tree: tree, sessions: [], &persist) == Zxid(7))
        #expect(Self.kinds(persist) == ["roll", "begin 7", "chunk", "chunk"], "at most 2 chunks wait for the disk")
        // No second snapshot while this one is being written, however many txns are logged.
        s.logged(txns: 100)
        var more: [StorageCommand] = []
        #expect(s.maybeStartSnapshot(tree: tree, sessions: [], &more) == nil && more.isEmpty)
        var all = persist
        var sent = 2
        while !Self.kinds(all).contains("end") {
            var next: [StorageCommand] = []
            s.chunkWritten(&next)
            sent += Self.kinds(next).filter { $0 == "chunk" }.count
            all += next
            #expect(next.count <= 2)
        }
        #expect(sent >= 4)
        // The chunks together are a snapshot Apache's format reads back.
        let bytes = all.flatMap { if case .snapshotChunk(let b) = $0 { return b } else { return [] } }
        let loaded = try? SnapshotReader.read(bytes, snapshotZxid: Zxid(7), extendedTypesEnabled: false)
        #expect(loaded?.tree.node("/n6") != nil)
        s.snapshotFinished()
        #expect(!s.snapshotInProgress)
        #expect(s.maybeStartSnapshot(tree: tree, sessions: [], &more) != nil, "the txns logged meanwhile count toward the next")
    }

    @Test func autopurgeRunsAtTheFirstTickThenEveryInterval() {
        var s = Self.schedule(purgeMs: 5_000)
        var persist: [StorageCommand] = []
        s.purgeIfDue(nowMs: 1_000, &persist)
        s.purgeIfDue(nowMs: 5_999, &persist)
        #expect(Self.kinds(persist) == ["purge 4"])
        s.purgeIfDue(nowMs: 6_000, &persist)
        #expect(Self.kinds(persist) == ["purge 4", "purge 4"])
        var never = Self.schedule(purgeMs: 0)
        var none: [StorageCommand] = []
        never.purgeIfDue(nowMs: 1_000_000, &none)
        #expect(none.isEmpty)
    }
}
