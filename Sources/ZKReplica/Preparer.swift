/// The prepare stage (`PrepRequestProcessor`): turns a write request into a fully resolved txn.
///
/// Writes are validated against the tree *plus* every txn that is prepared but not yet applied
/// (`PendingChanges`, Apache's outstandingChanges), so pipelined writes see each other. A request
/// that fails validation still becomes a txn, an error txn with the failure code, and takes a zxid,
/// exactly as in Apache ZooKeeper (so the zxids clients observe match).
import ZKCore
import ZKProtocol
import ZKDataTree

/// The prospective state of one path once all prepared txns are applied.
struct ChangeRecord {
    /// The txn that made this record; nil for a record read from the tree.
    var zxid: Zxid?
    var path: String
    /// nil: the node will not exist.
    var stat: StatPersisted?
    var childCount: Int
    var acl: [ACL]
}

struct PendingChanges {
    private(set) var records: [ChangeRecord] = []
    private(set) var byPath: [PathKey: ChangeRecord] = [:]

    /// Drops the records of txns up to `zxid` once they are applied to the tree.
    mutating func add(_ record: ChangeRecord) {
        invariant(record.zxid != nil, "a pending change without its txn")
        // Read the field in place: `records.last` would copy the whole record (path, ACL) per add.
        invariant(records.isEmpty || records[records.count - 1].zxid! <= record.zxid!, "pending changes out of zxid order")
        records.append(record)
        byPath[PathKey(record.path)] = record
    }

    mutating func applied(through zxid: Zxid) {
        var dropped = 0
        while dropped < records.count, let recordZxid = records[dropped].zxid, recordZxid <= zxid {
            let key = PathKey(records[dropped].path)
            if byPath[key]?.zxid == recordZxid { byPath[key] = nil }
            dropped += 1
        }
        if dropped > 0 { records.removeFirst(dropped) }
    }

    var isEmpty: Bool { records.isEmpty }
}

struct PrepareContext {
    let tree: DataTree
    let session: SessionID
    let authInfo: [Id]
    let zxid: Zxid
    let time: Int64
    let extendedTypesEnabled: Bool
    let skipACL: Bool
    let reconfigEnabled: Bool
}

struct Preparer {
    var pending = PendingChanges()

    /// Builds the txn entry for a write request.
    mutating func prepare(_ request: WriteRequest, cxid: Int32, context c: PrepareContext) -> TxnEntry {
        var type = request.opCode
        let txn: Txn
        do {
            txn = try prepareTxn(request, context: c)
        } catch {
            type = .error
            txn = .error(error)
        }
        let header = TxnHeader(clientId: c.session.rawValue, cxid: cxid, zxid: c.zxid.rawValue, time: c.time, type: type.rawValue)
        return TxnEntry(header: header, txn: txn)
    }

    /// createSession: registers nothing in the tree; the txn carries the negotiated timeout.
    func prepareCreateSession(_ session: SessionID, timeoutMs: Int32, zxid: Zxid, time: Int64) -> TxnEntry {
        let header = TxnHeader(clientId: session.rawValue, cxid: 0, zxid: zxid.rawValue, time: time, type: OpCode.createSession.rawValue)
        return TxnEntry(header: header, txn: .createSession(timeOutMs: timeoutMs))
    }

    /// closeSession: lists the session's ephemerals, including ones created or deleted by txns still
    /// in flight, and records their deletion.
    mutating func prepareCloseSession(_ session: SessionID, cxid: Int32, tree: DataTree, zxid: Zxid, time: Int64) -> TxnEntry {
        var paths = tree.ephemerals(of: session)
        for record in pending.records {
            if record.stat == nil {
                paths.remove(record.path)
            } else if record.stat?.ephemeralOwner == session.rawValue {
                paths.insert(record.path)
            }
        }
        let ordered = Array(paths)
        for path in ordered {
            if let parentPath = PathUtils.parent(of: path), var parent = try? record(parentPath, tree) {
                parent.zxid = zxid
                parent.stat?.pzxid = zxid.rawValue
                parent.childCount -= 1
                pending.add(parent)
            }
            pending.add(ChangeRecord(zxid: zxid, path: path, stat: nil, childCount: 0, acl: []))
        }
        let header = TxnHeader(clientId: session.rawValue, cxid: cxid, zxid: zxid.rawValue, time: time, type: OpCode.closeSession.rawValue)
        return TxnEntry(header: header, txn: .closeSession(ephemeralPaths: ordered))
    }

