/// A decoded client request: the request header's opcode plus its record.
import ZKCore
import ZKProtocol

enum ClientRequest {
    // Writes: each becomes a txn with its own zxid (an error txn if it fails).
    case create(OpCode, CreateRequest)
    case createTTL(CreateTTLRequest)
    case delete(PathVersionRequest)
    case setData(SetDataRequest)
    case setACL(SetACLRequest)
    case check(PathVersionRequest)
    case multi([MultiOp])
    case reconfig(ReconfigRequest)
    case closeSession
    /// A write that fails before it is prepared (an undecodable record, a server-internal opcode):
    /// Apache still logs it, as an error txn with this code.
    case rejectedWrite(OpCode, ErrorCode)
    // Reads and session-local requests: answered from the tree, in order behind the session's writes.
    case exists(PathWatchRequest)
    case getData(PathWatchRequest)
    case getChildren(PathWatchRequest)
    case getChildren2(PathWatchRequest)
    case getACL(PathRecord)
    case sync(PathRecord)
    case getAllChildrenNumber(PathRecord)
    case getEphemerals(PathRecord)
    case whoAmI
    case multiRead([MultiOp])
    case setWatches(SetWatches)
    case addWatch(PathTypeRequest)
    case checkWatches(PathTypeRequest)
    case removeWatches(PathTypeRequest)
    case ping
    /// A read whose record could not be decoded: answered with MARSHALLINGERROR.
    case undecodableRead(OpCode)

    var isWrite: Bool {
        switch self {
        case .create, .createTTL, .delete, .setData, .setACL, .check, .multi, .reconfig, .closeSession,
             .rejectedWrite:
            return true
        case .exists, .getData, .getChildren, .getChildren2, .getACL, .sync, .getAllChildrenNumber,
             .getEphemerals, .whoAmI, .multiRead, .setWatches, .addWatch, .checkWatches, .removeWatches,
             .ping, .undecodableRead:
            return false
        }
    }

    /// Decodes the record after the request header. Returns nil for an opcode clients may not send
    /// (the caller answers UNIMPLEMENTED and closes, as Apache's UnimplementedRequestProcessor).
    static func decode(_ op: OpCode, _ r: inout JuteReader, limits: Limits) -> ClientRequest? {
        do {
            return try decodeRecord(op, &r, limits: limits)
        } catch {
            switch op {
            case .create, .create2, .createContainer, .createTTL, .delete, .setData, .setACL, .check,
                 .multi, .reconfig:
                return .rejectedWrite(op, .marshallingError)
            default:
                return .undecodableRead(op)
            }
        }
    }

    /// Apache rebuilds each create of a multi from its flags (`Op.create`), so the opcode the client
    /// sent does not matter: container flags make a createContainer, a createTTL whose flags are not
    /// a TTL mode makes a plain create, and create2 becomes create (answered with the path only).
    private static func normalizedCreate(_ op: MultiOp) throws -> MultiOp {
        switch op {
        case .create(_, let r):
            guard let mode = CreateMode(rawValue: r.flags) else { throw JuteError.invalidValue("create flags") }
            return .create(mode.isContainer ? .createContainer : .create, r)
        case .createTTL(let r):
            guard let mode = CreateMode(rawValue: r.flags) else { throw JuteError.invalidValue("create flags") }
            if mode.isTTL { return op }
            return .create(mode.isContainer ? .createContainer : .create, CreateRequest(path: r.path, data: r.data, acl: r.acl, flags: r.flags))
        case .delete, .setData, .check, .getChildren, .getData:
            return op
        }
    }

    private static func decodeRecord(_ op: OpCode, _ r: inout JuteReader, limits: Limits) throws -> ClientRequest? {
        switch op {
        case .create, .create2, .createContainer: return .create(op, try r.read(CreateRequest.self))
        case .createTTL: return .createTTL(try r.read(CreateTTLRequest.self))
        case .delete: return .delete(try r.read(PathVersionRequest.self))
        case .setData: return .setData(try r.read(SetDataRequest.self))
        case .setACL: return .setACL(try r.read(SetACLRequest.self))
        case .check: return .check(try r.read(PathVersionRequest.self))
        case .multi:
            // A multi of reads, or a mix of kinds, fails to decode in Apache (MARSHALLINGERROR).
            let ops = try MultiOp.decode(from: &r, opsMax: limits.multiOpsMax)
            guard !ops.contains(where: \.isRead) else { throw JuteError.invalidValue("read op in multi") }
            return .multi(try ops.map(normalizedCreate))
        case .reconfig: return .reconfig(try r.read(ReconfigRequest.self))
        case .closeSession: return .closeSession
        case .exists: return .exists(try r.read(PathWatchRequest.self))
        case .getData: return .getData(try r.read(PathWatchRequest.self))
        case .getChildren: return .getChildren(try r.read(PathWatchRequest.self))
        case .getChildren2: return .getChildren2(try r.read(PathWatchRequest.self))
        case .getACL: return .getACL(try r.read(PathRecord.self))
        case .sync: return .sync(try r.read(PathRecord.self))
        case .getAllChildrenNumber: return .getAllChildrenNumber(try r.read(PathRecord.self))
        case .getEphemerals: return .getEphemerals(try r.read(PathRecord.self))
        case .whoAmI: return .whoAmI
        case .multiRead:
            let ops = try MultiOp.decode(from: &r, opsMax: limits.multiOpsMax)
            guard ops.allSatisfy(\.isRead) else { throw JuteError.invalidValue("write op in multiRead") }
            return .multiRead(ops)
        case .setWatches: return .setWatches(try r.read(SetWatches.self))
        case .setWatches2: return .setWatches(try SetWatches.decodeVersion2(from: &r))
        case .addWatch:
            let request = try r.read(PathTypeRequest.self)
            guard AddWatchMode(rawValue: request.type) != nil else { throw JuteError.invalidValue("watch mode") }
            return .addWatch(request)
        case .checkWatches, .removeWatches:
            let request = try r.read(PathTypeRequest.self)
            guard WatcherType(rawValue: request.type) != nil else { throw JuteError.invalidValue("watcher type") }
            return op == .checkWatches ? .checkWatches(request) : .removeWatches(request)
        case .ping: return .ping
        case .deleteContainer:
            // Apache reads the path from the whole packet, header included, so the path always
            // contains NUL and fails validation.
            return .rejectedWrite(op, .badArguments)
        case .createSession:
            return .rejectedWrite(op, .marshallingError)
        case .notification, .auth, .sasl, .error:
            return nil
        }
    }
}
