/// Records of `zookeeper.jute`'s `org.apache.zookeeper.proto` module: the client protocol's
/// headers, requests and responses. Field order is the wire order.

/// The first frame a client sends. `readOnly` is a byte that Java clients append by hand after the
/// jute record; old clients omit it, and then the response must omit it too.
public struct ConnectRequest: JuteRecord, Sendable, Equatable {
    public var protocolVersion: Int32 = 0
    public var lastZxidSeen: Int64 = 0
    public var timeOut: Int32 = 0
    public var sessionId: Int64 = 0
    public var passwd: [UInt8] = Array(repeating: 0, count: 16)
    /// nil when the client did not send the byte (an "old client").
    public var readOnly: Bool? = false

    public init(protocolVersion: Int32 = 0, lastZxidSeen: Int64 = 0, timeOut: Int32, sessionId: Int64 = 0,
                passwd: [UInt8] = Array(repeating: 0, count: 16), readOnly: Bool? = false) {
        self.protocolVersion = protocolVersion
        self.lastZxidSeen = lastZxidSeen
        self.timeOut = timeOut
        self.sessionId = sessionId
        self.passwd = passwd
        self.readOnly = readOnly
    }
    public init(from r: inout JuteReader) throws {
        protocolVersion = try r.readInt()
        lastZxidSeen = try r.readLong()
        timeOut = try r.readInt()
        sessionId = try r.readLong()
        passwd = try r.readBuffer() ?? []
        readOnly = r.isAtEnd ? nil : try r.readBool()
    }
    public func encode(to w: inout JuteWriter) {
        w.writeInt(protocolVersion)
        w.writeLong(lastZxidSeen)
        w.writeInt(timeOut)
        w.writeLong(sessionId)
        w.writeBuffer(passwd)
        if let readOnly { w.writeBool(readOnly) }
    }
}

/// The server's first frame. `readOnly` is present only if the request carried it.
public struct ConnectResponse: JuteRecord, Sendable, Equatable {
    public var protocolVersion: Int32 = 0
    public var timeOut: Int32
    public var sessionId: Int64
    public var passwd: [UInt8]
    public var readOnly: Bool?

    public init(protocolVersion: Int32 = 0, timeOut: Int32, sessionId: Int64, passwd: [UInt8], readOnly: Bool?) {
        self.protocolVersion = protocolVersion
        self.timeOut = timeOut
        self.sessionId = sessionId
        self.passwd = passwd
        self.readOnly = readOnly
    }
    public init(from r: inout JuteReader) throws {
        protocolVersion = try r.readInt()
        timeOut = try r.readInt()
        sessionId = try r.readLong()
        passwd = try r.readBuffer() ?? []
        readOnly = r.isAtEnd ? nil : try r.readBool()
    }
    public func encode(to w: inout JuteWriter) {
        w.writeInt(protocolVersion)
        w.writeInt(timeOut)
        w.writeLong(sessionId)
        w.writeBuffer(passwd)
        if let readOnly { w.writeBool(readOnly) }
    }
}

public struct RequestHeader: JuteRecord, Sendable, Equatable {
    public var xid: Int32
    public var type: Int32
    public init(xid: Int32, type: Int32) { self.xid = xid; self.type = type }
    public init(from r: inout JuteReader) throws {
        xid = try r.readInt()
        type = try r.readInt()
    }
    public func encode(to w: inout JuteWriter) {
        w.writeInt(xid)
        w.writeInt(type)
    }
}

public struct ReplyHeader: JuteRecord, Sendable, Equatable {
    public var xid: Int32
    public var zxid: Int64
    public var err: Int32
    public init(xid: Int32, zxid: Int64, err: Int32) { self.xid = xid; self.zxid = zxid; self.err = err }
    public init(from r: inout JuteReader) throws {
        xid = try r.readInt()
        zxid = try r.readLong()
        err = try r.readInt()
    }
    public func encode(to w: inout JuteWriter) {
        w.writeInt(xid)
        w.writeLong(zxid)
        w.writeInt(err)
    }
}

