/// Sessions: ids, timeouts and expiry (`SessionTrackerImpl`).
///
/// The set of sessions mirrors the replicated session table (`Database.sessionTimeouts`, changed by
/// createSession/closeSession txns); the expiry deadlines are local to the server that owns the
/// session and are extended every time the session's connection sends anything.
import ZKCore
import ZKProtocol

struct Session {
    let id: SessionID
    var timeoutMs: Int32
    /// Monotonic deadline; nil while the session's closeSession txn is in flight.
    var expiresAtMs: Int64?
}

struct SessionTracker {
    private(set) var sessions: [SessionID: Session] = [:]
    private var nextID: Int64

    /// Session ids are `(timeMs << 24) >>> 8 | serverID << 56` and count up from there, as Apache's
    /// `initializeNextSessionId`. We seed with wall-clock time rather than uptime so that ids stay
    /// unique across restarts of the same server.
    init(serverID: ServerID, seedMs: Int64) {
        var id = Int64(bitPattern: UInt64(bitPattern: seedMs << 24) >> 8) | (serverID.rawValue << 56)
        if id == Int64.min { id += 1 }
        nextID = id
    }

    mutating func allocateID() -> SessionID {
        defer { nextID &+= 1 }
        return SessionID(nextID)
    }

    subscript(id: SessionID) -> Session? {
        get { sessions[id] }
        set { sessions[id] = newValue }
    }

    /// A createSession txn was applied.
    mutating func add(_ id: SessionID, timeoutMs: Int32, nowMs: Int64) {
        sessions[id] = Session(id: id, timeoutMs: timeoutMs, expiresAtMs: nowMs + Int64(timeoutMs))
    }

    /// A closeSession txn was applied.
    mutating func remove(_ id: SessionID) -> Session? { sessions.removeValue(forKey: id) }

    mutating func touch(_ id: SessionID, nowMs: Int64) {
        guard var s = sessions[id], s.expiresAtMs != nil else { return }
        s.expiresAtMs = nowMs + Int64(s.timeoutMs)
        sessions[id] = s
    }

    /// Every live session's deadline starts over (a new leader did not see the old one's touches).
    mutating func restartDeadlines(nowMs: Int64) {
        for id in Array(sessions.keys) where sessions[id]!.expiresAtMs != nil {
            sessions[id]!.expiresAtMs = nowMs + Int64(sessions[id]!.timeoutMs)
        }
    }

    /// Marks a session as closing: it cannot expire twice or be resumed.
    mutating func markClosing(_ id: SessionID) {
        sessions[id]?.expiresAtMs = nil
    }

    func isActive(_ id: SessionID) -> Bool { sessions[id]?.expiresAtMs != nil }

    /// Sessions whose deadline has passed, in id order (deterministic).
    func expired(nowMs: Int64) -> [SessionID] {
        sessions.values.filter { ($0.expiresAtMs ?? Int64.max) <= nowMs }.map(\.id).sorted()
    }

    var count: Int { sessions.count }
}
