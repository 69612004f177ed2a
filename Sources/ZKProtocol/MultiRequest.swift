/// `MultiOperationRecord`: a sequence of `MultiHeader(type, done=false, err=-1)` + request record,
/// ended by `MultiHeader(-1, true, -1)`. No count prefix, so the decoder bounds the op count itself.
import ZKCore

public enum MultiOp: Sendable, Equatable {
    /// create (1), create2 (15) and createContainer (19): the opcode says which result shape to give.
    case create(OpCode, CreateRequest)
    case createTTL(CreateTTLRequest)
    case delete(PathVersionRequest)
    case setData(SetDataRequest)
    case check(PathVersionRequest)
    case getChildren(PathWatchRequest)
    case getData(PathWatchRequest)

    public var path: String {
        switch self {
        case .create(_, let r): return r.path
        case .createTTL(let r): return r.path
        case .delete(let r), .check(let r): return r.path
        case .setData(let r): return r.path
        case .getChildren(let r), .getData(let r): return r.path
        }
    }

    public var isRead: Bool {
        switch self {
        case .getChildren, .getData: return true
        case .create, .createTTL, .delete, .setData, .check: return false
        }
    }

    public var opCode: OpCode {
        switch self {
        case .create(let op, _): return op
        case .createTTL: return .createTTL
        case .delete: return .delete
        case .setData: return .setData
        case .check: return .check
        case .getChildren: return .getChildren
        case .getData: return .getData
        }
    }

    public static func decode(from r: inout JuteReader, opsMax: Int) throws -> [MultiOp] {
        var ops: [MultiOp] = []
        while true {
            let type = try r.readInt()
            let done = try r.readBool()
            _ = try r.readInt()  // err, always -1 in requests
            if done { return ops }
            guard ops.count < opsMax else { throw JuteError.tooManyElements(ops.count + 1) }
            ops.append(try decodeOne(type: type, from: &r))
        }
    }

    private static func decodeOne(type: Int32, from r: inout JuteReader) throws -> MultiOp {
        guard let op = OpCode(rawValue: type) else { throw JuteError.invalidValue("multi op type \(type)") }
        switch op {
        case .create, .create2, .createContainer: return .create(op, try r.read(CreateRequest.self))
        case .createTTL: return .createTTL(try r.read(CreateTTLRequest.self))
        case .delete: return .delete(try r.read(PathVersionRequest.self))
        case .setData: return .setData(try r.read(SetDataRequest.self))
        case .check: return .check(try r.read(PathVersionRequest.self))
        case .getChildren: return .getChildren(try r.read(PathWatchRequest.self))
        case .getData: return .getData(try r.read(PathWatchRequest.self))
        case .notification, .exists, .getACL, .setACL, .sync, .ping, .getChildren2, .multi, .reconfig,
             .checkWatches, .removeWatches, .deleteContainer, .multiRead, .auth, .setWatches, .sasl,
             .getEphemerals, .getAllChildrenNumber, .setWatches2, .addWatch, .whoAmI, .createSession,
             .closeSession, .error:
            throw JuteError.invalidValue("multi op type \(type)")
        }
    }

    public static func encode(_ ops: [MultiOp], to w: inout JuteWriter) {
        for op in ops {
            w.writeInt(op.opCode.rawValue)
            w.writeBool(false)
            w.writeInt(-1)
            switch op {
            case .create(_, let r): r.encode(to: &w)
            case .createTTL(let r): r.encode(to: &w)
            case .delete(let r), .check(let r): r.encode(to: &w)
            case .setData(let r): r.encode(to: &w)
            case .getChildren(let r), .getData(let r): r.encode(to: &w)
            }
        }
        w.writeInt(-1)
        w.writeBool(true)
        w.writeInt(-1)
    }
}
