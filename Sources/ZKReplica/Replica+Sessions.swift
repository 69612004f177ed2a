/// Session establishment, resumption, expiry and close; and the server-side deletion of empty
/// containers and expired TTL nodes (`ContainerManager`).
import ZKCore
import ZKProtocol
import ZKDataTree

extension Replica {
    /// `ZooKeeperServer.processConnectRequest`.
    func receiveConnectRequest(_ bytes: [UInt8], on connection: Connection) {
        metrics.count(.connectionRequestCount)
        guard let request = try? ConnectRequest(bytes: bytes, limits: config.limits) else {
            log(.warn, "NIOServerCnxn", "Closing connection to \(connection.remote.javaDescription): malformed connect request")
            close(connection, reason: "malformed connect request")
            return
        }
        guard isServing else {
            log(.info, "NIOServerCnxn", "Closing connection to \(connection.remote.javaDescription): ZooKeeperServer not running")
            close(connection, reason: "ZooKeeperServer not running")
            return
        }
        if request.lastZxidSeen > tree.lastProcessedZxid.rawValue {
            log(.info, "ZooKeeperServer", "Refusing session request for client \(connection.remote.javaDescription) as it has seen zxid 0x\(Zxid(request.lastZxidSeen).hex) our last zxid is 0x\(tree.lastProcessedZxid.hex) client must try another server")
            close(connection, reason: "client has seen a newer zxid")
            return
        }
        connection.sentReadOnlyFlag = request.readOnly != nil
        let timeout = min(max(request.timeOut, config.minSessionTimeoutMs), config.maxSessionTimeoutMs)
        connection.negotiatedTimeoutMs = timeout
        if request.sessionId == 0 {
            createSession(on: connection, timeoutMs: timeout)
        } else {
            resumeSession(SessionID(request.sessionId), password: request.passwd, on: connection)
        }
    }

    private func createSession(on connection: Connection, timeoutMs: Int32) {
        if logFailure != nil {
            close(connection, reason: "the transaction log failed")
            return
        }
        let id = sessions.allocateID()
        connection.session = id
        attached[id] = connection.id
        log(.info, "ZooKeeperServer", "Client attempting to establish new session: session = 0x\(id.hex), zxid = 0x\(tree.lastProcessedZxid.hex), timeout = \(timeoutMs), address = \(connection.remote.javaDescription)")
        connection.pending.append(PendingRequest(xid: 0, op: .createSession, kind: .connect, receivedAtMs: now.monotonicMs))
        outstandingRequests += 1
        if let ensemble, ensemble.isLearner {
            var w = JuteWriter(capacity: 4)
            w.writeInt(timeoutMs)
            forward(session: id, cxid: 0, op: .createSession, record: w.bytes, authInfo: connection.authInfo)
            return
        }
        guard ensemble == nil || leaderCanPropose else {
            close(connection, reason: "the leader cannot propose")
            return
        }
        propose(database.prepareCreateSession(id, timeoutMs: timeoutMs, time: now.wallMs))
    }

    /// Reattaches a connection to a live session after checking its password. On a Zab learner the
    /// leader, which alone expires sessions, is asked first (REVALIDATE): this server's copy of the
    /// session table may not have its closeSession yet.
    private func resumeSession(_ id: SessionID, password: [UInt8], on connection: Connection) {
        log(.info, "ZooKeeperServer", "Client attempting to renew session 0x\(id.hex) at \(connection.remote.javaDescription)")
        guard password == sessionPassword(for: id), sessions.isActive(id) else {
            refuseResumption(id, on: connection)
            return
        }
        if let ensemble, ensemble.isLearner {
            connection.session = id
            connection.pending.append(PendingRequest(xid: 0, op: .createSession, kind: .connect, receivedAtMs: now.monotonicMs))
            outstandingRequests += 1
            ensemble.revalidating[id, default: []].append(connection.id)
            metrics.count(.revalidateCount)
            ensemble.peer.revalidate(id, timeoutMs: connection.negotiatedTimeoutMs, into: &ensemble.effects)
            carryOutPeerEffects()
            return
        }
        attachResumed(id, on: connection)
    }

    /// The leader answered a REVALIDATE: every connection waiting to resume `id` is answered.
    func revalidated(_ id: SessionID, valid: Bool) {
        guard let ensemble, let waiting = ensemble.revalidating.removeValue(forKey: id) else { return }
        for connectionID in waiting {
            guard let connection = connections[connectionID], !connection.isClosing,
                  let head = connection.head, case .connect = head.kind else { continue }
            connection.popHead()
            outstandingRequests -= 1
            connection.session = nil
            if valid && sessions[id] != nil {
                attachResumed(id, on: connection)
                answerReady(connection)
            } else {
                refuseResumption(id, on: connection)
            }
        }
    }

    private func refuseResumption(_ id: SessionID, on connection: Connection) {
        log(.info, "ZooKeeperServer", "Invalid session 0x\(id.hex) for client \(connection.remote.javaDescription), probably expired")
        sendConnectResponse(ConnectResponse(timeOut: 0, sessionId: 0, passwd: Array(repeating: 0, count: 16),
                                            readOnly: connection.sentReadOnlyFlag ? false : nil), to: connection)
        close(connection, reason: "invalid session")
    }

