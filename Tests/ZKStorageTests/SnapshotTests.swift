import Testing
@testable import ZKCore
@testable import ZKProtocol
@testable import ZKDataTree
@testable import ZKStorage
@testable import ZKSimulation

/// A tree with every kind of node and ACL, built by applying txns.
func varietyScript() -> TxnScript {
    let s = TxnScript(extendedTypesEnabled: true)
    s.createSession(sessionA, timeoutMs: 30000)
    s.createSession(sessionB, timeoutMs: 12000)
    s.create("/p", bytes("persistent"))
    s.create("/p/child", bytes("c"))
    s.create("/p/eA", bytes("ephemeral of A"), ephemeral: true, session: sessionA)
    s.create("/eB", nil, ephemeral: true, session: sessionB)
    s.createContainer("/box", bytes("container"))
    s.create("/box/item", [])
    s.createTTL("/ttl", bytes("ttl"), ttl: 5000)
    s.createTTL("/ttl2", nil, ttl: EphemeralOwner.ttlMax)
    s.create("/seq-0000000000", bytes("s0"))
    s.create("/seq-0000000001", bytes("s1"))
    s.create("/null", nil)
    s.create("/empty", [])
    s.create("/digest", bytes("secret"), acl: digestACL)
    s.create("/mixed", [0, 1, 2, 0xFF], acl: mixedACL)
    s.create("/read", bytes("r"), acl: ACL.readACLUnsafe)
    s.create("/many")
    for i in 0..<40 { s.create("/many/c\(i)", [UInt8(i)]) }
    s.setData("/p", bytes("persistent v2"))
    s.setACL("/p/child", digestACL)
    s.delete("/many/c7")
    s.create("/unicode-é-日本", bytes("ü"))
    // A quota on /p: its stats node is recomputed on load.
    s.create("/zookeeper/quota/p")
    s.create("/zookeeper/quota/p/zookeeper_limits", bytes("count=10,bytes=1000"))
    s.create("/zookeeper/quota/p/zookeeper_stats", bytes("count=0,bytes=0"))
    s.create("/p/more", bytes("12345"))
    return s
}

private let varietySessions: [(SessionID, Int32)] = [(SessionID(sessionB), 12000), (SessionID(sessionA), 30000)]

/// A handmade snapshot: the given body (after the file header), sealed.
private func sealedSnapshot(sessions: [(Int64, Int32)] = [], acls: [(Int64, [ACL])] = [],
                            nodes: [(String, [UInt8]?, Int64, StatPersisted)], digest: ((inout JuteWriter) -> Void)? = nil) -> [UInt8] {
    var w = JuteWriter()
    w.writeInt(SnapshotFormat.magic); w.writeInt(2); w.writeLong(-1)
    w.writeInt(Int32(sessions.count))
    for (id, timeout) in sessions { w.writeLong(id); w.writeInt(timeout) }
    w.writeInt(Int32(acls.count))
    for (index, list) in acls { w.writeLong(index); w.writeVector(list) }
    for (path, data, aclIndex, stat) in nodes {
        w.writeString(path); w.writeBuffer(data); w.writeLong(aclIndex); stat.encode(to: &w)
    }
    w.writeString("/")
    w.writeLong(Int64(Adler32.checksum(w.bytes))); w.writeString("/")
    if let digest {
        digest(&w)
        w.writeLong(Int64(Adler32.checksum(w.bytes))); w.writeString("/")
    }
    return w.bytes
}

private func stat(czxid: Int64, owner: Int64 = 0) -> StatPersisted {
    var s = StatPersisted()
    s.czxid = czxid; s.mzxid = czxid; s.pzxid = czxid; s.ephemeralOwner = owner
    return s
}

private let systemNodes: [(String, [UInt8]?, Int64, StatPersisted)] = [
    ("", [], -1, StatPersisted()), ("/zookeeper", [], -1, StatPersisted()), ("/zookeeper/quota", [], -1, StatPersisted()),
]

