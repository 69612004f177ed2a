/// A linearizability checker for one znode used as a versioned register (Wing & Gong's search with
/// Lowe's memoization, as in Knossos and Porcupine): given every operation clients ran on the node,
/// each with the time it was invoked, the time its reply arrived and what the reply said, is there
/// one order of the operations, consistent with real time (an operation that completed before
/// another was invoked comes first), in which each one's outcome is what a single znode would have
/// answered?
///
/// The model is ZooKeeper's: create fails with NODEEXISTS on an existing node; setData and delete
/// take an expected version (-1: any) and fail with NONODE or BADVERSION; a successful setData
/// answers the new version; a delete and a new create start again at version 0. An operation whose
/// reply never came (connection lost, timeout) is *unknown*: it may have taken effect at any point
/// after it was invoked, or never, and whatever it would have answered is accepted.
///
/// The search keeps the operations not yet placed in a list of call and return events ordered by
/// time. It places any operation whose call comes before the first return still in the list (those
/// are the ones that could be next), if the model gives its recorded outcome, and backtracks when a
/// return is reached whose operation was not placed. Visited (placed set, model state) pairs are
/// remembered, so each is explored once. Histories are checked per znode: a model of one register
/// keeps the search small.
public enum Linearizability {
    public enum Operation: Sendable, Equatable {
        case create([UInt8])
        case setData([UInt8], expectedVersion: Int32)
        case getData
        case delete(expectedVersion: Int32)
    }

    public enum Outcome: Sendable, Equatable {
        case created
        /// setData succeeded; the new version.
        case set(version: Int32)
        /// getData answered this data and version.
        case read([UInt8], version: Int32)
        case deleted
        case noNode
        case nodeExists
        case badVersion
        /// No reply: it may or may not have happened.
        case unknown
    }

    public struct Entry: Sendable, Equatable {
        public var client: Int
        public var operation: Operation
        public var invokedAt: Int64
        /// nil when the outcome is unknown (the operation is then open until the end of time).
        public var completedAt: Int64?
        public var outcome: Outcome

        public init(client: Int, _ operation: Operation, invokedAt: Int64, completedAt: Int64?, _ outcome: Outcome) {
            self.client = client
            self.operation = operation
            self.invokedAt = invokedAt
            self.completedAt = outcome == .unknown ? nil : completedAt
            self.outcome = outcome
        }
    }

    /// The znode's state in the model; `exists == false` for a node not (or no longer) there.
    public struct State: Hashable, Sendable {
        public var exists: Bool
        public var data: [UInt8]
        public var version: Int32

        public static let absent = State(exists: false, data: [], version: 0)
        public init(exists: Bool, data: [UInt8], version: Int32) {
            self.exists = exists
            self.data = data
            self.version = version
        }
    }

    public enum Verdict: Sendable, Equatable {
        case linearizable
        /// No order exists; `stuckAt` is the entry the deepest search could not get past.
        case notLinearizable(stuckAt: Int)
        /// The search visited more states than allowed (the history is too concurrent to decide).
        case undecided
    }

    /// What a single znode in `state` answers to `operation`, and its state after.
    public static func step(_ state: State, _ operation: Operation) -> (State, Outcome) {
        switch operation {
        case .create(let data):
            if state.exists { return (state, .nodeExists) }
            return (State(exists: true, data: data, version: 0), .created)
        case .setData(let data, let expected):
            guard state.exists else { return (state, .noNode) }
            guard expected == -1 || expected == state.version else { return (state, .badVersion) }
            return (State(exists: true, data: data, version: state.version &+ 1), .set(version: state.version &+ 1))
        case .getData:
            guard state.exists else { return (state, .noNode) }
            return (state, .read(state.data, version: state.version))
        case .delete(let expected):
            guard state.exists else { return (state, .noNode) }
            guard expected == -1 || expected == state.version else { return (state, .badVersion) }
            return (.absent, .deleted)
        }
    }

