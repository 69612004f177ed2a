/// The replicated state machine: the znode tree, and `apply(txn)`.
///
/// Contract:
/// - Applying the same txns in the same order gives the same tree on every replica. Txns arrive fully
///   resolved (names, versions, parent cversions), so `apply` makes no decisions; validation happened
///   when the txn was prepared.
/// - Zxids are applied in increasing order (checked).
/// - Each change is reported as a `TreeChange`, in the order Apache ZooKeeper triggers its watches,
///   so the replica can fire watches without knowing txn semantics.
/// - No clock, no IO, no watch registry: times come from the txn header.
import ZKCore
import ZKProtocol

/// A change to the tree that may trigger watches, in trigger order.
public enum TreeChange: Sendable, Equatable {
    case created(String)
    case deleted(String)
    case dataChanged(String)
    case childrenChanged(String)
}

/// What applying one txn produced: enough for the reply (`FinalRequestProcessor` builds its response
/// from this) and for multi results.
public struct ApplyResult: Sendable, Equatable {
    public var type: OpCode
    public var err: ErrorCode = .ok
    public var path: String?
    public var stat: Stat?
    public var multi: [ApplyResult] = []

    public init(type: OpCode) { self.type = type }
}

public final class DataTree {
    public static let zookeeperPath = "/zookeeper"
    public static let quotaPath = "/zookeeper/quota"
    public static let configPath = "/zookeeper/config"

    /// Every znode (see `NodeStore`): records, names and data, children tables.
    let store = NodeStore()
    private(set) var rootID: UInt32
    /// Each session's ephemerals, in Apache's HashSet order. A session's set stays (possibly empty)
    /// until the session closes, as in Apache.
    public private(set) var ephemerals: [Int64: ChildSet] = [:]
    public private(set) var containers: Set<String> = []
    public private(set) var ttls: Set<String> = []
    public private(set) var lastProcessedZxid: Zxid = .zero
    /// Sum of path lengths and data lengths (`approximate_data_size`).
    public private(set) var approximateDataSizeBytes: Int = 0
    /// Apache's tree digest: the sum of every node's digest, kept as nodes change (`TreeDigest`).
    public internal(set) var digest: UInt64 = 0
    public let extendedTypesEnabled: Bool
    /// Paths that have a quota (a `zookeeper_limits` node under /zookeeper/quota).
    var quotaPaths: Set<String> = []
    var aclCache = ACLCache()
    /// While a snapshot is being written: the state each node had when it started, captured just
    /// before the node's first change (see `SnapshotCapture`).
    var capture: SnapshotCapture?
    /// While loading a snapshot: the parent of the last node and the last node (siblings and first
    /// children follow each other in a snapshot, so most parents are found without a walk).
    var loadingParent: (path: String, id: UInt32)?
    var lastLoaded: (path: String, id: UInt32)?

    public init(extendedTypesEnabled: Bool) {
        self.extendedTypesEnabled = extendedTypesEnabled
        rootID = NodeStore.none
        rootID = makeRoot()
        refreshDigest(rootID, path: "")
        // Apache keeps the root under "" and "/" and counts "/" (one character) in the data size.
        approximateDataSizeBytes = 1
        addSystemNode(DataTree.zookeeperPath, acl: ACL.openACLUnsafe)
        addSystemNode(DataTree.quotaPath, acl: ACL.openACLUnsafe)
        addSystemNode(DataTree.configPath, acl: ACL.readACLUnsafe)
        // Apache creates /zookeeper/config through setACL with version -1, leaving aversion at -1.
        store.record(lookup(DataTree.configPath)!).pointee.aversion = -1
    }

    private func makeRoot() -> UInt32 {
        let id = store.allocate(name: UnsafeRawBufferPointer(start: nil, count: 0),
                                data: UnsafeRawBufferPointer(start: nil, count: 0), parent: NodeStore.none)
        store.record(id).pointee.aclSlot = aclCache.retain(ACL.openACLUnsafe)
        return id
    }

    private func addSystemNode(_ path: String, acl: [ACL]) {
        let parent = lookup(PathUtils.parent(of: path)!)!
        let id = makeChild(of: parent, named: PathUtils.childName(of: path), data: [])
        store.record(id).pointee.aclSlot = aclCache.retain(acl)
        approximateDataSizeBytes += path.utf16.count
        refreshDigest(id, path: path)
    }

    /// A new node under `parent` (which has no child of that name), linked in; stat zero, open ACL slot 0.
    func makeChild(of parent: UInt32, named name: String, data: [UInt8]?) -> UInt32 {
        var name = name
        return name.withUTF8 { makeChild(of: parent, named: UnsafeRawBufferPointer($0), data: data) }
    }

