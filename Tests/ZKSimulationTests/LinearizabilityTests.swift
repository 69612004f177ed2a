import Testing
@testable import ZKCore
@testable import ZKSimulation

/// The linearizability checker on hand-made histories of one znode: each linearizable one accepted,
/// each non-linearizable one rejected; and on random histories made linearizable by construction.
@Suite struct LinearizabilityTests {
    typealias L = Linearizability
    private static func v(_ s: String) -> [UInt8] { Array(s.utf8) }
    private static func op(_ client: Int, _ o: L.Operation, _ from: Int64, _ to: Int64?, _ outcome: L.Outcome) -> L.Entry {
        L.Entry(client: client, o, invokedAt: from, completedAt: to, outcome)
    }

    static let linearizable: [(String, [L.Entry])] = [
        ("sequential create, set, read", [
            op(1, .create(v("a")), 0, 1, .created),
            op(1, .setData(v("b"), expectedVersion: 0), 2, 3, .set(version: 1)),
            op(2, .getData, 4, 5, .read(v("b"), version: 1)),
        ]),
        ("two concurrent sets, a later read sees the one ordered last", [
            op(1, .create(v("a")), 0, 1, .created),
            op(1, .setData(v("b"), expectedVersion: -1), 2, 10, .set(version: 2)),
            op(2, .setData(v("c"), expectedVersion: -1), 2, 10, .set(version: 1)),
            op(3, .getData, 11, 12, .read(v("b"), version: 2)),
        ]),
        ("a read concurrent with a set sees the old value", [
            op(1, .create(v("a")), 0, 1, .created),
            op(1, .setData(v("b"), expectedVersion: 0), 2, 10, .set(version: 1)),
            op(2, .getData, 3, 4, .read(v("a"), version: 0)),
            op(2, .getData, 11, 12, .read(v("b"), version: 1)),
        ]),
        ("an unknown create that happened", [
            op(1, .create(v("a")), 0, nil, .unknown),
            op(2, .getData, 5, 6, .read(v("a"), version: 0)),
        ]),
        ("an unknown create that never happened", [
            op(1, .create(v("a")), 0, nil, .unknown),
            op(2, .getData, 5, 6, .noNode),
            op(2, .create(v("b")), 7, 8, .created),
        ]),
        ("an unknown set that happened much later than it was sent", [
            op(1, .create(v("a")), 0, 1, .created),
            op(1, .setData(v("x"), expectedVersion: 0), 2, nil, .unknown),
            op(2, .getData, 3, 4, .read(v("a"), version: 0)),
            op(2, .getData, 50, 51, .read(v("x"), version: 1)),
        ]),
        ("compare-and-set race: one wins, one gets BADVERSION", [
            op(1, .create(v("a")), 0, 1, .created),
            op(1, .setData(v("b"), expectedVersion: 0), 2, 6, .set(version: 1)),
            op(2, .setData(v("c"), expectedVersion: 0), 3, 5, .badVersion),
            op(3, .getData, 7, 8, .read(v("b"), version: 1)),
        ]),
        ("delete and create again: the version starts at 0", [
            op(1, .create(v("a")), 0, 1, .created),
            op(1, .setData(v("b"), expectedVersion: -1), 2, 3, .set(version: 1)),
            op(2, .delete(expectedVersion: 1), 4, 5, .deleted),
            op(2, .create(v("c")), 6, 7, .created),
            op(1, .getData, 8, 9, .read(v("c"), version: 0)),
            op(1, .delete(expectedVersion: 3), 10, 11, .badVersion),
        ]),
        ("a create racing another: one NODEEXISTS", [
            op(1, .create(v("a")), 0, 5, .nodeExists),
            op(2, .create(v("b")), 1, 4, .created),
            op(3, .getData, 6, 7, .read(v("b"), version: 0)),
        ]),
    ]

    static let notLinearizable: [(String, [L.Entry])] = [
        ("a stale read after the set completed", [
            op(1, .create(v("a")), 0, 1, .created),
            op(1, .setData(v("b"), expectedVersion: 0), 2, 10, .set(version: 1)),
            op(2, .getData, 11, 12, .read(v("a"), version: 0)),
        ]),
        ("both compare-and-sets on version 0 succeed", [
            op(1, .create(v("a")), 0, 1, .created),
            op(1, .setData(v("b"), expectedVersion: 0), 2, 6, .set(version: 1)),
            op(2, .setData(v("c"), expectedVersion: 0), 3, 5, .set(version: 1)),
        ]),
        ("an acknowledged create lost", [
            op(1, .create(v("a")), 0, 1, .created),
            op(2, .getData, 5, 6, .noNode),
        ]),
        ("a read of data nobody wrote", [
            op(1, .create(v("a")), 0, 1, .created),
            op(1, .setData(v("b"), expectedVersion: -1), 2, nil, .unknown),
            op(2, .getData, 5, 6, .read(v("z"), version: 1)),
        ]),
        ("versions go backwards between two reads", [
            op(1, .create(v("a")), 0, 1, .created),
            op(1, .setData(v("b"), expectedVersion: 0), 2, 3, .set(version: 1)),
            op(2, .getData, 10, 11, .read(v("b"), version: 1)),
            op(3, .getData, 12, 13, .read(v("a"), version: 0)),
        ]),
        ("two unconditional sets both answer version 1", [
            op(1, .create(v("a")), 0, 1, .created),
            op(1, .setData(v("b"), expectedVersion: -1), 2, 5, .set(version: 1)),
            op(2, .setData(v("c"), expectedVersion: -1), 2, 5, .set(version: 1)),
        ]),
        ("an unknown operation cannot excuse a second successful create", [
            op(1, .create(v("a")), 0, 1, .created),
            op(2, .create(v("b")), 2, nil, .unknown),
            op(3, .create(v("c")), 3, 4, .created),
        ]),
        ("a read of one write's data with the other's version", [
            op(1, .create(v("a")), 0, 1, .created),
            op(1, .setData(v("b"), expectedVersion: -1), 2, 20, .set(version: 1)),
            op(2, .setData(v("c"), expectedVersion: -1), 2, 20, .set(version: 2)),
            op(3, .getData, 21, 22, .read(v("b"), version: 2)),
        ]),
        ("a delete that succeeded but the node is read afterwards", [
            op(1, .create(v("a")), 0, 1, .created),
            op(2, .delete(expectedVersion: 0), 2, 3, .deleted),
            op(3, .getData, 4, 5, .read(v("a"), version: 0)),
        ]),
    ]