    /// Checks one znode's history, starting from `initial`. `statesMax` bounds the search.
    public static func check(_ history: [Entry], initial: State = .absent, statesMax: Int = 2_000_000) -> Verdict {
        let n = history.count
        if n == 0 { return .linearizable }
        // Events by time; at equal times calls come first (the operations count as concurrent).
        var events: [(time: Int64, isCall: Bool, entry: Int)] = []
        events.reserveCapacity(2 * n)
        for (i, e) in history.enumerated() {
            events.append((e.invokedAt, true, i))
            if let end = e.completedAt { events.append((max(end, e.invokedAt), false, i)) }
        }
        events.sort { a, b in a.time != b.time ? a.time < b.time : (a.isCall && !b.isCall) || (a.isCall == b.isCall && a.entry < b.entry) }
        // A doubly linked list over the events, with a sentinel head at index `count`.
        let count = events.count
        var next = [Int](repeating: -1, count: count + 1)
        var previous = [Int](repeating: -1, count: count + 1)
        var returnOf = [Int](repeating: -1, count: n)
        for k in 0..<count {
            next[k] = k + 1 < count ? k + 1 : -1
            previous[k] = k == 0 ? count : k - 1
            if !events[k].isCall { returnOf[events[k].entry] = k }
        }
        next[count] = count > 0 ? 0 : -1
        func unlink(_ k: Int) {
            let p = previous[k], q = next[k]
            next[p] = q
            if q >= 0 { previous[q] = p }
        }
        func relink(_ k: Int) {
            let p = previous[k], q = next[k]
            next[p] = k
            if q >= 0 { previous[q] = k }
        }

        var knownLeft = history.filter { $0.outcome != .unknown }.count
        var placed = Bitset(count: n)
        var state = initial
        var visited = Set<Visit>()
        var stack: [(call: Int, state: State)] = []
        var deepest = -1, stuckAt = events[0].entry
        /// Takes back the last placement; the search goes on with the event after its call.
        func undo(_ top: (call: Int, state: State)) -> Int {
            let entry = events[top.call].entry
            if returnOf[entry] >= 0 { relink(returnOf[entry]) }
            relink(top.call)
            placed.remove(entry)
            state = top.state
            if history[entry].outcome != .unknown { knownLeft += 1 }
            return next[top.call]
        }
        var k = next[count]
        while true {
            if knownLeft == 0 { return .linearizable }
            if k < 0 {
                // Only unknown operations' calls remain past this point, yet known ones are not placed:
                // cannot happen (every known operation has a return in the list), but stay safe.
                guard let top = stack.popLast() else { return .notLinearizable(stuckAt: stuckAt) }
                k = undo(top)
                continue
            }
            let event = events[k]
            if event.isCall {
                let entry = history[event.entry]
                let (after, outcome) = step(state, entry.operation)
                if entry.outcome == .unknown || outcome == entry.outcome {
                    var placedNow = placed
                    placedNow.insert(event.entry)
                    if visited.insert(Visit(placed: placedNow, state: after)).inserted {
                        if visited.count > statesMax { return .undecided }
                        stack.append((k, state))
                        placed = placedNow
                        state = after
                        unlink(k)
                        if returnOf[event.entry] >= 0 { unlink(returnOf[event.entry]) }
                        if entry.outcome != .unknown { knownLeft -= 1 }
                        k = next[count]
                        continue
                    }
                }
                k = next[k]
            } else {
                // The first return in the list whose operation is not placed: none of the candidates
                // before it fits here, so the last placement was wrong; back up one step.
                if stack.count > deepest { deepest = stack.count; stuckAt = event.entry }
                guard let top = stack.popLast() else { return .notLinearizable(stuckAt: stuckAt) }
                k = undo(top)
            }
        }
    }

    private struct Visit: Hashable {
        var placed: Bitset
        var state: State
    }

    struct Bitset: Hashable {
        private var words: [UInt64]
        init(count: Int) { words = [UInt64](repeating: 0, count: (count + 63) / 64) }
        mutating func insert(_ i: Int) { words[i >> 6] |= 1 << UInt64(i & 63) }
        mutating func remove(_ i: Int) { words[i >> 6] &= ~(1 << UInt64(i & 63)) }
    }
}