@Suite struct SnapshotRoundTripTests {
    @Test func roundTripPreservesEverything() throws {
        let s = varietyScript()
        let (zxid, file) = snapshotBytes(s.tree, sessions: varietySessions)
        #expect(zxid == s.zxid)
        #expect(!s.tree.isSnapshotInProgress)
        let loaded = try SnapshotReader.read(file, snapshotZxid: zxid, extendedTypesEnabled: true)
        expectSameTree(loaded.tree, s.tree, ordered: true)
        #expect(loaded.tree.lastProcessedZxid == zxid)
        // The digest section names the snapshot's zxid and holds Apache's digest of the tree.
        #expect(loaded.digestZxid == zxid)
        #expect(digestSection(file)?.zxid == zxid)
        #expect(digestSection(file)?.digest == treeDigest(s.tree))
        // Sessions come back sorted by id, with their timeouts.
        #expect(loaded.sessions.map(\.0) == [SessionID(sessionA), SessionID(sessionB)])
        #expect(loaded.sessions.map(\.1) == [30000, 12000])
        // Null and empty data stay distinct.
        #expect(loaded.tree.node("/null")?.data == nil)
        #expect(loaded.tree.node("/eB")?.data == nil)
        #expect(loaded.tree.node("/empty")?.data == [])
        // Node kinds are derived again from the owners.
        #expect(loaded.tree.containers == ["/box"])
        #expect(loaded.tree.ttls == ["/ttl", "/ttl2"])
        #expect(Set(loaded.tree.ephemerals(of: SessionID(sessionA))) == ["/p/eA"])
        #expect(Set(loaded.tree.ephemerals(of: SessionID(sessionB))) == ["/eB"])
        #expect(loaded.tree.node("/ttl")?.stat.ephemeralOwner == EphemeralOwner.ttl(5000))
        #expect(loaded.tree.node("/box")?.stat.ephemeralOwner == Int64.min)
        // ACLs, including digest and multi-entry lists.
        #expect(loaded.tree.node("/digest")?.acl == digestACL)
        #expect(loaded.tree.node("/p/child")?.acl == digestACL)
        #expect(loaded.tree.node("/mixed")?.acl == mixedACL)
        #expect(loaded.tree.node("/read")?.acl == ACL.readACLUnsafe)
        #expect(loaded.tree.node("/zookeeper/config")?.acl == ACL.readACLUnsafe)
        #expect(loaded.tree.node("/zookeeper/config")?.stat.aversion == -1)
        // Quota stats were recomputed: /p, /p/child, /p/eA, /p/more with 10 + 1 + 14 + 5 bytes... as the live tree has them.
        #expect(loaded.tree.node("/zookeeper/quota/p/zookeeper_stats")?.data == s.tree.node("/zookeeper/quota/p/zookeeper_stats")?.data)
        #expect(String(decoding: loaded.tree.node("/zookeeper/quota/p/zookeeper_stats")?.data ?? [], as: UTF8.self) == "count=4,bytes=33")
        // Client stats (cversion derived from the stored one and the children) match.
        for path in ["/", "/p", "/many", "/zookeeper", "/box"] {
            #expect(loaded.tree.clientStat(loaded.tree.node(path)!) == s.tree.clientStat(s.tree.node(path)!), "\(path)")
        }
        // Writing the loaded tree again gives the same file, byte for byte.
        let (_, again) = snapshotBytes(loaded.tree, sessions: loaded.sessions)
        #expect(again == file)
    }

