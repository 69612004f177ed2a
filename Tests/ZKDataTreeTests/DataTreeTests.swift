import Testing
@testable import ZKCore
@testable import ZKProtocol
@testable import ZKDataTree

private let open = ACL.openACLUnsafe
private let sessionA: Int64 = 0x0100_0000_0000_0001
private let sessionB: Int64 = 0x0100_0000_0000_0002

/// Applies txns with increasing zxids and a fixed clock, recording the changes of the last one.
private final class TreeDriver {
    let tree: DataTree
    var zxid: Int64 = 0
    var changes: [TreeChange] = []

    init(extendedTypesEnabled: Bool = true) { tree = DataTree(extendedTypesEnabled: extendedTypesEnabled) }

    @discardableResult
    func apply(_ type: OpCode, _ txn: Txn, session: Int64 = sessionA, time: Int64? = nil) -> ApplyResult {
        zxid += 1
        let header = TxnHeader(clientId: session, cxid: Int32(zxid), zxid: zxid, time: time ?? 1000 * zxid, type: type.rawValue)
        changes = []
        return tree.apply(TxnEntry(header: header, txn: txn), changes: &changes)
    }

    /// A create with the parent's cversion + 1, as the preparer resolves it.
    @discardableResult
    func create(_ path: String, data: [UInt8]? = [], ephemeral: Bool = false, session: Int64 = sessionA) -> ApplyResult {
        apply(.create, .create(path: path, data: data, acl: open, ephemeral: ephemeral,
                               parentCVersion: parentCVersion(path)), session: session)
    }

    func parentCVersion(_ path: String) -> Int32 {
        (tree.node(PathUtils.parent(of: path) ?? "").map { $0.stat.cversion } ?? 0) + 1
    }

    func stat(_ path: String) -> Stat? { tree.node(path).map(tree.clientStat) }
}

@Suite struct FreshTreeTests {
    @Test func systemNodes() throws {
        let tree = DataTree(extendedTypesEnabled: false)
        for path in ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
            #expect(tree.node(path) != nil, "\(path)")
        }
        #expect(tree.node("") == tree.node("/"))
        #expect(tree.nodeCount == 5)
        #expect(tree.lastProcessedZxid == .zero)
        #expect(Set(tree.node("/")!.children) == ["zookeeper"])
        #expect(Set(tree.node("/zookeeper")!.children) == ["quota", "config"])
        let config = try #require(tree.node("/zookeeper/config"))
        #expect(config.stat.aversion == -1)
        #expect(tree.clientStat(config).aversion == -1)
        #expect(config.acl == ACL.readACLUnsafe)
        #expect(tree.node("/zookeeper")!.acl == ACL.openACLUnsafe)
        #expect(tree.node("/zookeeper/quota")!.stat.aversion == 0)
        // The root's stored cversion is 0 with one child: the client sees -1, as on a fresh Apache server.
        let root = tree.clientStat(tree.node("/")!)
        #expect(root.cversion == -1)
        #expect(root.numChildren == 1)
        #expect(root.czxid == 0 && root.mzxid == 0 && root.pzxid == 0)
        #expect(tree.allChildrenCount("/") == 3)
        #expect(tree.ephemeralsCount == 0)
        #expect(tree.containers.isEmpty && tree.ttls.isEmpty)
    }

    @Test(arguments: ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"])
    func specialPaths(path: String) {
        #expect(DataTree.isSpecialPath(path))
    }

    @Test(arguments: ["/a", "/zookeeper/other", "/zookeeperx"])
    func notSpecialPaths(path: String) {
        #expect(!DataTree.isSpecialPath(path))
    }

    @Test func forEachNodeVisitsParentsFirst() {
        let d = TreeDriver()
        d.create("/b"); d.create("/a"); d.create("/a/c")
        var seen: [String] = []
        d.tree.forEachNode { path, _ in seen.append(path) }
        #expect(Set(seen) == ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config", "/a", "/a/c", "/b"])
        for (i, path) in seen.enumerated() where path != "/" {
            let parent = PathUtils.parent(of: path)!
            #expect(seen[..<i].contains(parent.isEmpty ? "/" : parent), "\(path) before its parent")
        }
    }
}

