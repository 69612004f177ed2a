import Testing
@testable import ZKCore
@testable import ZKProtocol
@testable import ZKZab
@testable import ZKSimulation

/// Whole ensembles of `ZabPeer`s under crashes, restarts and partitions (`EnsembleSimulation`):
/// one leader per epoch, one committed history, nothing committed lost. `zk-sim --ensemble N`
/// runs many more seeds; a failure here prints the seed and the end of its trace.
@Suite struct EnsembleSimulationTests {
    static func run(seed: UInt64, servers: Int = 3) -> EnsembleResult {
        var options = EnsembleOptions(seed: seed)
        options.servers = servers
        var simulation = EnsembleSimulation(options)
        return simulation.run()
    }

    @Test(arguments: 1...40)
    func threeServersKeepOneHistory(seed: UInt64) {
        let result = EnsembleSimulationTests.run(seed: seed)
        #expect(result.failures.isEmpty, "seed \(seed): \(result.failures.prefix(5))\ntrace tail:\n\(result.trace.suffix(40).joined(separator: "\n"))")
    }

    /// Seed 20 found it: a follower whose snapshot (installed by SNAP from a leader that never
    /// established its epoch) holds txns no quorum committed, then TRUNC below that snapshot from the
    /// next leader. Cutting the log alone left those txns in the tree; now the follower drops its data
    /// and is resynchronized by SNAP.
    @Test func aTruncationBelowAnInstalledSnapshotResynchronizes() {
        let result = EnsembleSimulationTests.run(seed: 20)
        #expect(result.failures.isEmpty, "\(result.failures.prefix(3))")
        #expect(result.trace.contains { $0.contains("cannot truncate") })
    }

    @Test(arguments: 1...15)
    func fiveServersKeepOneHistory(seed: UInt64) {
        let result = EnsembleSimulationTests.run(seed: seed, servers: 5)
        #expect(result.failures.isEmpty, "seed \(seed): \(result.failures.prefix(5))\ntrace tail:\n\(result.trace.suffix(40).joined(separator: "\n"))")
    }

    /// Seed 1184 found it: a follower wrote currentEpoch at NEWLEADER before the DIFF's txns were
    /// durable, crashed, and came back with the new epoch and a shorter log; its vote then won the
    /// next election (epoch first) and its TRUNC cut committed txns off the others.
    @Test func currentEpochWaitsForTheSynchronizedTxns() {
        let result = EnsembleSimulationTests.run(seed: 1184)
        #expect(result.failures.isEmpty, "\(result.failures.prefix(3))")
    }

    /// Seed 13 (five servers): a server that accepted the epoch of a leader that never established it
    /// refuses the established leader's lower epoch until the next election.
    @Test func aStaleAcceptedEpochWaitsForTheNextElection() {
        let result = EnsembleSimulationTests.run(seed: 13, servers: 5)
        #expect(result.failures.isEmpty, "\(result.failures.prefix(3))")
        #expect(result.trace.contains { $0.contains("is less than accepted epoch") })
    }

    @Test func aFaultFreeEnsembleCommitsEverythingInOneEpoch() {
        var simulation = EnsembleSimulation(EnsembleOptions(seed: 99))
        for _ in 0..<3000 { simulation.step(faults: false) }
        let settled = simulation.healAndSettle()
        #expect(settled, "\(simulation.describe())")
        #expect(simulation.leadersByEpoch.count == 1)
        let reference = simulation.applied[ServerID(1)]!
        #expect(reference.count == simulation.proposalsMade)
        for id in 2...3 as ClosedRange<Int64> { #expect(simulation.applied[ServerID(id)]! == reference) }
        #expect(reference.first?.zxid == Zxid(0x1_0000_0001))
    }

    /// The fault schedule is not idle: servers crash and restart, the network splits, leadership
    /// moves, and txns commit in several epochs.
    @Test func theScheduleCrashesSplitsAndMovesLeadership() {
        var epochs = 0, crashes = 0, partitions = 0, committed = 0
        for seed in 1...10 as ClosedRange<UInt64> {
            let result = EnsembleSimulationTests.run(seed: seed)
            epochs += result.epochs
            crashes += result.crashes
            partitions += result.partitions
            committed += result.committed
        }
        #expect(crashes >= 20, "\(crashes) crashes")
        #expect(partitions >= 5, "\(partitions) partitions")
        #expect(epochs >= 20, "\(epochs) epochs established")
        #expect(committed >= 500, "\(committed) txns committed")
    }
}
