/// Response bodies of the client protocol, one case per record shape. The reply header always
/// precedes the body; when `err != 0` the body is omitted (`ReplyHeader` only), as Apache does.

public enum ResponseBody: Sendable, Equatable {
    /// delete, setWatches, checkWatches, removeWatches, closeSession, auth, ping: no body.
    case none
    /// CreateResponse, SyncResponse.
    case path(String)
    /// Create2Response (create2, createContainer, createTTL).
    case pathAndStat(String, Stat)
    /// ExistsResponse, SetDataResponse, SetACLResponse (and check outside multi).
    case stat(Stat)
    /// GetDataResponse.
    case data([UInt8]?, Stat)
    /// GetACLResponse.
    case acl([ACL], Stat)
    /// GetChildrenResponse, GetEphemeralsResponse.
    case strings([String])
    /// GetChildren2Response.
    case stringsAndStat([String], Stat)
    /// GetAllChildrenNumberResponse, and ErrorResponse(0) for addWatch.
    case int(Int32)
    /// WhoAmIResponse.
    case clientInfo([ClientInfo])
    /// MultiResponse.
    case multi([MultiResult])
    /// A lone buffer (SetSASLResponse).
    case buffer([UInt8]?)

    public func encode(to w: inout JuteWriter) {
        switch self {
        case .none: break
        case .path(let p): w.writeString(p)
        case .pathAndStat(let p, let s): w.writeString(p); s.encode(to: &w)
        case .stat(let s): s.encode(to: &w)
        case .data(let d, let s): w.writeBuffer(d); s.encode(to: &w)
        case .acl(let a, let s): w.writeVector(a); s.encode(to: &w)
        case .strings(let v): w.writeStringVector(v)
        case .stringsAndStat(let v, let s): w.writeStringVector(v); s.encode(to: &w)
        case .int(let n): w.writeInt(n)
        case .clientInfo(let v): w.writeVector(v)
        case .multi(let results): MultiResult.encode(results, to: &w)
        case .buffer(let b): w.writeBuffer(b)
        }
    }
}

/// One result of a multi or multiRead, as `MultiResponse` lays it out.
public enum MultiResult: Sendable, Equatable {
    case create(path: String)
    case create2(path: String, stat: Stat)
    case delete
    case setData(Stat)
    case check
    case getChildren([String])
    case getData([UInt8]?, Stat)
    case error(ErrorCode)

    private var headerType: OpCode {
        switch self {
        case .create: return .create
        case .create2: return .create2
        case .delete: return .delete
        case .setData: return .setData
        case .check: return .check
        case .getChildren: return .getChildren
        case .getData: return .getData
        case .error: return .error
        }
    }

    /// Each result is `MultiHeader(type, done=false, err)` and its body; the list ends with
    /// `MultiHeader(-1, true, -1)`.
    public static func encode(_ results: [MultiResult], to w: inout JuteWriter) {
        for result in results {
            w.writeInt(result.headerType.rawValue)
            w.writeBool(false)
            switch result {
            case .create(let path): w.writeInt(0); w.writeString(path)
            case .create2(let path, let stat): w.writeInt(0); w.writeString(path); stat.encode(to: &w)
            case .delete, .check: w.writeInt(0)
            case .setData(let stat): w.writeInt(0); stat.encode(to: &w)
            case .getChildren(let children): w.writeInt(0); w.writeStringVector(children)
            case .getData(let data, let stat): w.writeInt(0); w.writeBuffer(data); stat.encode(to: &w)
            case .error(let code): w.writeInt(code.rawValue); w.writeInt(code.rawValue)
            }
        }
        w.writeInt(-1)
        w.writeBool(true)
        w.writeInt(-1)
    }

    /// Client-side decoding of a MultiResponse.
    public static func decode(from r: inout JuteReader) throws -> [MultiResult] {
        var results: [MultiResult] = []
        while true {
            let type = try r.readInt()
            let done = try r.readBool()
            let err = try r.readInt()
            if done { return results }
            guard results.count < r.vectorElementsMax else { throw JuteError.tooManyElements(results.count) }
            guard let op = OpCode(rawValue: type) else { throw JuteError.invalidValue("multi result type \(type)") }
            switch op {
            case .create: results.append(.create(path: try r.readNonNullString()))
            case .create2: results.append(.create2(path: try r.readNonNullString(), stat: try r.read(Stat.self)))
            case .delete: results.append(.delete)
            case .check: results.append(.check)
            case .setData: results.append(.setData(try r.read(Stat.self)))
            case .getChildren: results.append(.getChildren(try r.readStringVector() ?? []))
            case .getData: results.append(.getData(try r.readBuffer(), try r.read(Stat.self)))
            case .error:
                let code = try r.readInt()
                results.append(.error(ErrorCode(rawValue: code) ?? ErrorCode(rawValue: err) ?? .systemError))
            case .notification, .exists, .getACL, .setACL, .sync, .ping, .getChildren2, .multi, .reconfig,
                 .checkWatches, .removeWatches, .createContainer, .deleteContainer, .createTTL, .multiRead,
                 .auth, .setWatches, .sasl, .getEphemerals, .getAllChildrenNumber, .setWatches2, .addWatch,
                 .whoAmI, .createSession, .closeSession:
                throw JuteError.invalidValue("multi result type \(type)")
            }
        }
    }
}
