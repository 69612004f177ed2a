import Testing
@testable import ZKCore
@testable import ZKProtocol
@testable import ZKDataTree
@testable import ZKStorage
import ZKSimulation

private let sessionAA: Int64 = 0x1_0000_2FD3_FE0000  // kazoo client A, alive when the server was killed
private let open = ACL.openACLUnsafe
private let userDigest = [ACL(perms: 31, id: Id(scheme: "digest", id: "user:smGaoVKd/cQkjm7b88GyorAUz20="))]

/// `SnapshotFormatter -d snapshot.17` as Apache 3.8.0 printed it, in its order (pre-order, HashSet order of
/// children). Stored stats: `cversion` is the stored one. Data in base64; Apache prints "" for null data,
/// the file holds null for /app/null (marked with nil here).
private let apacheSnapshot17: [(path: String, czxid: Int64, mzxid: Int64, pzxid: Int64, cversion: Int32, dataVersion: Int32,
                               aclVersion: Int32, owner: Int64, data: String?)] = [
    ("/", czxid: 0x0, mzxid: 0x0, pzxid: 0x16, cversion: 3, dataVersion: 0, aclVersion: 0, owner: 0x0, data: ""),
    ("/app", czxid: 0x2, mzxid: 0xe, pzxid: 0x12, cversion: 10, dataVersion: 2, aclVersion: 0, owner: 0x0, data: "aGVsbG8z"),
    ("/app/seq-0000000003", czxid: 0x6, mzxid: 0x6, pzxid: 0x6, cversion: 0, dataVersion: 0, aclVersion: 0, owner: 0x0, data: "czI="),
    ("/app/seq-0000000002", czxid: 0x5, mzxid: 0x5, pzxid: 0x5, cversion: 0, dataVersion: 0, aclVersion: 0, owner: 0x0, data: "czE="),
    ("/app/null", czxid: 0x8, mzxid: 0x8, pzxid: 0x8, cversion: 0, dataVersion: 0, aclVersion: 0, owner: 0x0, data: nil),
    ("/app/cfg", czxid: 0x3, mzxid: 0x3, pzxid: 0x3, cversion: 0, dataVersion: 0, aclVersion: 1, owner: 0x0, data: "djE="),
    ("/app/multi1", czxid: 0xe, mzxid: 0xe, pzxid: 0xe, cversion: 0, dataVersion: 0, aclVersion: 0, owner: 0x0, data: "bQ=="),
    ("/app/eph", czxid: 0x7, mzxid: 0x7, pzxid: 0x7, cversion: 0, dataVersion: 0, aclVersion: 0, owner: sessionAA, data: "ZQ=="),
    ("/app/seq-0000000001", czxid: 0x4, mzxid: 0x4, pzxid: 0x4, cversion: 0, dataVersion: 0, aclVersion: 0, owner: 0x0, data: "czA="),
    ("/box", czxid: 0x14, mzxid: 0x14, pzxid: 0x15, cversion: 1, dataVersion: 0, aclVersion: 0, owner: Int64(bitPattern: 0x8000000000000000), data: "Yw=="),
    ("/box/item", czxid: 0x15, mzxid: 0x15, pzxid: 0x15, cversion: 0, dataVersion: 0, aclVersion: 0, owner: 0x0, data: "aQ=="),
    ("/zookeeper", czxid: 0x0, mzxid: 0x0, pzxid: 0x0, cversion: 0, dataVersion: 0, aclVersion: 0, owner: 0x0, data: ""),
    ("/zookeeper/config", czxid: 0x0, mzxid: 0x0, pzxid: 0x0, cversion: 0, dataVersion: 0, aclVersion: -1, owner: 0x0, data: ""),
    ("/zookeeper/quota", czxid: 0x0, mzxid: 0x0, pzxid: 0x0, cversion: 0, dataVersion: 0, aclVersion: 0, owner: 0x0, data: ""),
    ("/ttl", czxid: 0x16, mzxid: 0x16, pzxid: 0x16, cversion: 0, dataVersion: 0, aclVersion: 0, owner: Int64(bitPattern: 0xff0000000036ee80), data: "dA=="),
]

