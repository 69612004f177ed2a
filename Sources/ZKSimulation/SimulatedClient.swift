/// A ZooKeeper client as the simulator runs it: it speaks the real wire format to the replica
/// (ConnectRequest, request headers and records in; length-prefixed reply frames out), pipelines
/// writes, and keeps its own model of what the server acknowledged, which the checkers compare with
/// what a recovered server holds.
///
/// Each client writes only its own nodes (`/c<id>-<n>`), so its model of them is exact: a node it
/// was told was created (and not told was deleted) must exist with the data it wrote, unless a
/// request on it was unanswered when the server lost power (that one may or may not have landed).
import ZKCore
import ZKProtocol
import ZKDataTree

final class SimulatedClient {
    enum Write: Equatable {
        case create(path: String, data: [UInt8])
        case setData(path: String, data: [UInt8])
        case delete(path: String)
        /// An ephemeral `/e<id>-<n>`, outside the model (it lives as long as the session); the
        /// ensemble simulator checks that no ephemeral outlives its session.
        case createEphemeral(path: String)
        /// `sync`, then a read of a settled node of client `owner`'s: it must see the value of that
        /// client's write number `index` to the node (acknowledged before the sync was sent) or of a
        /// later one, whichever server answers.
        case sync(path: String)
        case read(path: String, owner: Int, index: Int)

        var path: String {
            switch self {
            case .create(let path, _), .setData(let path, _), .delete(let path), .createEphemeral(let path), .sync(let path),
                 .read(let path, _, _):
                return path
            }
        }

        /// Whether the request changes the tree (its fate is unknown if the connection drops).
        var isWrite: Bool {
            switch self {
            case .create, .setData, .delete, .createEphemeral: return true
            case .sync, .read: return false
            }
        }
    }

    enum State: Equatable {
        /// No connection.
        case disconnected
        /// ConnectRequest sent, waiting for the ConnectResponse.
        case connecting(ConnectionID)
        case connected(ConnectionID)
    }

    let id: Int
    let timeoutMs: Int32
    /// Whether the workload includes ephemerals (one write in ten).
    var createsEphemerals = false
    /// Every value this client asked to write to each of its nodes, in order (nil: a delete).
    private(set) var issued: [String: [[UInt8]?]] = [:]
    /// Judges a read after sync: (owner, path, index, value seen or nil) → a violation, if any.
    var readValidator: ((Int, String, Int, [UInt8]?) -> String?)?
    private(set) var state = State.disconnected
    /// The session and its password, once a ConnectResponse gave them.
    private(set) var session: SessionID?
    private var password: [UInt8] = Array(repeating: 0, count: 16)
    private var nextXid: Int32 = 1
    private var nextNode = 0
    /// Requests sent on the current connection and not answered, in order.
    private(set) var inFlight: [(xid: Int32, write: Write)] = []
    /// Paths whose fate is unknown: a write on them was unanswered when its connection died.
    private(set) var uncertain: Set<String> = []
    /// The model: path → data, for every node the server acknowledged creating and did not
    /// acknowledge deleting.
    private(set) var acknowledged: [String: [UInt8]] = [:]
    /// The largest zxid a reply carried: a server must never answer with less, nor lose a txn
    /// at or below it.
    private(set) var lastZxidSeen = Zxid.zero
    private(set) var writesAcknowledged = 0
    /// Why the client saw something a correct server never does.
    private(set) var violations: [String] = []

    init(id: Int, timeoutMs: Int32) {
        self.id = id
        self.timeoutMs = timeoutMs
    }

    var connection: ConnectionID? {
        switch state {
        case .disconnected: return nil
        case .connecting(let c), .connected(let c): return c
        }
    }

    // MARK: Requests

    /// The ConnectRequest for a new connection: resumes the session if there is one.
    func connect(_ connection: ConnectionID) -> [UInt8] {
        precondition(state == .disconnected)
        state = .connecting(connection)
        return ConnectRequest(lastZxidSeen: lastZxidSeen.rawValue, timeOut: timeoutMs, sessionId: session?.rawValue ?? 0,
                              passwd: password, readOnly: false).serialized()
    }

