/// Building replies (`FinalRequestProcessor`): writes from their apply results, reads from the tree.
import ZKCore
import ZKProtocol
import ZKDataTree

extension Replica {

    func answerWrite(_ request: PendingRequest, _ result: ApplyResult, on connection: Connection) {
        // A multi reports per-op errors in its results, so its header says OK, unless the whole
        // request failed before its ops were prepared (then it is an error txn, not a MultiTxn).
        let wholeRequestFailed = result.type == .error
        let header = ReplyHeader(xid: request.xid, zxid: tree.lastProcessedZxid.rawValue,
                                 err: request.op == .multi && !wholeRequestFailed ? 0 : result.err.rawValue)
        let body: ResponseBody
        switch request.op {
        case .create: body = .path(result.path ?? "")
        case .create2, .createContainer, .createTTL: body = .pathAndStat(result.path ?? "", result.stat ?? Stat())
        case .setData, .setACL, .check: body = .stat(result.stat ?? Stat())
        case .multi: body = wholeRequestFailed ? .none : .multi(result.multi.map(Replica.multiResult))
        case .notification, .delete, .exists, .getData, .getACL, .getChildren, .sync, .ping, .getChildren2,
             .reconfig, .checkWatches, .removeWatches, .deleteContainer, .multiRead, .auth, .setWatches,
             .sasl, .getEphemerals, .getAllChildrenNumber, .setWatches2, .addWatch, .whoAmI, .createSession,
             .closeSession, .error:
            body = .none
        }
        finishReply(request, header, body, lastOp: request.op.shortName, on: connection)
        if request.op == .closeSession { close(connection, reason: "client closed session") }
    }

    private static func multiResult(_ r: ApplyResult) -> MultiResult {
        switch r.type {
        case .check: return .check
        case .create: return .create(path: r.path ?? "")
        case .create2, .createTTL, .createContainer: return .create2(path: r.path ?? "", stat: r.stat ?? Stat())
        case .delete, .deleteContainer: return .delete
        case .setData: return .setData(r.stat ?? Stat())
        case .error: return .error(r.err)
        // An op that cannot be part of a multi (never prepared as one).
        case .notification, .exists, .getData, .getACL, .setACL, .getChildren, .sync, .ping, .getChildren2,
             .multi, .reconfig, .checkWatches, .removeWatches, .multiRead, .auth, .setWatches, .sasl,
             .getEphemerals, .getAllChildrenNumber, .setWatches2, .addWatch, .whoAmI, .createSession,
             .closeSession:
            return .error(r.err == .ok ? .runtimeInconsistency : r.err)
        }
    }

    func answerRead(_ request: ReadRequest, _ pending: PendingRequest, on connection: Connection) {
        var xid = pending.xid
        var body = ResponseBody.none
        var err = ErrorCode.ok
        do throws(ErrorCode) {
            switch request {
            case .ping:
                xid = SpecialXid.ping
            case .setWatches(let r):
                setWatches(r, connection)
            case .exists, .getData, .getChildren, .getChildren2, .getACL, .sync, .getAllChildrenNumber,
                 .getEphemerals, .whoAmI, .multiRead, .addWatch, .checkWatches, .removeWatches, .undecodable:
                body = try read(request, connection)
            }
        } catch {
            err = error
        }
        if err == .ok { measureRead(request, body) }
        finishReply(pending, ReplyHeader(xid: xid, zxid: tree.lastProcessedZxid.rawValue, err: err.rawValue), body,
                    lastOp: pending.op.shortName, on: connection)
    }

    /// `read_per_namespace`: the reads Apache's DataTree counts, with the bytes they answered.
    private func measureRead(_ request: ReadRequest, _ body: ResponseBody) {
        switch request {
        case .getData(let r):
            if case .data(let data, _) = body { metrics.observeRead(path: r.path, bytes: data?.count ?? 0) }
        case .exists(let r):
            metrics.observeRead(path: r.path, bytes: 0)
        case .getChildren(let r), .getChildren2(let r):
            let names: [String]
            if case .strings(let list) = body { names = list } else if case .stringsAndStat(let list, _) = body { names = list } else { return }
            metrics.observeRead(path: r.path, bytes: names.reduce(0) { $0 + $1.utf8.count })
        case .getACL, .sync, .getAllChildrenNumber, .getEphemerals, .whoAmI, .multiRead, .setWatches, .addWatch,
             .checkWatches, .removeWatches, .ping, .undecodable:
            break  // not among the reads Apache's DataTree counts
        }
    }

    private func checkRead(_ node: DataNode, _ perm: Permissions, _ connection: Connection) throws(ErrorCode) {
        if let err = Authentication.check(node.acl, perm: perm, authInfo: connection.authInfo, skipACL: config.skipACL) {
            throw err
        }
    }

    private func existingNode(_ path: String) throws(ErrorCode) -> DataNode {
        guard let node = tree.node(path) else { throw .noNode }
        return node
    }

