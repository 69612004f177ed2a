import Synchronization
import Testing
import ZKCore
import ZKProtocol
@testable import ZKClient

/// Drives a `ClientCore` by hand, with no IO: the test plays the shell (socket connected, frames
/// arrived, time passed) and the server (frames built with ZKProtocol's encoders), and reads back
/// what the core asked for.
struct CoreHarness {
    var core: ClientCore
    var nowMs: Int64 = 0
    /// Frames the core sent, without their length prefix.
    var sent: [[UInt8]] = []
    var completions: [RequestID: Result<Response, ZooKeeperError>] = [:]
    var completionOrder: [RequestID] = []
    var events: [(event: WatchedEvent, watchers: [Watcher?])] = []
    var states: [ClientState] = []
    var connects: [ConnectString.Host] = []
    var disconnects = 0
    /// The core asked to connect and the test has not yet reported the socket up.
    var connectPending = false
    private var nextID: RequestID = 1

    init(_ connectString: String = "127.0.0.1:2181", timeoutMs: Int32 = 30_000, canBeReadOnly: Bool = false,
         seed: UInt64 = 1, sessionID: Int64 = 0, password: [UInt8] = Array(repeating: 0, count: 16)) throws {
        core = ClientCore(connectString: try ConnectString(connectString), timeoutMs: timeoutMs,
                          canBeReadOnly: canBeReadOnly, seed: seed, sessionID: sessionID, password: password)
    }

    @discardableResult
    mutating func handle(_ input: ClientInput) -> [ClientEffect] {
        let effects = core.handle(input, nowMs: nowMs)
        for effect in effects {
            switch effect {
            case .connect(let host):
                connects.append(host)
                connectPending = true
            case .send(let frame):
                var r = JuteReader(frame)
                let length = try! r.readInt()
                precondition(Int(length) == frame.count - 4, "frame length prefix \(length) for \(frame.count) bytes")
                sent.append(Array(frame[4...]))
            case .disconnect:
                disconnects += 1
                connectPending = false
            case .complete(let id, let result):
                precondition(completions[id] == nil, "request \(id) completed twice")
                completions[id] = result
                completionOrder.append(id)
            case .event(let event, let watchers): events.append((event, watchers))
            case .state(let state): states.append(state)
            case .log: break
            }
        }
        return effects
    }

    @discardableResult
    mutating func advance(to ms: Int64) -> [ClientEffect] {
        nowMs = ms
        return handle(.tick)
    }

    /// Submits a request; returns its id.
    @discardableResult
    mutating func submit(_ request: Request) -> RequestID {
        let id = nextID
        nextID += 1
        handle(.submit(id, request))
        return id
    }

    /// Ticks until the core asks to connect (past any reconnect pause), then reports the socket
    /// connected. Returns the ConnectRequest it sent.
    @discardableResult
    mutating func connectSocket() -> ConnectRequest {
        if !connectPending { handle(.tick) }
        if !connectPending {
            nowMs += 1001  // the reconnect pause is at most a second
            handle(.tick)
        }
        precondition(connectPending, "the core did not connect")
        connectPending = false
        let sentBefore = sent.count
        handle(.connected)
        precondition(sent.count == sentBefore + 1, "no ConnectRequest sent")
        return try! ConnectRequest(bytes: sent.last!)
    }

    /// Connects and completes the handshake with the given session.
    @discardableResult
    mutating func open(sessionID: Int64 = 0x1234, password: [UInt8] = Array(1...16), timeoutMs: Int32 = 30_000) -> ConnectRequest {
        let request = connectSocket()
        handle(.frame(CoreHarness.connectResponse(timeoutMs: timeoutMs, sessionID: sessionID, password: password)))
        return request
    }