/// The tree Apache served at the end (read with kazoo: getData, getACL, getChildren on every node), in
/// kazoo's traversal order. Client stats: `cversion` as clients see it, containers/TTL nodes report owner 0.
private struct ServedNode {
    var path: String
    var data: String?
    var stat: Stat
    var acl: [ACL]
    var children: [String]
    init(_ path: String, _ data: String?, czxid: Int64, mzxid: Int64, ctime: Int64, mtime: Int64, version: Int32, cversion: Int32,
         aversion: Int32, owner: Int64, numChildren: Int32, pzxid: Int64, acl: [ACL], children: [String]) {
        self.path = path
        self.data = data
        stat = Stat()
        stat.czxid = czxid; stat.mzxid = mzxid; stat.ctime = ctime; stat.mtime = mtime; stat.version = version
        stat.cversion = cversion; stat.aversion = aversion; stat.ephemeralOwner = owner; stat.numChildren = numChildren
        stat.pzxid = pzxid; stat.dataLength = Int32(data.flatMap(Base64.decode)?.count ?? 0)
        self.acl = acl
        self.children = children
    }
}

private let apacheServedTree: [ServedNode] = [
    ServedNode("/", "", czxid: 0, mzxid: 0, ctime: 0, mtime: 0, version: 0, cversion: 3, aversion: 0, owner: 0x0, numChildren: 5, pzxid: 24,
               acl: open, children: ["app", "box", "after", "zookeeper", "ttl"]),
    ServedNode("/app", "aGVsbG8z", czxid: 2, mzxid: 14, ctime: 1795288892766, mtime: 1795288892809, version: 2, cversion: 15, aversion: 0, owner: 0x0, numChildren: 7, pzxid: 27,
               acl: open, children: ["seq-0000000003", "seq-0000000002", "null", "cfg", "eph2", "multi1", "eph"]),
    ServedNode("/app/seq-0000000003", "czI=", czxid: 6, mzxid: 6, ctime: 1795288892786, mtime: 1795288892786, version: 0, cversion: 0, aversion: 0, owner: 0x0, numChildren: 0, pzxid: 6,
               acl: open, children: []),
    ServedNode("/app/seq-0000000002", "czE=", czxid: 5, mzxid: 5, ctime: 1795288892780, mtime: 1795288892780, version: 0, cversion: 0, aversion: 0, owner: 0x0, numChildren: 0, pzxid: 5,
               acl: open, children: []),
    ServedNode("/app/null", nil, czxid: 8, mzxid: 8, ctime: 1795288892790, mtime: 1795288892790, version: 0, cversion: 0, aversion: 0, owner: 0x0, numChildren: 0, pzxid: 8,
               acl: open, children: []),
    ServedNode("/app/cfg", "djI=", czxid: 3, mzxid: 25, ctime: 1795288892774, mtime: 1795288894517, version: 1, cversion: 0, aversion: 1, owner: 0x0, numChildren: 0, pzxid: 3,
               acl: userDigest, children: []),
    ServedNode("/app/eph2", "", czxid: 27, mzxid: 27, ctime: 1795288894520, mtime: 1795288894520, version: 0, cversion: 0, aversion: 0, owner: sessionAA, numChildren: 0, pzxid: 27,
               acl: open, children: []),
    ServedNode("/app/multi1", "bQ==", czxid: 14, mzxid: 14, ctime: 1795288892809, mtime: 1795288892809, version: 0, cversion: 0, aversion: 0, owner: 0x0, numChildren: 0, pzxid: 14,
               acl: open, children: []),
    ServedNode("/app/eph", "ZQ==", czxid: 7, mzxid: 7, ctime: 1795288892788, mtime: 1795288892788, version: 0, cversion: 0, aversion: 0, owner: sessionAA, numChildren: 0, pzxid: 7,
               acl: open, children: []),
    ServedNode("/box", "Yw==", czxid: 20, mzxid: 20, ctime: 1795288892836, mtime: 1795288892836, version: 0, cversion: 1, aversion: 0, owner: 0x0, numChildren: 1, pzxid: 21,
               acl: open, children: ["item"]),
    ServedNode("/box/item", "aQ==", czxid: 21, mzxid: 21, ctime: 1795288892839, mtime: 1795288892839, version: 0, cversion: 0, aversion: 0, owner: 0x0, numChildren: 0, pzxid: 21,
               acl: open, children: []),
    ServedNode("/after", "eA==", czxid: 24, mzxid: 24, ctime: 1795288894510, mtime: 1795288894510, version: 0, cversion: 1, aversion: 0, owner: 0x0, numChildren: 1, pzxid: 28,
               acl: open, children: ["seq-0000000000"]),
    ServedNode("/after/seq-0000000000", "cQ==", czxid: 28, mzxid: 28, ctime: 1795288894522, mtime: 1795288894522, version: 0, cversion: 0, aversion: 0, owner: 0x0, numChildren: 0, pzxid: 28,
               acl: open, children: []),
    ServedNode("/zookeeper", "", czxid: 0, mzxid: 0, ctime: 0, mtime: 0, version: 0, cversion: -2, aversion: 0, owner: 0x0, numChildren: 2, pzxid: 0,
               acl: open, children: ["config", "quota"]),
    ServedNode("/zookeeper/config", "", czxid: 0, mzxid: 0, ctime: 0, mtime: 0, version: 0, cversion: 0, aversion: -1, owner: 0x0, numChildren: 0, pzxid: 0,
               acl: ACL.readACLUnsafe, children: []),
    ServedNode("/zookeeper/quota", "", czxid: 0, mzxid: 0, ctime: 0, mtime: 0, version: 0, cversion: 0, aversion: 0, owner: 0x0, numChildren: 0, pzxid: 0,
               acl: open, children: []),
    ServedNode("/ttl", "dA==", czxid: 22, mzxid: 22, ctime: 1795288892842, mtime: 1795288892842, version: 0, cversion: 0, aversion: 0, owner: 0x0, numChildren: 0, pzxid: 22,
               acl: open, children: []),
]

