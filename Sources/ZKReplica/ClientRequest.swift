/// A decoded client request: the request header's opcode plus its record.
import ZKCore
import ZKProtocol

/// A write: becomes one txn with its own zxid (an error txn if it fails). Prepared on the leader.
enum WriteRequest {
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
    case rejected(OpCode, ErrorCode)

    /// The txn type a successful prepare gives it.
    var opCode: OpCode {
        switch self {
        case .create(let op, _): return op
        case .createTTL: return .createTTL
        case .delete: return .delete
        case .setData: return .setData
        case .setACL: return .setACL
        case .check: return .check
        case .multi: return .multi
        case .reconfig: return .reconfig
        case .closeSession: return .closeSession
        case .rejected(let op, _): return op
        }
    }
}

/// A read or session-local request: answered from the local tree, in order behind the session's writes.
enum ReadRequest {
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
    case undecodable(OpCode)
}

/// A decoded client request: the request header's opcode plus its record, as a write or a read, so
/// that a read can never reach the prepare stage nor a write the read handler.
enum ClientRequest {
    case write(WriteRequest)
    case read(ReadRequest)

    /// Which kind an opcode's request is, decided without decoding its record; nil for opcodes a
    /// client may not send as a request (answered UNIMPLEMENTED).
    static func kind(of op: OpCode) -> Kind? {
        switch op {
        case .create, .create2, .createContainer, .createTTL, .delete, .setData, .setACL, .check, .multi,
             .reconfig, .closeSession, .deleteContainer, .createSession:
            return .write
        case .exists, .getData, .getChildren, .getChildren2, .getACL, .sync, .getAllChildrenNumber,
             .getEphemerals, .whoAmI, .multiRead, .setWatches, .setWatches2, .addWatch, .checkWatches,
             .removeWatches, .ping:
            return .read
        case .notification, .auth, .sasl, .error:
            return nil
        }
    }

    enum Kind { case write, read }

    /// Decodes the record after the request header. Returns nil for an opcode clients may not send
    /// (the caller answers UNIMPLEMENTED and closes, as Apache's UnimplementedRequestProcessor).
    static func decode(_ op: OpCode, _ r: inout JuteReader, limits: Limits) -> ClientRequest? {
        guard let kind = kind(of: op) else { return nil }
        do {
            return try decodeRecord(op, &r, limits: limits)
        } catch {
            switch kind {
            case .write: return .write(.rejected(op, .marshallingError))
            case .read: return .read(.undecodable(op))
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
        case .create, .create2, .createContainer: return .write(.create(op, try r.read(CreateRequest.self)))
        case .createTTL: return .write(.createTTL(try r.read(CreateTTLRequest.self)))
        case .delete: return .write(.delete(try r.read(PathVersionRequest.self)))
        case .setData: return .write(.setData(try r.read(SetDataRequest.self)))
        case .setACL: return .write(.setACL(try r.read(SetACLRequest.self)))
        case .check: return .write(.check(try r.read(PathVersionRequest.self)))
        case .multi:
            // A multi of reads, or a mix of kinds, fails to decode in Apache (MARSHALLINGERROR).
            let ops = try MultiOp.decode(from: &r, opsMax: limits.multiOpsMax)
            guard !ops.contains(where: \.isRead) else { throw JuteError.invalidValue("read op in multi") }
            return .write(.multi(try ops.map(normalizedCreate)))
        case .reconfig: return .write(.reconfig(try r.read(ReconfigRequest.self)))
        case .closeSession: return .write(.closeSession)
        case .exists: return .read(.exists(try r.read(PathWatchRequest.self)))
        case .getData: return .read(.getData(try r.read(PathWatchRequest.self)))
        case .getChildren: return .read(.getChildren(try r.read(PathWatchRequest.self)))
        case .getChildren2: return .read(.getChildren2(try r.read(PathWatchRequest.self)))
        case .getACL: return .read(.getACL(try r.read(PathRecord.self)))
        case .sync: return .read(.sync(try r.read(PathRecord.self)))
        case .getAllChildrenNumber: return .read(.getAllChildrenNumber(try r.read(PathRecord.self)))
        case .getEphemerals: return .read(.getEphemerals(try r.read(PathRecord.self)))
        case .whoAmI: return .read(.whoAmI)
        case .multiRead:
            let ops = try MultiOp.decode(from: &r, opsMax: limits.multiOpsMax)
            guard ops.allSatisfy(\.isRead) else { throw JuteError.invalidValue("write op in multiRead") }
            return .read(.multiRead(ops))
        case .setWatches: return .read(.setWatches(try r.read(SetWatches.self)))
        case .setWatches2: return .read(.setWatches(try SetWatches.decodeVersion2(from: &r)))
        case .addWatch:
            let request = try r.read(PathTypeRequest.self)
            guard AddWatchMode(rawValue: request.type) != nil else { throw JuteError.invalidValue("watch mode") }
            return .read(.addWatch(request))
        case .checkWatches, .removeWatches:
            let request = try r.read(PathTypeRequest.self)
            guard WatcherType(rawValue: request.type) != nil else { throw JuteError.invalidValue("watcher type") }
            return .read(op == .checkWatches ? .checkWatches(request) : .removeWatches(request))
        case .ping: return .read(.ping)
        case .deleteContainer:
            // Apache reads the path from the whole packet, header included, so the path always
            // contains NUL and fails validation.
            return .write(.rejected(op, .badArguments))
        case .createSession:
            return .write(.rejected(op, .marshallingError))
        case .notification, .auth, .sasl, .error:
            return nil
        }
    }
}