    /// The server's reply to the request sent as frame `index` (by its xid).
    mutating func reply(toFrame index: Int, zxid: Int64 = 0, error: ErrorCode = .ok, _ body: ResponseBody = .none) {
        let header = try! CoreHarness.requestHeader(sent[index])
        handle(.frame(CoreHarness.reply(xid: header.xid, zxid: zxid, error: error, body)))
    }

    mutating func notify(_ type: EventType, _ path: String) {
        handle(.frame(CoreHarness.notification(type, path)))
    }

    /// The sent frames after `index`, decoded as request headers.
    func headers(from index: Int = 0) -> [RequestHeader] {
        sent[index...].compactMap { try? CoreHarness.requestHeader($0) }
    }

    func error(_ id: RequestID) -> ErrorCode? {
        guard case .failure(let e)? = completions[id] else { return nil }
        return e.code
    }

    func response(_ id: RequestID) -> Response? {
        guard case .success(let r)? = completions[id] else { return nil }
        return r
    }

    /// The last event and whether it goes to the default watcher only.
    var lastEvent: WatchedEvent? { events.last?.event }

    // MARK: Server frames (payloads, without the length prefix)

    static func connectResponse(timeoutMs: Int32, sessionID: Int64, password: [UInt8], readOnly: Bool? = false) -> [UInt8] {
        var w = JuteWriter()
        ConnectResponse(timeOut: timeoutMs, sessionId: sessionID, passwd: password, readOnly: readOnly).encode(to: &w)
        return w.bytes
    }

    static func reply(xid: Int32, zxid: Int64, error: ErrorCode = .ok, _ body: ResponseBody = .none) -> [UInt8] {
        var w = JuteWriter()
        ReplyHeader(xid: xid, zxid: zxid, err: error.rawValue).encode(to: &w)
        if error == .ok { body.encode(to: &w) }
        return w.bytes
    }

    static func notification(_ type: EventType, _ path: String) -> [UInt8] {
        var w = JuteWriter()
        ReplyHeader(xid: SpecialXid.notification, zxid: -1, err: 0).encode(to: &w)
        WatcherEvent(type: type, path: path).encode(to: &w)
        return w.bytes
    }

    static func requestHeader(_ frame: [UInt8]) throws -> RequestHeader {
        var r = JuteReader(frame)
        return try RequestHeader(from: &r)
    }

    /// The record after the request header.
    static func body<T: JuteRecord>(_ frame: [UInt8], as type: T.Type) throws -> T {
        var r = JuteReader(frame)
        _ = try RequestHeader(from: &r)
        return try T(from: &r)
    }

    static func setWatches(_ frame: [UInt8]) throws -> (opCode: Int32, record: SetWatches) {
        var r = JuteReader(frame)
        let header = try RequestHeader(from: &r)
        let record = header.type == OpCode.setWatches2.rawValue ? try SetWatches.decodeVersion2(from: &r) : try SetWatches(from: &r)
        #expect(r.isAtEnd, "trailing bytes after SetWatches")
        return (header.type, record)
    }
}

/// Tags which custom watcher an event was routed to.
final class WatcherTags: Sendable {
    private let calls = Mutex<[String]>([])
    func watcher(_ tag: String) -> Watch { .custom { [self] _ in calls.withLock { $0.append(tag) } } }
    var all: [String] { calls.withLock { $0 } }
    func clear() { calls.withLock { $0.removeAll() } }
}

extension CoreHarness {
    /// Calls the watchers of event `index` (nil = default watcher, tagged "default") and returns the tags.
    func recipients(_ index: Int, tags: WatcherTags) -> [String] {
        tags.clear()
        var result: [String] = []
        for w in events[index].watchers {
            if let w { w(events[index].event); result.append(contentsOf: tags.all); tags.clear() } else { result.append("default") }
        }
        return result
    }
}

extension Stat {
    static func with(version: Int32 = 0, mzxid: Int64 = 1) -> Stat {
        var s = Stat()
        s.version = version
        s.mzxid = mzxid
        return s
    }
}
