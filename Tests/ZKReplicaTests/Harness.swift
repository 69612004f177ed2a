import Testing
@testable import ZKCore
@testable import ZKProtocol
@testable import ZKDataTree
@testable import ZKReplica

/// A reply frame after the handshake: header and the undecoded body.
struct Reply {
    var header: ReplyHeader
    var body: [UInt8]

    var xid: Int32 { header.xid }
    var zxid: Int64 { header.zxid }
    var err: ErrorCode? { ErrorCode(rawValue: header.err) }

    func decode<T: JuteRecord>(_: T.Type) throws -> T { try T(bytes: body) }
    private func reader() -> JuteReader { JuteReader(body) }

    var path: String? { var r = reader(); return try? r.readString() }
    var stat: Stat? { try? Stat(bytes: body) }
    var pathAndStat: (String, Stat)? {
        var r = reader()
        guard let p = try? r.readString(), let s = try? Stat(from: &r) else { return nil }
        return (p, s)
    }
    var dataAndStat: ([UInt8]?, Stat)? {
        var r = reader()
        guard let d = try? r.readBuffer(), let s = try? Stat(from: &r) else {
            var r2 = reader()
            // null data
            guard (try? r2.readInt()) == -1, let s = try? Stat(from: &r2) else { return nil }
            return (nil, s)
        }
        return (d, s)
    }
    var children: [String]? { var r = reader(); return (try? r.readStringVector()) ?? nil }
    var aclAndStat: ([ACL], Stat)? {
        var r = reader()
        guard let a = (try? r.readVector(ACL.self)) ?? nil, let s = try? Stat(from: &r) else { return nil }
        return (a, s)
    }
    var int: Int32? { var r = reader(); return try? r.readInt() }
    var multi: [MultiResult]? { var r = reader(); return try? MultiResult.decode(from: &r) }
}

/// What a connection received, decoded.
enum Message {
    case connectResponse(ConnectResponse)
    case reply(Reply)
    case notification(WatcherEvent)
    case text(String)
    case close

    var reply: Reply? { if case .reply(let r) = self { return r } else { return nil } }
    var notification: WatcherEvent? { if case .notification(let e) = self { return e } else { return nil } }
    var isClose: Bool { if case .close = self { return true } else { return false } }
}

/// Drives a `Replica` like a shell would, with a fake clock and a fake log whose syncs the test
/// controls. Frames are built with ZKProtocol's encoders and the replica's sends are decoded back.
final class Harness {
    var clock = Clock(monotonicMs: 10_000, wallMs: 1_700_000_000_000)
    let replica: Replica
    private var nextConnection: UInt64 = 1
    private var nextXid: [ConnectionID: Int32] = [:]
    private var handshaken: Set<ConnectionID> = []
    private var textConnections: Set<ConnectionID> = []
    /// Every txn the replica asked to append, in order.
    private(set) var logEntries: [TxnEntry] = []
    private(set) var syncedThrough: Int64 = 0
    /// Every effect but log lines, in order.
    private(set) var effects: [ReplicaEffect] = []
    private var inbox: [ConnectionID: [Message]] = [:]

    init(tree: DataTree? = nil, _ configure: (inout ReplicaConfig) -> Void = { _ in }) {
        var config = ReplicaConfig()
        configure(&config)
        replica = Replica(config: config, tree: tree, now: clock)
    }

    // MARK: Inputs

    func handle(_ input: ReplicaInput) {
        replica.handle(input, now: clock)
        for effect in replica.takeEffects() {
            switch effect {
            case .log: continue
            case .persist(.append(_, let record)):
                let entry = try! TxnEntry.decode(record)
                if let last = logEntries.last.map({ Zxid($0.zxid) }) {
                    let expected = last.isCounterExhausted ? last.firstOfNextEpoch() : last.next()
                    #expect(Zxid(entry.zxid) == expected, "zxids are proposed in order")
                }
                logEntries.append(entry)
            case .persist: continue
            case .send(let c, let bytes): receive(bytes, on: c)
            case .close(let c): inbox[c, default: []].append(.close)
            case .peer(let output): Issue.record("a standalone replica asked for ensemble work: \(output)")
            }
            effects.append(effect)
        }
    }

