import Testing
@testable import ZKCore
@testable import ZKProtocol
@testable import ZKDataTree
@testable import ZKStorage

let openACL = ACL.openACLUnsafe
let sessionA: Int64 = 0x0100_0000_0000_0001
let sessionB: Int64 = 0x0100_0000_0000_0002

/// A digest identity as `DigestAuthenticationProvider` stores it (user:base64(sha1(user:password))).
let digestACL = [ACL(perms: Permissions.all.rawValue, id: Id(scheme: "digest", id: "user:smGaoVKd/cQkjm7b88GyorAUz20="))]
let mixedACL = [ACL(perms: Permissions.all.rawValue, id: Id(scheme: "digest", id: "bob:Ojp1TJr7Ok4JiJ4ma6A5TUvqOCY=")),
                ACL(perms: Permissions.read.rawValue | Permissions.write.rawValue, id: Id(scheme: "ip", id: "10.0.0.0/8")),
                ACL(perms: Permissions.read.rawValue, id: .anyone)]

/// Builds txns with consecutive zxids (in one epoch unless told) and applies them to a tree, keeping every
/// entry so tests can log them or replay a prefix.
final class TxnScript {
    let tree: DataTree
    private(set) var entries: [TxnEntry] = []
    var zxid: Zxid
    var time: Int64 = 1_700_000_000_000

    init(extendedTypesEnabled: Bool = true, startingAfter zxid: Zxid = .zero) {
        tree = DataTree(extendedTypesEnabled: extendedTypesEnabled)
        self.zxid = zxid
    }

    @discardableResult
    func apply(_ type: OpCode, _ txn: Txn, session: Int64 = sessionA) -> TxnEntry {
        zxid = zxid.next()
        time += 7
        let header = TxnHeader(clientId: session, cxid: Int32(entries.count + 1), zxid: zxid.rawValue, time: time, type: type.rawValue)
        let entry = TxnEntry(header: header, txn: txn)
        var changes: [TreeChange] = []
        let result = tree.apply(entry, changes: &changes)
        if case .error = txn {} else { precondition(result.err == .ok, "txn \(txn) failed: \(result.err)") }
        entries.append(entry)
        return entry
    }

    /// The parent cversion a preparer would put in a create.
    func nextParentCVersion(_ path: String) -> Int32 {
        (tree.node(PathUtils.parent(of: path) ?? "")?.stat.cversion ?? 0) + 1
    }

    @discardableResult
    func create(_ path: String, _ data: [UInt8]? = [], acl: [ACL] = openACL, ephemeral: Bool = false,
                session: Int64 = sessionA) -> TxnEntry {
        apply(.create2, .create(path: path, data: data, acl: acl, ephemeral: ephemeral, parentCVersion: nextParentCVersion(path)),
              session: session)
    }

    @discardableResult
    func createContainer(_ path: String, _ data: [UInt8]? = []) -> TxnEntry {
        apply(.createContainer, .createContainer(path: path, data: data, acl: openACL, parentCVersion: nextParentCVersion(path)))
    }

    @discardableResult
    func createTTL(_ path: String, _ data: [UInt8]? = [], ttl: Int64) -> TxnEntry {
        apply(.createTTL, .createTTL(path: path, data: data, acl: openACL, parentCVersion: nextParentCVersion(path), ttl: ttl))
    }

    @discardableResult
    func setData(_ path: String, _ data: [UInt8]?) -> TxnEntry {
        apply(.setData, .setData(path: path, data: data, version: (tree.node(path)?.stat.version ?? 0) + 1))
    }

    @discardableResult
    func setACL(_ path: String, _ acl: [ACL]) -> TxnEntry {
        apply(.setACL, .setACL(path: path, acl: acl, version: (tree.node(path)?.stat.aversion ?? 0) + 1))
    }

    @discardableResult
    func delete(_ path: String) -> TxnEntry { apply(.delete, .delete(path: path)) }

    @discardableResult
    func createSession(_ session: Int64, timeoutMs: Int32 = 30000) -> TxnEntry {
        apply(.createSession, .createSession(timeOutMs: timeoutMs), session: session)
    }

    @discardableResult
    func closeSession(_ session: Int64) -> TxnEntry {
        let paths = Array(tree.ephemerals(of: SessionID(session)))
        return apply(.closeSession, .closeSession(ephemeralPaths: paths), session: session)
    }

    /// A tree that applied only the entries up to and including `zxid`.
    func replay(through zxid: Zxid) -> DataTree {
        let copy = DataTree(extendedTypesEnabled: tree.extendedTypesEnabled)
        var changes: [TreeChange] = []
        for entry in entries where entry.zxid <= zxid.rawValue { _ = copy.apply(entry, changes: &changes) }
        return copy
    }
}

/// One node as a test compares it.
struct NodeState: Equatable, CustomStringConvertible {
    var path: String
    var data: [UInt8]?
    var acl: [ACL]
    var stat: StatPersisted
    var children: [String]
    var description: String {
        "\(path) data=\(data.map { String(decoding: $0, as: UTF8.self) } ?? "null") acl=\(acl.map { "\($0.perms):\($0.id.scheme):\($0.id.id)" }) "
            + "czxid=\(stat.czxid) mzxid=\(stat.mzxid) pzxid=\(stat.pzxid) v=\(stat.version) cv=\(stat.cversion) av=\(stat.aversion) "
            + "owner=\(stat.ephemeralOwner) children=\(children)"
    }
}

