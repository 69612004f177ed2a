// TCP through the epoll loop on loopback: accept, echo, EOF, would-block, writev, non-blocking
// connect, cross-thread wakeup. Every wait has a generous cap so a bug fails instead of hanging;
// nothing sleeps and every port comes from the kernel (port 0).
import Testing
import ZKPosix

/// A loopback connection: a blocking client socket and the accepted non-blocking server socket.
final class Connection {
    let listener: TCPListener
    let client: Int32
    let server: Int32
    let remote: SocketAddress

    init() throws {
        listener = try TCPListener(host: "127.0.0.1", port: 0, backlog: 16)
        client = try Socket.connect(host: "127.0.0.1", port: listener.localPort)
        let accepted = try acceptOne(listener)
        server = accepted.fd
        remote = accepted.remote
    }

    deinit {
        Socket.close(client)
        Socket.close(server)
    }
}

/// accept() after connect() returned: the handshake is complete, but the listener's queue may be
/// filled an instant later, so poll the listener fd itself (no sleep) until it is readable.
func acceptOne(_ listener: TCPListener) throws -> (fd: Int32, remote: SocketAddress) {
    let loop = try EventLoop()
    try loop.register(listener.fd, interest: .read, token: 7)
    try waitFor(token: 7, in: loop)
    return try #require(try listener.accept())
}

@discardableResult
func waitFor(token: UInt64, in loop: EventLoop) throws -> EventLoop.Event {
    var events: [EventLoop.Event] = []
    for _ in 0..<100 {
        try loop.wait(timeoutMs: 10_000, into: &events)
        if let event = events.first(where: { $0.token == token }) { return event }
    }
    Issue.record("token \(token) never became ready")
    throw SyscallError.wouldBlock
}

/// Blocking send/receive helpers for the test's client side.
func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws {
    var sent = 0
    while sent < bytes.count {
        sent += try bytes[sent...].withUnsafeBytes { try Socket.writeSome(fd, bytes: $0) }
    }
}

func receive(_ fd: Int32, count: Int) throws -> [UInt8] {
    var bytes: [UInt8] = []
    while bytes.count < count {
        let got = try Socket.readAvailable(fd, into: &bytes, maxBytes: count - bytes.count)
        if got == 0 { break }
    }
    return bytes
}

@Suite struct EventLoopTests {
    @Test func listenerOnPortZeroGetsAnEphemeralPort() throws {
        let listener = try TCPListener(host: "0.0.0.0", port: 0, backlog: 4)
        #expect(listener.localPort != 0)
        #expect(listener.localAddress.ip == "0.0.0.0")
        #expect(try listener.accept() == nil)  // nothing pending: nil, not an error
        let dual = try TCPListener(host: "::", port: 0, backlog: 4)
        #expect(dual.localAddress.family == .ipv6)
    }

    @Test func echoThroughTheLoop() throws {
        let loop = try EventLoop()
        let connection = try Connection()
        #expect(connection.remote.ip == "127.0.0.1")
        #expect(connection.remote.javaDescription.hasPrefix("/127.0.0.1:"))
        #expect(try Socket.localAddress(connection.client) == connection.remote)
        try loop.register(connection.server, interest: .read, token: 2)

        try sendAll(connection.client, Array("hello, zookeeper".utf8))
        var received: [UInt8] = []
        while received.count < 16 {
            let event = try waitFor(token: 2, in: loop)
            #expect(event.readable)
            _ = try Socket.readAvailable(connection.server, into: &received, maxBytes: 4096)
        }
        try loop.modify(connection.server, interest: [.read, .write], token: 2)
        #expect(try waitFor(token: 2, in: loop).writable)
        try sendAll(connection.server, received)
        #expect(try receive(connection.client, count: 16) == Array("hello, zookeeper".utf8))
        try loop.unregister(connection.server)
    }