@Suite struct DataTreeApplyTests {
    @Test func createSetsStatsAndParent() throws {
        let d = TreeDriver()
        let rc = d.apply(.create, .create(path: "/a", data: [1, 2, 3], acl: open, ephemeral: false, parentCVersion: 1),
                         time: 1234)
        #expect(rc.err == .ok)
        #expect(rc.type == .create)
        #expect(rc.path == "/a")
        let s = try #require(rc.stat)
        #expect(s.czxid == 1 && s.mzxid == 1 && s.pzxid == 1)
        #expect(s.ctime == 1234 && s.mtime == 1234)
        #expect(s.version == 0 && s.cversion == 0 && s.aversion == 0)
        #expect(s.dataLength == 3)
        #expect(s.numChildren == 0)
        #expect(s.ephemeralOwner == 0)
        #expect(d.stat("/a") == s)
        #expect(d.changes == [.created("/a"), .childrenChanged("/")])
        let root = d.tree.node("/")!
        #expect(root.stat.cversion == 1)
        #expect(root.stat.pzxid == 1)
        #expect(d.tree.clientStat(root).cversion == 2 * 1 - 2)
        #expect(d.tree.nodeCount == 6)
        #expect(d.tree.lastProcessedZxid == Zxid(1))
    }

    @Test func nestedCreateAndDeleteUpdateParentCVersionAndPzxid() throws {
        let d = TreeDriver()
        d.create("/a")
        d.create("/a/b")
        #expect(d.changes == [.created("/a/b"), .childrenChanged("/a")])
        var a = try #require(d.stat("/a"))
        #expect(a.cversion == 1)
        #expect(a.pzxid == 2)
        #expect(a.numChildren == 1)
        #expect(a.mzxid == 1)  // children do not change the parent's mzxid
        let rc = d.apply(.delete, .delete(path: "/a/b"))
        #expect(rc.err == .ok)
        #expect(d.changes == [.deleted("/a/b"), .childrenChanged("/a")])
        a = try #require(d.stat("/a"))
        #expect(d.tree.node("/a")!.stat.cversion == 1)  // delete does not bump the stored cversion
        #expect(a.cversion == 2)  // 2 * 1 - 0: one create and one delete
        #expect(a.pzxid == 3)
        #expect(a.numChildren == 0)
        #expect(d.tree.node("/a/b") == nil)
        #expect(d.tree.nodeCount == 6)
    }

    @Test func parentCVersionMinusOneIsComputed() {
        let d = TreeDriver()
        d.create("/a")
        d.apply(.create, .create(path: "/a/x", data: nil, acl: open, ephemeral: false, parentCVersion: -1))
        #expect(d.tree.node("/a")!.stat.cversion == 1)
        d.apply(.create, .create(path: "/a/y", data: nil, acl: open, ephemeral: false, parentCVersion: -1))
        #expect(d.tree.node("/a")!.stat.cversion == 2)
        #expect(d.tree.node("/a")!.stat.pzxid == 3)
    }

    @Test func staleParentCVersionLeavesParentAlone() {
        let d = TreeDriver()
        d.create("/a")
        d.create("/a/x")
        d.apply(.delete, .delete(path: "/a/x"))
        // A replayed create with an old parentCVersion does not move cversion or pzxid back.
        d.apply(.create, .create(path: "/a/x", data: nil, acl: open, ephemeral: false, parentCVersion: 1))
        #expect(d.tree.node("/a")!.stat.cversion == 1)
        #expect(d.tree.node("/a")!.stat.pzxid == 3)
        #expect(d.tree.node("/a/x") != nil)
    }

