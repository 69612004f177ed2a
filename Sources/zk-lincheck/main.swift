// zk-lincheck: checks recorded client histories of real servers for linearizability, znode by znode,
// with ZKSimulation's checker (the versioned-register model of ZooKeeper's create, setData with an
// expected version, getData after sync, delete).
//
//   zk-lincheck HISTORY [--states-max N]
//
// HISTORY has one operation a line (written by Tests/faults/history.py):
//   PATH CLIENT INVOKED_NS COMPLETED_NS|- OPERATION OUTCOME
//   OPERATION: create HEX | set HEX EXPECTED_VERSION | get | delete EXPECTED_VERSION
//   OUTCOME:   created | set VERSION | read HEX VERSION | deleted | nonode | nodeexists | badversion | unknown
// HEX is the data in hexadecimal, "-" for no bytes. A get must be one that followed a sync on its
// session (a plain read may be stale, as ZooKeeper allows).
// Prints a line per znode and a summary; exits 1 if a znode's history is not linearizable, 2 on a
// malformed history (naming the line), 0 otherwise (an undecided znode, too concurrent for the state
// budget, is reported but does not fail).
import ZKPosix
import ZKSimulation

struct Malformed: Error { let line: Int; let why: String }

func hex(_ token: Substring) -> [UInt8]? {
    if token == "-" { return [] }
    guard token.count % 2 == 0 else { return nil }
    var bytes: [UInt8] = []
    var i = token.startIndex
    while i < token.endIndex {
        let j = token.index(i, offsetBy: 2)
        guard let b = UInt8(token[i..<j], radix: 16) else { return nil }
        bytes.append(b)
        i = j
    }
    return bytes
}

func parse(_ text: String) throws(Malformed) -> [String: [Linearizability.Entry]] {
    var byPath: [String: [Linearizability.Entry]] = [:]
    for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        let number = index + 1
        let t = line.split(separator: " ")
        if t.isEmpty { continue }
        func fail(_ why: String) -> Malformed { Malformed(line: number, why: why) }
        guard t.count >= 6, let client = Int(t[1]), let invoked = Int64(t[2]) else { throw fail("expected PATH CLIENT INVOKED COMPLETED OPERATION OUTCOME") }
        let completed = t[3] == "-" ? nil : Int64(t[3])
        if t[3] != "-" && completed == nil { throw fail("bad completion time '\(t[3])'") }
        var k = 4
        func next() throws(Malformed) -> Substring {
            guard k < t.count else { throw fail("too few fields") }
            defer { k += 1 }
            return t[k]
        }
        func int32() throws(Malformed) -> Int32 {
            let token = try next()
            guard let v = Int32(token) else { throw fail("bad number '\(token)'") }
            return v
        }
        func data() throws(Malformed) -> [UInt8] {
            let token = try next()
            guard let d = hex(token) else { throw fail("bad hex '\(token)'") }
            return d
        }
        let operation: Linearizability.Operation
        switch try next() {
        case "create": operation = .create(try data())
        case "set": operation = .setData(try data(), expectedVersion: try int32())
        case "get": operation = .getData
        case "delete": operation = .delete(expectedVersion: try int32())
        case let other: throw fail("unknown operation '\(other)'")
        }
        let outcome: Linearizability.Outcome
        switch try next() {
        case "created": outcome = .created
        case "set": outcome = .set(version: try int32())
        case "read": outcome = .read(try data(), version: try int32())
        case "deleted": outcome = .deleted
        case "nonode": outcome = .noNode
        case "nodeexists": outcome = .nodeExists
        case "badversion": outcome = .badVersion
        case "unknown": outcome = .unknown
        case let other: throw fail("unknown outcome '\(other)'")
        }
        guard k == t.count else { throw fail("extra fields") }
        if outcome != .unknown && completed == nil { throw fail("a known outcome needs a completion time") }
        byPath[String(t[0]), default: []].append(Linearizability.Entry(client: client, operation, invokedAt: invoked, completedAt: completed, outcome))
    }
    return byPath
}

var arguments = Array(CommandLine.arguments.dropFirst())
var statesMax = 2_000_000
if let i = arguments.firstIndex(of: "--states-max"), i + 1 < arguments.count, let n = Int(arguments[i + 1]) {
    statesMax = n
    arguments.removeSubrange(i...(i + 1))
}
guard arguments.count == 1 else {
    print("usage: zk-lincheck HISTORY [--states-max N]")
    Signals.exitProcess(2)
}
guard let bytes = try? FileSystem.readFile(arguments[0]) else {
    print("zk-lincheck: cannot read \(arguments[0])")
    Signals.exitProcess(2)
}
let histories: [String: [Linearizability.Entry]]
do { histories = try parse(String(decoding: bytes, as: UTF8.self)) } catch {
    print("zk-lincheck: \(arguments[0]):\(error.line): \(error.why)")
    Signals.exitProcess(2)
}
var failed = 0, undecided = 0, operations = 0
for path in histories.keys.sorted() {
    let history = histories[path]!
    operations += history.count
    switch Linearizability.check(history, statesMax: statesMax) {
    case .linearizable:
        print("\(path): linearizable (\(history.count) operations)")
    case .notLinearizable(let stuck):
        failed += 1
        let e = history[stuck]
        print("\(path): NOT linearizable (\(history.count) operations); no order gets past client \(e.client)'s \(e.operation) → \(e.outcome) invoked at \(e.invokedAt)")
    case .undecided:
        undecided += 1
        print("\(path): undecided within \(statesMax) states (\(history.count) operations)")
    }
}
print("zk-lincheck: \(histories.count) znodes, \(operations) operations: \(failed) not linearizable, \(undecided) undecided")
Signals.exitProcess(failed > 0 ? 1 : 0)