    private func attachResumed(_ id: SessionID, on connection: Connection) {
        if let previous = attached[id], previous != connection.id, let old = connections[previous] {
            close(old, reason: "session 0x\(id.hex) moved to another connection")
        }
        attached[id] = connection.id
        connection.session = id
        sessions.touch(id, nowMs: now.monotonicMs)
        log(.info, "ZooKeeperServer", "Established session 0x\(id.hex) with negotiated timeout \(connection.negotiatedTimeoutMs) for client \(connection.remote.javaDescription)")
        sendConnectResponse(ConnectResponse(timeOut: connection.negotiatedTimeoutMs, sessionId: id.rawValue,
                                            passwd: sessionPassword(for: id),
                                            readOnly: connection.sentReadOnlyFlag ? false : nil), to: connection)
    }

    private func sendConnectResponse(_ response: ConnectResponse, to connection: Connection) {
        send(FrameEncoder.frame { response.encode(to: &$0) }, to: connection)
    }

    /// The createSession txn of this connection committed: answer its ConnectRequest.
    func finishSessionCreation(_ connection: Connection) {
        guard let head = connection.head, case .connect = head.kind, let id = connection.session else {
            invariant(false, "session created for \(connection.id) without a pending connect")
            return
        }
        connection.popHead()
        outstandingRequests -= 1
        invariant(attached[id] == connection.id, "session 0x\(id.hex) created for a connection it is not attached to")
        log(.info, "ZooKeeperServer", "Established session 0x\(id.hex) with negotiated timeout \(connection.negotiatedTimeoutMs) for client \(connection.remote.javaDescription)")
        sendConnectResponse(ConnectResponse(timeOut: connection.negotiatedTimeoutMs, sessionId: id.rawValue,
                                            passwd: sessionPassword(for: id),
                                            readOnly: connection.sentReadOnlyFlag ? false : nil), to: connection)
        connection.stats.lastOp = "SESS"
        answerReady(connection)
    }

    /// The replicated part of sessions, after a createSession or closeSession txn is applied. A
    /// closed session's connection goes too, unless it asked for the close itself (then it is
    /// closed after its reply, see `answerWrite`).
    func applySessionChange(_ change: SessionChange?, otherwiseClose origin: Connection?) {
        switch change {
        case .created(let id, let timeoutMs):
            sessions.add(id, timeoutMs: timeoutMs, nowMs: now.monotonicMs)
        case .closed(let id):
            guard sessions.remove(id) != nil else { return }
            log(.info, "ZooKeeperServer", "Closed session 0x\(id.hex)")
            if let origin { close(origin, reason: "session 0x\(id.hex) closed") }
        case nil:
            break
        }
    }

    /// Proposes a closeSession txn for every session whose timeout has passed.
    func expireSessions() {
        guard logFailure == nil else { return }  // closing a session needs the log
        for id in sessions.expired(nowMs: now.monotonicMs) {
            guard let session = sessions[id] else { continue }
            log(.info, "ZooKeeperServer", "Expiring session 0x\(id.hex), timeout of \(session.timeoutMs)ms exceeded")
            sessions.markClosing(id)
            propose(database.prepareExpiry(id, time: now.wallMs))
        }
    }

    /// A connection that has not sent its ConnectRequest within the longest session timeout is
    /// closed, so idle sockets cannot pile up (Apache expires such connections the same way).
    func expireSessionlessConnections() {
        let deadline = now.monotonicMs - Int64(config.maxSessionTimeoutMs)
        for connection in connections.values.sorted(by: { $0.id < $1.id })
        where connection.session == nil && connection.head == nil && connection.openedAtMs < deadline {
            metrics.count(.sessionlessConnectionsExpired)
            close(connection, reason: "no session established within \(config.maxSessionTimeoutMs) ms")
        }
    }

    /// Deletes empty containers that once had children, and TTL nodes without children whose TTL
    /// has passed since their last modification (`ContainerManager.getCandidates`).
    func checkContainers() {
        guard logFailure == nil, now.monotonicMs - lastContainerCheckMs >= config.containerCheckIntervalMs else { return }
        lastContainerCheckMs = now.monotonicMs
        var candidates: [String] = []
        for path in tree.containers.sorted() {
            if let node = tree.node(path), node.children.isEmpty, node.stat.cversion > 0 { candidates.append(path) }
        }
        for path in tree.ttls.sorted() {
            guard let node = tree.node(path), node.children.isEmpty else { continue }
            let ttl = EphemeralOwner.ttlValue(node.stat.ephemeralOwner)
            if ttl != 0 && now.wallMs - node.stat.mtime > ttl { candidates.append(path) }
        }
        for path in candidates {
            if let entry = database.prepareDeleteContainer(path, time: now.wallMs) { propose(entry) }
        }
    }
}