    @Test func setDataAndSetACL() throws {
        let d = TreeDriver()
        d.create("/a", data: [1])
        let rc = d.apply(.setData, .setData(path: "/a", data: [7, 7, 7, 7], version: 1), time: 99_000)
        #expect(rc.err == .ok)
        #expect(d.changes == [.dataChanged("/a")])
        let s = try #require(rc.stat)
        #expect(s.version == 1)
        #expect(s.mzxid == 2 && s.czxid == 1)
        #expect(s.mtime == 99_000 && s.ctime == 1000)
        #expect(s.dataLength == 4)
        #expect(d.tree.node("/a")!.data == [7, 7, 7, 7])
        let nullData = d.apply(.setData, .setData(path: "/a", data: nil, version: 2))
        #expect(nullData.stat?.dataLength == 0)

        let acl = [ACL(perms: 1, id: Id(scheme: "ip", id: "10.0.0.1"))]
        let aclRC = d.apply(.setACL, .setACL(path: "/a", acl: acl, version: 1))
        #expect(aclRC.err == .ok)
        #expect(aclRC.stat?.aversion == 1)
        #expect(d.changes.isEmpty)
        #expect(d.tree.node("/a")!.acl == acl)
        #expect(aclRC.stat?.mzxid == 3)
    }

    @Test func errorsStillAdvanceTheZxid() {
        let d = TreeDriver()
        d.create("/a")
        let cases: [(OpCode, Txn, ErrorCode)] = [
            (.create, .create(path: "/a", data: nil, acl: open, ephemeral: false, parentCVersion: 5), .nodeExists),
            (.create, .create(path: "/x/y", data: nil, acl: open, ephemeral: false, parentCVersion: 1), .noNode),
            (.delete, .delete(path: "/missing"), .noNode),
            (.setData, .setData(path: "/missing", data: nil, version: 1), .noNode),
            (.setACL, .setACL(path: "/missing", acl: open, version: 1), .noNode),
            (.error, .error(.badVersion), .badVersion),
        ]
        for (type, txn, expected) in cases {
            let rc = d.apply(type, txn)
            #expect(rc.err == expected, "\(txn)")
            #expect(d.changes.isEmpty, "\(txn)")
            #expect(d.tree.lastProcessedZxid == Zxid(d.zxid))
        }
        #expect(d.tree.nodeCount == 6)
    }

    @Test func checkAndCreateSessionChangeNothing() {
        let d = TreeDriver()
        d.create("/a")
        #expect(d.apply(.createSession, .createSession(timeOutMs: 4000)).err == .ok)
        #expect(d.apply(.check, .checkVersion(path: "/a", version: 0)).err == .ok)
        #expect(d.changes.isEmpty)
        #expect(d.tree.nodeCount == 6)
    }

    @Test func ephemeralsAreTrackedPerSessionAndRemovedByCloseSession() throws {
        let d = TreeDriver()
        d.create("/p")
        d.create("/e1", ephemeral: true, session: sessionA)
        d.create("/p/e2", ephemeral: true, session: sessionA)
        d.create("/e3", ephemeral: true, session: sessionB)
        #expect(Set(d.tree.ephemerals(of: SessionID(sessionA))) == ["/e1", "/p/e2"])
        #expect(Array(d.tree.ephemerals(of: SessionID(sessionB))) == ["/e3"])
        #expect(d.tree.ephemeralsCount == 3)
        #expect(d.stat("/e1")?.ephemeralOwner == sessionA)
        #expect(d.tree.kind(of: d.tree.node("/e1")!) == .ephemeral)

        d.apply(.closeSession, .closeSession(ephemeralPaths: ["/e1", "/p/e2"]), session: sessionA)
        #expect(d.tree.node("/e1") == nil)
        #expect(d.tree.node("/p/e2") == nil)
        #expect(d.tree.ephemerals(of: SessionID(sessionA)).isEmpty)
        #expect(d.tree.ephemerals[sessionA] == nil)
        #expect(d.tree.node("/e3") != nil)
        #expect(d.changes == [.deleted("/e1"), .childrenChanged("/"), .deleted("/p/e2"), .childrenChanged("/p")])
        #expect(d.tree.node("/p")!.stat.pzxid == d.zxid)
        #expect(d.tree.node("/")!.stat.pzxid == d.zxid)
    }