/// kazoo's traversal: a node, then each child's subtree in getChildren order.
private func servedOrder(_ tree: DataTree) -> [String] {
    var out: [String] = []
    func visit(_ path: String) {
        out.append(path)
        for name in tree.node(path).map({ Array($0.children) }) ?? [] { visit(PathUtils.join(path, name)) }
    }
    visit("/")
    return out
}

private func expectServedTree(_ tree: DataTree, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(servedOrder(tree) == apacheServedTree.map(\.path), sourceLocation: sourceLocation)
    for expected in apacheServedTree {
        guard let node = tree.node(expected.path) else {
            Issue.record("missing \(expected.path)", sourceLocation: sourceLocation)
            continue
        }
        #expect(node.data == expected.data.flatMap(Base64.decode), "\(expected.path)", sourceLocation: sourceLocation)
        #expect(tree.clientStat(node) == expected.stat, "\(expected.path)", sourceLocation: sourceLocation)
        #expect(node.acl == expected.acl, "\(expected.path)", sourceLocation: sourceLocation)
        #expect(Array(node.children) == expected.children, "\(expected.path)", sourceLocation: sourceLocation)
    }
    #expect(tree.nodeCount == apacheServedTree.count + 1, sourceLocation: sourceLocation)
    #expect(tree.containers == ["/box"], sourceLocation: sourceLocation)
    #expect(tree.ttls == ["/ttl"], sourceLocation: sourceLocation)
    #expect(Set(tree.ephemerals(of: SessionID(sessionAA))) == ["/app/eph", "/app/eph2"], sourceLocation: sourceLocation)
}

private func padded(_ log: [UInt8]) -> [UInt8] { log + [UInt8](repeating: 0, count: ApacheGolden.logFileSize - log.count) }

/// A MemoryDisk holding Apache's data directory as it was when the server was killed (dataLogDir = dataDir).
private func apacheDataDirectory() -> MemoryDisk {
    let disk = MemoryDisk(directories: ["/zk/version-2"])
    disk.put("/zk/version-2/snapshot.0", ApacheGolden.snapshot0)
    disk.put("/zk/version-2/log.1", padded(ApacheGolden.log1))
    disk.put("/zk/version-2/snapshot.17", ApacheGolden.snapshot17)
    disk.put("/zk/version-2/log.18", padded(ApacheGolden.log18))
    return disk
}

