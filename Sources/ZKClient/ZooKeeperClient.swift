/// A ZooKeeper client: the POSIX shell around `ClientCore`.
///
/// One IO thread runs an epoll loop with the connection; callers on any thread submit requests into
/// a queue and wake it. Completions and watch events run on one serial event queue, in the order the
/// server sent them, never on the IO thread, so a callback may itself make blocking calls.
///
///     let zk = try ZooKeeperClient(connectString: "127.0.0.1:2181/app")
///     _ = zk.waitUntilConnected(timeoutMs: 5000)
///     let path = try zk.create("/node", data: Array("hi".utf8))
///     let (data, stat) = try zk.getData("/node")
import Dispatch
import Synchronization
import ZKCore
import ZKProtocol
import ZKPosix

public final class ZooKeeperClient: @unchecked Sendable {
    // Unchecked: `core`, `socket`, `decoder`, `output` and `completions` belong to the IO thread;
    // everything shared is behind `shared`.
    private struct Shared {
        var inbox: [ClientInput] = []
        var state: ClientState = .connecting
        var sessionID: Int64 = 0
        var password: [UInt8] = []
        var negotiatedTimeoutMs: Int32 = 0
        var host: String?
        var stateWaiters: [DispatchSemaphore] = []
        var nextRequestID: RequestID = 1
        /// `direct` completions run on the IO thread (blocking calls: their waiter may itself be a
        /// callback on the event queue); the rest run on the event queue.
        var completions: [RequestID: (direct: Bool, body: @Sendable (Result<Response, ZooKeeperError>) -> Void)] = [:]
        /// close() finished: new requests fail at once.
        var stopped = false
    }

    private let shared = Mutex(Shared())
    private var core: ClientCore
    private let loop: EventLoop
    private let events = DispatchQueue(label: "zk-client-events")
    private static let onEventQueue = DispatchSpecificKey<Bool>()
    private let defaultWatcher: Watcher?
    private let logger: (@Sendable (String) -> Void)?
    private var thread: PosixThread?
    private var socket: Int32 = -1
    private var connecting = false
    private var decoder: FrameDecoder
    private var output = OutputQueue()
    private var readBuffer = [UInt8](repeating: 0, count: 64 * 1024)
    private let running = Atomic<Bool>(true)
    public let connectString: ConnectString
    private static let socketToken: UInt64 = 1

    public init(connectString text: String, sessionTimeoutMs: Int32 = 30_000, canBeReadOnly: Bool = false,
                sessionID: SessionID? = nil, password: [UInt8]? = nil, packetSizeBytesMax: Int = 0xFFFFF,
                watcher: Watcher? = nil, logger: (@Sendable (String) -> Void)? = nil) throws(ZooKeeperError) {
        connectString = try ConnectString(text)
        core = ClientCore(connectString: connectString, timeoutMs: sessionTimeoutMs, canBeReadOnly: canBeReadOnly,
                          seed: UInt64(bitPattern: monotonicNanoseconds()), sessionID: sessionID?.rawValue ?? 0,
                          password: password ?? Array(repeating: 0, count: 16))
        decoder = FrameDecoder(frameSizeBytesMax: packetSizeBytesMax)
        defaultWatcher = watcher
        self.logger = logger
        events.setSpecific(key: ZooKeeperClient.onEventQueue, value: true)
        do {
            loop = try EventLoop(maxEventsPerWait: 8)
        } catch {
            throw ZooKeeperError(.systemError, path: "event loop: \(error)")
        }
        do {
            thread = try PosixThread(name: "zk-client-io") { [self] in run() }
        } catch {
            throw ZooKeeperError(.systemError, path: "IO thread: \(error)")
        }
    }

    deinit {
        running.store(false, ordering: .releasing)
        loop.waker.wakeup()
    }

    // MARK: State

    public var state: ClientState { shared.withLock { $0.state } }
    public var sessionID: SessionID { SessionID(shared.withLock { $0.sessionID }) }
    public var sessionPassword: [UInt8] { shared.withLock { $0.password } }
    public var negotiatedTimeoutMs: Int32 { shared.withLock { $0.negotiatedTimeoutMs } }
    /// The host currently (or last) connected to, as "host:port".
    public var connectedHost: String? { shared.withLock { $0.host } }

