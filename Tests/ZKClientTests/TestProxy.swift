import Dispatch
import Synchronization
import ZKCore
import ZKPosix

/// A TCP proxy between a client and a `TestServer`, on an ephemeral port, so a test can cut the
/// network without touching the server or the client:
///
/// - `dropConnections()` closes every proxied connection (both sockets), as a failed network would;
/// - `hold()` keeps new connections waiting: they are accepted but nothing is forwarded, so a
///   client cannot reach the server (it sits in its handshake and retries);
/// - `release()` forwards the held connections that are still open (a held connection whose client
///   has since given up is discarded, so a stale ConnectRequest never reaches the server).
///
/// One thread runs an epoll loop; commands are queued and acknowledged, so when a command returns
/// the proxy has carried it out.
final class TestProxy: @unchecked Sendable {
    // Unchecked: everything but `commands` and `loop.waker` belongs to the proxy thread.
    private enum Command { case drop, hold, release, stop }

    private final class End {
        let fd: Int32
        let token: UInt64
        var output: [UInt8] = []
        init(fd: Int32, token: UInt64) { self.fd = fd; self.token = token }
    }

    private final class Link {
        let client: End
        let server: End
        init(client: End, server: End) { self.client = client; self.server = server }
    }

    private let listener: TCPListener
    private let loop: EventLoop
    private let upstreamPort: UInt16
    private let commands = Mutex<[(Command, DispatchSemaphore)]>([])
    private let acceptedCount = Mutex(0)
    private var thread: PosixThread?
    private var links: [UInt64: Link] = [:]
    private var held: [Int32] = []
    private var holding = false
    private var nextToken: UInt64 = 2
    private var readBuffer = [UInt8](repeating: 0, count: 64 * 1024)
    private static let listenerToken: UInt64 = 1

    let port: UInt16
    var connectString: String { "127.0.0.1:\(port)" }
    /// Connections accepted so far (a client's connection attempts).
    var accepted: Int { acceptedCount.withLock { $0 } }

    init(upstreamPort: UInt16) throws {
        self.upstreamPort = upstreamPort
        listener = try TCPListener(host: "127.0.0.1", port: 0)
        port = listener.localPort
        loop = try EventLoop(maxEventsPerWait: 64)
        try loop.register(listener.fd, interest: .read, token: TestProxy.listenerToken)
        thread = try PosixThread(name: "test-proxy") { [self] in run() }
    }

    func dropConnections() { perform(.drop) }
    func hold() { perform(.hold) }
    func release() { perform(.release) }

    func stop() {
        guard thread != nil else { return }
        perform(.stop)
        thread?.join()
        thread = nil
    }

    private func perform(_ command: Command) {
        let done = DispatchSemaphore(value: 0)
        commands.withLock { $0.append((command, done)) }
        loop.waker.wakeup()
        done.wait()
    }

    // MARK: Proxy thread

    private func run() {
        var events: [EventLoop.Event] = []
        while true {
            try? loop.wait(timeoutMs: 1000, into: &events)
            for event in events {
                switch event.token {
                case EventLoop.wakeupToken: break
                case TestProxy.listenerToken: acceptAll()
                default: service(event)
                }
            }
            let pending: [(Command, DispatchSemaphore)] = commands.withLock { c in
                defer { c.removeAll() }
                return c
            }
            for (command, done) in pending {
                let keepRunning = execute(command)
                done.signal()
                if !keepRunning { return }
            }
        }
    }

    private func execute(_ command: Command) -> Bool {
        switch command {
        case .drop:
            for link in Array(links.values) { close(link) }
        case .hold:
            holding = true
        case .release:
            holding = false
            let waiting = held
            held.removeAll()
            for fd in waiting { forwardHeld(fd) }
        case .stop:
            for link in Array(links.values) { close(link) }
            for fd in held { Socket.close(fd) }
            held.removeAll()
            listener.close()
            return false
        }
        return true
    }

    private func acceptAll() {
        while let (fd, _) = try? listener.accept() {
            acceptedCount.withLock { $0 += 1 }
            if holding { held.append(fd) } else { connectUpstream(fd, initial: []) }
        }
    }

    /// A held connection is forwarded only if its client is still there: reading what it sent so
    /// far ends in "would block" for a live client and in EOF for one that gave up.
    private func forwardHeld(_ fd: Int32) {
        var sent: [UInt8] = []
        while true {
            do {
                let count = try readBuffer.withUnsafeMutableBytes { try Socket.readSome(fd, into: $0) }
                if count == 0 { Socket.close(fd); return }
                sent.append(contentsOf: readBuffer[0..<count])
            } catch SyscallError.wouldBlock {
                break
            } catch {
                Socket.close(fd)
                return
            }
        }
        connectUpstream(fd, initial: sent)
    }

    private func connectUpstream(_ clientFD: Int32, initial: [UInt8]) {
        guard let serverFD = try? Socket.connect(host: "127.0.0.1", port: upstreamPort) else {
            Socket.close(clientFD)
            return
        }
        Socket.setNonBlocking(serverFD, true)
        let link = Link(client: End(fd: clientFD, token: nextToken), server: End(fd: serverFD, token: nextToken + 1))
        nextToken += 2
        links[link.client.token] = link
        links[link.server.token] = link
        try? loop.register(clientFD, interest: .read, token: link.client.token)
        try? loop.register(serverFD, interest: .read, token: link.server.token)
        if !initial.isEmpty {
            link.server.output = initial
            flush(link.server, link)
        }
    }

    private func service(_ event: EventLoop.Event) {
        guard let link = links[event.token] else { return }
        let (from, to) = event.token == link.client.token ? (link.client, link.server) : (link.server, link.client)
        if event.writable { flush(from, link) }
        guard links[event.token] != nil, event.readable || event.hangup || event.error else { return }
        do {
            let count = try readBuffer.withUnsafeMutableBytes { try Socket.readSome(from.fd, into: $0) }
            if count == 0 { return close(link) }
            to.output.append(contentsOf: readBuffer[0..<count])
            flush(to, link)
        } catch SyscallError.wouldBlock {
            return
        } catch {
            close(link)
        }
    }

    private func flush(_ end: End, _ link: Link) {
        while !end.output.isEmpty {
            do {
                let written = try end.output.withUnsafeBytes { try Socket.writeSome(end.fd, bytes: $0) }
                end.output.removeFirst(written)
            } catch SyscallError.wouldBlock {
                break
            } catch {
                return close(link)
            }
        }
        try? loop.modify(end.fd, interest: end.output.isEmpty ? .read : [.read, .write], token: end.token)
    }

    private func close(_ link: Link) {
        guard links[link.client.token] != nil else { return }
        links[link.client.token] = nil
        links[link.server.token] = nil
        Socket.close(link.client.fd)
        Socket.close(link.server.fd)
    }

    deinit { stop() }
}