private let apacheLayout = StorageLayout(dataDir: "/zk", dataLogDir: "/zk")

@Suite struct ApacheGoldenFileTests {
    @Test func readsApachesSnapshot() throws {
        let loaded = try SnapshotReader.read(ApacheGolden.snapshot17, snapshotZxid: Zxid(0x17), extendedTypesEnabled: true)
        let tree = loaded.tree
        #expect(dump(tree).map(\.path) == apacheSnapshot17.map(\.path))
        for expected in apacheSnapshot17 {
            let node = try #require(tree.node(expected.path), "\(expected.path)")
            #expect(node.stat.czxid == expected.czxid, "\(expected.path)")
            #expect(node.stat.mzxid == expected.mzxid, "\(expected.path)")
            #expect(node.stat.pzxid == expected.pzxid, "\(expected.path)")
            #expect(node.stat.cversion == expected.cversion, "\(expected.path)")
            #expect(node.stat.version == expected.dataVersion, "\(expected.path)")
            #expect(node.stat.aversion == expected.aclVersion, "\(expected.path)")
            #expect(node.stat.ephemeralOwner == expected.owner, "\(expected.path)")
            #expect(node.data == expected.data.flatMap(Base64.decode), "\(expected.path)")
        }
        // "ZNode Details (count=16)": Apache counts the root twice, as we do.
        #expect(tree.nodeCount == 16)
        // "Session Details": 0x100002fd3fe0000, 40000.
        #expect(loaded.sessions.map(\.0) == [SessionID(sessionAA)])
        #expect(loaded.sessions.map(\.1) == [40000])
        #expect(loaded.digestZxid == Zxid(0x17))
        #expect(tree.lastProcessedZxid == Zxid(0x17))
        // ACLs (Apache's ACL map: 1 = READ_ACL_UNSAFE, 2 = OPEN_ACL_UNSAFE, 4 = the digest list).
        #expect(tree.node("/app/cfg")?.acl == userDigest)
        #expect(tree.node("/zookeeper/config")?.acl == ACL.readACLUnsafe)
        #expect(tree.node("/app")?.acl == open)
        #expect(tree.node("/")?.acl == open)
        #expect(tree.containers == ["/box"])
        #expect(tree.ttls == ["/ttl"])
        #expect(EphemeralOwner.ttlValue(tree.node("/ttl")!.stat.ephemeralOwner) == 3_600_000)
        #expect(Set(tree.ephemerals(of: SessionID(sessionAA))) == ["/app/eph"])
        // Our digest of the loaded tree is the one Apache wrote in the file's digest section.
        #expect(digestSection(ApacheGolden.snapshot17)?.digest == 0x6_C18E_286E)
        #expect(treeDigest(tree) == 0x6_C18E_286E)
    }

    @Test func readsApachesFreshSnapshot() throws {
        let loaded = try SnapshotReader.read(ApacheGolden.snapshot0, snapshotZxid: .zero, extendedTypesEnabled: true)
        expectSameTree(loaded.tree, DataTree(extendedTypesEnabled: true), ordered: true)
        #expect(loaded.sessions.isEmpty)
        #expect(loaded.digestZxid == .zero)
    }

    @Test func rewritingApachesSnapshotKeepsTheTreeAndTheDigest() throws {
        let loaded = try SnapshotReader.read(ApacheGolden.snapshot17, snapshotZxid: Zxid(0x17), extendedTypesEnabled: true)
        let (zxid, ours) = snapshotBytes(loaded.tree, sessions: loaded.sessions)
        #expect(zxid == Zxid(0x17))
        let again = try SnapshotReader.read(ours, snapshotZxid: zxid, extendedTypesEnabled: true)
        expectSameTree(again.tree, loaded.tree, ordered: true)
        #expect(digestSection(ours)?.digest == digestSection(ApacheGolden.snapshot17)?.digest)
        #expect(digestSection(ours)?.zxid == Zxid(0x17))
        // Same length: Apache writes OPEN_ACL_UNSAFE as a numbered list, we as -1; everything else is the
        // same bytes in the same order.
        #expect(ours.count == ApacheGolden.snapshot17.count - 35)  // one ACL map entry fewer: 8 + 4 + (4 + 4+5 + 4+6)
    }

