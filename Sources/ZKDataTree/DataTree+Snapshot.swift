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

/// A node as a snapshot records it, kept aside when it changes during a snapshot.
struct NodeImage {
    /// The last path component (empty for the root).
    var name: [UInt8]
    var data: [UInt8]?
    /// The ACL as the snapshot numbers it: -1 for OPEN_ACL_UNSAFE, as in Apache.
    var aclIndex: Int64
    var stat: StatPersisted
    /// The children's numbers in Apache's order.
    var children: [UInt32]
}

/// A node as a snapshot writer reads it, valid only inside `withSnapshotNode`'s closure.
public struct SnapshotNode {
    /// The last path component, UTF-8 (empty for the root).
    public let name: UnsafeRawBufferPointer
    public let data: UnsafeRawBufferPointer?
    public let aclIndex: Int64
    public let stat: StatPersisted
    /// The children's numbers, in Apache's order.
    public let children: [UInt32]
}

struct SnapshotCapture {
    let zxid: Int64
    /// By node number: numbers are not reused while a snapshot is written (`NodeStore.holdFreedIDs`).
    var images: [UInt32: NodeImage] = [:]
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
    /// Called before node `id` (at `path`) changes or is freed: during a snapshot, a node that
    /// existed when it began is kept aside as it was, once.
    func willChange(_ path: String, _ id: UInt32) {
        guard capture != nil, store.record(id).pointee.czxid <= capture!.zxid || id == rootID,
              capture!.images[id] == nil else { return }
        capture!.images[id] = image(of: id)
    }

    private func image(of id: UInt32) -> NodeImage {
        let node = DataNode(tree: self, id: id)
        return NodeImage(name: Array(store.name(id)), data: node.data, aclIndex: snapshotACLIndex(node), stat: node.stat,
                         children: childIDs(of: id))
    }

    /// The children's numbers in Apache's order (no allocation for a leaf).
    private func childIDs(of id: UInt32) -> [UInt32] {
        let count = store.childCount(id)
        guard count > 0 else { return [] }
        var children: [UInt32] = []
        children.reserveCapacity(count)
        store.forEachChild(of: id) { children.append($0) }
        return children
    }

    /// Starts capturing for a snapshot of the tree as it is now (at `lastProcessedZxid`).
    public func beginSnapshot() -> Zxid {
        invariant(capture == nil, "a snapshot is already in progress")
        capture = SnapshotCapture(zxid: lastProcessedZxid.rawValue)
        store.holdFreedIDs()
        return lastProcessedZxid
    }

    public func endSnapshot() {
        capture = nil
        store.releaseHeldIDs()
        aclCache.purgeUnused()
    }

    public var isSnapshotInProgress: Bool { capture != nil }

    /// The root's number: where a snapshot's walk starts.
    public var snapshotRoot: UInt32 { rootID }

    /// Calls `body` with node `id` as it was when the snapshot began (nil if it did not exist then):
    /// for a node unchanged since, its live name and data are lent without a copy.
    public func withSnapshotNode<R>(_ id: UInt32, _ body: (SnapshotNode?) -> R) -> R {
        invariant(capture != nil, "withSnapshotNode outside a snapshot")
        if !capture!.images.isEmpty, let image = capture!.images[id] {
            return image.name.withUnsafeBytes { name in
                guard let data = image.data else {
                    return body(SnapshotNode(name: name, data: nil, aclIndex: image.aclIndex, stat: image.stat, children: image.children))
                }
                return data.withUnsafeBytes {
                    body(SnapshotNode(name: name, data: $0, aclIndex: image.aclIndex, stat: image.stat, children: image.children))
                }
            }
        }
        // Freed since (and created after the snapshot began, or it would have an image), or created after.
        guard store.isLive(id), store.record(id).pointee.czxid <= capture!.zxid || id == rootID else { return body(nil) }
        let node = DataNode(tree: self, id: id)
        return body(SnapshotNode(name: store.name(id), data: store.data(id), aclIndex: snapshotACLIndex(node), stat: node.stat,
                                 children: childIDs(of: id)))
    }

    /// The ACL lists a snapshot must contain (every list any node used when it began), by index.
    public func snapshotACLs() -> [(index: Int64, acl: [ACL])] {
        aclCache.listsByIndex.filter { $0.acl != ACL.openACLUnsafe }
    }

    /// A node's ACL as a snapshot index: -1 means OPEN_ACL_UNSAFE, as in Apache.
    public func snapshotACLIndex(_ node: DataNode) -> Int64 {
        let slot = node.record.pointee.aclSlot
        return aclCache.isOpen(slot) ? -1 : aclCache.index(slot)
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
        let slot: UInt32
        if aclIndex == -1 {
            slot = aclCache.retainUnnumberedOpen()
        } else {
            guard let found = aclCache.retain(index: aclIndex) else { throw .missingACL(aclIndex) }
            slot = found
        }
        if path.isEmpty || path == "/" {
            replaceRoot(data: data, aclSlot: slot, stat: stat)
            return
        }
        // Raw bytes throughout: this runs once per znode of the snapshot.
        var path = path
        let placed = path.withUTF8 { bytes -> Result<UInt32, TreeLoadError> in
            var slash = bytes.count - 1
            while slash >= 0 && bytes[slash] != UInt8(ascii: "/") { slash -= 1 }
            guard slash >= 0 else { return .failure(.missingParent(String(decoding: bytes, as: UTF8.self))) }
            let parentBytes = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[..<slash])
            func isParent(_ candidate: String) -> Bool {
                var candidate = candidate
                return candidate.withUTF8 { c in
                    c.count == slash && (slash == 0 || memcmpBytes(c.baseAddress!, parentBytes.baseAddress!, slash))
                }
            }
            let parent: UInt32
            // Siblings are consecutive in a snapshot: remember the last parent instead of walking to it.
            if let cached = loadingParent, isParent(cached.path) {
                parent = cached.id
            } else if let previous = lastLoaded, isParent(previous.path) {
                parent = previous.id
                loadingParent = previous
            } else {
                guard let found = lookup(parentBytes) else { return .failure(.missingParent(String(decoding: bytes, as: UTF8.self))) }
                loadingParent = (String(decoding: parentBytes, as: UTF8.self), found)
                parent = found
            }
            let name = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[(slash + 1)...])
            guard store.child(of: parent, named: name) == nil else { return .failure(.duplicate(String(decoding: bytes, as: UTF8.self))) }
            return .success(makeChild(of: parent, named: name, data: data))
        }
        let id = try placed.get()
        setStat(id, stat)
        store.record(id).pointee.aclSlot = slot
        noteLoaded(path, id)
        lastLoaded = (path, id)
    }

    /// After the last node: quotas are recounted (as Apache's `setupQuota` does).
    public func finishLoading(snapshotZxid: Zxid) {
        loadingParent = nil
        lastLoaded = nil
        setLastProcessedZxid(snapshotZxid)
        // Snapshots from before 3.5 have no /zookeeper/config; Apache adds it on load.
        if lookup(DataTree.configPath) == nil, let zookeeper = lookup(DataTree.zookeeperPath) {
            let id = makeChild(of: zookeeper, named: "config", data: [])
            store.record(id).pointee.aversion = -1
            store.record(id).pointee.aclSlot = aclCache.retain(ACL.readACLUnsafe)
            noteLoaded(DataTree.configPath, id)
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