    /// Waits until connected, or until the session is finished or the time is up. Returns whether
    /// the client is connected.
    public func waitUntilConnected(timeoutMs: Int) -> Bool {
        let deadline = DispatchTime.now() + .milliseconds(timeoutMs)
        while true {
            let semaphore = DispatchSemaphore(value: 0)
            let current: ClientState = shared.withLock { s in
                if s.state != .connected && s.state != .connectedReadOnly && s.state.isAlive { s.stateWaiters.append(semaphore) }
                return s.state
            }
            if current == .connected || current == .connectedReadOnly { return true }
            if !current.isAlive { return false }
            if semaphore.wait(timeout: deadline) == .timedOut { return false }
        }
    }

    // MARK: Requests

    /// Sends a request; `completion` runs on the event queue with the reply.
    public func submit(_ request: Request, completion: @escaping @Sendable (Result<Response, ZooKeeperError>) -> Void) {
        enqueue(request, direct: false, completion)
    }

    private func enqueue(_ request: Request, direct: Bool, _ completion: @escaping @Sendable (Result<Response, ZooKeeperError>) -> Void) {
        let accepted = shared.withLock { s in
            guard !s.stopped else { return false }
            let id = s.nextRequestID
            s.nextRequestID += 1
            s.completions[id] = (direct, completion)
            s.inbox.append(.submit(id, request))
            return true
        }
        guard accepted else {
            // Closed: Java answers SESSIONEXPIRED after close.
            let failure = ZooKeeperError(.sessionExpired, path: request.path)
            if direct { completion(.failure(failure)) } else { events.async { completion(.failure(failure)) } }
            return
        }
        loop.waker.wakeup()
    }

    /// Sends a request and waits for its reply.
    public func call(_ request: Request) throws(ZooKeeperError) -> Response {
        let semaphore = DispatchSemaphore(value: 0)
        let box = Mutex<Result<Response, ZooKeeperError>?>(nil)
        enqueue(request, direct: true) { result in
            box.withLock { $0 = result }
            semaphore.signal()
        }
        semaphore.wait()
        return try box.withLock { $0! }.get()
    }

    /// Closes the session (the server deletes its ephemerals) and stops the client.
    public func close() {
        shared.withLock { $0.inbox.append(.close) }
        loop.waker.wakeup()
        while state.isAlive {
            let semaphore = DispatchSemaphore(value: 0)
            let alive = shared.withLock { s in
                if s.state.isAlive { s.stateWaiters.append(semaphore) }
                return s.state.isAlive
            }
            if !alive { break }
            if semaphore.wait(timeout: .now() + .seconds(10)) == .timedOut { break }
        }
        shared.withLock { $0.stopped = true }
        running.store(false, ordering: .releasing)
        loop.waker.wakeup()
        thread?.join()
        thread = nil
        // Let callbacks already queued run first, unless close() is itself one of them.
        if DispatchQueue.getSpecific(key: ZooKeeperClient.onEventQueue) != true { events.sync {} }
    }

    /// Closes the current socket as if the network failed (tests of reconnect and session resume).
    func dropConnectionForTesting() {
        shared.withLock { $0.inbox.append(.disconnected("connection dropped by a test")) }
        loop.waker.wakeup()
    }

    // MARK: IO thread

    private func run() {
        var ioEvents: [EventLoop.Event] = []
        apply(core.handle(.tick, nowMs: monotonicMilliseconds()))
        while running.load(ordering: .acquiring) {
            let timeout = Int32(clamping: max(0, min(core.nextTickInMs, 1000)))
            try? loop.wait(timeoutMs: timeout, into: &ioEvents)
            for event in ioEvents where event.token == ZooKeeperClient.socketToken { socketEvent(event) }
            let inbox: [ClientInput] = shared.withLock { s in
                defer { s.inbox.removeAll() }
                return s.inbox
            }
            for input in inbox { apply(core.handle(input, nowMs: monotonicMilliseconds())) }
            apply(core.handle(.tick, nowMs: monotonicMilliseconds()))
        }
        closeSocket()
    }

