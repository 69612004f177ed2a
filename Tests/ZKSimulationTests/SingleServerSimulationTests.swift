/// Fixed seeds of the single-server simulator (`scripts/test` runs many more in a time budget, and
/// `zk-sim --seeds A-B` any range). A failing seed names itself and the command that replays it.
import Testing
import ZKCore
import ZKSimulation

@Suite struct SingleServerSimulationTests {
    static func run(_ seed: UInt64, bug: SimulationBug? = nil, startCounter: UInt32? = nil) -> SimulationReport {
        var options = SimulationOptions(seed: seed)
        options.bug = bug
        options.startCounter = startCounter
        return SingleServerSimulation(options).run()
    }

    @Test(arguments: UInt64(1)...16)
    func powerLossesLoseNoAcknowledgedWrite(seed: UInt64) {
        let report = Self.run(seed)
        #expect(report.failure == nil, "\(report.summary): \(report.failure ?? "") (replay: zk-sim --seed \(seed) --trace)")
        #expect(report.powerLosses > 0)
    }

    /// The counter crosses 0xffffffff (a new epoch), through power losses and restarts.
    @Test(arguments: UInt64(1)...6)
    func theZxidCounterRollsIntoANewEpoch(seed: UInt64) {
        let report = Self.run(seed, startCounter: 0xffff_fff0)
        #expect(report.failure == nil, "\(report.summary): \(report.failure ?? "") (replay: zk-sim --seed \(seed) --start-counter 0xfffffff0 --trace)")
        #expect(report.lastZxid.epoch == Epoch(1), "\(report.summary)")
    }

    @Test func aSeedReplaysExactly() {
        var options = SimulationOptions(seed: 99)
        options.trace = true
        let a = SingleServerSimulation(options).run(), b = SingleServerSimulation(options).run()
        #expect(a.summary == b.summary)
        #expect(a.trace == b.trace)
        #expect(a.trace.count > 100)
    }

    /// The checkers are not vacuous: a log writer whose fdatasync persists nothing, and a shell
    /// that tells the replica a txn is durable before writing it, both lose acknowledged writes,
    /// and every one of these seeds finds it.
    @Test(arguments: SimulationBug.allCases)
    func brokenDurabilityIsCaught(bug: SimulationBug) {
        for seed in UInt64(1)...5 {
            let report = Self.run(seed, bug: bug)
            #expect(report.failure?.hasPrefix("acknowledged write lost") == true, "seed \(seed) with \(bug): \(report.failure ?? "no failure")")
        }
    }

    @Test func aFailingSeedPrintsATraceEndingInTheViolation() {
        var options = SimulationOptions(seed: 1)
        options.bug = .durableBeforeWrite
        options.trace = true
        let report = SingleServerSimulation(options).run()
        let last = report.trace.last ?? ""
        #expect(last.contains("VIOLATION: acknowledged write lost"), "\(last)")
        #expect(report.trace.contains { $0.contains("POWER LOSS") || $0.contains("KILL") })
    }
}