    private mutating func prepareTxn(_ request: WriteRequest, context c: PrepareContext) throws(ErrorCode) -> Txn {
        switch request {
        // The ops a multi may hold are prepared exactly as inside one.
        case .create(let op, let r): return try prepareMultiOp(.create(op, r), c)
        case .createTTL(let r): return try prepareMultiOp(.createTTL(r), c)
        case .delete(let r): return try prepareMultiOp(.delete(r), c)
        case .setData(let r): return try prepareMultiOp(.setData(r), c)
        case .check(let r): return try prepareMultiOp(.check(r), c)
        case .setACL(let r): return try prepareSetACL(r, c)
        case .multi(let ops): return prepareMulti(ops, c)
        case .reconfig:
            // Dynamic reconfiguration is not supported yet: Apache answers RECONFIGDISABLED unless
            // `reconfigEnabled`, and UNIMPLEMENTED on a standalone server.
            throw c.reconfigEnabled ? .unimplemented : .reconfigDisabled
        case .closeSession:
            // A closeSession is prepared by `prepareCloseSession`, which lists the ephemerals.
            preconditionFailure("closeSession prepared as a plain write")
        case .rejected(_, let code): throw code
        }
    }

    // MARK: Records

    private func record(_ path: String, _ tree: DataTree) throws(ErrorCode) -> ChangeRecord {
        if let r = pending.byPath[PathKey(path)] {
            guard r.stat != nil else { throw .noNode }
            return r
        }
        guard let n = tree.node(path) else { throw .noNode }
        return ChangeRecord(zxid: nil, path: path, stat: n.stat, childCount: n.children.count, acl: n.acl)
    }

    private func checkACL(_ record: ChangeRecord, _ perm: Permissions, _ c: PrepareContext) throws(ErrorCode) {
        if let err = Authentication.check(record.acl, perm: perm, authInfo: c.authInfo, skipACL: c.skipACL) { throw err }
    }

    private static func checkAndIncrementVersion(current: Int32, expected: Int32) throws(ErrorCode) -> Int32 {
        if expected != -1 && expected != current { throw .badVersion }
        return current &+ 1
    }

    /// `substring(0, lastIndexOf('/'))`, rejecting paths without "/" or with NUL.
    private static func parentForCreate(_ path: String) throws(ErrorCode) -> String {
        guard !path.utf8.contains(0), let parent = PathUtils.parent(of: path) else { throw .badArguments }
        return parent
    }

    // MARK: Operations

