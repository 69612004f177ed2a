/// Transactions: the records of `zookeeper.jute`'s `org.apache.zookeeper.txn` module. A txn is what
/// the leader proposes, the log stores and every replica applies; it is fully determined (sequential
/// names, versions and parent cversions already resolved), so applying it needs no further decisions.
///
/// A txn entry on the wire and on disk is `TxnHeader ‖ body ‖ optional TxnDigest`; the header's type
/// says which body record follows.
import ZKCore

public struct TxnHeader: JuteRecord, Sendable, Equatable {
    public var clientId: Int64
    public var cxid: Int32
    public var zxid: Int64
    public var time: Int64
    public var type: Int32
    public init(clientId: Int64, cxid: Int32, zxid: Int64, time: Int64, type: Int32) {
        self.clientId = clientId; self.cxid = cxid; self.zxid = zxid; self.time = time; self.type = type
    }
    public init(from r: inout JuteReader) throws {
        clientId = try r.readLong()
        cxid = try r.readInt()
        zxid = try r.readLong()
        time = try r.readLong()
        type = try r.readInt()
    }
    public func encode(to w: inout JuteWriter) {
        w.writeLong(clientId)
        w.writeInt(cxid)
        w.writeLong(zxid)
        w.writeLong(time)
        w.writeInt(type)
    }
}

/// The body of a txn. The header type selects the record; `create` serves both create (1) and
/// create2 (15), `delete` both delete (2) and deleteContainer (20).
public indirect enum Txn: Sendable, Equatable {
    case createSession(timeOutMs: Int32)
    case closeSession(ephemeralPaths: [String])
    case create(path: String, data: [UInt8]?, acl: [ACL], ephemeral: Bool, parentCVersion: Int32)
    case createContainer(path: String, data: [UInt8]?, acl: [ACL], parentCVersion: Int32)
    case createTTL(path: String, data: [UInt8]?, acl: [ACL], parentCVersion: Int32, ttl: Int64)
    case delete(path: String)
    case setData(path: String, data: [UInt8]?, version: Int32)
    case setACL(path: String, acl: [ACL], version: Int32)
    case checkVersion(path: String, version: Int32)
    case error(ErrorCode)
    /// Each sub-txn with the type its `Txn{type, data}` entry carries.
    case multi([TypedTxn])

    public func encode(to w: inout JuteWriter) {
        switch self {
        case .createSession(let t): w.writeInt(t)
        case .closeSession(let paths): w.writeStringVector(paths)
        case .create(let path, let data, let acl, let ephemeral, let pcv):
            w.writeString(path); w.writeBuffer(data); w.writeVector(acl); w.writeBool(ephemeral); w.writeInt(pcv)
        case .createContainer(let path, let data, let acl, let pcv):
            w.writeString(path); w.writeBuffer(data); w.writeVector(acl); w.writeInt(pcv)
        case .createTTL(let path, let data, let acl, let pcv, let ttl):
            w.writeString(path); w.writeBuffer(data); w.writeVector(acl); w.writeInt(pcv); w.writeLong(ttl)
        case .delete(let path): w.writeString(path)
        case .setData(let path, let data, let version): w.writeString(path); w.writeBuffer(data); w.writeInt(version)
        case .setACL(let path, let acl, let version): w.writeString(path); w.writeVector(acl); w.writeInt(version)
        case .checkVersion(let path, let version): w.writeString(path); w.writeInt(version)
        case .error(let code): w.writeInt(code.rawValue)
        case .multi(let txns):
            w.writeInt(Int32(txns.count))
            for sub in txns {
                w.writeInt(sub.type.rawValue)
                var inner = JuteWriter()
                sub.txn.encode(to: &inner)
                w.writeBuffer(inner.bytes)
            }
        }
    }

    /// Decodes the body for a header type. Tolerates the old forms Apache's readers accept:
    /// a CreateTxn without parentCVersion (`CreateTxnV0`) and a closeSession without a record.
    public static func decode(type: OpCode, from r: inout JuteReader) throws -> Txn {
        switch type {
        case .createSession: return .createSession(timeOutMs: try r.readInt())
        case .closeSession: return .closeSession(ephemeralPaths: r.isAtEnd ? [] : (try r.readStringVector() ?? []))
        case .create, .create2:
            let path = try r.readNonNullString(), data = try r.readBuffer(), acl = try r.readVector(ACL.self) ?? []
            let ephemeral = try r.readBool()
            let pcv = r.remaining >= 4 ? try r.readInt() : -1
            return .create(path: path, data: data, acl: acl, ephemeral: ephemeral, parentCVersion: pcv)
        case .createContainer:
            return .createContainer(path: try r.readNonNullString(), data: try r.readBuffer(),
                                    acl: try r.readVector(ACL.self) ?? [], parentCVersion: try r.readInt())
        case .createTTL:
            return .createTTL(path: try r.readNonNullString(), data: try r.readBuffer(),
                              acl: try r.readVector(ACL.self) ?? [], parentCVersion: try r.readInt(), ttl: try r.readLong())
        case .delete, .deleteContainer: return .delete(path: try r.readNonNullString())
        case .setData, .reconfig:
            return .setData(path: try r.readNonNullString(), data: try r.readBuffer(), version: try r.readInt())
        case .setACL:
            return .setACL(path: try r.readNonNullString(), acl: try r.readVector(ACL.self) ?? [], version: try r.readInt())
        case .check: return .checkVersion(path: try r.readNonNullString(), version: try r.readInt())
        case .error: return .error(ErrorCode(rawValue: try r.readInt()) ?? .systemError)
        case .multi: return .multi(try decodeMulti(from: &r))
        case .notification, .exists, .getData, .getACL, .getChildren, .sync, .ping, .getChildren2,
             .checkWatches, .removeWatches, .multiRead, .auth, .setWatches, .sasl, .getEphemerals,
             .getAllChildrenNumber, .setWatches2, .addWatch, .whoAmI:
            throw JuteError.invalidValue("txn type \(type.rawValue)")
        }
    }

    private static func decodeMulti(from r: inout JuteReader) throws -> [TypedTxn] {
        let count = Int(try r.readInt())
        guard count >= 0, count <= r.remaining else { throw JuteError.unreasonableLength(count) }
        var txns: [TypedTxn] = []
        for _ in 0..<count {
            let rawType = try r.readInt()
            guard let type = OpCode(rawValue: rawType) else { throw JuteError.invalidValue("txn type \(rawType)") }
            var inner = JuteReader(try r.readBuffer() ?? [])
            txns.append(TypedTxn(type: type, txn: try decode(type: type, from: &inner)))
        }
        return txns
    }

    /// Roughly the bytes this txn encodes to: the path and data, which dominate, so that one
    /// allocation usually holds the serialized entry (a 1 KiB create otherwise regrows three times).
    var payloadBytesEstimate: Int {
        switch self {
        case .create(let path, let data, let acl, _, _), .createContainer(let path, let data, let acl, _),
             .createTTL(let path, let data, let acl, _, _):
            return path.utf8.count + (data?.count ?? 0) + acl.count * 32 + 32
        case .setData(let path, let data, _): return path.utf8.count + (data?.count ?? 0) + 16
        case .setACL(let path, let acl, _): return path.utf8.count + acl.count * 32 + 16
        case .delete(let path), .checkVersion(let path, _): return path.utf8.count + 16
        case .closeSession(let paths): return paths.reduce(8) { $0 + $1.utf8.count + 4 }
        case .multi(let txns): return txns.count * 64
        case .createSession, .error: return 16
        }
    }
}

