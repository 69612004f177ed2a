/// The host facts that cost IO to read (a listing of /proc/self/fd, a walk of both data directories,
/// DNS and passwd lookups), sampled on a thread of their own. Every four-letter word, a liveness
/// probe's `ruok` included, builds a `HostSnapshot`; reading these facts on the event loop made each
/// probe pay for a directory walk that grows with the data directory, and for DNS when it is slow.
///
/// The loop reads the cached sample (`latest`, a mutex-protected copy, no IO) and asks for a fresh one
/// (`requestRefresh`, an eventfd write). The thread samples when asked, at most every
/// `refreshIntervalMs`, and every `periodicIntervalMs` regardless, so a reported value is at most
/// about `periodicIntervalMs` old and, while words keep coming, about `refreshIntervalMs` old.
import Synchronization
import ZKPosix

/// One sample. The defaults are the values of "not sampled yet" (`sampleNumber` 0), and they match
/// `HostSnapshot`'s defaults; a word answered before the first sample reports zero directory sizes,
/// as it would if the walks had failed (descriptors and memory are then read on the spot).
struct HostFacts: Sendable, Equatable {
    var openFileDescriptors: Int = -1
    var residentMemoryBytes: Int = 0
    var virtualMemoryBytes: Int = 0
    var dataDirSizeBytes: Int = 0
    var dataLogDirSizeBytes: Int = 0
    /// `envi`'s host.name, user.name and user.home: getaddrinfo may wait on DNS and getpwuid_r on
    /// NSS (LDAP, sssd), so they are sampled here too. nil until sampled or when there is no answer.
    var hostName: String?
    var userName: String?
    var homeDirectory: String?
    /// Set by the sampler: 1 for the first sample, counting up.
    var sampleNumber = 0
    /// The host and user names are still to be looked up: the sampler samples again at once.
    var namesPending = false

    var isSampled: Bool { sampleNumber > 0 }

    /// The process' own figures, cheap reads of /proc/self (statm, the fd directory).
    mutating func sampleProcess() {
        openFileDescriptors = (try? SystemInfo.openFileDescriptorCount()) ?? -1
        let memory = (try? SystemInfo.memoryBytes()) ?? (virtual: 0, resident: 0)
        residentMemoryBytes = Int(memory.resident)
        virtualMemoryBytes = Int(memory.virtual)
    }
}

/// Thread-safe: `latest` and `requestRefresh` may be called from any thread; `start` and `stop`
/// by the owner, once each.
final class HostFactsSampler: @unchecked Sendable {
    // Unchecked: only the sampler thread waits on `loop`; other threads touch only its Sendable
    // waker. `thread` is touched only by start/stop on the owner's thread. The rest is in `state`.
    private struct State {
        var latest = HostFacts()
        var refreshRequested = false
        var stopping = false
    }

    private let state = Mutex(State())
    /// Given the previous sample (so facts that never change, like the host name, can be kept).
    private let sample: @Sendable (_ previous: HostFacts) -> HostFacts
    private let refreshIntervalMs: Int64
    private let periodicIntervalMs: Int64
    private let loop: EventLoop
    private var thread: PosixThread?

    init(refreshIntervalMs: Int64, periodicIntervalMs: Int64 = 5_000,
         sample: @escaping @Sendable (_ previous: HostFacts) -> HostFacts) throws(ServerError) {
        // Bounded so that adding an interval to a monotonic time can never overflow.
        precondition(refreshIntervalMs >= 0 && refreshIntervalMs <= Int64(Int32.max), "refreshIntervalMs out of range")
        precondition(periodicIntervalMs > 0 && periodicIntervalMs <= Int64(Int32.max), "periodicIntervalMs out of range")
        self.sample = sample
        self.refreshIntervalMs = refreshIntervalMs
        self.periodicIntervalMs = periodicIntervalMs
        do { loop = try EventLoop(maxEventsPerWait: 1) } catch { throw .fatal("cannot create the host facts event loop: \(error)") }
    }

    /// Starts the thread; its first sample is taken at once.
    func start() throws(ServerError) {
        precondition(thread == nil, "HostFactsSampler started twice")
        do {
            thread = try PosixThread(name: "HostFacts") { [self] in run() }
        } catch {
            throw .fatal("cannot start the host facts thread: \(error)")
        }
    }

    /// Stops and joins the thread; waits for a sample in progress to finish.
    func stop() {
        state.withLock { $0.stopping = true }
        loop.waker.wakeup()
        thread?.join()
        thread = nil
    }

    /// The newest sample, or `HostFacts()` (not sampled) before the first one. Never does IO.
    var latest: HostFacts { state.withLock { $0.latest } }

    /// Asks for a fresh sample soon (within `refreshIntervalMs` of the previous one). Never blocks.
    func requestRefresh() {
        let alreadyRequested = state.withLock { state in
            defer { state.refreshRequested = true }
            return state.refreshRequested
        }
        // A request still pending has woken the thread already; the eventfd write is then not needed.
        if !alreadyRequested { loop.waker.wakeup() }
    }

    private func run() {
        var events: [EventLoop.Event] = []
        var lastSampleMs: Int64?
        while true {
            let (stopping, refreshRequested) = state.withLock { ($0.stopping, $0.refreshRequested) }
            if stopping { return }
            let intervalMs = refreshRequested ? min(refreshIntervalMs, periodicIntervalMs) : periodicIntervalMs
            let namesPending = state.withLock { $0.latest.namesPending }
            let waitMs = namesPending ? 0 : lastSampleMs.map { $0 + intervalMs - monotonicMilliseconds() } ?? 0
            if waitMs > 0 {
                try? loop.wait(timeoutMs: Int32(waitMs), into: &events)
                continue
            }
            // Cleared before sampling, so a request arriving during the sample gets a later one.
            let previous = state.withLock { state in
                state.refreshRequested = false
                return state.latest
            }
            var facts = sample(previous)
            facts.sampleNumber = previous.sampleNumber + 1
            state.withLock { $0.latest = facts }
            // Measured from the end, so a walk slower than the interval never runs back to back.
            lastSampleMs = monotonicMilliseconds()
        }
    }
}