    func makeChild(of parent: UInt32, named name: UnsafeRawBufferPointer, data: [UInt8]?) -> UInt32 {
        let id: UInt32
        if let data {
            id = data.withUnsafeBytes { store.allocate(name: name, data: $0, parent: parent) }
        } else {
            id = store.allocate(name: name, data: nil, parent: parent)
        }
        store.link(id, under: parent)
        return id
    }

    /// "/zookeeper", "/zookeeper/quota", "/zookeeper/config" and the root cannot be deleted.
    public static func isSpecialPath(_ path: String) -> Bool {
        path == "/" || path == zookeeperPath || path == quotaPath || path == configPath
    }

    // MARK: Loading (see DataTree+Snapshot)

    func resetForLoading() {
        freeSubtree(rootID)
        ephemerals = [:]
        containers = []
        ttls = []
        quotaPaths = []
        aclCache = ACLCache()
        approximateDataSizeBytes = 0
        digest = 0
        rootID = makeRoot()
        // The root's ACL comes from the snapshot; the open list placed by makeRoot is not a reference.
        aclCache = ACLCache()
    }

    func replaceRoot(data: [UInt8]?, aclSlot: UInt32, stat: StatPersisted) {
        replaceData(rootID, data)
        store.record(rootID).pointee.aclSlot = aclSlot
        setStat(rootID, stat)
        approximateDataSizeBytes += 1 + (data?.count ?? 0)
        refreshDigest(rootID, path: "")
    }

    func setStat(_ id: UInt32, _ s: StatPersisted) {
        let r = store.record(id)
        r.pointee.czxid = s.czxid
        r.pointee.mzxid = s.mzxid
        r.pointee.pzxid = s.pzxid
        r.pointee.ctime = s.ctime
        r.pointee.mtime = s.mtime
        r.pointee.ephemeralOwner = s.ephemeralOwner
        r.pointee.version = s.version
        r.pointee.cversion = s.cversion
        r.pointee.aversion = s.aversion
    }

    /// Registers a node just loaded: data size, and the ephemeral, container and TTL indexes.
    func noteLoaded(_ path: String, _ id: UInt32) {
        approximateDataSizeBytes += path.utf16.count + DataNode(tree: self, id: id).dataLength
        noteKind(path, owner: store.record(id).pointee.ephemeralOwner)
        refreshDigest(id, path: path)
    }

    private func noteKind(_ path: String, owner: Int64) {
        switch NodeKind(ephemeralOwner: owner, extendedTypesEnabled: extendedTypesEnabled) {
        case .container: containers.insert(path)
        case .ttl: ttls.insert(path)
        case .ephemeral: ephemerals[owner, default: ChildSet(initialCapacity: 16)].insert(path)
        case .persistent: break
        }
    }

    func setLastProcessedZxid(_ zxid: Zxid) { lastProcessedZxid = zxid }

    /// Replaces a node's data without a txn or a data-size update (quota stats, the root on load).
    func replaceData(_ id: UInt32, _ data: [UInt8]?) {
        if let data {
            data.withUnsafeBytes { store.setData(id, $0) }
        } else {
            store.setData(id, nil)
        }
    }

    /// Frees a node and everything below it (its parent must have unlinked it, or it is the root).
    private func freeSubtree(_ id: UInt32) {
        guard id != NodeStore.none else { return }
        var stack = [id]
        while let next = stack.popLast() {
            store.forEachChild(of: next) { stack.append($0) }
            dropDigest(next)
            aclCache.release(store.record(next).pointee.aclSlot)
            store.free(next)
        }
    }

    // MARK: Reads

    /// The record of the node at `path`, walked from the root one component at a time. "" is the
    /// root, as in Apache's tree (which keeps the root under both keys); "/a/", "//a" name nothing.
    func lookup(_ path: String) -> UInt32? {
        var path = path
        return path.withUTF8 { lookup(UnsafeRawBufferPointer($0)) }
    }

    func lookup(_ path: UnsafeRawBufferPointer) -> UInt32? {
        let n = path.count
        guard n > 0 else { return rootID }
        guard path[0] == UInt8(ascii: "/") else { return nil }
        var current = rootID
        var start = 1
        if n == 1 { return current }
        let base = path.baseAddress.unsafelyUnwrapped
        while true {
            var end = start
            while end < n && path[end] != UInt8(ascii: "/") { end += 1 }
            guard end > start else { return nil }
            guard let child = store.child(of: current, named: UnsafeRawBufferPointer(start: base + start, count: end - start)) else {
                return nil
            }
            current = child
            if end == n { return current }
            start = end + 1
        }
    }