    @Test func closeSessionWithoutPathsStillDeletesTheSessionsEphemerals() {
        // Old logs have closeSession txns without a record.
        let d = TreeDriver()
        d.create("/e", ephemeral: true, session: sessionB)
        d.apply(.closeSession, .closeSession(ephemeralPaths: []), session: sessionB)
        #expect(d.tree.node("/e") == nil)
        #expect(d.tree.ephemeralsCount == 0)
        #expect(d.changes == [.deleted("/e"), .childrenChanged("/")])
    }

    @Test func deletingAnEphemeralUntracksIt() {
        let d = TreeDriver()
        d.create("/e", ephemeral: true, session: sessionA)
        d.apply(.delete, .delete(path: "/e"))
        // Apache keeps the session's (now empty) set until the session closes.
        #expect(d.tree.ephemerals[sessionA]?.isEmpty == true)
        #expect(d.tree.ephemeralsCount == 0)
    }

    @Test func containers() throws {
        let d = TreeDriver()
        d.apply(.createContainer, .createContainer(path: "/c", data: nil, acl: open, parentCVersion: 1))
        #expect(d.tree.containers == ["/c"])
        let node = try #require(d.tree.node("/c"))
        #expect(node.stat.ephemeralOwner == Int64.min)
        #expect(d.tree.kind(of: node) == .container)
        #expect(d.stat("/c")?.ephemeralOwner == 0)
        #expect(d.tree.ephemeralsCount == 0)
        d.apply(.deleteContainer, .delete(path: "/c"))
        #expect(d.tree.containers.isEmpty)
        #expect(d.changes == [.deleted("/c"), .childrenChanged("/")])
    }

    @Test func ttlNodes() throws {
        let d = TreeDriver(extendedTypesEnabled: true)
        let rc = d.apply(.createTTL, .createTTL(path: "/t", data: nil, acl: open, parentCVersion: 1, ttl: 1000))
        #expect(rc.err == .ok)
        #expect(d.tree.ttls == ["/t"])
        let node = try #require(d.tree.node("/t"))
        #expect(UInt64(bitPattern: node.stat.ephemeralOwner) == 0xff00_0000_0000_03e8)
        #expect(d.tree.kind(of: node) == .ttl)
        #expect(rc.stat?.ephemeralOwner == 0)
        #expect(d.tree.ephemeralsCount == 0)
        d.apply(.delete, .delete(path: "/t"))
        #expect(d.tree.ttls.isEmpty)
    }

    @Test(arguments: [
        (Int64(0), true, NodeKind.persistent), (0, false, .persistent),
        (sessionA, true, .ephemeral), (sessionA, false, .ephemeral),
        (Int64.min, true, .container), (Int64.min, false, .container),
        (EphemeralOwner.ttl(5), true, .ttl),
        // Without extended types, Apache reads a TTL owner as a normal ephemeral owner.
        (EphemeralOwner.ttl(5), false, .ephemeral),
    ])
    func nodeKinds(owner: Int64, extended: Bool, kind: NodeKind) {
        #expect(NodeKind(ephemeralOwner: owner, extendedTypesEnabled: extended) == kind)
    }