/// create, create2 and createContainer requests. createTTL adds `ttl` (see `CreateTTLRequest`).
public struct CreateRequest: JuteRecord, Sendable, Equatable {
    public var path: String
    public var data: [UInt8]?
    public var acl: [ACL]
    public var flags: Int32
    public init(path: String, data: [UInt8]?, acl: [ACL], flags: Int32) {
        self.path = path; self.data = data; self.acl = acl; self.flags = flags
    }
    public init(from r: inout JuteReader) throws {
        path = try r.readNonNullString()
        data = try r.readBuffer()
        acl = try r.readVector(ACL.self) ?? []
        flags = try r.readInt()
    }
    public func encode(to w: inout JuteWriter) {
        w.writeString(path)
        w.writeBuffer(data)
        w.writeVector(acl)
        w.writeInt(flags)
    }
}

public struct CreateTTLRequest: JuteRecord, Sendable, Equatable {
    public var path: String
    public var data: [UInt8]?
    public var acl: [ACL]
    public var flags: Int32
    public var ttl: Int64
    public init(path: String, data: [UInt8]?, acl: [ACL], flags: Int32, ttl: Int64) {
        self.path = path; self.data = data; self.acl = acl; self.flags = flags; self.ttl = ttl
    }
    public init(from r: inout JuteReader) throws {
        path = try r.readNonNullString()
        data = try r.readBuffer()
        acl = try r.readVector(ACL.self) ?? []
        flags = try r.readInt()
        ttl = try r.readLong()
    }
    public func encode(to w: inout JuteWriter) {
        w.writeString(path)
        w.writeBuffer(data)
        w.writeVector(acl)
        w.writeInt(flags)
        w.writeLong(ttl)
    }
}

/// A request whose whole body is a path (getACL, sync, getAllChildrenNumber, getEphemerals) and the
/// responses that echo one (CreateResponse, SyncResponse).
public struct PathRecord: JuteRecord, Sendable, Equatable {
    public var path: String
    public init(path: String) { self.path = path }
    public init(from r: inout JuteReader) throws { path = try r.readNonNullString() }
    public func encode(to w: inout JuteWriter) { w.writeString(path) }
}

/// exists, getData, getChildren and getChildren2 requests: a path and a watch flag.
public struct PathWatchRequest: JuteRecord, Sendable, Equatable {
    public var path: String
    public var watch: Bool
    public init(path: String, watch: Bool) { self.path = path; self.watch = watch }
    public init(from r: inout JuteReader) throws {
        path = try r.readNonNullString()
        watch = try r.readBool()
    }
    public func encode(to w: inout JuteWriter) {
        w.writeString(path)
        w.writeBool(watch)
    }
}

/// delete and check (CheckVersionRequest): a path and an expected version (-1 = any).
public struct PathVersionRequest: JuteRecord, Sendable, Equatable {
    public var path: String
    public var version: Int32
    public init(path: String, version: Int32) { self.path = path; self.version = version }
    public init(from r: inout JuteReader) throws {
        path = try r.readNonNullString()
        version = try r.readInt()
    }
    public func encode(to w: inout JuteWriter) {
        w.writeString(path)
        w.writeInt(version)
    }
}

public struct SetDataRequest: JuteRecord, Sendable, Equatable {
    public var path: String
    public var data: [UInt8]?
    public var version: Int32
    public init(path: String, data: [UInt8]?, version: Int32) { self.path = path; self.data = data; self.version = version }
    public init(from r: inout JuteReader) throws {
        path = try r.readNonNullString()
        data = try r.readBuffer()
        version = try r.readInt()
    }
    public func encode(to w: inout JuteWriter) {
        w.writeString(path)
        w.writeBuffer(data)
        w.writeInt(version)
    }
}

public struct SetACLRequest: JuteRecord, Sendable, Equatable {
    public var path: String
    public var acl: [ACL]
    public var version: Int32
    public init(path: String, acl: [ACL], version: Int32) { self.path = path; self.acl = acl; self.version = version }
    public init(from r: inout JuteReader) throws {
        path = try r.readNonNullString()
        acl = try r.readVector(ACL.self) ?? []
        version = try r.readInt()
    }
    public func encode(to w: inout JuteWriter) {
        w.writeString(path)
        w.writeVector(acl)
        w.writeInt(version)
    }
}

public struct AuthPacket: JuteRecord, Sendable, Equatable {
    public var type: Int32
    public var scheme: String
    public var auth: [UInt8]
    public init(type: Int32 = 0, scheme: String, auth: [UInt8]) { self.type = type; self.scheme = scheme; self.auth = auth }
    public init(from r: inout JuteReader) throws {
        type = try r.readInt()
        scheme = try r.readNonNullString()
        auth = try r.readBuffer() ?? []
    }
    public func encode(to w: inout JuteWriter) {
        w.writeInt(type)
        w.writeString(scheme)
        w.writeBuffer(auth)
    }
}

