import Testing
@testable import ZKCore
@testable import ZKProtocol
@testable import ZKDataTree

/// The compact tree's invariants: every node reachable once from the root, each child's parent the
/// node it is listed under, counts that agree, children in Java's HashSet order, data and stats as a
/// plain model says, and memory given back after deletes.
@Suite struct NodeStoreTests {
    private final class Model {
        let tree = DataTree(extendedTypesEnabled: true)
        var data: [String: [UInt8]?] = [:]
        var zxid: Int64 = 0

        @discardableResult
        func apply(_ type: OpCode, _ txn: Txn) -> ApplyResult {
            zxid += 1
            var changes: [TreeChange] = []
            let header = TxnHeader(clientId: 1, cxid: Int32(truncatingIfNeeded: zxid), zxid: zxid, time: zxid, type: type.rawValue)
            return tree.apply(TxnEntry(header: header, txn: txn), changes: &changes)
        }

        func create(_ path: String, _ bytes: [UInt8]?) {
            let parent = tree.node(PathUtils.parent(of: path)!)!
            let result = apply(.create, .create(path: path, data: bytes, acl: ACL.openACLUnsafe, ephemeral: false,
                                                parentCVersion: parent.stat.cversion + 1))
            #expect(result.err == .ok, "create \(path)")
            data[path] = .some(bytes)
        }

        func delete(_ path: String) {
            #expect(apply(.delete, .delete(path: path)).err == .ok, "delete \(path)")
            data[path] = nil
        }

        func set(_ path: String, _ bytes: [UInt8]?) {
            let version = tree.node(path)!.stat.version + 1
            #expect(apply(.setData, .setData(path: path, data: bytes, version: version)).err == .ok)
            data[path] = .some(bytes)
        }

        /// Checks the tree against the model; returns the first difference.
        func check() -> String? {
            if let problem = tree.checkStructure() { return problem }
            var children: [String: Int] = [:]
            for path in data.keys { children[PathUtils.parent(of: path)!, default: 0] += 1 }
            for (path, bytes) in data {
                guard let node = tree.node(path) else { return "\(path) missing" }
                if node.data != bytes { return "\(path) holds \(node.data?.count ?? -1) bytes, not \(bytes?.count ?? -1)" }
                if tree.path(of: node) != path { return "\(path) rebuilt as \(tree.path(of: node))" }
                if node.children.count != children[path, default: 0] { return "\(path) counts \(node.children.count) children" }
            }
            // The system nodes and the root are not in the model.
            if tree.nodeCount != data.count + 5 { return "node count \(tree.nodeCount) for \(data.count) nodes" }
            return nil
        }
    }

    @Test func headerLayoutIsCompact() {
        #expect(MemoryLayout<NodeHeader>.size == 88)
    }

    /// Apache's digest formula written out independently: CRC-32 of path, data and the stat's nine
    /// fields as Jute writes them; 0 under /zookeeper/; the root as "".
    private static func referenceDigest(_ tree: DataTree) -> UInt64 {
        var sum: UInt64 = 0
        tree.forEachNode { path, node in
            guard !path.hasPrefix("/zookeeper/") else { return }
            var crc = CRC32()
            crc.update(Array((path == "/" ? "" : path).utf8))
            crc.update(node.data ?? [])
            let s = node.stat
            var w = JuteWriter()
            w.writeLong(s.czxid); w.writeLong(s.mzxid); w.writeLong(s.pzxid); w.writeLong(s.ctime); w.writeLong(s.mtime)
            w.writeInt(s.version); w.writeInt(s.cversion); w.writeInt(s.aversion); w.writeLong(s.ephemeralOwner)
            crc.update(w.bytes)
            sum &+= UInt64(crc.value)
        }
        return sum
    }

