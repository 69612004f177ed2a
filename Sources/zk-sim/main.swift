/// zk-sim: runs the single-server simulator over seeds.
///
///     zk-sim --seed 42 [--trace]          one seed; a failing seed prints its trace
///     zk-sim --seeds 1-100000             a range of seeds
///     zk-sim --budget-seconds 60 [--from N]   consecutive seeds until the time is up
///     options: --steps N (per seed), --clients N, --bug syncs-lost|durable-before-write,
///              --start-counter 0xfffffff0 (start near the end of epoch 0's counter)
///     zk-sim --ensemble 3 (--seed N | --seeds A-B | --budget-seconds S) [--steps N]
///              the ensemble simulator: N ZabPeers with crashes, restarts and partitions
///     zk-sim --replicas 3 (--seed N | --seeds A-B | --budget-seconds S) [--steps N] [--clients N]
///              whole servers: N Replicas with their ZabPeers, storage engines and clients
///
/// Exits 1 if any seed fails, 2 on bad arguments. Every run prints the seeds it covered, so a CI
/// log names the seed to replay.
import ZKCore
import ZKPosix
import ZKSimulation

func usage(_ message: String) -> Never {
    print("zk-sim: \(message)")
    print("usage: zk-sim (--seed N | --seeds A-B | --budget-seconds S [--from N]) [--steps N] [--clients N] [--bug NAME] [--start-counter X] [--trace]")
    Signals.exitProcess(2)
}

func parseNumber(_ text: String) -> UInt64? {
    text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
}

