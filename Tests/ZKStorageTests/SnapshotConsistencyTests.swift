import Testing
@testable import ZKCore
@testable import ZKProtocol
@testable import ZKDataTree
@testable import ZKStorage

/// A snapshot is written in chunks while txns keep being applied; the file must hold the tree exactly as it
/// was at the snapshot's zxid (not Apache's fuzzy snapshot).
@Suite struct SnapshotConsistencyTests {
    /// A tree with enough nodes that a few chunks leave most of it unwritten.
    private func baseScript() -> TxnScript {
        let s = TxnScript(extendedTypesEnabled: true)
        s.createSession(sessionA)
        s.createSession(sessionB)
        for top in ["a", "b", "c", "d"] {
            s.create("/\(top)", bytes("data of \(top)"))
            for i in 0..<5 { s.create("/\(top)/n\(i)", bytes("\(top)\(i)")) }
        }
        s.create("/b/n0/deep", bytes("deep"))
        s.create("/c/eph", bytes("e"), ephemeral: true, session: sessionB)
        s.create("/d/acl", bytes("acl"), acl: mixedACL)
        s.createContainer("/box")
        s.create("/box/x")
        return s
    }

    /// Writes a snapshot of `s`, taking `before` chunks of `nodesMax` nodes, then running `changes`, then the rest.
    private func snapshotWhileWriting(_ s: TxnScript, before: Int, nodesMax: Int = 1,
                                      changes: (TxnScript) -> Void) throws -> (Zxid, SnapshotReader.Loaded) {
        var writer = SnapshotWriter(tree: s.tree, sessions: [(SessionID(sessionA), 30000)])
        #expect(s.tree.isSnapshotInProgress)
        var file: [UInt8] = []
        for _ in 0..<before { file += writer.nextChunk(nodesMax: nodesMax) ?? [] }
        changes(s)
        #expect(s.tree.isSnapshotInProgress || writer.isFinished)
        while let chunk = writer.nextChunk(nodesMax: nodesMax) { file += chunk }
        #expect(!s.tree.isSnapshotInProgress)
        return (writer.zxid, try SnapshotReader.read(file, snapshotZxid: writer.zxid, extendedTypesEnabled: true))
    }

    @Test(arguments: [0, 1, 2, 5, 12, 30])
    func changesDuringTheSnapshotAreNotInIt(chunksBefore: Int) throws {
        let s = baseScript()
        let (zxid, loaded) = try snapshotWhileWriting(s, before: chunksBefore) { s in
            // Nodes not yet written (and some already written, depending on chunksBefore).
            s.setData("/d/n3", bytes("changed"))
            s.setData("/a", nil)
            s.setACL("/c/n1", digestACL)
            s.setACL("/d/acl", openACL)  // the old list's last user goes: it must stay in the snapshot's ACL map
            s.delete("/d/n4")
            s.delete("/b/n0/deep")
            s.delete("/b/n0")  // a whole unwritten subtree disappears
            s.create("/c/new", bytes("new"))  // a new child under an unwritten parent
            s.create("/c/new/grandchild")  // under a parent that did not exist at the snapshot
            s.create("/e", bytes("e"))
            s.create("/e/f")
            s.createTTL("/ttl", [], ttl: 100)
            s.closeSession(sessionB)  // deletes /c/eph
            s.delete("/box/x")
            s.delete("/box")
            // Deleted and created again with different content: the snapshot keeps the old node.
            s.delete("/a/n2")
            s.create("/a/n2", bytes("reborn"), acl: digestACL)
            s.create("/a/n2/child")
            s.setData("/d", bytes("d2"))
            s.setData("/d", bytes("d3"))
        }
        let expected = s.replay(through: zxid)
        expectSameTree(loaded.tree, expected, ordered: true)
        // The digest section describes the tree at the snapshot's zxid too.
        #expect(loaded.digestZxid == zxid)
        #expect(treeDigest(loaded.tree) == treeDigest(expected))
        #expect(loaded.tree.node("/b/n0/deep")?.data == bytes("deep"))
        #expect(loaded.tree.node("/c/new") == nil)
        #expect(loaded.tree.node("/a/n2")?.data == bytes("a2"))
        #expect(loaded.tree.node("/d/acl")?.acl == mixedACL)
        #expect(loaded.tree.node("/c/eph") != nil)
        #expect(loaded.tree.containers == ["/box"])
        #expect(loaded.tree.ttls.isEmpty)
        // The live tree went on.
        #expect(s.tree.node("/c/new") != nil && s.tree.node("/b/n0") == nil)
        #expect(s.tree.lastProcessedZxid > zxid)
    }