/// SetWatches (opcode 101) and SetWatches2 (105, which adds the two persistent lists).
public struct SetWatches: JuteRecord, Sendable, Equatable {
    public var relativeZxid: Int64
    public var dataWatches: [String]
    public var existWatches: [String]
    public var childWatches: [String]
    /// nil for SetWatches (version 1).
    public var persistentWatches: [String]?
    public var persistentRecursiveWatches: [String]?

    public init(relativeZxid: Int64, dataWatches: [String], existWatches: [String], childWatches: [String],
                persistentWatches: [String]? = nil, persistentRecursiveWatches: [String]? = nil) {
        self.relativeZxid = relativeZxid
        self.dataWatches = dataWatches
        self.existWatches = existWatches
        self.childWatches = childWatches
        self.persistentWatches = persistentWatches
        self.persistentRecursiveWatches = persistentRecursiveWatches
    }
    /// Decodes version 1; `decodeVersion2` reads the persistent lists as well.
    public init(from r: inout JuteReader) throws {
        relativeZxid = try r.readLong()
        dataWatches = try r.readStringVector() ?? []
        existWatches = try r.readStringVector() ?? []
        childWatches = try r.readStringVector() ?? []
        persistentWatches = nil
        persistentRecursiveWatches = nil
    }
    public static func decodeVersion2(from r: inout JuteReader) throws -> SetWatches {
        var v = try SetWatches(from: &r)
        v.persistentWatches = try r.readStringVector() ?? []
        v.persistentRecursiveWatches = try r.readStringVector() ?? []
        return v
    }
    public func encode(to w: inout JuteWriter) {
        w.writeLong(relativeZxid)
        w.writeStringVector(dataWatches)
        w.writeStringVector(existWatches)
        w.writeStringVector(childWatches)
        if let persistentWatches, let persistentRecursiveWatches {
            w.writeStringVector(persistentWatches)
            w.writeStringVector(persistentRecursiveWatches)
        }
    }
}

/// addWatch (mode), checkWatches and removeWatches (WatcherType): a path and an int.
public struct PathTypeRequest: JuteRecord, Sendable, Equatable {
    public var path: String
    public var type: Int32
    public init(path: String, type: Int32) { self.path = path; self.type = type }
    public init(from r: inout JuteReader) throws {
        path = try r.readNonNullString()
        type = try r.readInt()
    }
    public func encode(to w: inout JuteWriter) {
        w.writeString(path)
        w.writeInt(type)
    }
}

public struct ReconfigRequest: JuteRecord, Sendable, Equatable {
    public var joiningServers: String?
    public var leavingServers: String?
    public var newMembers: String?
    public var curConfigId: Int64
    public init(from r: inout JuteReader) throws {
        joiningServers = try r.readString()
        leavingServers = try r.readString()
        newMembers = try r.readString()
        curConfigId = try r.readLong()
    }
    public func encode(to w: inout JuteWriter) {
        w.writeString(joiningServers)
        w.writeString(leavingServers)
        w.writeString(newMembers)
        w.writeLong(curConfigId)
    }
}

/// A server-pushed watch notification (after `ReplyHeader(xid: -1, zxid: -1, err: 0)`).
public struct WatcherEvent: JuteRecord, Sendable, Equatable {
    public var type: Int32
    public var state: Int32
    public var path: String
    public init(type: EventType, state: KeeperState = .syncConnected, path: String) {
        self.type = type.rawValue; self.state = state.rawValue; self.path = path
    }
    public init(from r: inout JuteReader) throws {
        type = try r.readInt()
        state = try r.readInt()
        path = try r.readNonNullString()
    }
    public func encode(to w: inout JuteWriter) {
        w.writeInt(type)
        w.writeInt(state)
        w.writeString(path)
    }
}

/// `ClientInfo` of a whoAmI response.
public struct ClientInfo: JuteRecord, Sendable, Equatable {
    public var authScheme: String
    public var user: String
    public init(authScheme: String, user: String) { self.authScheme = authScheme; self.user = user }
    public init(from r: inout JuteReader) throws {
        authScheme = try r.readNonNullString()
        user = try r.readNonNullString()
    }
    public func encode(to w: inout JuteWriter) {
        w.writeString(authScheme)
        w.writeString(user)
    }
}