    /// The next write of the workload, chosen by `random`; nil if there is nothing to do.
    func nextWrite<R: RandomNumberGenerator>(_ random: inout R) -> [UInt8]? {
        guard case .connected = state else { return nil }
        let busy = Set(inFlight.map(\.write.path))
        let settled = acknowledged.keys.filter { !busy.contains($0) && !uncertain.contains($0) }.sorted()
        let write: Write
        let roll = Int.random(in: 0..<10, using: &random)
        if createsEphemerals && roll == 9 {
            nextNode += 1
            write = .createEphemeral(path: "/e\(id)-\(nextNode)")
        } else if settled.isEmpty || roll < 5 {
            nextNode += 1
            write = .create(path: "/c\(id)-\(nextNode)", data: Array("\(id):\(nextNode)".utf8))
        } else if roll < 8 {
            let path = settled.randomElement(using: &random)!
            write = .setData(path: path, data: Array("\(id):\(nextXid)".utf8))
        } else {
            write = .delete(path: settled.randomElement(using: &random)!)
        }
        return request(write)
    }

    private func encode(_ write: Write, xid: Int32) -> [UInt8] {
        switch write {
        case .create(let path, let data):
            return RequestHeader(xid: xid, type: OpCode.create.rawValue).serialized()
                + CreateRequest(path: path, data: data, acl: ACL.openACLUnsafe, flags: 0).serialized()
        case .setData(let path, let data):
            return RequestHeader(xid: xid, type: OpCode.setData.rawValue).serialized()
                + SetDataRequest(path: path, data: data, version: -1).serialized()
        case .delete(let path):
            return RequestHeader(xid: xid, type: OpCode.delete.rawValue).serialized()
                + PathVersionRequest(path: path, version: -1).serialized()
        case .createEphemeral(let path):
            return RequestHeader(xid: xid, type: OpCode.create.rawValue).serialized()
                + CreateRequest(path: path, data: [], acl: ACL.openACLUnsafe, flags: 1).serialized()
        case .sync(let path):
            return RequestHeader(xid: xid, type: OpCode.sync.rawValue).serialized() + PathRecord(path: path).serialized()
        case .read(let path, _, _):
            return RequestHeader(xid: xid, type: OpCode.getData.rawValue).serialized()
                + PathWatchRequest(path: path, watch: false).serialized()
        }
    }

    /// A node of this client's whose last write is acknowledged and none is in flight, with the
    /// index of that write in `issued`.
    func settledNode<R: RandomNumberGenerator>(_ random: inout R) -> (path: String, index: Int)? {
        let busy = Set(inFlight.map(\.write.path))
        let settled = acknowledged.keys.filter { !busy.contains($0) && !uncertain.contains($0) }.sorted()
        guard let path = settled.randomElement(using: &random), let writes = issued[path] else { return nil }
        return (path, writes.count - 1)
    }

    /// A `sync`, then a read of `owner`'s settled node (two frames, pipelined); nil if there is none.
    func nextSyncedRead<R: RandomNumberGenerator>(of owner: SimulatedClient, _ random: inout R) -> [[UInt8]]? {
        guard case .connected = state, let (path, index) = owner.settledNode(&random) else { return nil }
        return [request(.sync(path: path)), request(.read(path: path, owner: owner.id, index: index))]
    }

    private func request(_ write: Write) -> [UInt8] {
        let xid = nextXid
        nextXid += 1
        inFlight.append((xid, write))
        switch write {
        case .create(let path, let data), .setData(let path, let data): issued[path, default: []].append(data)
        case .delete(let path): issued[path, default: []].append(nil)
        case .createEphemeral, .sync, .read: break
        }
        return encode(write, xid: xid)
    }

    // MARK: Replies

    /// Bytes the replica sent on this client's connection: one or more length-prefixed frames.
    func receive(_ bytes: [UInt8]) {
        var offset = 0
        while offset + 4 <= bytes.count {
            var r = JuteReader(Array(bytes[offset..<offset + 4]))
            guard let length = try? Int(r.readInt()), length >= 0, offset + 4 + length <= bytes.count else {
                violations.append("client \(id): malformed frame")
                return
            }
            frame(Array(bytes[(offset + 4)..<(offset + 4 + length)]))
            offset += 4 + length
        }
        if offset != bytes.count { violations.append("client \(id): partial frame") }
    }

