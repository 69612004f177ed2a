// The host facts sampler with an injected sample closure: reads never sample, requests do (later,
// on the sampler's thread), stop joins. Waits are eventfd waits with a deadline, never sleeps.
import Glibc
import Synchronization
import Testing
import ZKPosix
@testable import ZKServer

/// Lets one test thread wait, with a deadline, for a condition other threads make true: they change
/// their state, then call `notify()` (an eventfd write, so a notify before the wait is not lost).
private final class Notifier: @unchecked Sendable {
    // Unchecked: only one thread waits on `loop`; other threads use only its Sendable waker.
    private let loop: EventLoop

    init() throws { loop = try EventLoop(maxEventsPerWait: 1) }

    func notify() { loop.waker.wakeup() }

    func wait(timeoutMs: Int64 = 10_000, until condition: () -> Bool) -> Bool {
        let deadlineMs = monotonicMilliseconds() + timeoutMs
        var events: [EventLoop.Event] = []
        while !condition() {
            let remainingMs = deadlineMs - monotonicMilliseconds()
            if remainingMs <= 0 { return false }
            try? loop.wait(timeoutMs: Int32(remainingMs), into: &events)
        }
        return true
    }
}

/// A sample closure that counts its calls and notes the threads it ran on. Sample n reports n open
/// descriptors, so a test can tell which sample `latest` holds.
private final class CountingSample: Sendable {
    let threads = Mutex<[pthread_t]>([])
    let notifier: Notifier
    /// Runs inside the sample, on the sampler thread (a test may block it there).
    let during: @Sendable (Int) -> Void

    init(during: @escaping @Sendable (Int) -> Void = { _ in }) throws {
        notifier = try Notifier()
        self.during = during
    }

    var count: Int { threads.withLock { $0.count } }

    func sample(_ previous: HostFacts) -> HostFacts {
        let number = threads.withLock { threads in
            threads.append(pthread_self())
            return threads.count
        }
        notifier.notify()
        during(number)
        var facts = HostFacts()
        facts.openFileDescriptors = number
        facts.dataDirSizeBytes = 100 * number
        return facts
    }

    func waitForCount(atLeast count: Int) -> Bool { notifier.wait { self.count >= count } }
}

/// One hour: no periodic sample happens during a test, so counts are exact.
private let hourMs: Int64 = 3_600_000

private func makeSampler(_ counter: CountingSample, refreshIntervalMs: Int64 = 0) throws -> HostFactsSampler {
    try HostFactsSampler(refreshIntervalMs: refreshIntervalMs, periodicIntervalMs: hourMs) { counter.sample($0) }
}

@Suite struct HostFactsTests {
    @Test func beforeTheFirstSampleLatestSaysNotSampled() throws {
        let counter = try CountingSample()
        let sampler = try makeSampler(counter)
        #expect(sampler.latest == HostFacts())
        #expect(!sampler.latest.isSampled)
        #expect(sampler.latest.openFileDescriptors == -1 && sampler.latest.dataDirSizeBytes == 0)
        sampler.requestRefresh()  // no thread yet: only noted
        #expect(counter.count == 0)
        sampler.stop()  // never started: nothing to join
    }

    @Test func readingLatestNeverSamplesOnTheCaller() throws {
        let counter = try CountingSample()
        let sampler = try makeSampler(counter)
        try sampler.start()
        #expect(counter.waitForCount(atLeast: 1))
        for _ in 0..<1_000 { _ = sampler.latest }
        #expect(counter.count == 1)
        let caller = pthread_self()
        #expect(counter.threads.withLock { $0.allSatisfy { pthread_equal($0, caller) == 0 } })
        sampler.stop()
        #expect(sampler.latest.sampleNumber == 1)
        #expect(sampler.latest.openFileDescriptors == 1 && sampler.latest.dataDirSizeBytes == 100)
    }