    /// Apache's `approximateDataSize()` sums key length + data length over its `nodes` map, which holds the
    /// root under both "" and "/": a fresh 3.8.0 server's `mntr` says `zk_approximate_data_size 44`
    /// (checked against Debian's ZooKeeperServerMain). A tree loaded from a snapshot counts the "/" (44), a
    /// new `DataTree` does not (43), so the value also changes by one across a restart.
    @Test
    func approximateDataSizeSurvivesARestart() throws {
        let fresh = DataTree(extendedTypesEnabled: false)
        #expect(fresh.approximateDataSizeBytes == 44)
        let (zxid, file) = snapshotBytes(fresh)
        let loaded = try SnapshotReader.read(file, snapshotZxid: zxid, extendedTypesEnabled: false)
        #expect(loaded.tree.approximateDataSizeBytes == fresh.approximateDataSizeBytes)
        let s = TxnScript()
        s.create("/a", bytes("abc"))
        s.create("/a/b", nil)
        let (zxid2, file2) = snapshotBytes(s.tree)
        let loaded2 = try SnapshotReader.read(file2, snapshotZxid: zxid2, extendedTypesEnabled: false)
        #expect(loaded2.tree.approximateDataSizeBytes == s.tree.approximateDataSizeBytes)
    }

    @Test func approximateDataSizeOfALoadedTreeIsApaches() throws {
        let loaded = try SnapshotReader.read(snapshotBytes(DataTree(extendedTypesEnabled: false)).1, snapshotZxid: .zero, extendedTypesEnabled: false)
        #expect(loaded.tree.approximateDataSizeBytes == 44)
    }