    /// The tree's digest is kept through every kind of change (creates under the root and deeper,
    /// setData of every size, setACL, deletes, ephemerals and their session's close, a multi, quota
    /// nodes under /zookeeper/ that do not count) and always equals the formula over every node.
    @Test func theDigestFollowsEveryChange() {
        let model = Model()
        #expect(model.tree.digest == Self.referenceDigest(model.tree), "a new tree")
        model.create("/a", Array("x".utf8))
        model.create("/a/b", nil)
        model.create("/c", [UInt8](repeating: 7, count: 3_000))
        model.set("/a", [UInt8](repeating: 1, count: 500))
        model.set("/c", nil)
        model.set("/", Array("root data".utf8))
        model.apply(.setACL, .setACL(path: "/a/b", acl: ACL.readACLUnsafe, version: 1))
        model.apply(.create, .create(path: "/e", data: [1], acl: ACL.openACLUnsafe, ephemeral: true, parentCVersion: -1))
        model.apply(.create, .create(path: "/zookeeper/quota/a", data: nil, acl: ACL.openACLUnsafe, ephemeral: false, parentCVersion: -1))
        model.apply(.multi, .multi([TypedTxn(type: .create, txn: .create(path: "/m", data: [2], acl: ACL.openACLUnsafe, ephemeral: false, parentCVersion: -1)),
                                    TypedTxn(type: .setData, txn: .setData(path: "/m", data: [3, 4], version: 1))]))
        #expect(model.tree.digest == Self.referenceDigest(model.tree), "after creates and sets")
        model.delete("/a/b")
        model.apply(.closeSession, .closeSession(ephemeralPaths: ["/e"]))
        #expect(model.tree.node("/e") == nil)
        #expect(model.tree.digest == Self.referenceDigest(model.tree), "after deletes")
        #expect(model.tree.checkStructure() == nil)
        let before = model.tree.digest
        model.create("/t", [9])
        model.delete("/t")
        #expect(model.tree.digest != before, "the root's cversion and pzxid moved")
        #expect(model.tree.digest == Self.referenceDigest(model.tree))
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8])
    func randomChangesKeepTheTreeConsistent(seed: UInt64) {
        var random = SeededRandom(seed: seed)
        let model = Model()
        model.create("/a", [])
        model.create("/b", nil)
        var paths = ["/a", "/b"]
        var childCount: [String: Int] = [:]
        for step in 0..<3_000 {
            let roll = Int.random(in: 0..<10, using: &random)
            if roll < 5 || paths.count < 3 {
                let parent = paths.randomElement(using: &random)!
                let name = ["n\(step)", "é\(step)", "𝄞\(step)", "x"].randomElement(using: &random)!
                let path = parent + "/" + name
                guard model.data[path] == nil else { continue }
                let size = [0, 1, 7, 100, 3_000].randomElement(using: &random)!
                model.create(path, [UInt8](repeating: UInt8(step & 0xFF), count: size))
                paths.append(path)
                childCount[parent, default: 0] += 1
            } else if roll < 8 {
                let path = paths.randomElement(using: &random)!
                let size = [0, 5, 100, 200, 2_100].randomElement(using: &random)!
                model.set(path, roll == 7 ? nil : [UInt8](repeating: 9, count: size))
            } else {
                // Delete a leaf.
                let victim = paths.randomElement(using: &random)!
                guard childCount[victim, default: 0] == 0 else { continue }
                model.delete(victim)
                paths.removeAll { $0 == victim }
                childCount[PathUtils.parent(of: victim)!, default: 1] -= 1
            }
            if step % 500 == 0, let problem = model.check() {
                Issue.record("seed \(seed), step \(step): \(problem)")
                return
            }
        }
        if let problem = model.check() { Issue.record("seed \(seed): \(problem)") }
    }

    /// Children iterate exactly as a Java HashSet of the same names added in the same order
    /// (`ChildSet` is that reference, tested against Java's own order), through growth and removal.
    @Test func childOrderIsJavasHashSetOrder() {
        let model = Model()
        model.create("/p", [])
        var reference = ChildSet()
        var names: [String] = []
        for i in 0..<700 {
            let name = i % 3 == 0 ? "node-\(i)" : (i % 3 == 1 ? "ключ\(i)" : "k\(i * 7919)")
            model.create("/p/" + name, [])
            reference.insert(name)
            names.append(name)
            if i % 50 == 0 { #expect(Array(model.tree.node("/p")!.children) == Array(reference)) }
        }
        for name in names where name.hasPrefix("k") {
            model.delete("/p/" + name)
            reference.remove(name)
        }
        #expect(Array(model.tree.node("/p")!.children) == Array(reference))
        // Java's table never shrinks; a re-added name goes to the end of its bucket.
        model.create("/p/k0", [])
        reference.insert("k0")
        #expect(Array(model.tree.node("/p")!.children) == Array(reference))
        #expect(model.check() == nil)
    }

    @Test func javaHashOfUTF8MatchesStringHashCode() {
        for name in ["", "a", "node-0000001", "é", "ключ", "𝄞 clef", "日本語"] {
            var copy = name
            let hash = copy.withUTF8 { JavaHash.of(UnsafeRawBufferPointer($0)) }
            #expect(hash == ChildSet.javaHashCode(name), "\(name)")
        }
    }

    @Test func lookupsWalkComponentsExactly() {
        let model = Model()
        model.create("/a", [1])
        model.create("/a/b", [2])
        #expect(model.tree.node("/a/b")?.data == [2])
        for bad in ["a/b", "/a/", "//a", "/a//b", "/a/b/", "/a/c", "/b"] {
            #expect(model.tree.node(bad) == nil, "\(bad)")
        }
        #expect(model.tree.node("") == model.tree.node("/"))
    }

    @Test func memoryIsReleasedAfterLargeDeletes() {
        let model = Model()
        let before = model.tree.nodeMemoryBytes
        model.create("/big", [])
        let count = 60_000
        for i in 0..<count { model.create("/big/n\(i)", [UInt8](repeating: 1, count: 100)) }
        let full = model.tree.nodeMemoryBytes
        #expect(full - before >= count * 190)
        // Under 120 bytes a node above its name and data (header, slab rounding, id table, buckets).
        #expect((full - before) / count < 120 + 100 + 6, "\((full - before) / count) bytes a node")
        _ = model.tree.takeReleasedMemoryBytes()
        for i in 0..<count { model.delete("/big/n\(i)") }
        let after = model.tree.nodeMemoryBytes
        // Emptied regions go back to the system allocator (the last one is kept).
        #expect(model.tree.takeReleasedMemoryBytes() >= count * 190 - 2 * Slabs.regionBytes)
        // What stays: the id table, the parent's emptied table (Java keeps its size) and one region.
        #expect(after - before <= (full - before) / 4, "\(after - before) bytes held after deleting everything")
        #expect(model.check() == nil)
    }

    @Test func slabsReturnEmptyRegions() {
        let slabs = Slabs()
        var blocks: [(UnsafeMutableRawPointer, Int)] = []
        for i in 0..<100_000 {
            let size = [24, 100, 191, 700, 2_048, 5_000][i % 6]
            let block = slabs.allocate(bytes: size)
            block.storeBytes(of: UInt64(i), as: UInt64.self)
            blocks.append((block, size))
        }
        let regions = slabs.regionCount
        let mapped = slabs.mappedBytes
        #expect(regions >= 10)
        for (i, (block, _)) in blocks.enumerated() { #expect(block.load(as: UInt64.self) == UInt64(i)) }
        for (block, size) in blocks { slabs.free(block, bytes: size) }
        // One page of each slab size stays, for the next allocation; every other region is given back.
        #expect(slabs.bytesHeld <= 5 * Slabs.pageBytes)
        #expect(slabs.regionCount <= 5)
        #expect(slabs.takeReleasedBytes() >= mapped - 5 * Slabs.regionBytes)
    }

    @Test func regionsGrowFromOnePage() {
        let slabs = Slabs()
        _ = slabs.allocate(bytes: 100)
        #expect(slabs.mappedBytes == Slabs.pageBytes, "a one-node tree maps one page")
        var blocks: [UnsafeMutableRawPointer] = []
        for size in stride(from: 8, through: 2_048, by: 8) { blocks.append(slabs.allocate(bytes: size)) }
        // 256 size classes: pages of 1, 2, 4, … 64 and then 4 MiB regions.
        #expect(slabs.regionCount >= 8)
        #expect(slabs.mappedBytes < 300 * Slabs.pageBytes + Slabs.regionBytes)
        for (block, size) in zip(blocks, stride(from: 8, through: 2_048, by: 8)) { slabs.free(block, bytes: size) }
    }
}
