/// The phases of a run: set up the key space, warm up, measure, drain; and the report.
import ZKCore
import ZKProtocol
import ZKPosix

extension Bench {
    /// Creates the prefix and the key space (existing nodes are fine), pipelined on connection 0.
    func setUp() throws {
        let c = connections[0]
        var pending = 0
        func send(_ path: String) {
            let lengthAt = c.output.bytes.count
            c.output.writeInt(0)
            RequestHeader(xid: c.xid, type: OpCode.create.rawValue).encode(to: &c.output)
            c.xid += 1
            CreateRequest(path: path, data: value, acl: ACL.openACLUnsafe, flags: 0).encode(to: &c.output)
            c.output.patchInt(Int32(c.output.bytes.count - lengthAt - 4), at: lengthAt)
            c.pending.append((.create, 0, nil))
            pending += 1
        }
        send(options.prefix)
        try flush(c)
        try drain(until: { pending - completedInWindow <= 0 })
        var next = 0
        while next < options.keys || c.outstanding > 0 {
            while next < options.keys && c.outstanding < 256 {
                send("\(options.prefix)/k\(next)")
                next += 1
            }
            try flush(c)
            _ = try waitAndReceive()
        }
        completedInWindow = 0
    }

    private func drain(until done: () -> Bool) throws {
        while !done() { _ = try waitAndReceive() }
    }

    /// One loop turn: wait for replies, handle them; returns the connections that got replies.
    func waitAndReceive() throws -> [BenchConnection] {
        var events: [EventLoop.Event] = []
        try loop.wait(timeoutMs: 100, into: &events)
        let now = monotonicNanoseconds()
        var ready: [BenchConnection] = []
        for event in events where event.token < UInt64(connections.count) {
            let c = connections[Int(event.token)]
            if try receive(c, nowNs: now) > 0 { ready.append(c) }
        }
        return ready
    }

    /// Keeps every connection at `inFlight` outstanding requests until the run is over.
    func run() throws -> Report {
        let start = monotonicNanoseconds()
        let warmupEnd = start + Int64(options.warmupSeconds * 1e9)
        var measureStart = warmupEnd
        var lastProgress = start
        var progressOps = 0
        measuring = options.warmupSeconds <= 0
        for c in connections { try topUp(c) }
        while true {
            let ready = try waitAndReceive()
            let now = monotonicNanoseconds()
            if !measuring && now >= warmupEnd {
                measuring = true
                measureStart = now
            }
            if measuring && isOver(now: now, since: measureStart) { stopIssuing = true }
            if !stopIssuing { for c in ready { try topUp(c) } }
            if stopIssuing && connections.allSatisfy({ $0.outstanding == 0 }) { break }
            if now - lastProgress >= 1_000_000_000 {
                progressOps += completedInWindow
                if options.progress {
                    printError("\(Int((now - start) / 1_000_000_000))s: \(completedInWindow) ops/s\(measuring ? "" : " (warm-up)")")
                }
                completedInWindow = 0
                lastProgress = now
            }
        }
        let elapsed = Double(monotonicNanoseconds() - measureStart) / 1e9
        return Report(options: options, seconds: elapsed, operations: measuredOps, latenciesUs: latenciesUs,
                      counts: counts, errors: errors)
    }

    private func isOver(now: Int64, since start: Int64) -> Bool {
        if let ops = options.operations { return measuredOps >= ops }
        return Double(now - start) / 1e9 >= options.durationSeconds
    }

    private func topUp(_ c: BenchConnection) throws {
        let now = monotonicNanoseconds()
        while c.outstanding < options.inFlight { issue(nextOperation(), on: c, nowNs: now) }
        try flush(c)
    }

    /// Closes every session (so ephemeral state does not linger on the server).
    func closeAll() {
        for c in connections {
            let frame = FrameEncoder.frame { RequestHeader(xid: c.xid, type: OpCode.closeSession.rawValue).encode(to: &$0) }
            c.output.bytes = frame
            try? flush(c)
            Socket.close(c.fd)
        }
    }
}

struct Report {
    var options: Options
    var seconds: Double
    var operations: Int
    var latenciesUs: [UInt32]
    var counts: [Operation: Int]
    var errors: [Int32: Int]

    var throughput: Double { seconds > 0 ? Double(operations) / seconds : 0 }

    func percentiles() -> [(String, Double)] {
        let sorted = latenciesUs.sorted()
        func at(_ q: Double) -> Double {
            guard !sorted.isEmpty else { return 0 }
            return Double(sorted[min(sorted.count - 1, Int(q * Double(sorted.count)))]) / 1000
        }
        return [("p50", at(0.5)), ("p90", at(0.9)), ("p99", at(0.99)), ("p99.9", at(0.999)),
                ("max", Double(sorted.last ?? 0) / 1000)]
    }

    var text: String {
        var out = ""
        if let label = options.label { out += "run: \(label)\n" }
        out += "server: \(options.server)  connections: \(options.connections)  in flight: \(options.inFlight)  value: \(options.valueBytes) B  keys: \(options.keys)\n"
        out += "mix: " + options.mix.map { "\($0.0.rawValue)=\($0.1)" }.joined(separator: ",") + "\n"
        out += "operations: \(operations) in \(format(seconds)) s = \(format(throughput)) ops/s\n"
        out += "latency ms: " + percentiles().map { "\($0.0) \(format($0.1, decimals: 3))" }.joined(separator: "  ") + "\n"
        out += "by operation: " + Operation.allCases.compactMap { op in counts[op].map { "\(op.rawValue)=\($0)" } }.joined(separator: " ") + "\n"
        out += "errors: " + (errors.isEmpty ? "0" : errors.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")) + "\n"
        return out
    }

    var json: String {
        let p = percentiles().map { "\"\($0.0)\": \(format($0.1, decimals: 3))" }.joined(separator: ", ")
        let mix = options.mix.map { "\"\($0.0.rawValue)\": \($0.1)" }.joined(separator: ", ")
        let errorText = errors.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \($0.value)" }.joined(separator: ", ")
        return """
            {"label": \(options.label.map { "\"\($0)\"" } ?? "null"), "server": "\(options.server)", \
            "connections": \(options.connections), "inflight": \(options.inFlight), "value_bytes": \(options.valueBytes), \
            "keys": \(options.keys), "mix": {\(mix)}, "seconds": \(format(seconds)), "operations": \(operations), \
            "throughput": \(format(throughput)), "latency_ms": {\(p)}, "errors": {\(errorText)}}
            """
    }
}

func format(_ value: Double, decimals: Int = 1) -> String {
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    var text = String(rounded)
    if let dot = text.firstIndex(of: ".") {
        let fraction = text[text.index(after: dot)...]
        if fraction.count < decimals { text += String(repeating: "0", count: decimals - fraction.count) }
    }
    return text
}

func printError(_ line: String) {
    try? PosixFile(fd: 2).write(Array((line + "\n").utf8))
}