    func advance(ms: Int64) {
        clock.monotonicMs += ms
        clock.wallMs += ms
    }

    func tick() { handle(.tick) }

    /// Txns appended and not yet reported durable.
    var unsynced: [TxnEntry] { logEntries.filter { $0.zxid > syncedThrough } }

    /// Reports the whole log durable.
    func sync() {
        guard let last = logEntries.last, last.zxid > syncedThrough else { return }
        sync(through: last.zxid)
    }

    func sync(through zxid: Int64) {
        syncedThrough = max(syncedThrough, zxid)
        handle(.logSynced(through: Zxid(zxid)))
    }

    func open(ip: String = "127.0.0.1", port: Int = 40000) -> ConnectionID {
        let id = ConnectionID(nextConnection)
        nextConnection += 1
        handle(.connected(id, RemoteAddress(ip: ip, port: port + Int(id.rawValue))))
        return id
    }

    func disconnect(_ c: ConnectionID) { handle(.disconnected(c)) }

    func sendFrame(_ c: ConnectionID, _ payload: [UInt8]) { handle(.frame(c, payload)) }

    func sendConnect(_ c: ConnectionID, _ request: ConnectRequest) {
        sendFrame(c, request.serialized())
    }

    /// Opens a connection and establishes a new session (syncing the createSession txn).
    @discardableResult
    func connect(timeoutMs: Int32 = 30_000, ip: String = "127.0.0.1", readOnly: Bool? = false) -> (ConnectionID, SessionID) {
        let c = open(ip: ip)
        sendConnect(c, ConnectRequest(timeOut: timeoutMs, readOnly: readOnly))
        sync()
        let response = takeConnectResponse(c)
        #expect(response != nil, "no ConnectResponse")
        return (c, SessionID(response?.sessionId ?? 0))
    }

    func fourLetterWord(_ c: ConnectionID, _ word: FourLetterWord, argument: Int64? = nil) -> String {
        textConnections.insert(c)
        handle(.fourLetterWord(c, word, argument: argument, host: HostSnapshot()))
        return take(c).compactMap { if case .text(let t) = $0 { return t } else { return nil } }.joined()
    }

    func xid(for c: ConnectionID) -> Int32 {
        let x = nextXid[c, default: 1]
        nextXid[c] = x + 1
        return x
    }

    /// Sends `RequestHeader(xid, op)` + body; returns the xid used.
    @discardableResult
    func send(_ c: ConnectionID, _ op: OpCode, body: [UInt8] = [], xid: Int32? = nil) -> Int32 {
        let x = xid ?? self.xid(for: c)
        sendFrame(c, RequestHeader(xid: x, type: op.rawValue).serialized() + body)
        return x
    }

    @discardableResult
    func send<R: JuteRecord>(_ c: ConnectionID, _ op: OpCode, _ record: R, xid: Int32? = nil) -> Int32 {
        send(c, op, body: record.serialized(), xid: xid)
    }

    /// Sends a request, syncs the log, and returns its reply (other messages stay in the inbox).
    func request<R: JuteRecord>(_ c: ConnectionID, _ op: OpCode, _ record: R) -> Reply {
        finish(c, xid: send(c, op, record))
    }

    func request(_ c: ConnectionID, _ op: OpCode, body: [UInt8] = [], xid: Int32? = nil) -> Reply {
        finish(c, xid: send(c, op, body: body, xid: xid))
    }

    private func finish(_ c: ConnectionID, xid: Int32) -> Reply {
        sync()
        guard let i = inbox[c, default: []].firstIndex(where: { $0.reply?.xid == xid }) else {
            Issue.record("no reply for xid \(xid) on \(c); inbox: \(inbox[c, default: []])")
            return Reply(header: ReplyHeader(xid: xid, zxid: 0, err: Int32.min), body: [])
        }
        return inbox[c]!.remove(at: i).reply!
    }

    // MARK: Convenience requests

    func create(_ c: ConnectionID, _ path: String, data: [UInt8]? = [], acl: [ACL] = ACL.openACLUnsafe,
                mode: CreateMode = .persistent, op: OpCode = .create) -> Reply {
        request(c, op, CreateRequest(path: path, data: data, acl: acl, flags: mode.rawValue))
    }