    private func frame(_ payload: [UInt8]) {
        if case .connecting(let c) = state {
            guard let response = try? ConnectResponse(bytes: payload) else {
                violations.append("client \(id): undecodable ConnectResponse")
                return
            }
            if response.sessionId == 0 {
                // The session is gone (expired or closed): start a new one on the next connection.
                sessionLost = session
                session = nil
                password = Array(repeating: 0, count: 16)
            } else {
                if let session, session.rawValue != response.sessionId {
                    violations.append("client \(id): resumed session 0x\(session.hex) but got 0x\(SessionID(response.sessionId).hex)")
                }
                session = SessionID(response.sessionId)
                password = response.passwd
                state = .connected(c)
            }
            return
        }
        var r = JuteReader(payload)
        guard let header = try? ReplyHeader(from: &r) else {
            violations.append("client \(id): undecodable reply header")
            return
        }
        if header.xid == SpecialXid.notification || header.xid == SpecialXid.ping { return }
        if Zxid(header.zxid) < lastZxidSeen {
            violations.append("client \(id): reply zxid 0x\(Zxid(header.zxid).hex) after having seen 0x\(lastZxidSeen.hex)")
        }
        lastZxidSeen = max(lastZxidSeen, Zxid(header.zxid))
        guard let first = inFlight.first else {
            violations.append("client \(id): reply xid \(header.xid) with nothing in flight")
            return
        }
        guard first.xid == header.xid else {
            violations.append("client \(id): reply xid \(header.xid), expected \(first.xid) (replies out of order)")
            return
        }
        inFlight.removeFirst()
        let err = ErrorCode(rawValue: header.err) ?? .systemError
        // The node is this client's alone, so the expected outcome is known.
        switch (first.write, err) {
        case (.create(let path, let data), .ok):
            acknowledged[path] = data
        case (.setData(let path, let data), .ok):
            acknowledged[path] = data
        case (.delete(let path), .ok):
            acknowledged[path] = nil
        case (.createEphemeral, .ok):
            writesAcknowledged += 1
            return
        case (.sync, .ok):
            return
        case (.read(let path, let owner, let index), .ok):
            let data = ((try? r.readBuffer()) ?? nil) ?? []
            if let violation = readValidator?(owner, path, index, data) { violations.append("client \(id): \(violation)") }
            return
        case (.read(let path, let owner, let index), .noNode):
            if let violation = readValidator?(owner, path, index, nil) { violations.append("client \(id): \(violation)") }
            return
        case (.sync, _), (.read, _):
            violations.append("client \(id): \(first.write) failed with \(err)")
            return
        case (let write, .systemError):
            // The log failed. The txn was not durable, but its bytes may have reached the page
            // cache before the failure and survive a restart that is not a power loss: its fate is
            // known only after recovery.
            uncertain.insert(write.path)
            return
        case (let write, _):
            violations.append("client \(id): \(write) failed with \(err) although only this client writes \(write.path)")
            return
        }
        writesAcknowledged += 1
        uncertain.remove(first.write.path)
    }

    /// The session the server said was gone, for the session checker.
    private(set) var sessionLost: SessionID?

    /// The connection is gone (closed by the server, a network drop, or a power loss): writes
    /// still in flight may or may not have happened.
    func disconnected() {
        for (_, write) in inFlight where write.isWrite {
            if case .createEphemeral = write { continue }
            uncertain.insert(write.path)
        }
        inFlight.removeAll()
        state = .disconnected
    }

    /// Every node this client was told it wrote is in `tree` with its data; none it was told it
    /// deleted (or never wrote) is; the ones whose fate was unknown are settled from the tree.
    /// Returns the first violation.
    func check(against tree: DataTree) -> String? {
        for (path, data) in acknowledged.sorted(by: { $0.key < $1.key }) where !uncertain.contains(path) {
            guard let node = tree.node(path) else { return "acknowledged write lost: \(path) of client \(id) is missing" }
            if (node.data ?? []) != data { return "acknowledged write lost: \(path) of client \(id) has old data" }
        }
        let prefix = "c\(id)-"
        for name in tree.node("/")?.children.sorted() ?? [] where name.hasPrefix(prefix) {
            let path = "/" + name
            if acknowledged[path] == nil, !uncertain.contains(path) {
                return "\(path) exists although client \(id) was told it was deleted (or never created it)"
            }
        }
        for path in uncertain.sorted() { settle(path, data: tree.node(path).map { $0.data ?? [] }) }
        return nil
    }

    /// After the checker compared the model with a recovered server: adopt what the server has for
    /// the uncertain paths, so the model is exact again.
    func settle(_ path: String, data: [UInt8]?) {
        acknowledged[path] = data
        uncertain.remove(path)
    }
}