    @Test(arguments: linearizable.map(\.0))
    func acceptsLinearizableHistories(name: String) {
        let history = Self.linearizable.first { $0.0 == name }!.1
        #expect(L.check(history) == .linearizable, "\(name)")
        #expect(L.check(history.reversed()) == .linearizable, "\(name), entries listed in reverse")
    }

    @Test(arguments: notLinearizable.map(\.0))
    func rejectsNonLinearizableHistories(name: String) {
        let history = Self.notLinearizable.first { $0.0 == name }!.1
        guard case .notLinearizable = L.check(history) else {
            Issue.record("\(name): accepted")
            return
        }
        guard case .notLinearizable = L.check(history.reversed()) else {
            Issue.record("\(name), entries listed in reverse: accepted")
            return
        }
    }

    /// Random histories that are linearizable by construction: clients with overlapping operations
    /// on one real register, each taking effect at a random instant inside its own interval; some
    /// replies lost (unknown). The checker must accept every one; changing one successful set's
    /// answered version to one the register never had must be rejected.
    @Test(arguments: 1...40)
    func acceptsRandomLinearizableHistories(seed: UInt64) {
        var random = SeededRandom(seed: seed)
        var state = L.State.absent
        var history: [L.Entry] = []
        var busyUntil = [Int64](repeating: 0, count: 4)
        var points: [(at: Int64, index: Int)] = []
        var pending: [(invoked: Int64, completed: Int64, client: Int, operation: L.Operation, lost: Bool)] = []
        for i in 0..<60 {
            let client = Int(random.next() % 4)
            let invoked = busyUntil[client] + Int64(random.next() % 5)
            let completed = invoked + 1 + Int64(random.next() % 20)
            busyUntil[client] = completed + 1
            let operation: L.Operation
            switch random.next() % 5 {
            case 0: operation = .create(Array("c\(i)".utf8))
            case 1: operation = .setData(Array("s\(i)".utf8), expectedVersion: -1)
            case 2: operation = .setData(Array("v\(i)".utf8), expectedVersion: Int32(random.next() % 3))
            case 3: operation = .getData
            default: operation = .delete(expectedVersion: random.next() % 2 == 0 ? -1 : Int32(random.next() % 3))
            }
            pending.append((invoked, completed, client, operation, random.next() % 10 == 0))
        }
        // Each operation takes effect at an instant inside its interval; apply them in that order.
        for (index, p) in pending.enumerated() {
            points.append((p.invoked + Int64(random.next() % UInt64(p.completed - p.invoked + 1)), index))
        }
        var outcomes = [L.Outcome](repeating: .unknown, count: pending.count)
        for point in points.sorted(by: { $0.at != $1.at ? $0.at < $1.at : $0.index < $1.index }) {
            let (after, outcome) = L.step(state, pending[point.index].operation)
            state = after
            outcomes[point.index] = outcome
        }
        for (index, p) in pending.enumerated() {
            history.append(L.Entry(client: p.client, p.operation, invokedAt: p.invoked, completedAt: p.completed,
                                   p.lost ? .unknown : outcomes[index]))
        }
        #expect(L.check(history) == .linearizable, "seed \(seed)")
        if let index = history.firstIndex(where: { if case .set = $0.outcome { return true } else { return false } }) {
            var broken = history
            broken[index].outcome = .set(version: 1_000)
            guard case .notLinearizable = L.check(broken) else {
                Issue.record("seed \(seed): a set answering version 1000 accepted")
                return
            }
        }
    }

    /// The search stops at its state budget instead of running away.
    @Test func aTooConcurrentHistoryIsUndecidedWithinTheBudget() {
        var history = [Self.op(0, .create(Self.v("a")), 0, 1, .created)]
        for i in 0..<30 {
            history.append(Self.op(i + 1, .setData(Self.v("x\(i)"), expectedVersion: -1), 2, nil, .unknown))
        }
        history.append(Self.op(99, .getData, 100, 101, .read(Self.v("nobody"), version: 7)))
        #expect(L.check(history, statesMax: 10_000) == .undecided)
    }
}