/// A txn with the type its header (or multi entry) carries.
public struct TypedTxn: Sendable, Equatable {
    public var type: OpCode
    public var txn: Txn
    public init(type: OpCode, txn: Txn) { self.type = type; self.txn = txn }
}

/// A complete txn: header and body, plus the tree digest that 3.6+ servers append (version 2).
public struct TxnEntry: Sendable, Equatable {
    public var header: TxnHeader
    public var txn: Txn
    public var digest: TxnDigest?

    public init(header: TxnHeader, txn: Txn, digest: TxnDigest? = nil) {
        self.header = header; self.txn = txn; self.digest = digest
    }

    public var zxid: Int64 { header.zxid }

    /// What the txn does to the replicated session table: the one place this is decided, for the
    /// live server and for recovery.
    public var sessionChange: SessionChange? {
        let id = SessionID(header.clientId)
        switch txn {
        case .createSession(let timeoutMs): return .created(id, timeoutMs: timeoutMs)
        case .closeSession: return .closed(id)
        case .create, .createContainer, .createTTL, .delete, .setData, .setACL, .checkVersion, .multi, .error:
            return nil
        }
    }

    public func encode(to w: inout JuteWriter) {
        header.encode(to: &w)
        txn.encode(to: &w)
        if let digest { digest.encode(to: &w) }
    }

    public func serialized() -> [UInt8] {
        var w = JuteWriter(capacity: 64 + txn.payloadBytesEstimate)
        encode(to: &w)
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws -> TxnEntry {
        var r = JuteReader(bytes)
        let header = try TxnHeader(from: &r)
        guard let type = OpCode(rawValue: header.type) else { throw JuteError.invalidValue("txn type \(header.type)") }
        let txn = try Txn.decode(type: type, from: &r)
        let digest = r.remaining >= 12 ? try TxnDigest(from: &r) : nil
        return TxnEntry(header: header, txn: txn, digest: digest)
    }
}

public struct TxnDigest: JuteRecord, Sendable, Equatable {
    public var version: Int32
    public var treeDigest: Int64
    public init(version: Int32 = 2, treeDigest: Int64) { self.version = version; self.treeDigest = treeDigest }
    public init(from r: inout JuteReader) throws {
        version = try r.readInt()
        treeDigest = try r.readLong()
    }
    public func encode(to w: inout JuteWriter) {
        w.writeInt(version)
        w.writeLong(treeDigest)
    }
}

/// A txn's effect on the session table.
public enum SessionChange: Sendable, Equatable {
    case created(SessionID, timeoutMs: Int32)
    case closed(SessionID)
}