    /// Loading from a file reads it a window at a time: a file of several windows, a node larger than
    /// a window and nodes straddling every window boundary load exactly as from memory; a byte
    /// changed anywhere is caught by the seal; a file cut short is refused.
    @Test func aFileIsLoadedAWindowAtATime() throws {
        let s = TxnScript()
        let window = 64 << 10
        s.create("/big", [UInt8](repeating: 0xAB, count: window + 12_345))
        s.create("/many")
        for i in 0..<300 { s.create("/many/n\(i)", [UInt8](repeating: UInt8(i & 0xFF), count: 1_000 + i % 777)) }
        let (zxid, file) = snapshotBytes(s.tree)
        #expect(file.count > 4 * window)
        let disk = MemoryDisk(directories: ["/d"])
        try disk.create("/d/snap").write(file, at: 0)
        let loaded = try SnapshotReader.read(path: "/d/snap", disk: disk, snapshotZxid: zxid, extendedTypesEnabled: false, windowBytes: window)
        #expect(TreeComparison.difference(loaded.tree, s.tree) == nil)
        #expect(loaded.tree.digest == s.tree.digest)
        #expect(loaded.tree.checkStructure() == nil)
        for offset in [100, window + 7, 3 * window - 1, file.count - 30] {
            var damaged = file
            damaged[offset] ^= 0x01
            try disk.create("/d/damaged").write(damaged, at: 0)
            #expect(throws: SnapshotError.self, "a byte changed at \(offset)") {
                try SnapshotReader.read(path: "/d/damaged", disk: disk, snapshotZxid: zxid, extendedTypesEnabled: false, windowBytes: window)
            }
        }
        try disk.create("/d/short").write(Array(file.prefix(2 * window + 1)) + SnapshotFormat.trailer, at: 0)
        #expect(throws: SnapshotError.self) {
            try SnapshotReader.read(path: "/d/short", disk: disk, snapshotZxid: zxid, extendedTypesEnabled: false, windowBytes: window)
        }
    }

    @Test func childrenOrderIsPreserved() throws {
        // Enough children to grow the hash table several times; Apache's HashSet order must survive.
        let s = TxnScript()
        s.create("/dir")
        for i in 0..<300 { s.create("/dir/node-\(i * 7919 % 1000)") }
        let (zxid, file) = snapshotBytes(s.tree)
        let loaded = try SnapshotReader.read(file, snapshotZxid: zxid, extendedTypesEnabled: false)
        #expect(Array(loaded.tree.node("/dir")!.children) == Array(s.tree.node("/dir")!.children))
        #expect(Array(loaded.tree.node("/")!.children) == Array(s.tree.node("/")!.children))
        // The order is the hash order, not sorted or insertion order.
        let names = Array(s.tree.node("/dir")!.children)
        #expect(names != names.sorted())
    }

    @Test func emptyTree() throws {
        let tree = DataTree(extendedTypesEnabled: false)
        let (zxid, file) = snapshotBytes(tree)
        #expect(zxid == .zero)
        #expect(SnapshotFormat.looksComplete(file))
        #expect(Array(file.prefix(16)) == [0x5A, 0x4B, 0x53, 0x4E, 0, 0, 0, 2, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        let loaded = try SnapshotReader.read(file, snapshotZxid: zxid, extendedTypesEnabled: false)
        expectSameTree(loaded.tree, tree, ordered: true)
        #expect(loaded.sessions.isEmpty)
        #expect(loaded.tree.nodeCount == 5)
    }

    @Test func snapshotZxidComesFromTheCaller() throws {
        // The file name's zxid is the snapshot's zxid, whatever the tree holds.
        let s = varietyScript()
        let (_, file) = snapshotBytes(s.tree)
        let loaded = try SnapshotReader.read(file, snapshotZxid: Zxid(0x7_0000_0001), extendedTypesEnabled: true)
        #expect(loaded.tree.lastProcessedZxid == Zxid(0x7_0000_0001))
    }

    @Test(arguments: [1, 2, 3, 7, 100])
    func chunkedOutputEqualsOneShot(nodesMax: Int) {
        let s = varietyScript()
        let (_, oneShot) = snapshotBytes(s.tree, sessions: varietySessions, nodesMax: Int.max)
        var writer = SnapshotWriter(tree: s.tree, sessions: varietySessions)
        var chunks: [[UInt8]] = []
        while let chunk = writer.nextChunk(nodesMax: nodesMax) { chunks.append(chunk) }
        #expect(chunks.joined().elementsEqual(oneShot))
        let nodes = dump(s.tree).count
        #expect(writer.nodesWritten == nodes)
        #expect(chunks.count == (nodes + nodesMax - 1) / nodesMax || chunks.count == (nodes + nodesMax - 1) / nodesMax + 1)
        #expect(writer.isFinished)
        #expect(writer.nextChunk(nodesMax: nodesMax) == nil)
        #expect(!s.tree.isSnapshotInProgress)
    }

    @Test func everySingleByteFlipIsDetected() {
        let s = TxnScript()
        s.createSession(sessionA)
        s.create("/a", bytes("alpha"), acl: digestACL)
        s.create("/a/b", nil)
        s.create("/e", bytes("x"), ephemeral: true)
        let (zxid, file) = snapshotBytes(s.tree, sessions: [(SessionID(sessionA), 30000)])
        #expect(throws: Never.self) { try SnapshotReader.read(file, snapshotZxid: zxid, extendedTypesEnabled: false) }
        var undetected: [Int] = []
        for position in file.indices {
            var damaged = file
            damaged[position] ^= 0x10
            do {
                _ = try SnapshotReader.read(damaged, snapshotZxid: zxid, extendedTypesEnabled: false)
                undetected.append(position)
            } catch {
                // A SnapshotError (typed throws): nothing else can come out.
            }
        }
        #expect(undetected.isEmpty, "flips not detected at \(undetected)")
    }

    @Test func checksumMismatchIsReportedAsCorruption() {
        let s = varietyScript()
        let (zxid, file) = snapshotBytes(s.tree)
        // Change a data byte of a node ("persistent v2" → "persistent v3"): the structure stays valid.
        let needle = bytes("persistent v2")
        let at = (0...file.count - needle.count).first { Array(file[$0..<$0 + needle.count]) == needle }!
        var damaged = file
        damaged[at + needle.count - 1] = UInt8(ascii: "3")
        #expect(throws: SnapshotError("CRC corruption in snapshot")) {
            try SnapshotReader.read(damaged, snapshotZxid: zxid, extendedTypesEnabled: true)
        }
        // Damage in the stored checksum itself.
        var seal = file
        seal[seal.count - 6] ^= 0xFF
        #expect(throws: SnapshotError("CRC corruption in snapshot")) {
            try SnapshotReader.read(seal, snapshotZxid: zxid, extendedTypesEnabled: true)
        }
    }

    @Test func looksCompleteRules() {
        #expect(!SnapshotFormat.looksComplete([]))
        #expect(!SnapshotFormat.looksComplete([0, 0, 0, 1, 0x2F]))
        #expect(!SnapshotFormat.looksComplete([0, 0, 0, 0, 0, 0, 0, 1, 0x2F]))  // 9 bytes
        #expect(SnapshotFormat.looksComplete([0, 0, 0, 0, 0, 0, 0, 0, 1, 0x2F]))  // 10 bytes
        #expect(SnapshotFormat.looksComplete([9, 9, 9, 9, 9, 0, 0, 0, 1, 0x2F]))
        #expect(!SnapshotFormat.looksComplete([9, 9, 9, 9, 9, 0, 0, 0, 1, 0x2E]))
        #expect(!SnapshotFormat.looksComplete([9, 9, 9, 9, 9, 9, 0, 0, 0, 1, 0x2F, 0]))
        let (zxid, file) = snapshotBytes(varietyScript().tree)
        #expect(SnapshotFormat.looksComplete(file))
        // Any prefix of a real snapshot (a write cut short) is not complete, and the reader refuses it.
        for cut in [0, 5, 16, 100, file.count / 2, file.count - 1] {
            let prefix = Array(file[0..<cut])
            #expect(!SnapshotFormat.looksComplete(prefix), "cut \(cut)")
            #expect(throws: SnapshotError("incomplete snapshot (no seal at the end)")) {
                try SnapshotReader.read(prefix, snapshotZxid: zxid, extendedTypesEnabled: true)
            }
        }
        // Zero padding after the seal (a preallocated or torn file) is not complete either.
        #expect(!SnapshotFormat.looksComplete(file + [0, 0, 0, 0]))
    }

    @Test func badHeaders() {
        let (zxid, file) = snapshotBytes(DataTree(extendedTypesEnabled: false))
        var magic = file
        magic[0] = 0
        #expect(throws: SnapshotError("not a snapshot (bad magic)")) {
            try SnapshotReader.read(magic, snapshotZxid: zxid, extendedTypesEnabled: false)
        }
        var version = file
        version[7] = 3
        #expect(throws: SnapshotError("unsupported snapshot version 3")) {
            try SnapshotReader.read(version, snapshotZxid: zxid, extendedTypesEnabled: false)
        }
        #expect(throws: SnapshotError.self) {
            try SnapshotReader.read(TxnLogFormat.fileHeader() + SnapshotFormat.trailer, snapshotZxid: zxid, extendedTypesEnabled: false)
        }
    }

    @Test func implausibleCountsAreErrorsNotCrashes() {
        // A session count larger than the file could hold.
        var w = JuteWriter()
        w.writeInt(SnapshotFormat.magic); w.writeInt(2); w.writeLong(-1); w.writeInt(0x7FFF_FFFF)
        let sessions = w.bytes + [UInt8](repeating: 0, count: 20) + SnapshotFormat.trailer
        #expect(throws: SnapshotError("bad session count 2147483647")) {
            try SnapshotReader.read(sessions, snapshotZxid: .zero, extendedTypesEnabled: false)
        }
        var acl = JuteWriter()
        acl.writeInt(SnapshotFormat.magic); acl.writeInt(2); acl.writeLong(-1); acl.writeInt(0); acl.writeInt(-5)
        #expect(throws: SnapshotError("bad ACL cache size -5")) {
            try SnapshotReader.read(acl.bytes + [UInt8](repeating: 0, count: 20) + SnapshotFormat.trailer, snapshotZxid: .zero, extendedTypesEnabled: false)
        }
    }

    @Test func structuralErrorsInTheNodes() {
        // A node whose ACL index is not in the ACL map.
        let missingACL = sealedSnapshot(nodes: systemNodes + [("/a", [], 5, stat(czxid: 1))])
        #expect(throws: SnapshotError("ACL not available for index 5")) {
            try SnapshotReader.read(missingACL, snapshotZxid: Zxid(1), extendedTypesEnabled: false)
        }
        // A child before its parent.
        let orphan = sealedSnapshot(nodes: systemNodes + [("/a/b", [], -1, stat(czxid: 2)), ("/a", [], -1, stat(czxid: 1))])
        #expect(throws: SnapshotError("Invalid Datatree, unable to find the parent of /a/b")) {
            try SnapshotReader.read(orphan, snapshotZxid: Zxid(2), extendedTypesEnabled: false)
        }
        // The same path twice.
        let duplicate = sealedSnapshot(nodes: systemNodes + [("/a", [], -1, stat(czxid: 1)), ("/a", [], -1, stat(czxid: 1))])
        #expect(throws: SnapshotError("Invalid Datatree, /a appears twice")) {
            try SnapshotReader.read(duplicate, snapshotZxid: Zxid(1), extendedTypesEnabled: false)
        }
    }

    @Test func preConfigSnapshotsGetZookeeperConfig() throws {
        // Snapshots written before 3.5 have no /zookeeper/config; Apache adds it on load.
        let file = sealedSnapshot(sessions: [(sessionA, 4000)], acls: [(1, digestACL)],
                                  nodes: systemNodes + [("/a", bytes("x"), 1, stat(czxid: 1))])
        let loaded = try SnapshotReader.read(file, snapshotZxid: Zxid(1), extendedTypesEnabled: false)
        let config = try #require(loaded.tree.node("/zookeeper/config"))
        #expect(config.acl == ACL.readACLUnsafe)
        #expect(config.stat.aversion == -1)
        #expect(loaded.tree.nodeCount == 6)
        #expect(loaded.tree.node("/a")?.acl == digestACL)
        #expect(loaded.sessions.map(\.0) == [SessionID(sessionA)])
        // Written again, it is a normal snapshot that reads back the same.
        let (_, again) = snapshotBytes(loaded.tree)
        expectSameTree(try SnapshotReader.read(again, snapshotZxid: Zxid(1), extendedTypesEnabled: false).tree, loaded.tree, ordered: true)
    }

    @Test func digestSectionsAreReadAndSealed() throws {
        // Digest version 2: a long; version 1 (3.6.0): a hex string.
        let v2 = sealedSnapshot(nodes: systemNodes) { w in w.writeLong(0x42); w.writeInt(2); w.writeLong(123_456) }
        #expect(try SnapshotReader.read(v2, snapshotZxid: Zxid(0x40), extendedTypesEnabled: false).digestZxid == Zxid(0x42))
        let v1 = sealedSnapshot(nodes: systemNodes) { w in w.writeLong(0x43); w.writeInt(1); w.writeString("1e240") }
        #expect(try SnapshotReader.read(v1, snapshotZxid: Zxid(0x40), extendedTypesEnabled: false).digestZxid == Zxid(0x43))
        // The second seal covers the digest.
        var damaged = v2
        damaged[damaged.count - 14] ^= 1
        #expect(throws: SnapshotError.self) { try SnapshotReader.read(damaged, snapshotZxid: Zxid(0x40), extendedTypesEnabled: false) }
    }

    @Test func ttlOwnersWithoutExtendedTypesAreEphemeralOwners() throws {
        // With extended types off, an owner of 0xFF00…03E8 is just a session id (as in Apache).
        let s = TxnScript(extendedTypesEnabled: true)
        s.createTTL("/t", [], ttl: 1000)
        let (zxid, file) = snapshotBytes(s.tree)
        let off = try SnapshotReader.read(file, snapshotZxid: zxid, extendedTypesEnabled: false)
        #expect(off.tree.ttls.isEmpty)
        #expect(Set(off.tree.ephemerals(of: SessionID(EphemeralOwner.ttl(1000)))) == ["/t"])
        let on = try SnapshotReader.read(file, snapshotZxid: zxid, extendedTypesEnabled: true)
        #expect(on.tree.ttls == ["/t"])
        #expect(on.tree.ephemeralsCount == 0)
    }
}