    private func socketEvent(_ event: EventLoop.Event) {
        guard socket >= 0 else { return }
        if connecting {
            guard event.writable || event.error || event.hangup else { return }
            connecting = false
            do {
                try Socket.finishConnect(socket)
                updateInterest()
                apply(core.handle(.connected, nowMs: monotonicMilliseconds()))
            } catch {
                apply(core.handle(.connectFailed("Socket error: \(error)"), nowMs: monotonicMilliseconds()))
            }
            return
        }
        if event.readable || event.hangup || event.error { readSocket() }
        if event.writable && socket >= 0 { flush() }
    }

    private func readSocket() {
        while socket >= 0 {
            let count: Int
            do {
                count = try readBuffer.withUnsafeMutableBytes { raw in try Socket.readSome(socket, into: raw) }
            } catch SyscallError.wouldBlock {
                return
            } catch {
                apply(core.handle(.disconnected("Connection reset: \(error)"), nowMs: monotonicMilliseconds()))
                return
            }
            if count == 0 {
                apply(core.handle(.disconnected("Unable to read additional data from server, likely server has closed socket"), nowMs: monotonicMilliseconds()))
                return
            }
            readBuffer.withUnsafeBytes { decoder.append(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            while socket >= 0 {
                let frame: FrameEvent?
                do { frame = try decoder.next() } catch {
                    apply(core.handle(.disconnected("Packet len is out of range: \(error)"), nowMs: monotonicMilliseconds()))
                    return
                }
                guard case .frame(let bytes)? = frame else { break }
                apply(core.handle(.frame(bytes), nowMs: monotonicMilliseconds()))
            }
            if count < readBuffer.count { return }
        }
    }

    private func apply(_ effects: [ClientEffect]) {
        for effect in effects {
            switch effect {
            case .connect(let host): open(host)
            case .send(let bytes):
                output.append(bytes)
            case .disconnect: closeSocket()
            case .complete(let id, let result):
                guard let completion = shared.withLock({ $0.completions.removeValue(forKey: id) }) else { continue }
                if completion.direct { completion.body(result) } else { events.async { completion.body(result) } }
            case .event(let event, let watchers):
                let fallback = defaultWatcher
                events.async { for watcher in watchers { (watcher ?? fallback)?(event) } }
            case .state(let state): publish(state)
            case .log(let message): logger?(message)
            }
        }
        if !output.isEmpty && socket >= 0 && !connecting { flush() }
    }

    private func publish(_ state: ClientState) {
        let waiters: [DispatchSemaphore] = shared.withLock { s in
            s.state = state
            s.sessionID = core.sessionID
            s.password = core.password
            s.negotiatedTimeoutMs = core.negotiatedTimeoutMs
            s.host = core.currentHost.map(String.init(describing:))
            defer { s.stateWaiters.removeAll() }
            return s.stateWaiters
        }
        for waiter in waiters { waiter.signal() }
    }

    private func open(_ host: ConnectString.Host) {
        closeSocket()
        do {
            guard let address = try SocketAddress.resolve(host: host.host, port: host.port).first else {
                throw SyscallError.resolutionFailed(host: host.host, reason: "no address")
            }
            let (fd, isConnected) = try Socket.startConnect(to: address)
            socket = fd
            connecting = !isConnected
            decoder = FrameDecoder(frameSizeBytesMax: decoder.frameSizeBytesMax)
            try loop.register(fd, interest: isConnected ? .read : .write, token: ZooKeeperClient.socketToken)
            if isConnected { apply(core.handle(.connected, nowMs: monotonicMilliseconds())) }
        } catch {
            apply(core.handle(.connectFailed("Unable to connect to \(host): \(error)"), nowMs: monotonicMilliseconds()))
        }
    }

    private func flush() {
        do {
            _ = try output.write(to: socket)
        } catch {
            apply(core.handle(.disconnected("Write failed: \(error)"), nowMs: monotonicMilliseconds()))
            return
        }
        updateInterest()
    }

    private func updateInterest() {
        guard socket >= 0 else { return }
        try? loop.modify(socket, interest: output.isEmpty ? .read : [.read, .write], token: ZooKeeperClient.socketToken)
    }

    private func closeSocket() {
        guard socket >= 0 else { return }
        try? loop.unregister(socket)
        Socket.close(socket)
        socket = -1
        connecting = false
        output.removeAll()
    }
}