    private func read(_ request: ReadRequest, _ connection: Connection) throws(ErrorCode) -> ResponseBody {
        switch request {
        case .exists(let r):
            if r.path.utf8.contains(0) { throw .badArguments }
            // Apache 3.8.0 (Debian's reference server) does not check READ on exists; 3.8.4
            // added the check. We match the reference server.
            let node = tree.node(r.path)
            if r.watch { watches.dataWatches.add(r.path, connection.id, .standard) }
            guard let node else { throw .noNode }
            return .stat(tree.clientStat(node))
        case .getData(let r):
            let (data, stat) = try getData(r, connection)
            return .data(data, stat)
        case .getChildren(let r):
            return .strings(try getChildren(r, connection))
        case .getChildren2(let r):
            let children = try getChildren(r, connection)
            return .stringsAndStat(children, tree.clientStat(try existingNode(r.path)))
        case .getACL(let r):
            let node = try existingNode(r.path)
            try checkRead(node, [.read, .admin], connection)
            let stat = tree.clientStat(node)
            if Authentication.check(node.acl, perm: .admin, authInfo: connection.authInfo, skipACL: config.skipACL) == nil {
                return .acl(node.acl, stat)
            }
            return .acl(Authentication.masked(node.acl), stat)
        case .sync(let r):
            return .path(r.path)
        case .getAllChildrenNumber(let r):
            let node = try existingNode(r.path)
            try checkRead(node, .read, connection)
            return .int(Int32(clamping: tree.allChildrenCount(r.path)))
        case .getEphemerals(let r):
            let all = Array(tree.ephemerals(of: connection.session ?? .none))
            let prefix = r.path.trimmingWhitespace
            if prefix.isEmpty || prefix == "/" { return .strings(all) }
            return .strings(all.filter { $0.hasPrefix(r.path) })
        case .whoAmI:
            return .clientInfo(connection.authInfo.map { ClientInfo(authScheme: $0.scheme, user: Authentication.userName($0)) })
        case .multiRead(let ops):
            return .multi(multiRead(ops, connection))
        case .addWatch(let r):
            guard let mode = AddWatchMode(rawValue: r.type) else { throw .badArguments }
            watches.addWatch(r.path, connection.id, mode: mode)
            return .int(0)
        case .checkWatches(let r):
            guard let type = WatcherType(rawValue: r.type) else { throw .badArguments }
            if !watches.contains(r.path, type, connection.id) { throw .noWatcher }
            return .none
        case .removeWatches(let r):
            guard let type = WatcherType(rawValue: r.type) else { throw .badArguments }
            if !watches.remove(r.path, type, connection.id) { throw .noWatcher }
            return .none
        case .undecodable:
            throw .marshallingError
        case .ping, .setWatches:
            // Answered by `answerRead` without a body; listed so the switch stays exhaustive.
            return .none
        }
    }

    private func getData(_ r: PathWatchRequest, _ connection: Connection) throws(ErrorCode) -> ([UInt8]?, Stat) {
        let node = try existingNode(r.path)
        try checkRead(node, .read, connection)
        if r.watch { watches.dataWatches.add(r.path, connection.id, .standard) }
        return (node.data, tree.clientStat(node))
    }

    private func getChildren(_ r: PathWatchRequest, _ connection: Connection) throws(ErrorCode) -> [String] {
        let node = try existingNode(r.path)
        try checkRead(node, .read, connection)
        if r.watch { watches.childWatches.add(r.path, connection.id, .standard) }
        return Array(node.children)
    }

    private func multiRead(_ ops: [MultiOp], _ connection: Connection) -> [MultiResult] {
        ops.map { op in
            do throws(ErrorCode) {
                switch op {
                case .getChildren(let r): return .getChildren(try getChildren(r, connection))
                case .getData(let r):
                    let (data, stat) = try getData(r, connection)
                    return .getData(data, stat)
                case .create, .createTTL, .delete, .setData, .check:
                    // A write inside multiRead: Apache fails the request while decoding it.
                    throw .badArguments
                }
            } catch {
                return .error(error)
            }
        }
    }

    /// `DataTree.setWatches`: re-registers a reconnecting client's watches, firing at once those
    /// whose condition changed after `relativeZxid`.
    private func setWatches(_ r: SetWatches, _ connection: Connection) {
        let id = connection.id
        func notify(_ type: EventType, _ path: String) {
            send(Replica.notificationFrame(WatcherEvent(type: type, path: path)), to: connection)
        }
        for path in r.dataWatches {
            if let node = tree.node(path) {
                if node.stat.mzxid > r.relativeZxid { notify(.nodeDataChanged, path) } else { watches.dataWatches.add(path, id, .standard) }
            } else {
                notify(.nodeDeleted, path)
            }
        }
        for path in r.existWatches {
            if tree.node(path) != nil { notify(.nodeCreated, path) } else { watches.dataWatches.add(path, id, .standard) }
        }
        for path in r.childWatches {
            if let node = tree.node(path) {
                if node.stat.pzxid > r.relativeZxid { notify(.nodeChildrenChanged, path) } else { watches.childWatches.add(path, id, .standard) }
            } else {
                notify(.nodeDeleted, path)
            }
        }
        for path in r.persistentWatches ?? [] { watches.addWatch(path, id, mode: .persistent) }
        for path in r.persistentRecursiveWatches ?? [] { watches.addWatch(path, id, mode: .persistentRecursive) }
    }
}

extension String {
    /// Java's `trim()`: strips code points ≤ U+0020 from both ends.
    var trimmingWhitespace: String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { $0.value > 0x20 }),
              let last = scalars.lastIndex(where: { $0.value > 0x20 }) else { return "" }
        return String(scalars[first...last])
    }
}