    @Test func parsesApachesLogs() throws {
        let log1 = TxnLogFormat.parse(padded(ApacheGolden.log1))
        #expect(log1.problem == nil)
        #expect(log1.validEnd == ApacheGolden.log1.count)
        #expect(log1.records.map(\.zxid.rawValue) == Array(1...0x17))
        let log18 = TxnLogFormat.parse(padded(ApacheGolden.log18))
        #expect(log18.problem == nil)
        #expect(log18.records.map(\.zxid.rawValue) == Array(0x18...0x1C))

        let entries = try (log1.records + log18.records).map { try TxnEntry.decode($0.txn) }
        // The types TxnLogToolkit printed.
        #expect(entries.map(\.header.type) == [-10, 1, 1, 1, 1, 1, 1, 1, 1, 2, 5, 7, 14, 14, -10, 1, 1, -11, -10, 19, 1, 21, -11,
                                               1, 5, 2, 1, 1])
        // Every 3.8 txn carries a version-2 digest, and re-encoding gives Apache's bytes back.
        for (entry, record) in zip(entries, log1.records + log18.records) {
            #expect(entry.digest?.version == 2)
            #expect(entry.serialized() == record.txn, "zxid \(entry.zxid)")
        }
        #expect(entries[0].txn == .createSession(timeOutMs: 40000))
        #expect(entries[0].header.clientId == sessionAA)
        #expect(entries[2].txn == .create(path: "/app/cfg", data: bytes("v1"),
                                          acl: userDigest + [ACL(perms: 1, id: .anyone)], ephemeral: false, parentCVersion: 1))
        #expect(entries[6].txn == .create(path: "/app/eph", data: bytes("e"), acl: open, ephemeral: true, parentCVersion: 5))
        #expect(entries[7].txn == .create(path: "/app/null", data: nil, acl: open, ephemeral: false, parentCVersion: 6))
        #expect(entries[9].txn == .delete(path: "/app/tmp"))
        #expect(entries[10].txn == .setData(path: "/app", data: bytes("hello2"), version: 1))
        #expect(entries[11].txn == .setACL(path: "/app/cfg", acl: userDigest, version: 1))
        // The failed multi: the ops before the failure as they were, then the error.
        #expect(entries[12].txn == .multi([
            TypedTxn(type: .create, txn: .create(path: "/app/multi1", data: bytes("m"), acl: open, ephemeral: false, parentCVersion: 8)),
            TypedTxn(type: .setData, txn: .setData(path: "/app", data: bytes("hello3"), version: 2)),
            TypedTxn(type: .error, txn: .error(.badVersion)),
        ]))
        #expect(entries[13].txn == .multi([
            TypedTxn(type: .create, txn: .create(path: "/app/multi1", data: bytes("m"), acl: open, ephemeral: false, parentCVersion: 8)),
            TypedTxn(type: .setData, txn: .setData(path: "/app", data: bytes("hello3"), version: 2)),
            // CheckVersionTxn holds the version + 1 (`checkAndIncVersion`).
            TypedTxn(type: .check, txn: .checkVersion(path: "/app/cfg", version: 1)),
        ]))
        #expect(entries[17].txn == .closeSession(ephemeralPaths: ["/app/ephB", "/app/ephseq-0000000009"]))
        #expect(entries[19].txn == .createContainer(path: "/box", data: bytes("c"), acl: open, parentCVersion: 2))
        #expect(entries[21].txn == .createTTL(path: "/ttl", data: bytes("t"), acl: open, parentCVersion: 3, ttl: 3_600_000))
        #expect(entries[22].txn == .closeSession(ephemeralPaths: []))
    }

    @Test func applyingApachesTxnsGivesApachesDigests() throws {
        // Each 3.8 txn carries the tree digest after it; our tree, replaying the log from Apache's empty
        // snapshot, must reach the same digest after every txn (every stat field, every node).
        let tree = try SnapshotReader.read(ApacheGolden.snapshot0, snapshotZxid: .zero, extendedTypesEnabled: true).tree
        var changes: [TreeChange] = []
        for record in TxnLogFormat.parse(ApacheGolden.log1).records + TxnLogFormat.parse(ApacheGolden.log18).records {
            let entry = try TxnEntry.decode(record.txn)
            _ = tree.apply(entry, changes: &changes)
            #expect(treeDigest(tree) == UInt64(bitPattern: entry.digest?.treeDigest ?? 0), "after zxid 0x\(Zxid(entry.zxid).hex)")
            if entry.zxid == 0x17 {
                #expect(treeDigest(tree) == 0x6_C18E_286E)
            }
        }
        expectServedTree(tree)
    }

    @Test func recoveryGivesTheTreeApacheServed() throws {
        let disk = apacheDataDirectory()
        let db = try Recovery.recover(disk: disk, layout: apacheLayout, extendedTypesEnabled: true)
        #expect(db.snapshotZxid == Zxid(0x17))
        #expect(db.lastZxid == Zxid(0x1C))
        #expect(db.replayedTxns == 5)
        #expect(db.warnings.isEmpty)
        #expect(db.sessions == [SessionID(sessionAA): 40000])
        expectServedTree(db.tree)
        // Nothing was modified on disk.
        #expect(disk.contents("/zk/version-2/log.18")?.count == ApacheGolden.logFileSize)
    }

    @Test func recoveryFallsBackToApachesOlderSnapshot() throws {
        let disk = apacheDataDirectory()
        disk.modify("/zk/version-2/snapshot.17") { $0[200] ^= 0x01 }
        let db = try Recovery.recover(disk: disk, layout: apacheLayout, extendedTypesEnabled: true)
        #expect(db.snapshotZxid == .zero)
        #expect(db.replayedTxns == 0x1C)
        #expect(db.warnings.count == 1)
        #expect(db.sessions == [SessionID(sessionAA): 40000])
        expectServedTree(db.tree)
    }

    @Test func recoveryCutsATornApacheLog() throws {
        let disk = apacheDataDirectory()
        // The server died while writing the last record: half of it reached the disk.
        let lastStart = TxnLogFormat.parse(ApacheGolden.log18).records.dropLast().last!.endOffset
        disk.modify("/zk/version-2/log.18") { file in
            for i in (lastStart + 30)..<ApacheGolden.log18.count { file[i] = 0 }
        }
        let db = try Recovery.recover(disk: disk, layout: apacheLayout, extendedTypesEnabled: true)
        #expect(db.lastZxid == Zxid(0x1B))
        #expect(db.tree.node("/after/seq-0000000000") == nil)
        #expect(db.tree.node("/app/eph2") != nil)
        #expect(db.warnings.count == 1 && db.warnings[0].contains("truncat"))
        #expect(disk.contents("/zk/version-2/log.18")?.count == lastStart)
    }
}

