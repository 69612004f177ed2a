/// One znode as readers see it: a view of its record in the tree's `NodeStore` (data, ACL, persisted
/// stat, children). Only `DataTree` changes nodes; a view is meant to be used at once, not kept
/// across changes of the tree (a deleted node's record is reused).
import ZKCore
import ZKProtocol

public struct DataNode: Equatable {
    unowned(unsafe) let tree: DataTree
    /// The record's number in the store.
    public let id: UInt32

    init(tree: DataTree, id: UInt32) {
        self.tree = tree
        self.id = id
    }

    public static func == (a: DataNode, b: DataNode) -> Bool { a.id == b.id && a.tree === b.tree }

    @inline(__always) var record: UnsafeMutablePointer<NodeHeader> { tree.store.record(id) }

    /// A copy of the data (nil for null data). Replies encode it in place with `withData` instead.
    public var data: [UInt8]? { tree.store.data(id).map { Array($0) } }

    /// The data's bytes, valid only inside `body`.
    @inline(__always) public func withData<R>(_ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        try body(tree.store.data(id))
    }

    public var dataLength: Int { Int(max(0, record.pointee.dataLength)) }

    public var acl: [ACL] { tree.aclCache.list(record.pointee.aclSlot) }

    /// The node's last path component.
    public var name: String { String(decoding: tree.store.name(id), as: UTF8.self) }

    public var stat: StatPersisted {
        let r = record
        var s = StatPersisted()
        s.czxid = r.pointee.czxid
        s.mzxid = r.pointee.mzxid
        s.pzxid = r.pointee.pzxid
        s.ctime = r.pointee.ctime
        s.mtime = r.pointee.mtime
        s.ephemeralOwner = r.pointee.ephemeralOwner
        s.version = r.pointee.version
        s.cversion = r.pointee.cversion
        s.aversion = r.pointee.aversion
        return s
    }

    public var children: ChildNames { ChildNames(store: tree.store, parent: id) }

    /// The client-visible stat (`DataNode.copyStat`): cversion counts creates and deletes, so it is
    /// derived as `2 * stored - numChildren`; containers and TTL nodes report no ephemeral owner.
    public func clientStat(extendedTypesEnabled: Bool) -> Stat {
        let r = record
        var s = Stat()
        s.czxid = r.pointee.czxid
        s.mzxid = r.pointee.mzxid
        s.ctime = r.pointee.ctime
        s.mtime = r.pointee.mtime
        s.version = r.pointee.version
        s.aversion = r.pointee.aversion
        s.pzxid = r.pointee.pzxid
        let numChildren = Int32(tree.store.childCount(id))
        s.numChildren = numChildren
        s.cversion = r.pointee.cversion &* 2 &- numChildren
        s.dataLength = max(0, r.pointee.dataLength)
        let owner = r.pointee.ephemeralOwner
        let kind = NodeKind(ephemeralOwner: owner, extendedTypesEnabled: extendedTypesEnabled)
        s.ephemeralOwner = kind == .ephemeral ? owner : 0
        return s
    }
}

/// A node's children's names in Java's `HashSet` order (Apache's `getChildren` order).
public struct ChildNames: Sequence {
    unowned(unsafe) let store: NodeStore
    let parent: UInt32

    public var count: Int { store.childCount(parent) }
    public var isEmpty: Bool { count == 0 }

    public struct Iterator: IteratorProtocol {
        unowned(unsafe) let store: NodeStore
        let table: UnsafeMutablePointer<UInt32>?
        var bucket = -1
        var current = NodeStore.none

        public mutating func next() -> String? {
            guard let table else { return nil }
            while current == NodeStore.none {
                bucket += 1
                guard bucket < Int(table[1]) else { return nil }
                current = table[2 + bucket]
            }
            let name = String(decoding: store.name(current), as: UTF8.self)
            current = store.record(current).pointee.next
            return name
        }
    }

    public func makeIterator() -> Iterator { Iterator(store: store, table: store.childTable(of: parent)) }

    public var underestimatedCount: Int { count }

    public func contains(_ name: String) -> Bool {
        var name = name
        return name.withUTF8 { store.child(of: parent, named: UnsafeRawBufferPointer($0)) != nil }
    }
}

/// What `ephemeralOwner` says a node is (`EphemeralType`).
public enum NodeKind: Sendable, Equatable {
    case persistent
    case ephemeral
    case container
    case ttl

    public init(ephemeralOwner owner: Int64, extendedTypesEnabled: Bool) {
        if owner == 0 {
            self = .persistent
        } else if owner == EphemeralOwner.container {
            self = .container
        } else if extendedTypesEnabled && EphemeralOwner.isTTL(owner) {
            self = .ttl
        } else {
            self = .ephemeral
        }
    }
}