/// The whole tree, pre-order, children in the tree's iteration order (or sorted with `sortedChildren`).
func dump(_ tree: DataTree, sortedChildren: Bool = false) -> [NodeState] {
    var out: [NodeState] = []
    var stack = ["/"]
    while let path = stack.popLast() {
        guard let node = tree.node(path) else { continue }
        var names = Array(node.children)
        if sortedChildren { names.sort() }
        out.append(NodeState(path: path, data: node.data, acl: node.acl, stat: node.stat, children: names))
        for name in names.reversed() { stack.append(PathUtils.join(path, name)) }
    }
    return out
}

/// Compares two trees node by node (children as sets unless `ordered`), and their derived indexes.
func expectSameTree(_ actual: DataTree, _ expected: DataTree, ordered: Bool = false,
                    sourceLocation: SourceLocation = #_sourceLocation) {
    let a = dump(actual, sortedChildren: !ordered)
    let e = dump(expected, sortedChildren: !ordered)
    #expect(a.map(\.path) == e.map(\.path), sourceLocation: sourceLocation)
    for (x, y) in zip(a, e) where x != y {
        Issue.record("node differs:\n  actual   \(x)\n  expected \(y)", sourceLocation: sourceLocation)
    }
    #expect(actual.nodeCount == expected.nodeCount, sourceLocation: sourceLocation)
    #expect(actual.containers == expected.containers, sourceLocation: sourceLocation)
    #expect(actual.ttls == expected.ttls, sourceLocation: sourceLocation)
    let ephemeralsA = actual.ephemerals.mapValues { Set($0) }.filter { !$0.value.isEmpty }
    let ephemeralsE = expected.ephemerals.mapValues { Set($0) }.filter { !$0.value.isEmpty }
    #expect(ephemeralsA == ephemeralsE, sourceLocation: sourceLocation)
}

/// A whole snapshot of `tree` (nodesMax per chunk).
func snapshotBytes(_ tree: DataTree, sessions: [(SessionID, Int32)] = [], nodesMax: Int = 4096) -> (Zxid, [UInt8]) {
    var writer = SnapshotWriter(tree: tree, sessions: sessions)
    var bytes: [UInt8] = []
    while let chunk = writer.nextChunk(nodesMax: nodesMax) { bytes += chunk }
    return (writer.zxid, bytes)
}

/// A log file's bytes: header and one record per entry, without padding.
func logFileBytes(_ entries: [TxnEntry]) -> [UInt8] {
    var w = JuteWriter()
    w.bytes = TxnLogFormat.fileHeader()
    for entry in entries { TxnLogFormat.appendRecord(entry.serialized(), to: &w) }
    return w.bytes
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

extension Array where Element == UInt8 {
    var hexString: String { map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() }
}

/// Apache's tree digest (`DataTree.getTreeDigest`): the sum of every node's digest.
func treeDigest(_ tree: DataTree) -> UInt64 {
    dump(tree).reduce(0) { $0 &+ SnapshotWriter.nodeDigest(path: $1.path, data: $1.data, stat: $1.stat) }
}

/// The digest section at the end of a snapshot file: `long zxid, int version, long digest, seal`.
func digestSection(_ file: [UInt8]) -> (zxid: Zxid, version: Int32, digest: UInt64)? {
    guard file.count >= 16 + 33 else { return nil }
    var r = JuteReader(file, offset: file.count - 33)
    guard let zxid = try? r.readLong(), let version = try? r.readInt(), let digest = try? r.readLong() else { return nil }
    return (Zxid(zxid), version, UInt64(bitPattern: digest))
}

/// A snapshot file built from a dump of `tree`, leaving out `excluding`: what Apache's fuzzy snapshot holds
/// when a node was deleted after its parent was serialized but before the node itself was. No digest section.
func fuzzySnapshotBytes(of tree: DataTree, sessions: [(SessionID, Int32)], excluding: Set<String>) -> [UInt8] {
    let nodes = dump(tree).filter { !excluding.contains($0.path) }
    var lists: [[ACL]] = []
    for node in nodes where node.acl != ACL.openACLUnsafe && !lists.contains(node.acl) { lists.append(node.acl) }
    var w = JuteWriter()
    w.writeInt(SnapshotFormat.magic); w.writeInt(SnapshotFormat.version); w.writeLong(SnapshotFormat.dbid)
    w.writeInt(Int32(sessions.count))
    for (id, timeout) in sessions { w.writeLong(id.rawValue); w.writeInt(timeout) }
    w.writeInt(Int32(lists.count))
    for (i, list) in lists.enumerated() { w.writeLong(Int64(i + 1)); w.writeVector(list) }
    for node in nodes {
        w.writeString(node.path == "/" ? "" : node.path)
        w.writeBuffer(node.data)
        w.writeLong(node.acl == ACL.openACLUnsafe ? -1 : Int64(lists.firstIndex(of: node.acl)! + 1))
        node.stat.encode(to: &w)
    }
    w.writeString("/")
    w.writeLong(Int64(Adler32.checksum(w.bytes)))
    w.writeString("/")
    return w.bytes
}
