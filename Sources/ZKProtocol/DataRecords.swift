/// Records of `zookeeper.jute`'s `org.apache.zookeeper.data` module: Id, ACL, Stat, StatPersisted.

/// An authentication identity: a scheme (`world`, `auth`, `digest`, `ip`, `super`) and an id.
public struct Id: JuteRecord, Hashable, Sendable {
    public var scheme: String
    public var id: String
    public init(scheme: String, id: String) { self.scheme = scheme; self.id = id }
    public init(from r: inout JuteReader) throws {
        scheme = try r.readNonNullString()
        id = try r.readNonNullString()
    }
    public func encode(to w: inout JuteWriter) {
        w.writeString(scheme)
        w.writeString(id)
    }
    public static let anyone = Id(scheme: "world", id: "anyone")
}

/// One access-control entry: permission bits for an identity.
public struct ACL: JuteRecord, Hashable, Sendable {
    public var perms: Int32
    public var id: Id
    public init(perms: Int32, id: Id) { self.perms = perms; self.id = id }
    public init(from r: inout JuteReader) throws {
        perms = try r.readInt()
        id = try Id(from: &r)
    }
    public func encode(to w: inout JuteWriter) {
        w.writeInt(perms)
        id.encode(to: &w)
    }

    /// `ZooDefs.Ids.OPEN_ACL_UNSAFE`.
    public static let openACLUnsafe = [ACL(perms: Permissions.all.rawValue, id: .anyone)]
    /// `ZooDefs.Ids.READ_ACL_UNSAFE`.
    public static let readACLUnsafe = [ACL(perms: Permissions.read.rawValue, id: .anyone)]
    /// `ZooDefs.Ids.CREATOR_ALL_ACL`.
    public static let creatorAllACL = [ACL(perms: Permissions.all.rawValue, id: Id(scheme: "auth", id: ""))]
}

/// The client-visible stat of a znode (68 bytes).
public struct Stat: JuteRecord, Hashable, Sendable {
    public var czxid: Int64 = 0
    public var mzxid: Int64 = 0
    public var ctime: Int64 = 0
    public var mtime: Int64 = 0
    public var version: Int32 = 0
    public var cversion: Int32 = 0
    public var aversion: Int32 = 0
    public var ephemeralOwner: Int64 = 0
    public var dataLength: Int32 = 0
    public var numChildren: Int32 = 0
    public var pzxid: Int64 = 0

    public init() {}
    public init(from r: inout JuteReader) throws {
        czxid = try r.readLong()
        mzxid = try r.readLong()
        ctime = try r.readLong()
        mtime = try r.readLong()
        version = try r.readInt()
        cversion = try r.readInt()
        aversion = try r.readInt()
        ephemeralOwner = try r.readLong()
        dataLength = try r.readInt()
        numChildren = try r.readInt()
        pzxid = try r.readLong()
    }
    public func encode(to w: inout JuteWriter) {
        w.writeLong(czxid)
        w.writeLong(mzxid)
        w.writeLong(ctime)
        w.writeLong(mtime)
        w.writeInt(version)
        w.writeInt(cversion)
        w.writeInt(aversion)
        w.writeLong(ephemeralOwner)
        w.writeInt(dataLength)
        w.writeInt(numChildren)
        w.writeLong(pzxid)
    }
}

/// The stat as stored in snapshots (60 bytes): no dataLength and numChildren, and `cversion` counts
/// child creations only (the client sees `2*cversion - numChildren`).
public struct StatPersisted: JuteRecord, Hashable, Sendable {
    public var czxid: Int64 = 0
    public var mzxid: Int64 = 0
    public var ctime: Int64 = 0
    public var mtime: Int64 = 0
    public var version: Int32 = 0
    public var cversion: Int32 = 0
    public var aversion: Int32 = 0
    public var ephemeralOwner: Int64 = 0
    public var pzxid: Int64 = 0

    public init() {}
    public init(from r: inout JuteReader) throws {
        czxid = try r.readLong()
        mzxid = try r.readLong()
        ctime = try r.readLong()
        mtime = try r.readLong()
        version = try r.readInt()
        cversion = try r.readInt()
        aversion = try r.readInt()
        ephemeralOwner = try r.readLong()
        pzxid = try r.readLong()
    }
    public func encode(to w: inout JuteWriter) {
        w.writeLong(czxid)
        w.writeLong(mzxid)
        w.writeLong(ctime)
        w.writeLong(mtime)
        w.writeInt(version)
        w.writeInt(cversion)
        w.writeInt(aversion)
        w.writeLong(ephemeralOwner)
        w.writeLong(pzxid)
    }
}