/// Apache's own readers on files we wrote (real files in a temp directory).
@Suite(.enabled(if: ApacheTools.available, ApacheTools.skipReason))
struct ApacheReadsOurFilesTests {
    @Test func snapshotFormatterReadsOurSnapshot() throws {
        let scratch = ScratchDirectory()
        defer { scratch.remove() }
        let s = varietyScript()
        let (zxid, file) = snapshotBytes(s.tree, sessions: [(SessionID(sessionA), 30000), (SessionID(sessionB), 12000)], nodesMax: 3)
        let path = scratch.write(SnapshotFormat.fileName(zxid: zxid), file)
        let (status, output) = ApacheTools.run("org.apache.zookeeper.server.SnapshotFormatter", ["-d", path], scratch: scratch)
        #expect(status == 0, "\(output)")
        #expect(output.contains("ZNode Details (count=\(s.tree.nodeCount)):"), "\(output)")
        for node in dump(s.tree) {
            #expect(output.contains("\n\(node.path)\n"), "\(node.path) missing from:\n\(output)")
        }
        #expect(output.contains("ephemeralOwner = 0x8000000000000000"))  // the container
        #expect(output.contains("ephemeralOwner = 0xff00000000001388"))  // TTL 5000 ms
        #expect(output.contains("data = \(Base64.encode(bytes("persistent v2")))"))
        #expect(output.contains("0x100000000000001, 30000, 1"), "\(output)")  // session A owns /p/eA
        #expect(output.contains("0x100000000000002, 12000, 1"), "\(output)")
        #expect(output.contains("Last zxid: 0x\(zxid.hex)"), "\(output)")
        #expect(!output.contains("Exception"), "\(output)")
    }