var seeds: ClosedRange<UInt64>?
var budgetSeconds: Int64?
var from: UInt64 = 1
var template = SimulationOptions(seed: 0)
var alwaysTrace = false
var ensembleServers: Int?
var replicaServers: Int?
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    func value() -> String {
        guard let v = arguments.next() else { usage("\(argument) needs a value") }
        return v
    }
    switch argument {
    case "--seed":
        guard let n = parseNumber(value()) else { usage("bad seed") }
        seeds = n...n
    case "--seeds":
        let parts = value().split(separator: "-").map(String.init)
        guard parts.count == 2, let a = parseNumber(parts[0]), let b = parseNumber(parts[1]), a <= b else { usage("bad seed range") }
        seeds = a...b
    case "--budget-seconds":
        guard let n = Int64(value()), n > 0 else { usage("bad budget") }
        budgetSeconds = n
    case "--from":
        guard let n = parseNumber(value()) else { usage("bad --from") }
        from = n
    case "--steps":
        guard let n = Int(value()), n > 0 else { usage("bad step count") }
        template.steps = n
    case "--clients":
        guard let n = Int(value()), n > 0, n <= 64 else { usage("bad client count") }
        template.clients = n
    case "--bug":
        let name = value()
        guard let bug = SimulationBug(rawValue: name) else {
            usage("unknown bug \(name) (known: \(SimulationBug.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        template.bug = bug
    case "--start-counter":
        guard let n = parseNumber(value()), n <= UInt64(UInt32.max) else { usage("bad counter") }
        template.startCounter = UInt32(n)
    case "--trace":
        alwaysTrace = true
    case "--replicas":
        guard let n = Int(value()), n >= 1, n <= 9 else { usage("bad ensemble size (1…9)") }
        replicaServers = n
    case "--ensemble":
        guard let n = Int(value()), n >= 1, n <= 9 else { usage("bad ensemble size (1…9)") }
        ensembleServers = n
    default:
        usage("unknown argument \(argument)")
    }
}

/// The seed being run and how to replay it, printed if an invariant traps mid-run.
nonisolated(unsafe) var replayCommand = ""
invariantFailureHook = { message in
    print("FAILED (invariant): \(message)")
    print("replay: \(replayCommand)")
    flushStandardOutput()
}

let start = monotonicMilliseconds()
var passed = 0
var failed: [UInt64] = []
var seed = seeds?.lowerBound ?? from
let last = seeds?.upperBound ?? UInt64.max
if seeds == nil && budgetSeconds == nil { usage("give --seed, --seeds or --budget-seconds") }
while let servers = replicaServers {
    var options = ReplicaEnsembleOptions(seed: seed)
    options.servers = servers
    if template.steps != SimulationOptions(seed: 0).steps { options.steps = template.steps }
    if template.clients != SimulationOptions(seed: 0).clients { options.clients = template.clients }
    if alwaysTrace { options.traceSink = { print($0) } }
    replayCommand = "zk-sim --replicas \(servers) --seed \(seed) --steps \(options.steps) --clients \(options.clients) --trace"
    let report = ReplicaEnsembleSimulation(options).run()
    if report.failure == nil {
        passed += 1
        if seeds?.count == 1 { print(report.summary) }
    } else {
        failed.append(seed)
        options.trace = !alwaysTrace
        let replay = ReplicaEnsembleSimulation(options).run()
        for line in replay.trace.suffix(alwaysTrace ? Int.max : 400) { print(line) }
        print(replay.summary)
        print("FAILED: \(report.failure!)")
        print("replay: zk-sim --replicas \(servers) --seed \(seed) --steps \(options.steps) --clients \(options.clients) --trace")
        if failed.count >= 5 { break }
    }
    if seed == last { break }
    if let budgetSeconds, monotonicMilliseconds() - start >= budgetSeconds * 1000 { break }
    seed += 1
}
while replicaServers == nil, let servers = ensembleServers {
    var options = EnsembleOptions(seed: seed)
    options.servers = servers
    if template.steps != SimulationOptions(seed: 0).steps { options.steps = template.steps }
    replayCommand = "zk-sim --ensemble \(servers) --seed \(seed) --steps \(options.steps) --trace"
    var simulation = EnsembleSimulation(options)
    let result = simulation.run()
    if result.failures.isEmpty {
        passed += 1
        if alwaysTrace || seeds?.count == 1 {
            if alwaysTrace { for line in result.trace { print(line) } }
            print("seed \(seed): \(result.epochs) epochs, \(result.crashes) crashes, \(result.partitions) partitions, \(result.committed) txns committed")
        }
    } else {
        failed.append(seed)
        for line in result.trace.suffix(alwaysTrace ? Int.max : 400) { print(line) }
        print("FAILED: \(result.failures.prefix(5).joined(separator: "; "))")
        print("replay: zk-sim --ensemble \(servers) --seed \(seed) --steps \(options.steps) --trace")
        if failed.count >= 5 { break }
    }
    if seed == last { break }
    if let budgetSeconds, monotonicMilliseconds() - start >= budgetSeconds * 1000 { break }
    seed += 1
}
while ensembleServers == nil && replicaServers == nil {
    var options = template
    options.seed = seed
    options.trace = alwaysTrace
    replayCommand = "zk-sim --seed \(seed) --steps \(options.steps) --clients \(options.clients)"
        + (options.bug.map { " --bug \($0.rawValue)" } ?? "") + (options.startCounter.map { " --start-counter \($0)" } ?? "") + " --trace"
    let report = SingleServerSimulation(options).run()
    if report.failure == nil {
        passed += 1
        if alwaysTrace { for line in report.trace { print(line) } }
        if seeds?.count == 1 { print(report.summary) }
    } else {
        failed.append(seed)
        // Replay with the trace on: the run is deterministic, so it fails the same way.
        options.trace = true
        let replay = SingleServerSimulation(options).run()
        for line in replay.trace.suffix(alwaysTrace ? Int.max : 400) { print(line) }
        print(replay.summary)
        print("FAILED: \(report.failure!)")
        print("replay: zk-sim --seed \(seed) --steps \(options.steps) --clients \(options.clients)"
              + (options.bug.map { " --bug \($0.rawValue)" } ?? "")
              + (options.startCounter.map { " --start-counter \($0)" } ?? "") + " --trace")
        if failed.count >= 5 { break }
    }
    if seed == last { break }
    if let budgetSeconds, monotonicMilliseconds() - start >= budgetSeconds * 1000 { break }
    seed += 1
}
let first = seeds?.lowerBound ?? from
print("zk-sim: seeds \(first)-\(seed): \(passed) passed, \(failed.count) failed\(failed.isEmpty ? "" : " (\(failed.map(String.init).joined(separator: ", ")))") in \(monotonicMilliseconds() - start) ms")
Signals.exitProcess(failed.isEmpty ? 0 : 1)
