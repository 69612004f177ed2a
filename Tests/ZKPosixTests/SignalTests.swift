// SIGTERM through signalfd. Blocking a signal affects only the calling thread, and a process-
// directed signal (kill) goes to any thread that does not block it, where SIGTERM's default action
// would end the test runner. So:
// - in-process, the signal is directed at this thread (pthread_kill), and any leftover is consumed
//   before the mask is restored;
// - kill(getpid(), SIGTERM) itself is tested in a forked child, which has a single thread.
import Glibc
import Testing
import ZKPosix

@Suite(.serialized) struct SignalTests {
    @Test func threadDirectedSIGTERMArrivesAsAnEvent() throws {
        let saved = Signals.block([SIGTERM])
        defer {
            consumePending(SIGTERM)
            Signals.restore(saved)
        }
        let loop = try EventLoop()
        try loop.watchSignals([SIGTERM, SIGINT])
        #expect(try loop.nextSignal() == nil)
        #expect(pthread_kill(pthread_self(), SIGTERM) == 0)
        #expect(Signals.pending().contains(SIGTERM))
        try waitFor(token: EventLoop.signalToken, in: loop)
        #expect(try loop.nextSignal() == SIGTERM)
        #expect(try loop.nextSignal() == nil)
    }

    @Test func processDirectedSIGTERMInAForkedChild() throws {
        let saved = Signals.block([SIGTERM])  // the child inherits this thread's mask
        defer { Signals.restore(saved) }
        // Warm up in the parent so the child only runs code whose metadata and lazy globals exist.
        let warm = try EventLoop()
        var events: [EventLoop.Event] = []
        events.reserveCapacity(16)
        try warm.wait(timeoutMs: 0, into: &events)
        let child = fork()
        if child == 0 { _exit(childReceivesSIGTERM(events: &events)) }
        #expect(child > 0)
        var status: Int32 = 0
        #expect(waitpid(child, &status, 0) == child)
        // WIFEXITED and WEXITSTATUS: low 7 bits 0 means exited; the exit code is in bits 8-15.
        #expect(status & 0x7F == 0, "child died from signal \(status & 0x7F)")
        #expect((status >> 8) & 0xFF == 0, "child exit code \((status >> 8) & 0xFF)")
    }
}

/// Runs in the forked child. Returns the exit code: 0 when SIGTERM arrived through the loop.
/// The epoll set must be created here: a signalfd's readiness follows the process that added it.
private func childReceivesSIGTERM(events: inout [EventLoop.Event]) -> Int32 {
    alarm(30)  // if the child ever got stuck, SIGALRM ends it and the parent reports a failure
    do {
        let loop = try EventLoop()
        try loop.watchSignals([SIGTERM])
        guard kill(getpid(), SIGTERM) == 0 else { return 2 }
        try loop.wait(timeoutMs: 10_000, into: &events)
        guard events.contains(where: { $0.token == EventLoop.signalToken }) else { return 3 }
        guard try loop.nextSignal() == SIGTERM else { return 4 }
        return 0
    } catch {
        return 5
    }
}

/// Takes `signal` off the pending set (if there) so unblocking it cannot run its default action.
private func consumePending(_ signal: Int32) {
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, signal)
    var noWait = timespec()
    while sigtimedwait(&set, nil, &noWait) == signal {}
}
