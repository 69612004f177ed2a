import Testing
@testable import ZKDataTree
import ZKProtocol

/// The expected values were produced by Java 17 (`new HashSet<>(8)`, `String.hashCode`).
@Suite struct ChildSetTests {
    @Test func javaHashCodes() {
        #expect(ChildSet.javaHashCode("abc") == 96354)
        #expect(ChildSet.javaHashCode("ünï") == 245821)
        #expect(ChildSet.javaHashCode("node-0000000001") == 1082877612)
    }

    @Test func iterationOrderMatchesJavaHashSet() {
        var set = ChildSet()
        for i in 0..<20 { set.insert("node-\(i)") }
        set.remove("node-3")
        set.remove("node-11")
        for name in ["ünï", "a", "B"] { set.insert(name) }
        let expected = "a,B,node-0,node-1,node-2,node-15,node-4,node-14,node-5,node-13,node-6,node-12,node-7,node-8,node-10,node-9,node-19,node-18,node-17,node-16,ünï"
        #expect(Array(set).joined(separator: ",") == expected)
        #expect(set.count == 21)
    }

    @Test func insertRemoveContains() {
        var set = ChildSet()
        #expect(set.isEmpty && !set.contains("x"))
        let first = set.insert("x")
        let second = set.insert("x")
        #expect(first && !second)
        #expect(set.contains("x") && set.count == 1)
        let removed = set.remove("x")
        let removedAgain = set.remove("x")
        #expect(removed && !removedAgain)
        #expect(set.isEmpty)
    }

    /// Java compares UTF-16 code units; Swift's `==` would merge canonically equivalent names.
    @Test func canonicallyEquivalentNamesStayDistinct() {
        var set = ChildSet()
        set.insert("\u{E9}")
        set.insert("e\u{301}")
        #expect(set.count == 2)
    }
}

@Suite struct QuotaStatsTests {
    @Test func formatsLikeStatsTrack() {
        var stats = QuotaStats(Array("count=1,bytes=2=;countHardLimit=5".utf8))!
        #expect(stats["count"] == 1 && stats["bytes"] == 2 && stats["countHardLimit"] == 5)
        stats["count"] = 3
        #expect(String(decoding: stats.bytes, as: UTF8.self) == "count=3,bytes=2=;countHardLimit=5")
        #expect(String(decoding: QuotaStats(nil)!.bytes, as: UTF8.self) == "count=-1,bytes=-1")
        #expect(QuotaStats(Array("count=x".utf8)) == nil)
    }
}

@Suite struct PathKeyTests {
    @Test func canonicallyEquivalentPathsAreDistinctZnodes() {
        let tree = DataTree(extendedTypesEnabled: false)
        var changes: [TreeChange] = []
        for (zxid, path) in [(Int64(1), "/\u{E9}"), (2, "/e\u{301}")] {
            let header = TxnHeader(clientId: 1, cxid: 1, zxid: zxid, time: 0, type: OpCode.create.rawValue)
            let txn = Txn.create(path: path, data: nil, acl: ACL.openACLUnsafe, ephemeral: false, parentCVersion: -1)
            #expect(tree.apply(TxnEntry(header: header, txn: txn), changes: &changes).err == .ok)
        }
        #expect(tree.node("/")!.children.count == 3)  // zookeeper and the two names
        #expect(PathKey("/\u{E9}") != PathKey("/e\u{301}"))
    }
}