    @Test func changesRightAfterBeginAndAfterTheLastNode() throws {
        let s = baseScript()
        // Before the first chunk (the preamble with the ACL map is not written yet).
        let (zxid, loaded) = try snapshotWhileWriting(s, before: 0) { s in
            s.create("/fresh", bytes("f"), acl: [ACL(perms: 1, id: Id(scheme: "ip", id: "127.0.0.1"))])
            s.setACL("/a/n0", [ACL(perms: 3, id: Id(scheme: "ip", id: "10.1.1.1"))])
        }
        expectSameTree(loaded.tree, s.replay(through: zxid), ordered: true)

        // All nodes written, the end marker not yet: changes after the last node cannot leak in.
        let t = baseScript()
        let nodes = dump(t.tree).count
        var writer = SnapshotWriter(tree: t.tree, sessions: [])
        var file: [UInt8] = []
        for _ in 0..<nodes - 1 { file += writer.nextChunk(nodesMax: 1)! }
        t.create("/late", bytes("late"))
        while let chunk = writer.nextChunk(nodesMax: 1) { file += chunk }
        let late = try SnapshotReader.read(file, snapshotZxid: writer.zxid, extendedTypesEnabled: true)
        expectSameTree(late.tree, t.replay(through: writer.zxid), ordered: true)
    }

    @Test func manyRandomChangesAtEveryPoint() throws {
        // Deterministic pseudo-random workloads interleaved with chunks of different sizes.
        var rng = SplitMix(seed: 7)
        for round in 0..<20 {
            let s = baseScript()
            var writer = SnapshotWriter(tree: s.tree, sessions: [])
            var file: [UInt8] = []
            var live = dump(s.tree).map(\.path).filter { !DataTree.isSpecialPath($0) }
            var counter = 0
            while let chunk = writer.nextChunk(nodesMax: 1 + Int(rng.next() % 4)) {
                file += chunk
                for _ in 0..<Int(rng.next() % 4) {
                    let target = live[Int(rng.next() % UInt64(live.count))]
                    switch rng.next() % 4 {
                    case 0:
                        counter += 1
                        let path = target + "/r\(counter)"
                        if s.tree.node(target)?.stat.ephemeralOwner == 0 { s.create(path, bytes("r")); live.append(path) }
                    case 1: s.setData(target, bytes("round \(round)"))
                    case 2: s.setACL(target, counter % 2 == 0 ? digestACL : mixedACL)
                    default:
                        if s.tree.node(target)?.children.isEmpty == true && live.count > 3 {
                            s.delete(target)
                            live.removeAll { $0 == target }
                        }
                    }
                }
            }
            let loaded = try SnapshotReader.read(file, snapshotZxid: writer.zxid, extendedTypesEnabled: true)
            let expected = s.replay(through: writer.zxid)
            expectSameTree(loaded.tree, expected, ordered: true)
            #expect(digestSection(file)?.digest == treeDigest(expected))
            #expect(!s.tree.isSnapshotInProgress)
        }
    }

    @Test func aSecondSnapshotAfterTheFirstSeesTheNewTree() throws {
        let s = baseScript()
        _ = try snapshotWhileWriting(s, before: 3) { s in
            s.setACL("/a", digestACL)
            s.delete("/a/n1")
        }
        // Unused ACL lists were purged when the first snapshot ended; a second one is exact again.
        let (zxid, file) = snapshotBytes(s.tree)
        let loaded = try SnapshotReader.read(file, snapshotZxid: zxid, extendedTypesEnabled: true)
        expectSameTree(loaded.tree, s.tree, ordered: true)
        #expect(zxid == s.tree.lastProcessedZxid)
    }
}

/// SplitMix64: a tiny deterministic generator for test workloads.
struct SplitMix {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
