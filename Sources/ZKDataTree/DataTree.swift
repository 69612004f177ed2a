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

    private var nodes: [PathKey: DataNode] = [:]
    private var root: DataNode
    /// Each session's ephemerals, in Apache's HashSet order. A session's set stays (possibly empty)
    /// until the session closes, as in Apache.
    public private(set) var ephemerals: [Int64: ChildSet] = [:]
    public private(set) var containers: Set<String> = []
    public private(set) var ttls: Set<String> = []
    public private(set) var lastProcessedZxid: Zxid = .zero
    /// Sum of path lengths and data lengths (`approximate_data_size`).
    public private(set) var approximateDataSizeBytes: Int = 0
    public let extendedTypesEnabled: Bool
    /// Paths that have a quota (a `zookeeper_limits` node under /zookeeper/quota).
    var quotaPaths: Set<String> = []
    var aclCache = ACLCache()
    /// While a snapshot is being written: the state each node had when it started, captured just
    /// before the node's first change (see `SnapshotCapture`).
    var capture: SnapshotCapture?
    /// While loading a snapshot: the parent of the last node and the last node (siblings and first
    /// children follow each other in a snapshot, so most parents are found without a lookup).
    var loadingParent: (path: String, node: DataNode)?
    var lastLoaded: (path: String, node: DataNode)?

    public init(extendedTypesEnabled: Bool) {
        self.extendedTypesEnabled = extendedTypesEnabled
        root = DataNode(data: [], acl: ACL.openACLUnsafe, stat: StatPersisted())
        nodes[PathKey("/")] = root
        // Apache keeps the root under "" and "/" and counts "/" (one character) in the data size.
        approximateDataSizeBytes = 1
        addSystemNode(DataTree.zookeeperPath, acl: ACL.openACLUnsafe)
        addSystemNode(DataTree.quotaPath, acl: ACL.openACLUnsafe)
        addSystemNode(DataTree.configPath, acl: ACL.readACLUnsafe)
        // Apache creates /zookeeper/config through setACL with version -1, leaving aversion at -1.
        nodes[PathKey(DataTree.configPath)]!.stat.aversion = -1
    }

    private func addSystemNode(_ path: String, acl: [ACL]) {
        let node = DataNode(data: [], acl: aclCache.retain(acl), stat: StatPersisted())
        nodes[PathKey(path)] = node
        self.node(PathUtils.parent(of: path)!)!.children.insert(PathUtils.childName(of: path))
        approximateDataSizeBytes += path.utf16.count
    }

    /// "/zookeeper", "/zookeeper/quota", "/zookeeper/config" and the root cannot be deleted.
    public static func isSpecialPath(_ path: String) -> Bool {
        path == "/" || path == zookeeperPath || path == quotaPath || path == configPath
    }

    // MARK: Loading (see DataTree+Snapshot)

    func resetForLoading() {
        nodes = [:]
        ephemerals = [:]
        containers = []
        ttls = []
        quotaPaths = []
        aclCache = ACLCache()
        approximateDataSizeBytes = 0
        root = DataNode(data: [], acl: ACL.openACLUnsafe, stat: StatPersisted())
        nodes[PathKey("/")] = root
    }

    func replaceRoot(data: [UInt8]?, acl: [ACL], stat: StatPersisted) {
        root.data = data
        root.acl = acl
        root.stat = stat
        approximateDataSizeBytes += 1 + (data?.count ?? 0)
    }

    func insertLoaded(_ path: String, _ node: DataNode) {
        nodes[PathKey(path)] = node
        approximateDataSizeBytes += path.utf16.count + (node.data?.count ?? 0)
        let owner = node.stat.ephemeralOwner
        switch NodeKind(ephemeralOwner: owner, extendedTypesEnabled: extendedTypesEnabled) {
        case .container: containers.insert(path)
        case .ttl: ttls.insert(path)
        case .ephemeral: ephemerals[owner, default: ChildSet(initialCapacity: 16)].insert(path)
        case .persistent: break
        }
    }

    func setLastProcessedZxid(_ zxid: Zxid) { lastProcessedZxid = zxid }

    // MARK: Reads

    /// The node at `path`. "" is the root, as in Apache's tree (which keeps the root under both keys).
    public func node(_ path: String) -> DataNode? {
        path.isEmpty ? root : nodes[PathKey(path)]
    }

    /// Apache's `nodes.size()` counts the root twice ("" and "/").
    public var nodeCount: Int { nodes.count + 1 }

    public func kind(of node: DataNode) -> NodeKind {
        NodeKind(ephemeralOwner: node.stat.ephemeralOwner, extendedTypesEnabled: extendedTypesEnabled)
    }

    public func clientStat(_ node: DataNode) -> Stat { node.clientStat(extendedTypesEnabled: extendedTypesEnabled) }

    /// The number of descendants of `path` (`getAllChildrenNumber`).
    public func allChildrenCount(_ path: String) -> Int {
        guard let start = node(path) else { return 0 }
        var count = 0
        var stack = [(path.isEmpty ? "/" : path, start)]
        while let (p, n) = stack.popLast() {
            for name in n.children {
                let childPath = PathUtils.join(p, name)
                count += 1
                if let child = nodes[PathKey(childPath)], !child.children.isEmpty { stack.append((childPath, child)) }
            }
        }
        return count
    }

    /// `DataTree.getEphemerals`: a clone of the session's set (whose order can differ from the set's).
    public func ephemerals(of session: SessionID) -> ChildSet {
        ephemerals[session.rawValue]?.javaClone() ?? ChildSet(initialCapacity: 16)
    }

    public var ephemeralsCount: Int { ephemerals.values.reduce(0) { $0 + $1.count } }

    /// Every path in the tree with its node, parents before children (snapshots, `hash`).
    public func forEachNode(_ body: (String, DataNode) -> Void) {
        var stack = ["/"]
        while let path = stack.popLast() {
            guard let n = nodes[PathKey(path)] else { continue }
            body(path, n)
            for name in n.children.sorted().reversed() { stack.append(PathUtils.join(path, name)) }
        }
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
        guard let parentPath = PathUtils.parent(of: path), let parent = node(parentPath) else { return .noNode }
        let name = PathUtils.childName(of: path)
        if parent.children.contains(name) {
            // Replaying the log over a snapshot can meet a node that is already there (Apache's
            // fuzzy snapshots); the parent's cversion and pzxid still move forward, as in Apache.
            if parentCVersion > parent.stat.cversion {
                willChange(parentPath, parent)
                parent.stat.cversion = parentCVersion
                parent.stat.pzxid = header.zxid
            }
            return .nodeExists
        }
        willChange(parentPath, parent)
        var cversion = parentCVersion
        if cversion == -1 { cversion = parent.stat.cversion + 1 }
        if cversion > parent.stat.cversion {
            parent.stat.cversion = cversion
            parent.stat.pzxid = header.zxid
        }
        var s = StatPersisted()
        s.czxid = header.zxid; s.mzxid = header.zxid; s.pzxid = header.zxid
        s.ctime = header.time; s.mtime = header.time
        s.ephemeralOwner = owner
        let child = DataNode(data: data, acl: aclCache.retain(acl), stat: s)
        parent.children.insert(name)
        nodes[PathKey(path)] = child
        approximateDataSizeBytes += path.utf16.count + (data?.count ?? 0)
        switch NodeKind(ephemeralOwner: owner, extendedTypesEnabled: extendedTypesEnabled) {
        case .container: containers.insert(path)
        case .ttl: ttls.insert(path)
        case .ephemeral: ephemerals[owner, default: ChildSet(initialCapacity: 16)].insert(path)
        case .persistent: break
        }
        stat = clientStat(child)
        quotaNodeCreated(parent: parentPath, name: name)
        updateQuotaStats(covering: path, bytes: Int64(data?.count ?? 0), count: 1)
        changes.append(.created(path))
        changes.append(.childrenChanged(parentPath.isEmpty ? "/" : parentPath))
        return .ok
    }

    private func deleteNode(_ path: String, zxid: Int64, changes: inout [TreeChange]) -> ErrorCode {
        guard let parentPath = PathUtils.parent(of: path), let parent = node(parentPath) else { return .noNode }
        guard let victim = nodes[PathKey(path)] else {
            // Replaying a delete over Apache's fuzzy snapshot: the child is already gone, but the
            // parent's pzxid still moves forward, as in Apache's deleteNode (ZOOKEEPER-3145).
            if zxid > parent.stat.pzxid {
                willChange(parentPath, parent)
                parent.stat.pzxid = zxid
            }
            return .noNode
        }
        willChange(parentPath, parent)
        willChange(path, victim)
        aclCache.release(victim.acl)
        parent.children.remove(PathUtils.childName(of: path))
        if zxid > parent.stat.pzxid { parent.stat.pzxid = zxid }
        nodes[PathKey(path)] = nil
        approximateDataSizeBytes -= path.utf16.count + (victim.data?.count ?? 0)
        let owner = victim.stat.ephemeralOwner
        switch NodeKind(ephemeralOwner: owner, extendedTypesEnabled: extendedTypesEnabled) {
        case .container: containers.remove(path)
        case .ttl: ttls.remove(path)
        case .ephemeral:
            ephemerals[owner]?.remove(path)
        case .persistent: break
        }
        quotaNodeDeleted(parent: parentPath, name: PathUtils.childName(of: path))
        updateQuotaStats(covering: path, bytes: -Int64(victim.data?.count ?? 0), count: -1)
        changes.append(.deleted(path))
        changes.append(.childrenChanged(parentPath.isEmpty ? "/" : parentPath))
        return .ok
    }

    /// `/zookeeper/config` of an ensemble member: the quorum configuration's text, set on each server
    /// by the server itself (no txn, no watch), as Apache's `initConfigInZKDatabase` does: mzxid is
    /// the configuration's version, dataVersion -1, mtime when it was set.
    public func setQuorumConfig(_ text: [UInt8], version: Int64, time: Int64) {
        guard let n = nodes[PathKey(DataTree.configPath)] else { return }
        willChange(DataTree.configPath, n)
        approximateDataSizeBytes += text.count - (n.data?.count ?? 0)
        n.data = text
        n.stat.mtime = time
        n.stat.mzxid = version
        n.stat.version = -1
    }

    private func setData(_ path: String, _ data: [UInt8]?, _ version: Int32, _ header: TxnHeader,
                         _ stat: inout Stat?, _ changes: inout [TreeChange]) -> ErrorCode {
        guard let n = nodes[PathKey(path)] else { return .noNode }
        willChange(path, n)
        approximateDataSizeBytes += (data?.count ?? 0) - (n.data?.count ?? 0)
        updateQuotaStats(covering: path, bytes: Int64((data?.count ?? 0) - (n.data?.count ?? 0)), count: 0)
        n.data = data
        n.stat.mtime = header.time
        n.stat.mzxid = header.zxid
        n.stat.version = version
        stat = clientStat(n)
        changes.append(.dataChanged(path))
        return .ok
    }

    private func setACL(_ path: String, _ acl: [ACL], _ version: Int32, _ stat: inout Stat?) -> ErrorCode {
        guard let n = nodes[PathKey(path)] else { return .noNode }
        willChange(path, n)
        aclCache.release(n.acl)
        n.acl = aclCache.retain(acl)
        n.stat.aversion = version
        stat = clientStat(n)
        return .ok
    }
}