    @Test func snapshotFormatterPrintsOurRewriteOfApachesSnapshotLikeTheOriginal() throws {
        let scratch = ScratchDirectory()
        defer { scratch.remove() }
        let loaded = try SnapshotReader.read(ApacheGolden.snapshot17, snapshotZxid: Zxid(0x17), extendedTypesEnabled: true)
        let (_, ours) = snapshotBytes(loaded.tree, sessions: loaded.sessions)
        _ = scratch.makeDirectory("apache")
        _ = scratch.makeDirectory("ours")
        let original = scratch.write("apache/snapshot.17", ApacheGolden.snapshot17)
        let rewritten = scratch.write("ours/snapshot.17", ours)
        let a = ApacheTools.run("org.apache.zookeeper.server.SnapshotFormatter", ["-d", original], scratch: scratch)
        let b = ApacheTools.run("org.apache.zookeeper.server.SnapshotFormatter", ["-d", rewritten], scratch: scratch)
        #expect(a.status == 0 && b.status == 0, "\(a.output)\n\(b.output)")
        #expect(a.output.contains("/app/seq-0000000001"))
        #expect(b.output == a.output)
    }

    @Test func txnLogToolkitReadsOurLog() throws {
        let scratch = ScratchDirectory()
        defer { scratch.remove() }
        let s = varietyScript()
        s.apply(.multi, .multi([
            TypedTxn(type: .create, txn: .create(path: "/m1", data: bytes("m"), acl: openACL, ephemeral: false, parentCVersion: s.nextParentCVersion("/m1"))),
            TypedTxn(type: .setData, txn: .setData(path: "/m1", data: bytes("m2"), version: 1)),
            TypedTxn(type: .check, txn: .checkVersion(path: "/p", version: 1)),
        ]))
        s.closeSession(sessionB)
        // Written by our writer, with preallocation, group commits and a roll.
        let disk = MemoryDisk(directories: [logDir])
        let w = TxnLogWriter(disk: disk, directory: logDir, preallocateBytes: 8192, forceSync: true)
        for (i, entry) in s.entries.enumerated() {
            try w.append(entry.serialized(), zxid: Zxid(entry.zxid))
            if i % 5 == 4 { try w.commit() }
            if i == 20 { try w.roll() }
        }
        try w.commit()
        let names = try disk.list(logDir)
        #expect(names == ["log.1", "log.16"])
        var counts: [Int] = []
        for name in names {
            let path = scratch.write(name, disk.contents(logDir + "/" + name)!)
            let (status, output) = ApacheTools.run("org.apache.zookeeper.server.persistence.TxnLogToolkit", [path], scratch: scratch)
            #expect(status == 0, "\(output)")
            #expect(output.contains("ZooKeeper Transactional Log File with dbid 0 txnlog format version 2"), "\(output)")
            #expect(!output.contains("CRC ERROR") && !output.contains("partial"), "\(output)")
            let count = TxnLogFormat.parse(disk.contents(logDir + "/" + name)!).records.count
            #expect(output.contains("EOF reached after \(count) txns."), "\(output)")
            counts.append(count)
            if name == "log.1" {
                #expect(output.contains("createSession 30000"))
                #expect(output.contains("create2 /p,persistent,"), "\(output)")
                #expect(output.contains("createContainer /box,container,"), "\(output)")
                #expect(output.contains("createTtl /ttl,ttl,"), "\(output)")
                #expect(output.contains("user:smGaoVKd/cQkjm7b88GyorAUz20="), "\(output)")
            } else {
                #expect(output.contains("setData /p,persistent v2,"), "\(output)")
                // TxnLogToolkit prints a multi's sub-records as raw bytes: just look for the op and the path.
                #expect(output.contains("multi create:") && output.contains("/m1"))
                #expect(output.contains("closeSession v{'/eB}"))
            }
        }
        #expect(counts.reduce(0, +) == s.entries.count)
    }
}