    /// The node at `path`. "" is the root, as in Apache's tree (which keeps the root under both keys).
    public func node(_ path: String) -> DataNode? {
        lookup(path).map { DataNode(tree: self, id: $0) }
    }

    /// The path of a node, rebuilt from its ancestors' names.
    public func path(of node: DataNode) -> String { path(of: node.id) }

    func path(of id: UInt32) -> String {
        if id == rootID { return "/" }
        var chain: [UInt32] = []
        var current = id
        while current != rootID && current != NodeStore.none {
            chain.append(current)
            current = store.record(current).pointee.parent
        }
        var bytes: [UInt8] = []
        for part in chain.reversed() {
            bytes.append(UInt8(ascii: "/"))
            bytes.append(contentsOf: store.name(part))
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Apache's `nodes.size()` counts the root twice ("" and "/").
    public var nodeCount: Int { store.count + 1 }

    /// Bytes the tree's nodes hold (records, names, data, children tables), for `mntr` and tests.
    public var nodeMemoryBytes: Int { store.memoryBytes }

    /// Bytes of node storage freed since the last call: the shell gives memory back to the system
    /// (`malloc_trim`) when this is large.
    public func takeReleasedMemoryBytes() -> Int { store.takeReleasedBytes() }

    public func kind(of node: DataNode) -> NodeKind {
        NodeKind(ephemeralOwner: store.record(node.id).pointee.ephemeralOwner, extendedTypesEnabled: extendedTypesEnabled)
    }

    public func clientStat(_ node: DataNode) -> Stat { node.clientStat(extendedTypesEnabled: extendedTypesEnabled) }

    /// The number of descendants of `path` (`getAllChildrenNumber`).
    public func allChildrenCount(_ path: String) -> Int {
        guard let start = lookup(path) else { return 0 }
        var count = 0
        var stack = [start]
        while let id = stack.popLast() {
            store.forEachChild(of: id) { child in
                count += 1
                if store.childCount(child) > 0 { stack.append(child) }
            }
        }
        return count
    }

    /// `DataTree.getEphemerals`: a clone of the session's set (whose order can differ from the set's).
    public func ephemerals(of session: SessionID) -> ChildSet {
        ephemerals[session.rawValue]?.javaClone() ?? ChildSet(initialCapacity: 16)
    }

    public var ephemeralsCount: Int { ephemerals.values.reduce(0) { $0 + $1.count } }

    /// Every path in the tree with its node, parents before children, siblings sorted (`hash`, checks).
    public func forEachNode(_ body: (String, DataNode) -> Void) {
        var stack: [(String, UInt32)] = [("/", rootID)]
        while let (path, id) = stack.popLast() {
            body(path, DataNode(tree: self, id: id))
            var children: [(String, UInt32)] = []
            store.forEachChild(of: id) { child in
                children.append((PathUtils.join(path, String(decoding: store.name(child), as: UTF8.self)), child))
            }
            children.sort { $0.0 > $1.0 }
            stack.append(contentsOf: children)
        }
    }

    /// Checks the structure: every child's parent is the node it is listed under, counts agree, no
    /// record is reachable twice, every live record is reachable, and the kept digest is the one
    /// recomputed from every node. Returns the first problem.
    public func checkStructure() -> String? {
        var seen = Set<UInt32>()
        var stack = [rootID]
        while let id = stack.popLast() {
            guard seen.insert(id).inserted else { return "node \(id) reachable twice" }
            guard store.isLive(id) else { return "node \(id) is linked but freed" }
            var listed = 0
            var problem: String?
            store.forEachChild(of: id) { child in
                listed += 1
                if store.record(child).pointee.parent != id { problem = "\(path(of: child)) lists a parent other than the node it is under" }
                stack.append(child)
            }
            if let problem { return problem }
            if listed != store.childCount(id) { return "\(path(of: id)) counts \(store.childCount(id)) children but lists \(listed)" }
        }
        if seen.count != store.count { return "\(store.count) live records but \(seen.count) reachable" }
        let recomputed = recomputedDigest()
        if recomputed != digest { return "digest \(digest) kept, \(recomputed) recomputed" }
        return nil
    }

    // MARK: Apply

    /// Applies one committed txn. `changes` receives the watch triggers in order.
    public func apply(_ entry: TxnEntry, changes: inout [TreeChange]) -> ApplyResult {
        let zxid = Zxid(entry.header.zxid)
        invariant(zxid > lastProcessedZxid || (zxid == lastProcessedZxid && zxid == .zero),
                  "txn \(zxid) applied after \(lastProcessedZxid)")
        let type = OpCode(rawValue: entry.header.type) ?? .error
        let result = apply(entry.txn, type: type, header: entry.header, changes: &changes)
        lastProcessedZxid = zxid
        return result
    }

    private func apply(_ txn: Txn, type: OpCode, header: TxnHeader, changes: inout [TreeChange]) -> ApplyResult {
        var rc = ApplyResult(type: type)
        switch txn {
        case .createSession:
            break
        case .closeSession(let paths):
            for path in paths { _ = deleteNode(path, zxid: header.zxid, changes: &changes) }
            for path in ephemerals.removeValue(forKey: header.clientId) ?? ChildSet() {
                _ = deleteNode(path, zxid: header.zxid, changes: &changes)
            }
        case .create(let path, let data, let acl, let ephemeral, let pcv):
            let owner = ephemeral ? header.clientId : 0
            rc.path = path
            rc.err = createNode(path, data, acl, owner, pcv, header, &rc.stat, &changes)
        case .createContainer(let path, let data, let acl, let pcv):
            rc.path = path
            rc.err = createNode(path, data, acl, EphemeralOwner.container, pcv, header, &rc.stat, &changes)
        case .createTTL(let path, let data, let acl, let pcv, let ttl):
            rc.path = path
            rc.err = createNode(path, data, acl, EphemeralOwner.ttl(ttl), pcv, header, &rc.stat, &changes)
        case .delete(let path):
            rc.path = path
            rc.err = deleteNode(path, zxid: header.zxid, changes: &changes)
        case .setData(let path, let data, let version):
            rc.path = path
            rc.err = setData(path, data, version, header, &rc.stat, &changes)
        case .setACL(let path, let acl, let version):
            rc.path = path
            rc.err = setACL(path, acl, version, &rc.stat)
        case .checkVersion(let path, _):
            rc.path = path
        case .error(let code):
            rc.err = code
        case .multi(let subs):
            rc.multi = applyMulti(subs, header: header, changes: &changes)
            rc.err = rc.multi.first(where: { $0.err != .ok })?.err ?? .ok
        }
        return rc
    }

    /// A multi whose prepare failed holds error txns; then every sub-result is an error: OK before the
    /// failing op, its code at it, RUNTIMEINCONSISTENCY after (`DataTree.processTxn`).
    private func applyMulti(_ subs: [TypedTxn], header: TxnHeader, changes: inout [TreeChange]) -> [ApplyResult] {
        let failed = subs.contains { $0.type == .error }
        var pastFailure = false
        var results: [ApplyResult] = []
        for sub in subs {
            var txn = sub.txn
            var type = sub.type
            if case .error = txn { pastFailure = true }
            if failed && type != .error {
                txn = .error(pastFailure ? .runtimeInconsistency : .ok)
                type = .error
            }
            var subHeader = header
            subHeader.type = type.rawValue
            results.append(apply(txn, type: type, header: subHeader, changes: &changes))
        }
        return results
    }

    private func createNode(_ path: String, _ data: [UInt8]?, _ acl: [ACL], _ owner: Int64, _ parentCVersion: Int32,
                            _ header: TxnHeader, _ stat: inout Stat?, _ changes: inout [TreeChange]) -> ErrorCode {
        guard let parentPath = PathUtils.parent(of: path), let parent = lookup(parentPath) else { return .noNode }
        let name = PathUtils.childName(of: path)
        let p = store.record(parent)
        if DataNode(tree: self, id: parent).children.contains(name) {
            // Replaying the log over a snapshot can meet a node that is already there (Apache's
            // fuzzy snapshots); the parent's cversion and pzxid still move forward, as in Apache.
            if parentCVersion > p.pointee.cversion {
                willChange(parentPath, parent)
                p.pointee.cversion = parentCVersion
                p.pointee.pzxid = header.zxid
                refreshDigest(parent, path: parentPath)
            }
            return .nodeExists
        }
        willChange(parentPath, parent)
        var cversion = parentCVersion
        if cversion == -1 { cversion = p.pointee.cversion + 1 }
        if cversion > p.pointee.cversion {
            p.pointee.cversion = cversion
            p.pointee.pzxid = header.zxid
        }
        let child = makeChild(of: parent, named: name, data: data)
        let c = store.record(child)
        c.pointee.czxid = header.zxid; c.pointee.mzxid = header.zxid; c.pointee.pzxid = header.zxid
        c.pointee.ctime = header.time; c.pointee.mtime = header.time
        c.pointee.ephemeralOwner = owner
        c.pointee.aclSlot = aclCache.retain(acl)
        refreshDigest(child, path: path)
        refreshDigest(parent, path: parentPath)
        approximateDataSizeBytes += path.utf16.count + (data?.count ?? 0)
        noteKind(path, owner: owner)
        stat = clientStat(DataNode(tree: self, id: child))
        quotaNodeCreated(parent: parentPath, name: name)
        updateQuotaStats(covering: path, bytes: Int64(data?.count ?? 0), count: 1)
        changes.append(.created(path))
        changes.append(.childrenChanged(parentPath.isEmpty ? "/" : parentPath))
        return .ok
    }

    private func deleteNode(_ path: String, zxid: Int64, changes: inout [TreeChange]) -> ErrorCode {
        guard let parentPath = PathUtils.parent(of: path), let parent = lookup(parentPath) else { return .noNode }
        let p = store.record(parent)
        guard let victim = lookup(path), victim != rootID else {
            // Replaying a delete over Apache's fuzzy snapshot: the child is already gone, but the
            // parent's pzxid still moves forward, as in Apache's deleteNode (ZOOKEEPER-3145).
            if zxid > p.pointee.pzxid {
                willChange(parentPath, parent)
                p.pointee.pzxid = zxid
                refreshDigest(parent, path: parentPath)
            }
            return .noNode
        }
        willChange(parentPath, parent)
        willChange(path, victim)
        let dataCount = DataNode(tree: self, id: victim).dataLength
        let owner = store.record(victim).pointee.ephemeralOwner
        store.unlink(victim, from: parent)
        if zxid > p.pointee.pzxid { p.pointee.pzxid = zxid }
        freeSubtree(victim)
        refreshDigest(parent, path: parentPath)
        approximateDataSizeBytes -= path.utf16.count + dataCount
        switch NodeKind(ephemeralOwner: owner, extendedTypesEnabled: extendedTypesEnabled) {
        case .container: containers.remove(path)
        case .ttl: ttls.remove(path)
        case .ephemeral:
            ephemerals[owner]?.remove(path)
        case .persistent: break
        }
        quotaNodeDeleted(parent: parentPath, name: PathUtils.childName(of: path))
        updateQuotaStats(covering: path, bytes: -Int64(dataCount), count: -1)
        changes.append(.deleted(path))
        changes.append(.childrenChanged(parentPath.isEmpty ? "/" : parentPath))
        return .ok
    }

    /// `/zookeeper/config` of an ensemble member: the quorum configuration's text, set on each server
    /// by the server itself (no txn, no watch), as Apache's `initConfigInZKDatabase` does: mzxid is
    /// the configuration's version, dataVersion -1, mtime when it was set.
    public func setQuorumConfig(_ text: [UInt8], version: Int64, time: Int64) {
        guard let id = lookup(DataTree.configPath) else { return }
        willChange(DataTree.configPath, id)
        approximateDataSizeBytes += text.count - DataNode(tree: self, id: id).dataLength
        replaceData(id, text)
        let r = store.record(id)
        r.pointee.mtime = time
        r.pointee.mzxid = version
        r.pointee.version = -1
        refreshDigest(id, path: DataTree.configPath)
    }

    private func setData(_ path: String, _ data: [UInt8]?, _ version: Int32, _ header: TxnHeader,
                         _ stat: inout Stat?, _ changes: inout [TreeChange]) -> ErrorCode {
        guard let id = lookup(path) else { return .noNode }
        willChange(path, id)
        let oldCount = DataNode(tree: self, id: id).dataLength
        approximateDataSizeBytes += (data?.count ?? 0) - oldCount
        updateQuotaStats(covering: path, bytes: Int64((data?.count ?? 0) - oldCount), count: 0)
        replaceData(id, data)
        let r = store.record(id)
        r.pointee.mtime = header.time
        r.pointee.mzxid = header.zxid
        r.pointee.version = version
        refreshDigest(id, path: path)
        stat = clientStat(DataNode(tree: self, id: id))
        changes.append(.dataChanged(path))
        return .ok
    }

    private func setACL(_ path: String, _ acl: [ACL], _ version: Int32, _ stat: inout Stat?) -> ErrorCode {
        guard let id = lookup(path) else { return .noNode }
        willChange(path, id)
        let r = store.record(id)
        let old = r.pointee.aclSlot
        r.pointee.aclSlot = aclCache.retain(acl)
        aclCache.release(old)
        r.pointee.aversion = version
        refreshDigest(id, path: path)
        stat = clientStat(DataNode(tree: self, id: id))
        return .ok
    }
}
