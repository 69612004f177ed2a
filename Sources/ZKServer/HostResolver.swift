import Synchronization
import ZKCore
import ZKPosix

/// Resolves peers' host names on a thread of its own, so that the event loop never waits for DNS.
///
/// getaddrinfo blocks, and for a name nobody answers it blocks for the resolver's whole timeout
/// (5 s per attempt by default): in a StatefulSet a stopped pod's name is forwarded upstream, and
/// with no upstream in reach every lookup took seconds. Done on the loop, that froze the server —
/// no `ruok` for the liveness probe, no SIGTERM handled — each time it retried a stopped peer.
///
/// `lookup` never blocks: it returns the latest answer (nil before the first one) and asks for a
/// fresh one, so every connection attempt uses an answer at most one attempt old and a stale address
/// costs one failed connect. Answers wake the event loop; `takeAnswered` says for which names.
/// Bounded: one entry per distinct name asked for, and the names come from the `server.N` lines.
final class HostResolver: @unchecked Sendable {
    // Unchecked: only the resolver thread waits on `loop`; others touch only its Sendable waker.
    // `thread` is touched only by start/stop on the owner's thread. The rest is in `state`.
    private struct State {
        var answers: [String: Result<[SocketAddress], SyscallError>] = [:]
        /// Names to resolve (again), in the order asked.
        var wanted: [String] = []
        var answered: Set<String> = []
        var stopping = false
        var lookingUp = false
    }

    static let namesMax = 1024
    private let state = Mutex(State())
    private let resolve: @Sendable (String) -> Result<[SocketAddress], SyscallError>
    private let loopWaker: Waker
    private let loop: EventLoop
    private var thread: PosixThread?

    /// - Parameter resolve: the lookup (getaddrinfo by default; tests inject a slow or failing one).
    init(loopWaker: Waker,
         resolve: @escaping @Sendable (String) -> Result<[SocketAddress], SyscallError> = HostResolver.getaddrinfo) throws(ServerError) {
        self.loopWaker = loopWaker
        self.resolve = resolve
        do { loop = try EventLoop(maxEventsPerWait: 1) } catch { throw .fatal("cannot create the resolver's event loop: \(error)") }
    }

    static func getaddrinfo(_ host: String) -> Result<[SocketAddress], SyscallError> {
        do { return .success(try SocketAddress.resolve(host: host, port: 0)) } catch { return .failure(error) }
    }

    func start() throws(ServerError) {
        precondition(thread == nil, "HostResolver started twice")
        do {
            thread = try PosixThread(name: "Resolver") { [self] in run() }
        } catch {
            throw .fatal("cannot start the resolver thread: \(error)")
        }
    }

    /// Stops the thread. A lookup in progress is not waited for (it may take the resolver's whole
    /// timeout, and a server stopping on SIGTERM should exit at once): that thread is left to end
    /// by itself.
    func stop() {
        let busy = state.withLock { state in
            state.stopping = true
            return state.lookingUp
        }
        loop.waker.wakeup()
        if !busy { thread?.join() }
        thread = nil
    }

    /// The latest answer for `host`, nil if there is none yet; a fresh lookup is asked for either way.
    func lookup(_ host: String) -> Result<[SocketAddress], SyscallError>? {
        let (answer, wake) = state.withLock { state -> (Result<[SocketAddress], SyscallError>?, Bool) in
            let answer = state.answers[host]
            guard !state.wanted.contains(host) else { return (answer, false) }
            guard state.answers.count + state.wanted.count < HostResolver.namesMax else { return (answer, false) }
            state.wanted.append(host)
            return (answer, true)
        }
        if wake { loop.waker.wakeup() }
        return answer
    }

    /// Whether answers arrived since the last `takeAnswered`.
    var hasAnswers: Bool { state.withLock { !$0.answered.isEmpty } }

    /// The names answered since the last call.
    func takeAnswered() -> Set<String> {
        state.withLock { state in
            defer { state.answered = [] }
            return state.answered
        }
    }

    private func run() {
        var events: [EventLoop.Event] = []
        while true {
            // nil: stop; .some(nil): nothing to resolve, wait.
            let next = state.withLock { state -> String?? in
                if state.stopping { return .none }
                state.lookingUp = !state.wanted.isEmpty  // in this lock, so that `stop` sees it
                return .some(state.wanted.first)
            }
            guard case .some(let host) = next else { return }  // stopping
            guard let host else {
                try? loop.wait(timeoutMs: 1_000, into: &events)
                continue
            }
            let answer = resolve(host)
            state.withLock { state in
                state.lookingUp = false
                state.answers[host] = answer
                state.wanted.removeAll { $0 == host }
                state.answered.insert(host)
            }
            loopWaker.wakeup()
        }
    }
}