    private mutating func prepareCreate(_ op: OpCode, path requested: String, data: [UInt8]?, acl: [ACL], flags: Int32,
                                        ttl: Int64, _ c: PrepareContext) throws(ErrorCode) -> Txn {
        guard let mode = CreateMode(rawValue: flags) else { throw .badArguments }
        if mode.isTTL && !c.extendedTypesEnabled { throw .unimplemented }
        if mode.isTTL ? (ttl <= 0 || ttl > EphemeralOwner.ttlMax) : ttl >= 0 { throw .badArguments }
        // The txn type, not the flags, decides whether a node is a container or a TTL node (as in
        // Apache). A createTTL whose flags are not a TTL mode would make a node with no valid TTL.
        if op == .createTTL && !mode.isTTL { throw .badArguments }
        let parentPath = try Preparer.parentForCreate(requested)
        let fixedACL: [ACL]
        switch Authentication.fixup(acl, authInfo: c.authInfo) {
        case .success(let a): fixedACL = a
        case .failure(let e): throw e
        }
        var parent = try record(parentPath, c.tree)
        try checkACL(parent, .create, c)
        guard var parentStat = parent.stat else { throw .noNode }
        var path = requested
        if mode.isSequential { path += Preparer.sequenceSuffix(parentStat.cversion) }
        guard PathUtils.isValid(path) else { throw .badArguments }
        if (try? record(path, c.tree)) != nil { throw .nodeExists }
        if NodeKind(ephemeralOwner: parentStat.ephemeralOwner, extendedTypesEnabled: c.extendedTypesEnabled) == .ephemeral {
            throw .noChildrenForEphemerals
        }
        let newCVersion = parentStat.cversion &+ 1
        let owner: Int64 = op == .createContainer ? EphemeralOwner.container
            : op == .createTTL ? EphemeralOwner.ttl(ttl) : mode.isEphemeral ? c.session.rawValue : 0
        parentStat.cversion = newCVersion
        parentStat.pzxid = c.zxid.rawValue
        parent.stat = parentStat
        parent.childCount += 1
        parent.zxid = c.zxid
        pending.add(parent)
        var stat = StatPersisted()
        stat.czxid = c.zxid.rawValue; stat.mzxid = c.zxid.rawValue; stat.pzxid = c.zxid.rawValue
        stat.ctime = c.time; stat.mtime = c.time
        stat.ephemeralOwner = owner
        pending.add(ChangeRecord(zxid: c.zxid, path: path, stat: stat, childCount: 0, acl: fixedACL))
        // The op is one of the four creates (`WriteRequest` decides which requests get here).
        if op == .createContainer { return .createContainer(path: path, data: data, acl: fixedACL, parentCVersion: newCVersion) }
        if op == .createTTL { return .createTTL(path: path, data: data, acl: fixedACL, parentCVersion: newCVersion, ttl: ttl) }
        return .create(path: path, data: data, acl: fixedACL, ephemeral: mode.isEphemeral, parentCVersion: newCVersion)
    }

