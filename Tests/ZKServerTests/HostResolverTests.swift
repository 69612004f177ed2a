import Dispatch
import Testing
import ZKPosix
@testable import ZKServer

/// Peers' names are resolved off the event loop: a lookup that hangs (DNS with no upstream in reach)
/// must not stop the loop from answering probes and signals.
@Suite struct HostResolverTests {
    @Test func aHangingLookupNeverBlocksTheCallerAndItsAnswerWakesTheLoop() throws {
        let loop = try EventLoop()
        let gate = DispatchSemaphore(value: 0)
        let answer = SocketAddress(ip: "10.0.0.7", port: 0)!
        let resolver = try HostResolver(loopWaker: loop.waker) { host in
            gate.wait()  // a lookup that takes as long as the test wants
            return host == "zk-1.example" ? .success([answer]) : .failure(.resolutionFailed(host: host, reason: "NXDOMAIN"))
        }
        try resolver.start()
        #expect(resolver.lookup("zk-1.example") == nil, "no answer yet, and no waiting for one")
        #expect(resolver.lookup("zk-1.example") == nil)
        #expect(!resolver.hasAnswers)
        gate.signal()
        var events: [EventLoop.Event] = []
        while !resolver.hasAnswers { try loop.wait(timeoutMs: 10_000, into: &events) }
        #expect(resolver.takeAnswered() == ["zk-1.example"])
        guard case .success(let addresses) = resolver.lookup("zk-1.example") else {
            Issue.record("the answer was lost")
            return
        }
        #expect(addresses == [answer])
        // That lookup asked for a fresh answer; the resolver is now blocked in it. Stopping does not wait.
        resolver.stop()
        gate.signal()
    }

    @Test func aFailedLookupIsAnAnswerToo() throws {
        let loop = try EventLoop()
        let resolver = try HostResolver(loopWaker: loop.waker) { host in .failure(.resolutionFailed(host: host, reason: "NXDOMAIN")) }
        try resolver.start()
        defer { resolver.stop() }
        #expect(resolver.lookup("gone.example") == nil)
        var events: [EventLoop.Event] = []
        while !resolver.hasAnswers { try loop.wait(timeoutMs: 10_000, into: &events) }
        guard case .failure(let error) = resolver.lookup("gone.example") else {
            Issue.record("a failure was reported as an address")
            return
        }
        #expect(error.mayResolveLater)
    }
}