    @Test func requestRefreshTakesAFreshSample() throws {
        let counter = try CountingSample()
        let sampler = try makeSampler(counter)
        try sampler.start()
        #expect(counter.waitForCount(atLeast: 1))
        sampler.requestRefresh()
        #expect(counter.waitForCount(atLeast: 2))
        sampler.stop()
        // One request, one more sample; joined, so the second one is published.
        #expect(counter.count == 2)
        #expect(sampler.latest.sampleNumber == 2 && sampler.latest.openFileDescriptors == 2)
    }

    @Test func requestsWithinTheRefreshIntervalWait() throws {
        let counter = try CountingSample()
        let sampler = try makeSampler(counter, refreshIntervalMs: hourMs)
        try sampler.start()
        #expect(counter.waitForCount(atLeast: 1))
        for _ in 0..<100 { sampler.requestRefresh() }
        sampler.stop()
        #expect(counter.count == 1)
    }

    @Test func stopWaitsForTheSampleInProgress() throws {
        let gateOpen = Mutex(false)
        let gate = try Notifier()
        let stopReturned = Mutex(false)
        let sawStopReturned = Mutex<Bool?>(nil)
        // The first sample blocks until the test opens the gate, then notes whether stop() had returned.
        let counter = try CountingSample { number in
            guard number == 1 else { return }
            _ = gate.wait { gateOpen.withLock { $0 } }
            sawStopReturned.withLock { $0 = stopReturned.withLock { $0 } }
        }
        let sampler = try makeSampler(counter)
        try sampler.start()
        #expect(counter.waitForCount(atLeast: 1))
        let stopped = try Notifier()
        let stopper = try PosixThread(name: "stopper") {
            sampler.stop()
            stopReturned.withLock { $0 = true }
            stopped.notify()
        }
        gateOpen.withLock { $0 = true }
        gate.notify()
        #expect(stopped.wait { stopReturned.withLock { $0 } })
        stopper.join()
        #expect(sawStopReturned.withLock { $0 } == false)
        #expect(counter.count == 1 && sampler.latest.sampleNumber == 1)
    }

    @Test func productionSampleWalksBothDirectoriesAndKeepsTheHostName() throws {
        let root = try FileSystem.makeTemporaryDirectory(prefix: "zkhostfacts")
        defer { try? FileSystem.removeRecursively(root) }
        var config = ServerConfig(dataDir: root + "/data")
        config.dataLogDir = root + "/log"
        try FileSystem.makeDirectories(config.dataDir + "/version-2")
        try FileSystem.makeDirectories(config.dataLogDir + "/version-2")
        try FileSystem.writeFileAtomically(config.dataDir + "/version-2/snapshot.1", bytes: [UInt8](repeating: 1, count: 30))
        try FileSystem.writeFileAtomically(config.dataLogDir + "/version-2/log.1", bytes: [UInt8](repeating: 2, count: 700))
        var previous = HostFacts()
        previous.sampleNumber = 1
        previous.hostName = "kept.example"
        previous.userName = "kept-user"
        let facts = Server.sampleHostFacts(config: config, previous: previous)
        // Apache 3.8.0's swap: the log directory is reported as the data dir, and the other way round.
        #expect(facts.dataDirSizeBytes == 700)
        #expect(facts.dataLogDirSizeBytes == 30)
        #expect(facts.openFileDescriptors > 0 && facts.residentMemoryBytes > 0)
        #expect(facts.hostName == "kept.example" && facts.userName == "kept-user" && facts.homeDirectory == nil)
    }

    @Test func theFirstSampleLeavesTheNamesForTheNextSoDNSNeverDelaysIt() throws {
        let root = try FileSystem.makeTemporaryDirectory(prefix: "zkhostfacts")
        defer { try? FileSystem.removeRecursively(root) }
        let config = ServerConfig(dataDir: root + "/data")
        let first = Server.sampleHostFacts(config: config, previous: HostFacts())
        #expect(first.namesPending && first.hostName == nil && first.openFileDescriptors > 0 && first.residentMemoryBytes > 0)
        var previous = first
        previous.sampleNumber = 1
        let second = Server.sampleHostFacts(config: config, previous: previous)
        #expect(!second.namesPending && second.hostName != nil)
    }
}