    /// Java's `String.format("%010d", n)`.
    static func sequenceSuffix(_ n: Int32) -> String {
        let digits = String(n.magnitude)
        let sign = n < 0 ? "-" : ""
        let width = 10 - sign.count
        return sign + String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    private mutating func prepareDelete(_ r: PathVersionRequest, _ c: PrepareContext) throws(ErrorCode) -> Txn {
        let parentPath = try Preparer.parentForCreate(r.path)
        if DataTree.isSpecialPath(r.path) { throw .badArguments }
        var parent = try record(parentPath, c.tree)
        try checkACL(parent, .delete, c)
        let node = try record(r.path, c.tree)
        _ = try Preparer.checkAndIncrementVersion(current: node.stat?.version ?? 0, expected: r.version)
        if node.childCount > 0 { throw .notEmpty }
        parent.zxid = c.zxid
        parent.childCount -= 1
        parent.stat?.pzxid = c.zxid.rawValue
        pending.add(parent)
        pending.add(ChangeRecord(zxid: c.zxid, path: r.path, stat: nil, childCount: -1, acl: []))
        return .delete(path: r.path)
    }

    /// deleteContainer, issued by the server itself for empty containers and expired TTL nodes.
    mutating func prepareDeleteContainer(_ path: String, tree: DataTree, zxid: Zxid, time: Int64) -> TxnEntry {
        var type = OpCode.deleteContainer
        var txn = Txn.delete(path: path)
        do throws(ErrorCode) {
            let parentPath = try Preparer.parentForCreate(path)
            let node = try record(path, tree)
            if node.childCount > 0 { throw .notEmpty }
            if NodeKind(ephemeralOwner: node.stat?.ephemeralOwner ?? 0, extendedTypesEnabled: tree.extendedTypesEnabled) == .ephemeral {
                throw .badVersion
            }
            var parent = try record(parentPath, tree)
            parent.zxid = zxid
            parent.childCount -= 1
            parent.stat?.pzxid = zxid.rawValue
            pending.add(parent)
            pending.add(ChangeRecord(zxid: zxid, path: path, stat: nil, childCount: -1, acl: []))
        } catch {
            type = .error
            txn = .error(error)
        }
        return TxnEntry(header: TxnHeader(clientId: 0, cxid: 0, zxid: zxid.rawValue, time: time, type: type.rawValue), txn: txn)
    }

    private mutating func prepareSetData(_ r: SetDataRequest, _ c: PrepareContext) throws(ErrorCode) -> Txn {
        guard PathUtils.isValid(r.path) else { throw .badArguments }
        var node = try record(r.path, c.tree)
        try checkACL(node, .write, c)
        guard var stat = node.stat else { throw .noNode }
        let newVersion = try Preparer.checkAndIncrementVersion(current: stat.version, expected: r.version)
        stat.version = newVersion
        stat.mtime = c.time
        stat.mzxid = c.zxid.rawValue
        node.stat = stat
        node.zxid = c.zxid
        pending.add(node)
        return .setData(path: r.path, data: r.data, version: newVersion)
    }

    private mutating func prepareSetACL(_ r: SetACLRequest, _ c: PrepareContext) throws(ErrorCode) -> Txn {
        guard PathUtils.isValid(r.path) else { throw .badArguments }
        let fixedACL: [ACL]
        switch Authentication.fixup(r.acl, authInfo: c.authInfo) {
        case .success(let a): fixedACL = a
        case .failure(let e): throw e
        }
        var node = try record(r.path, c.tree)
        try checkACL(node, .admin, c)
        guard var stat = node.stat else { throw .noNode }
        let newVersion = try Preparer.checkAndIncrementVersion(current: stat.aversion, expected: r.version)
        stat.aversion = newVersion
        node.stat = stat
        node.acl = fixedACL
        node.zxid = c.zxid
        pending.add(node)
        return .setACL(path: r.path, acl: fixedACL, version: newVersion)
    }

    private func prepareCheck(_ r: PathVersionRequest, _ c: PrepareContext) throws(ErrorCode) -> Txn {
        guard PathUtils.isValid(r.path) else { throw .badArguments }
        let node = try record(r.path, c.tree)
        try checkACL(node, .read, c)
        let version = try Preparer.checkAndIncrementVersion(current: node.stat?.version ?? 0, expected: r.version)
        return .checkVersion(path: r.path, version: version)
    }

    /// A multi is atomic: the first failing op turns the rest into RUNTIMEINCONSISTENCY error txns and
    /// rolls back the pending changes of the ops before it.
    private mutating func prepareMulti(_ ops: [MultiOp], _ c: PrepareContext) -> Txn {
        let saved = pending
        var subs: [TypedTxn] = []
        var failed = false
        for op in ops {
            if failed {
                subs.append(TypedTxn(type: .error, txn: .error(.runtimeInconsistency)))
                continue
            }
            do throws(ErrorCode) {
                let txn = try prepareMultiOp(op, c)
                subs.append(TypedTxn(type: op.opCode, txn: txn))
            } catch {
                failed = true
                pending = saved
                subs.append(TypedTxn(type: .error, txn: .error(error)))
            }
        }
        return .multi(subs)
    }

    private mutating func prepareMultiOp(_ op: MultiOp, _ c: PrepareContext) throws(ErrorCode) -> Txn {
        switch op {
        case .create(let code, let r):
            return try prepareCreate(code, path: r.path, data: r.data, acl: r.acl, flags: r.flags, ttl: -1, c)
        case .createTTL(let r):
            return try prepareCreate(.createTTL, path: r.path, data: r.data, acl: r.acl, flags: r.flags, ttl: r.ttl, c)
        case .delete(let r): return try prepareDelete(r, c)
        case .setData(let r): return try prepareSetData(r, c)
        case .check(let r): return try prepareCheck(r, c)
        case .getChildren, .getData:
            // Reads inside a write multi: Apache fails the multi with "Mixing different kind of ops".
            throw .badArguments
        }
    }
}