    func getData(_ c: ConnectionID, _ path: String, watch: Bool = false) -> Reply {
        request(c, .getData, PathWatchRequest(path: path, watch: watch))
    }

    func exists(_ c: ConnectionID, _ path: String, watch: Bool = false) -> Reply {
        request(c, .exists, PathWatchRequest(path: path, watch: watch))
    }

    func getChildren(_ c: ConnectionID, _ path: String, watch: Bool = false) -> Reply {
        request(c, .getChildren, PathWatchRequest(path: path, watch: watch))
    }

    func setData(_ c: ConnectionID, _ path: String, _ data: [UInt8]?, version: Int32 = -1) -> Reply {
        request(c, .setData, SetDataRequest(path: path, data: data, version: version))
    }

    func delete(_ c: ConnectionID, _ path: String, version: Int32 = -1) -> Reply {
        request(c, .delete, PathVersionRequest(path: path, version: version))
    }

    func addAuth(_ c: ConnectionID, scheme: String, _ auth: String) -> Reply {
        request(c, .auth, body: AuthPacket(scheme: scheme, auth: Array(auth.utf8)).serialized(), xid: SpecialXid.auth)
    }

    // MARK: Outputs

    private func receive(_ bytes: [UInt8], on c: ConnectionID) {
        if textConnections.contains(c) {
            inbox[c, default: []].append(.text(String(decoding: bytes, as: UTF8.self)))
            return
        }
        var offset = 0
        while offset < bytes.count {
            guard bytes.count - offset >= 4 else { Issue.record("partial length prefix"); return }
            var r = JuteReader(Array(bytes[offset..<offset + 4]))
            let length = Int(try! r.readInt())
            guard length >= 0, offset + 4 + length <= bytes.count else { Issue.record("bad frame length \(length)"); return }
            let payload = Array(bytes[(offset + 4)..<(offset + 4 + length)])
            offset += 4 + length
            inbox[c, default: []].append(decodeFrame(payload, on: c))
        }
    }

    private func decodeFrame(_ payload: [UInt8], on c: ConnectionID) -> Message {
        if !handshaken.contains(c) {
            handshaken.insert(c)
            do { return .connectResponse(try ConnectResponse(bytes: payload)) } catch {
                Issue.record("undecodable ConnectResponse \(payload)")
                return .text("")
            }
        }
        var r = JuteReader(payload)
        guard let header = try? ReplyHeader(from: &r) else {
            Issue.record("undecodable reply header \(payload)")
            return .text("")
        }
        if header.xid == SpecialXid.notification {
            #expect(header.zxid == -1)
            #expect(header.err == 0)
            guard let event = try? WatcherEvent(from: &r) else {
                Issue.record("undecodable WatcherEvent")
                return .text("")
            }
            #expect(r.isAtEnd)
            return .notification(event)
        }
        return .reply(Reply(header: header, body: r.readRest()))
    }

    /// Everything the connection received since the last take.
    func take(_ c: ConnectionID) -> [Message] {
        defer { inbox[c] = [] }
        return inbox[c, default: []]
    }

    func peek(_ c: ConnectionID) -> [Message] { inbox[c, default: []] }

    /// The notifications received (and drops everything else received).
    func notifications(_ c: ConnectionID) -> [WatcherEvent] { take(c).compactMap(\.notification) }

    func takeConnectResponse(_ c: ConnectionID) -> ConnectResponse? {
        guard let i = inbox[c, default: []].firstIndex(where: { if case .connectResponse = $0 { return true } else { return false } })
        else { return nil }
        guard case .connectResponse(let r) = inbox[c]!.remove(at: i) else { return nil }
        return r
    }

    func isClosed(_ c: ConnectionID) -> Bool { effects.contains { if case .close(c) = $0 { return true } else { return false } } }
}

extension WatcherEvent {
    static func event(_ type: EventType, _ path: String) -> WatcherEvent { WatcherEvent(type: type, path: path) }
}

let bobDigest = zookeeperDigest(user: "bob", password: "secret")

/// "00 0a ff" → [0x00, 0x0a, 0xff]; spaces are ignored.
func bytes(_ hex: String) -> [UInt8] {
    let digits = Array(hex.filter { !$0.isWhitespace })
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
}