    @Test func multiSuccessAppliesEverySubTxn() throws {
        let d = TreeDriver()
        d.create("/x")
        let rc = d.apply(.multi, .multi([
            TypedTxn(type: .create, txn: .create(path: "/m", data: [1], acl: open, ephemeral: false, parentCVersion: 2)),
            TypedTxn(type: .setData, txn: .setData(path: "/m", data: [2, 2], version: 1)),
            TypedTxn(type: .check, txn: .checkVersion(path: "/m", version: 1)),
            TypedTxn(type: .delete, txn: .delete(path: "/x")),
        ]))
        #expect(rc.err == .ok)
        #expect(rc.multi.map(\.type) == [.create, .setData, .check, .delete])
        #expect(rc.multi.allSatisfy { $0.err == .ok })
        #expect(d.tree.node("/m")?.data == [2, 2])
        #expect(d.tree.node("/x") == nil)
        #expect(d.changes == [.created("/m"), .childrenChanged("/"), .dataChanged("/m"), .deleted("/x"), .childrenChanged("/")])
        // All sub-txns share the multi's zxid.
        #expect(d.stat("/m")?.czxid == 2)
        #expect(d.stat("/m")?.mzxid == 2)
    }

    @Test func multiWithAnErrorTxnTurnsEverySubResultIntoAnError() {
        let d = TreeDriver()
        let rc = d.apply(.multi, .multi([
            TypedTxn(type: .create, txn: .create(path: "/m1", data: nil, acl: open, ephemeral: false, parentCVersion: 2)),
            TypedTxn(type: .create, txn: .create(path: "/m2", data: nil, acl: open, ephemeral: false, parentCVersion: 3)),
            TypedTxn(type: .error, txn: .error(.nodeExists)),
            TypedTxn(type: .error, txn: .error(.runtimeInconsistency)),
            TypedTxn(type: .delete, txn: .delete(path: "/zookeeper/quota")),
        ]))
        #expect(rc.err == .nodeExists)
        #expect(rc.multi.map(\.type) == [.error, .error, .error, .error, .error])
        #expect(rc.multi.map(\.err) == [.ok, .ok, .nodeExists, .runtimeInconsistency, .runtimeInconsistency])
        #expect(d.changes.isEmpty)
        #expect(d.tree.node("/m1") == nil)
        #expect(d.tree.node("/m2") == nil)
        #expect(d.tree.node("/zookeeper/quota") != nil)
        #expect(d.tree.lastProcessedZxid == Zxid(1))
    }

    @Test func allChildrenCount() {
        let d = TreeDriver()
        for path in ["/a", "/a/b", "/a/b/c", "/a/d", "/e"] { d.create(path) }
        #expect(d.tree.allChildrenCount("/a") == 3)
        #expect(d.tree.allChildrenCount("/a/b") == 1)
        #expect(d.tree.allChildrenCount("/a/b/c") == 0)
        #expect(d.tree.allChildrenCount("/") == 3 + 5)
        #expect(d.tree.allChildrenCount("/missing") == 0)
    }

    @Test func clientCVersionIsTwiceStoredMinusChildren() {
        let d = TreeDriver()
        d.create("/p")
        for name in ["a", "b", "c"] { d.create("/p/\(name)") }
        d.apply(.delete, .delete(path: "/p/a"))
        // stored cversion 3 (three creates), two children left: 2*3 - 2 = 4 changes.
        #expect(d.tree.node("/p")!.stat.cversion == 3)
        #expect(d.stat("/p")?.cversion == 4)
        #expect(d.stat("/p")?.numChildren == 2)
    }

    @Test func approximateDataSizeTracksPathsAndData() {
        let d = TreeDriver()
        let base = d.tree.approximateDataSizeBytes
        d.create("/ab", data: [1, 2, 3])
        #expect(d.tree.approximateDataSizeBytes == base + 3 + 3)
        d.apply(.setData, .setData(path: "/ab", data: [1], version: 1))
        #expect(d.tree.approximateDataSizeBytes == base + 3 + 1)
        d.apply(.delete, .delete(path: "/ab"))
        #expect(d.tree.approximateDataSizeBytes == base)
    }
}
