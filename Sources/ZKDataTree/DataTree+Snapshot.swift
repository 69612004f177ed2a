/// What snapshots need from the tree: a consistent view of the tree as it was at one zxid while
/// writes go on, and a way to rebuild a tree from a snapshot.
///
/// Consistency without copying: when a snapshot starts, the tree begins *capturing*; just before a
/// node that existed at the start changes for the first time, its state (data, ACL, stat, children)
/// is kept aside. The snapshot writer reads captured states where there are any and live nodes
/// elsewhere, so it sees the tree exactly as it was at the snapshot's zxid. Only nodes changed
/// during the snapshot cost memory, and their arrays are shared copy-on-write.
///
/// (Apache ZooKeeper writes "fuzzy" snapshots instead and relies on idempotent replay; we read
/// those, and write exact ones.)
import ZKCore
import ZKProtocol

/// A node as a snapshot records it.
public struct NodeImage: Sendable {
    public var data: [UInt8]?
    public var acl: [ACL]
    public var stat: StatPersisted
    public var children: ChildSet
}

struct SnapshotCapture {
    let zxid: Int64
    var images: [PathKey: NodeImage] = [:]
}

public enum TreeLoadError: Error, Sendable, Equatable, CustomStringConvertible {
    case missingParent(String)
    case duplicate(String)
    case missingACL(Int64)
    public var description: String {
        switch self {
        case .missingParent(let p): return "Invalid Datatree, unable to find the parent of \(p)"
        case .duplicate(let p): return "Invalid Datatree, \(p) appears twice"
        case .missingACL(let i): return "ACL not available for index \(i)"
        }
    }
}

extension DataTree {
    func willChange(_ path: String, _ node: DataNode) {
        guard capture != nil, node.stat.czxid <= capture!.zxid else { return }
        let key = PathKey(path.isEmpty ? "/" : path)
        guard capture!.images[key] == nil else { return }
        capture!.images[key] = NodeImage(data: node.data, acl: node.acl, stat: node.stat, children: node.children)
    }

    /// Starts capturing for a snapshot of the tree as it is now (at `lastProcessedZxid`).
    public func beginSnapshot() -> Zxid {
        invariant(capture == nil, "a snapshot is already in progress")
        capture = SnapshotCapture(zxid: lastProcessedZxid.rawValue)
        return lastProcessedZxid
    }

    public func endSnapshot() {
        capture = nil
        aclCache.purgeUnused()
    }

    public var isSnapshotInProgress: Bool { capture != nil }

    /// The node at `path` as it was when the snapshot began; nil if it did not exist then.
    public func snapshotImage(_ path: String) -> NodeImage? {
        invariant(capture != nil, "snapshotImage outside a snapshot")
        let key = PathKey(path.isEmpty ? "/" : path)
        if let image = capture!.images[key] { return image }
        guard let node = node(path), node.stat.czxid <= capture!.zxid || path == "/" else { return nil }
        return NodeImage(data: node.data, acl: node.acl, stat: node.stat, children: node.children)
    }

    /// The ACL lists a snapshot must contain (every list any node used when it began), by index.
    public func snapshotACLs() -> [(index: Int64, acl: [ACL])] {
        aclCache.listByIndex.filter { $0.value != ACL.openACLUnsafe }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// A node's ACL as a snapshot index: -1 means OPEN_ACL_UNSAFE, as in Apache.
    public func snapshotACLIndex(_ acl: [ACL]) -> Int64 {
        if acl == ACL.openACLUnsafe { return -1 }
        guard let index = aclCache.index(of: acl) else {
            preconditionFailure("ACL list of a snapshotted node is not in the ACL cache")
        }
        return index
    }

    // MARK: Loading

    /// An empty tree (no root) to be filled from a snapshot with `load`.
    public static func forLoading(extendedTypesEnabled: Bool) -> DataTree {
        let tree = DataTree(extendedTypesEnabled: extendedTypesEnabled)
        tree.resetForLoading()
        return tree
    }

    public func loadACL(index: Int64, acl: [ACL]) { aclCache.restore(index: index, list: acl) }

    /// Adds a node read from a snapshot. Parents come before their children; "" is the root.
    public func load(path: String, data: [UInt8]?, aclIndex: Int64, stat: StatPersisted) throws(TreeLoadError) {
        let acl: [ACL]
        if aclIndex == -1 {
            acl = ACL.openACLUnsafe
        } else {
            guard let list = aclCache.listByIndex[aclIndex] else { throw .missingACL(aclIndex) }
            aclCache.addReference(aclIndex)
            acl = list
        }
        if path.isEmpty || path == "/" {
            replaceRoot(data: data, acl: acl, stat: stat)
            return
        }
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { throw .missingParent(path) }
        let parent: DataNode
        // Siblings are consecutive in a snapshot: remember the last parent instead of looking it up.
        if let cached = loadingParent, path.utf8[..<slash].elementsEqual(cached.path.utf8) {
            parent = cached.node
        } else if let previous = lastLoaded, path.utf8[..<slash].elementsEqual(previous.path.utf8) {
            parent = previous.node
            loadingParent = previous
        } else {
            let parentPath = String(path[..<slash])
            guard let found = node(parentPath) else { throw .missingParent(path) }
            loadingParent = (parentPath, found)
            parent = found
        }
        guard parent.children.insert(String(path[path.utf8.index(after: slash)...])) else { throw .duplicate(path) }
        let node = DataNode(data: data, acl: acl, stat: stat)
        insertLoaded(path, node)
        lastLoaded = (path, node)
    }

    /// After the last node: quotas are recounted (as Apache's `setupQuota` does).
    public func finishLoading(snapshotZxid: Zxid) {
        loadingParent = nil
        lastLoaded = nil
        setLastProcessedZxid(snapshotZxid)
        // Snapshots from before 3.5 have no /zookeeper/config; Apache adds it on load.
        if node(DataTree.configPath) == nil, let zookeeper = node(DataTree.zookeeperPath) {
            zookeeper.children.insert("config")
            var stat = StatPersisted()
            stat.aversion = -1
            insertLoaded(DataTree.configPath, DataNode(data: [], acl: aclCache.retain(ACL.readACLUnsafe), stat: stat))
        }
        let limits = collectQuotaLimitPaths()
        for path in limits {
            quotaPaths.insert(path)
            recomputeQuotaStats(path)
        }
    }

    private func collectQuotaLimitPaths() -> [String] {
        var found: [String] = []
        var stack = [DataTree.quotaPath]
        while let p = stack.popLast() {
            guard let n = node(p) else { continue }
            for child in n.children {
                let childPath = p + "/" + child
                if child == Quotas.limitNode && n.children.count >= 1 && node(childPath)?.children.isEmpty == true {
                    found.append(Quotas.trimQuotaPath(p))
                } else {
                    stack.append(childPath)
                }
            }
        }
        return found.sorted()
    }
}
