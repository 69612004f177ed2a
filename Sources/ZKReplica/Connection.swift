/// The replica's view of one client connection: its session, identities, the requests it has in
/// flight (answered strictly in arrival order) and the statistics `cons` and `stat` print.
import ZKCore
import ZKProtocol
import ZKDataTree

/// A request waiting for its turn to be answered.
struct PendingRequest {
    enum Kind {
        /// The connection's ConnectRequest; answered when its createSession txn commits.
        case connect
        /// A write handed to the state machine; `result` is filled in when its txn (the one with
        /// this request's session and cxid) is applied.
        case write(result: ApplyResult?)
        /// A read or session-local request, answered when everything before it is answered.
        case read(ReadRequest)
        /// A `sync` in an ensemble: answered (as a read) once the leader says every write before
        /// it is committed here (`done`).
        case sync(ReadRequest, done: Bool)
    }
    var xid: Int32
    var op: OpCode
    var kind: Kind
    var receivedAtMs: Int64
}

struct ConnectionStats {
    var packetsReceived = 0
    var packetsSent = 0
    var lastOp = "NA"
    var lastCxid: Int32 = -1
    var lastZxid = Zxid(-1)
    var lastResponseWallMs: Int64 = 0
    var lastLatencyMs: Int64 = 0
    var minLatencyMs: Int64 = Int64.max
    var maxLatencyMs: Int64 = 0
    var totalLatencyMs: Int64 = 0
    var latencyCount: Int64 = 0
    var establishedWallMs: Int64 = 0

    mutating func recordLatency(_ ms: Int64) {
        lastLatencyMs = ms
        minLatencyMs = min(minLatencyMs, ms)
        maxLatencyMs = max(maxLatencyMs, ms)
        totalLatencyMs += ms
        latencyCount += 1
    }

    mutating func reset() {
        let established = establishedWallMs
        self = ConnectionStats()
        establishedWallMs = established
    }
}

final class Connection {
    let id: ConnectionID
    let remote: RemoteAddress
    /// Set once the ConnectRequest is accepted (for a new session: when its txn is prepared).
    var session: SessionID?
    /// Whether the client sent the readOnly byte (then the ConnectResponse carries it too).
    var sentReadOnlyFlag = false
    var negotiatedTimeoutMs: Int32 = 0
    var authInfo: [Id]
    var pending: [PendingRequest] = []
    var pendingHead = 0
    var stats = ConnectionStats()
    /// A close effect was issued: ignore further input.
    var isClosing = false
    /// When the connection was accepted (monotonic), to expire connections that never start a session.
    var openedAtMs: Int64 = 0

    init(id: ConnectionID, remote: RemoteAddress) {
        self.id = id
        self.remote = remote
        authInfo = [Id(scheme: "ip", id: remote.ip)]
    }

    var outstandingCount: Int { pending.count - pendingHead }

    var head: PendingRequest? { pendingHead < pending.count ? pending[pendingHead] : nil }

    func popHead() {
        pendingHead += 1
        if pendingHead == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingHead = 0
        } else if pendingHead >= 64 && pendingHead * 2 >= pending.count {
            pending.removeFirst(pendingHead)
            pendingHead = 0
        }
    }

    /// Records the result of the committed txn with this cxid if it is this connection's oldest
    /// unanswered write (Apache's CommitProcessor matches a commit to the head of the session's
    /// queue by session and cxid). Returns false otherwise: the request came on an earlier
    /// connection of the session, whose queue went with it.
    func complete(cxid: Int32, result: ApplyResult) -> Bool {
        for i in pendingHead..<pending.count {
            guard case .write(let r) = pending[i].kind, r == nil else { continue }
            guard pending[i].xid == cxid else { return false }
            pending[i].kind = .write(result: result)
            return true
        }
        return false
    }

    /// Marks the oldest unfinished `sync` done; false if there is none.
    func completeSync() -> Bool {
        for i in pendingHead..<pending.count {
            guard case .sync(let request, false) = pending[i].kind else { continue }
            pending[i].kind = .sync(request, done: true)
            return true
        }
        return false
    }

    /// This connection sent a four-letter word and is being answered (Apache reads no more from it).
    var answeringFourLetterWord = false

    /// Apache's interest-ops column in `cons`: 1 = reading, 0 for a four-letter word's own connection.
    var interestOps: String { answeringFourLetterWord ? "0" : "1" }
}