    @Test func emptyReadWouldBlockAndKeepsTheBuffer() throws {
        let connection = try Connection()
        var buffer: [UInt8] = [1, 2, 3]
        #expect(throws: SyscallError.wouldBlock) {
            try Socket.readAvailable(connection.server, into: &buffer, maxBytes: 1024)
        }
        #expect(buffer == [1, 2, 3])
    }

    @Test func peerCloseIsEndOfFile() throws {
        let loop = try EventLoop()
        let listener = try TCPListener(host: "127.0.0.1", port: 0)
        let client = try Socket.connect(host: "localhost", port: listener.localPort)
        let server = try acceptOne(listener)
        defer { Socket.close(server.fd) }
        try loop.register(server.fd, interest: .read, token: 3)
        try sendAll(client, [42])
        Socket.close(client)
        var buffer: [UInt8] = []
        // Data before the FIN is delivered first, then read returns 0.
        while true {
            try waitFor(token: 3, in: loop)
            if try Socket.readAvailable(server.fd, into: &buffer, maxBytes: 64) == 0 { break }
        }
        #expect(buffer == [42])
    }

    @Test func writevGathersArraysFromAnOffset() throws {
        let connection = try Connection()
        let frames: [[UInt8]] = [[0, 0, 1, 2], [3], [], [4, 5, 6]]
        var written = try Socket.writev(connection.server, arrays: frames, firstOffset: 2)
        #expect(written == 6)
        let rawBytes: [UInt8] = [7, 8]
        written = try rawBytes.withUnsafeBytes { try Socket.writev(connection.server, buffers: [$0, $0]) }
        #expect(written == 4)
        #expect(try receive(connection.client, count: 10) == [1, 2, 3, 4, 5, 6, 7, 8, 7, 8])
    }

    @Test func writeToAClosedPeerFails() throws {
        let loop = try EventLoop()
        let listener = try TCPListener(host: "127.0.0.1", port: 0)
        let client = try Socket.connect(host: "127.0.0.1", port: listener.localPort)
        let server = try acceptOne(listener)
        defer { Socket.close(server.fd) }
        try loop.register(server.fd, interest: .read, token: 5)
        Socket.close(client)
        var buffer: [UInt8] = []
        try waitFor(token: 5, in: loop)
        #expect(try Socket.readAvailable(server.fd, into: &buffer, maxBytes: 8) == 0)
        // Writing to a closed peer draws a RST; the loop then reports hangup/error and the next
        // write fails with EPIPE or ECONNRESET (which one depends on the TCP state), never SIGPIPE.
        try sendAll(server.fd, [1])
        var event = try waitFor(token: 5, in: loop)
        for _ in 0..<100 where !(event.hangup || event.error) { event = try waitFor(token: 5, in: loop) }
        #expect(event.hangup || event.error)
        do {
            try sendAll(server.fd, [2])
            Issue.record("write to a reset peer succeeded")
        } catch let error as SyscallError {
            #expect(error == .brokenPipe || error == .connectionReset)
        }
        Socket.shutdown(server.fd, .both)  // a dead peer is not an error for shutdown
    }

    @Test func nonBlockingConnect() throws {
        let loop = try EventLoop()
        let listener = try TCPListener(host: "127.0.0.1", port: 0)
        let target = try #require(SocketAddress(ip: "127.0.0.1", port: listener.localPort))
        let (fd, isConnected) = try Socket.startConnect(to: target)
        defer { Socket.close(fd) }
        if !isConnected {
            try loop.register(fd, interest: .write, token: 4)
            #expect(try waitFor(token: 4, in: loop).writable)
        }
        try Socket.finishConnect(fd)
        #expect(try Socket.remoteAddress(fd) == target)
        let server = try acceptOne(listener)
        Socket.close(server.fd)
    }

    @Test func tokensSurviveTheKernelRoundTrip() throws {
        // Checks the hand-written epoll_event layout: all 64 token bits must come back intact.
        let loop = try EventLoop()
        let connection = try Connection()
        let token: UInt64 = 0x1234_5678_9ABC_DEF0
        try loop.register(connection.server, interest: .write, token: token)
        let event = try waitFor(token: token, in: loop)
        #expect(event.writable && !event.readable && !event.hangup && !event.error)
    }

    @Test func wakeupFromAnotherThread() throws {
        let loop = try EventLoop()
        let waker = loop.waker
        let thread = try PosixThread(name: "zk-test-waker") { waker.wakeup() }
        let event = try waitFor(token: EventLoop.wakeupToken, in: loop)
        #expect(event.readable)
        thread.join()
        // The loop drained the eventfd: a poll now reports nothing.
        var events: [EventLoop.Event] = []
        try loop.wait(timeoutMs: 0, into: &events)
        #expect(events.isEmpty)
    }

    @Test func wakeupsCoalesce() throws {
        let loop = try EventLoop()
        for _ in 0..<10 { loop.waker.wakeup() }
        var events: [EventLoop.Event] = []
        try loop.wait(timeoutMs: 0, into: &events)
        #expect(events.map(\.token) == [EventLoop.wakeupToken])
        try loop.wait(timeoutMs: 0, into: &events)
        #expect(events.isEmpty)
    }
}
