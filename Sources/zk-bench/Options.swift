/// zk-bench's command line.
import ZKCore

struct Options {
    var server = "127.0.0.1:2181"
    var connections = 4
    var inFlight = 32
    var durationSeconds = 10.0
    var operations: Int?
    var warmupSeconds = 2.0
    var valueBytes = 100
    var keys = 10_000
    var mix: [(Operation, Int)] = [(.get, 100)]
    var prefix = "/zk-bench"
    var jsonPath: String?
    var progress = true
    var setup = true
    var sessionTimeoutMs: Int32 = 30_000
    var label: String?

    static let help = """
        usage: zk-bench [options]
        Drives any ZooKeeper server with a pipelined load over the raw client protocol and reports
        throughput and latency percentiles. Progress goes to stderr once a second; the report to stdout
        (and as JSON with --json).

          --server HOST:PORT     the server (default 127.0.0.1:2181)
          --connections N        client connections, each its own session (default 4)
          --inflight N           requests in flight per connection (default 32; 1 = one at a time)
          --duration SECONDS     measured run length (default 10)
          --ops N                stop after N measured operations instead of a duration
          --warmup SECONDS       unmeasured load before the run (default 2)
          --value-size BYTES     data size of created and written znodes (default 100)
          --keys N               znodes read and written by get/set/exists/children (default 10000)
          --mix SPEC             weighted operations, e.g. get=90,set=10 (default get=100);
                                 operations: get, set, create, delete, exists, children, multi
                                 (create makes new znodes; delete removes ones this run created,
                                 or creates when there are none; multi = two setData in one multi)
          --prefix PATH          parent of the key space (default /zk-bench)
          --no-setup             do not create the key space (it must exist)
          --session-timeout MS   requested session timeout (default 30000)
          --label TEXT           a name for this run, copied into the report
          --json PATH            also write the report as JSON to PATH
          --quiet                no per-second progress
          --help                 this text
        """

    static func parse(_ arguments: [String]) throws(UsageError) -> Options {
        var options = Options()
        var rest = arguments[...]
        func value(_ flag: String) throws(UsageError) -> String {
            guard let v = rest.popFirst() else { throw UsageError("\(flag) needs a value") }
            return v
        }
        func number<T: LosslessStringConvertible>(_ flag: String, _: T.Type) throws(UsageError) -> T {
            let text = try value(flag)
            guard let v = T(text) else { throw UsageError("\(flag): not a number: \(text)") }
            return v
        }
        while let flag = rest.popFirst() {
            switch flag {
            case "--server": options.server = try value(flag)
            case "--connections": options.connections = try number(flag, Int.self)
            case "--inflight": options.inFlight = try number(flag, Int.self)
            case "--duration": options.durationSeconds = try number(flag, Double.self)
            case "--ops": options.operations = try number(flag, Int.self)
            case "--warmup": options.warmupSeconds = try number(flag, Double.self)
            case "--value-size": options.valueBytes = try number(flag, Int.self)
            case "--keys": options.keys = try number(flag, Int.self)
            case "--mix": options.mix = try parseMix(try value(flag))
            case "--prefix": options.prefix = try value(flag)
            case "--no-setup": options.setup = false
            case "--session-timeout": options.sessionTimeoutMs = try number(flag, Int32.self)
            case "--label": options.label = try value(flag)
            case "--json": options.jsonPath = try value(flag)
            case "--quiet": options.progress = false
            case "--help", "-h": throw UsageError(nil)
            default: throw UsageError("unknown option \(flag)")
            }
        }
        guard options.connections > 0, options.inFlight > 0, options.keys > 0, options.valueBytes >= 0 else {
            throw UsageError("connections, inflight and keys must be positive")
        }
        return options
    }

    static func parseMix(_ spec: String) throws(UsageError) -> [(Operation, Int)] {
        var mix: [(Operation, Int)] = []
        for part in spec.split(separator: ",") {
            let pieces = part.split(separator: "=")
            guard let op = Operation(rawValue: String(pieces[0])) else { throw UsageError("unknown operation in --mix: \(pieces[0])") }
            let weight = pieces.count > 1 ? Int(pieces[1]) : 1
            guard let weight, weight >= 0 else { throw UsageError("bad weight in --mix: \(part)") }
            mix.append((op, weight))
        }
        guard mix.contains(where: { $0.1 > 0 }) else { throw UsageError("--mix has no operation with a weight") }
        return mix
    }
}

struct UsageError: Error {
    var message: String?
    init(_ message: String?) { self.message = message }
}

enum Operation: String, CaseIterable {
    case get, set, create, delete, exists, children, multi
}
