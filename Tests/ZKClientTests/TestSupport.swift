import Dispatch
import Synchronization
import Testing
import ZKCore
import ZKProtocol
@testable import ZKClient

/// How long a test waits for something that should happen at once (generous: only a failing test
/// ever waits this long).
let waitMs = 5000

/// Collects the events a watcher receives; tests wait for a condition on them (no sleeps).
final class EventRecorder: Sendable {
    private let events = Mutex<[WatchedEvent]>([])
    private let arrived = DispatchSemaphore(value: 0)

    var watcher: Watcher { { [self] event in record(event) } }
    var all: [WatchedEvent] { events.withLock { $0 } }
    /// The events with a path (watch notifications), leaving out connection-state events.
    var nodeEvents: [WatchedEvent] { all.filter { $0.type != .none } }
    var states: [KeeperState] { all.filter { $0.type == .none }.map(\.state) }

    func record(_ event: WatchedEvent) {
        events.withLock { $0.append(event) }
        arrived.signal()
    }

    /// Waits until `condition` holds for the events so far; false on timeout.
    func wait(timeoutMs: Int = waitMs, until condition: ([WatchedEvent]) -> Bool) -> Bool {
        let deadline = DispatchTime.now() + .milliseconds(timeoutMs)
        while true {
            if condition(all) { return true }
            if arrived.wait(timeout: deadline) == .timedOut { return condition(all) }
        }
    }

    /// Waits for an event equal to `event` (at any position).
    func wait(for event: WatchedEvent, timeoutMs: Int = waitMs) -> Bool {
        wait(timeoutMs: timeoutMs) { $0.contains(event) }
    }

    /// Waits for a connection-state event.
    func wait(forState state: KeeperState, timeoutMs: Int = waitMs) -> Bool {
        wait(for: WatchedEvent(type: .none, state: state, path: nil), timeoutMs: timeoutMs)
    }

    func clear() { events.withLock { $0.removeAll() } }
}

/// Results of asynchronous requests, in completion order.
final class CompletionLog: Sendable {
    private let entries = Mutex<[(Int, Result<Response, ZooKeeperError>)]>([])
    private let arrived = DispatchSemaphore(value: 0)

    func callback(_ tag: Int) -> @Sendable (Result<Response, ZooKeeperError>) -> Void {
        { [self] result in
            entries.withLock { $0.append((tag, result)) }
            arrived.signal()
        }
    }

    var all: [(Int, Result<Response, ZooKeeperError>)] { entries.withLock { $0 } }
    var count: Int { entries.withLock { $0.count } }

    func wait(forCount n: Int, timeoutMs: Int = waitMs) -> Bool {
        let deadline = DispatchTime.now() + .milliseconds(timeoutMs)
        while count < n {
            if arrived.wait(timeout: deadline) == .timedOut { return count >= n }
        }
        return true
    }
}

func node(_ type: EventType, _ path: String) -> WatchedEvent {
    WatchedEvent(type: type, state: .syncConnected, path: path)
}

func connectionEvent(_ state: KeeperState) -> WatchedEvent {
    WatchedEvent(type: .none, state: state, path: nil)
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// A connected client (the test fails if it does not connect).
func connectedClient(_ connectString: String, timeoutMs: Int32 = 10_000, watcher: Watcher? = nil,
                     sessionID: SessionID? = nil, password: [UInt8]? = nil,
                     sourceLocation: SourceLocation = #_sourceLocation) throws -> ZooKeeperClient {
    let zk = try ZooKeeperClient(connectString: connectString, sessionTimeoutMs: timeoutMs, sessionID: sessionID,
                                 password: password, watcher: watcher)
    try #require(zk.waitUntilConnected(timeoutMs: waitMs), "client did not connect to \(connectString)",
                 sourceLocation: sourceLocation)
    return zk
}

/// Expects `body` to throw a `ZooKeeperError` with `code` (any path).
func expectError<T>(_ code: ErrorCode, sourceLocation: SourceLocation = #_sourceLocation,
                    _ body: () throws -> T) {
    do {
        _ = try body()
        Issue.record("expected \(code), got success", sourceLocation: sourceLocation)
    } catch let error as ZooKeeperError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(code), got \(error)", sourceLocation: sourceLocation)
    }
}

/// Waits until everything the server sent `zk` before the reply to a new sync has been delivered:
/// events and async completions run on one serial queue in the order the server sent them, and
/// the server sends a connection's notifications and replies in order. (An async completion, not
/// `call`, so the barrier holds however `call` itself is completed.)
func barrier(_ zk: ZooKeeperClient, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let log = CompletionLog()
    zk.submit(.sync(path: "/"), completion: log.callback(0))
    try #require(log.wait(forCount: 1), "barrier sync did not complete", sourceLocation: sourceLocation)
    _ = try log.all[0].1.get()
}
