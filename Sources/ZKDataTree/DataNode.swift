/// One znode: its data, ACL, persisted stat and the names of its children.
///
/// A class so the tree can update a node in place (the tree is owned by one thread, the event loop).
import ZKCore
import ZKProtocol

public final class DataNode {
    public var data: [UInt8]?
    public var acl: [ACL]
    public var stat: StatPersisted
    public var children: ChildSet

    public init(data: [UInt8]?, acl: [ACL], stat: StatPersisted, children: ChildSet = ChildSet()) {
        self.data = data
        self.acl = acl
        self.stat = stat
        self.children = children
    }

    /// The client-visible stat (`DataNode.copyStat`): cversion counts creates and deletes, so it is
    /// derived as `2 * stored - numChildren`; containers and TTL nodes report no ephemeral owner.
    public func clientStat(extendedTypesEnabled: Bool) -> Stat {
        var s = Stat()
        s.czxid = stat.czxid
        s.mzxid = stat.mzxid
        s.ctime = stat.ctime
        s.mtime = stat.mtime
        s.version = stat.version
        s.aversion = stat.aversion
        s.pzxid = stat.pzxid
        let numChildren = Int32(children.count)
        s.numChildren = numChildren
        s.cversion = stat.cversion &* 2 &- numChildren
        s.dataLength = Int32(data?.count ?? 0)
        let kind = NodeKind(ephemeralOwner: stat.ephemeralOwner, extendedTypesEnabled: extendedTypesEnabled)
        s.ephemeralOwner = kind == .ephemeral ? stat.ephemeralOwner : 0
        return s
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
