/// `Socket` holds the IO calls on a raw socket descriptor. Descriptors stay plain `Int32`s so the
/// server can keep them in its own connection tables; ownership (who closes) is the caller's.
///
/// Reads and writes on non-blocking sockets throw `.wouldBlock` instead of returning a sentinel.
/// Writes use `send`/`sendmsg` with MSG_NOSIGNAL, so a closed peer yields `.brokenPipe` even if
/// SIGPIPE was not ignored.
import Glibc

public enum Socket {
    /// Which direction `shutdown` closes.
    public enum Direction: Sendable {
        case read
        case write
        case both
    }

    /// Most buffers one `writev` call passes to the kernel; the rest wait for the next call.
    public static let writevBuffersMax = 64

    // MARK: Reading

    /// Reads up to `maxBytes` and appends them to `buffer`. Returns the number read; 0 means the
    /// peer closed its side (EOF). Throws `.wouldBlock` when nothing is available.
    public static func readAvailable(_ fd: Int32, into buffer: inout [UInt8], maxBytes: Int) throws(SyscallError) -> Int {
        precondition(maxBytes > 0, "readAvailable needs room for at least one byte")
        let start = buffer.count
        // Arrays cannot grow uninitialized; zero-filling is a memset, cheap next to the syscall.
        buffer.append(contentsOf: repeatElement(0, count: maxBytes))
        let count: Int
        do throws(SyscallError) {
            count = try buffer.withMutableBytes { (raw) throws(SyscallError) in
                try readSome(fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[start...]))
            }
        } catch {
            buffer.removeLast(maxBytes)
            throw error
        }
        buffer.removeLast(maxBytes - count)
        return count
    }

    /// Reads into raw memory. Returns the number read; 0 means EOF. Throws `.wouldBlock`.
    public static func readSome(_ fd: Int32, into memory: UnsafeMutableRawBufferPointer) throws(SyscallError) -> Int {
        guard let base = memory.baseAddress, memory.count > 0 else { return 0 }
        return try syscall("read") { Glibc.read(fd, base, memory.count) }
    }

    // MARK: Writing

    /// Writes as much of `bytes` as the socket buffer takes; returns the count (maybe fewer than
    /// asked). Throws `.wouldBlock` when nothing fits, `.brokenPipe`/`.connectionReset` when the
    /// peer is gone.
    public static func writeSome(_ fd: Int32, bytes: UnsafeRawBufferPointer) throws(SyscallError) -> Int {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return 0 }
        return try syscall("send") { Glibc.send(fd, base, bytes.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Gathers several buffers into one syscall (at most `writevBuffersMax`); returns the bytes
    /// written, which may end in the middle of any buffer.
    public static func writev(_ fd: Int32, buffers: [UnsafeRawBufferPointer]) throws(SyscallError) -> Int {
        let count = min(buffers.count, writevBuffersMax)
        return try withUnsafeTemporaryAllocation(of: iovec.self, capacity: max(count, 1)) { (vectors) throws(SyscallError) in
            for index in 0..<count {
                vectors[index] = iovec(iov_base: UnsafeMutableRawPointer(mutating: buffers[index].baseAddress),
                                       iov_len: buffers[index].count)
            }
            return try sendVectors(fd, vectors.baseAddress!, count: count)
        }
    }

    /// Gathers queued byte arrays into one syscall: the first `firstOffset` bytes of the first array
    /// were already sent. Returns the bytes written. Handy for a per-connection queue of frames.
    public static func writev<Frames: Collection<[UInt8]>>(
        _ fd: Int32, arrays: Frames, firstOffset: Int
    ) throws(SyscallError) -> Int {
        let count = min(arrays.count, writevBuffersMax)
        return try withUnsafeTemporaryAllocation(of: iovec.self, capacity: max(count, 1)) { (vectors) throws(SyscallError) in
            try gather(arrays[...].prefix(count), offset: firstOffset, into: vectors, at: 0) { (filled) throws(SyscallError) in
                try sendVectors(fd, vectors.baseAddress!, count: filled)
            }
        }
    }

    /// Pins each array's storage for the duration of the send by nesting `withUnsafeBytes`
    /// (recursion depth is bounded by `writevBuffersMax`).
    private static func gather<Frames: Collection<[UInt8]>>(
        _ arrays: Frames, offset: Int, into vectors: UnsafeMutableBufferPointer<iovec>, at index: Int,
        send: (Int) throws(SyscallError) -> Int
    ) throws(SyscallError) -> Int {
        guard let first = arrays.first else { return try send(index) }
        return try first.withBytes { (raw) throws(SyscallError) in
            precondition(offset <= raw.count, "writev offset beyond the first buffer")
            let rest = UnsafeRawBufferPointer(rebasing: raw[offset...])
            vectors[index] = iovec(iov_base: UnsafeMutableRawPointer(mutating: rest.baseAddress), iov_len: rest.count)
            return try gather(arrays.dropFirst(), offset: 0, into: vectors, at: index + 1, send: send)
        }
    }

    private static func sendVectors(_ fd: Int32, _ vectors: UnsafeMutablePointer<iovec>, count: Int) throws(SyscallError) -> Int {
        guard count > 0 else { return 0 }
        var message = msghdr()
        message.msg_iov = vectors
        message.msg_iovlen = count
        return try syscall("sendmsg") { Glibc.sendmsg(fd, &message, Int32(MSG_NOSIGNAL)) }
    }

    // MARK: Closing

    /// Half- or fully closes the connection. A peer that is already gone is not an error.
    public static func shutdown(_ fd: Int32, _ direction: Direction) {
        let how: Int32
        switch direction {
        case .read: how = Int32(SHUT_RD)
        case .write: how = Int32(SHUT_WR)
        case .both: how = Int32(SHUT_RDWR)
        }
        do throws(SyscallError) {
            _ = try syscall("shutdown") { Glibc.shutdown(fd, how) }
        } catch .other(errno: ENOTCONN, call: _) {
            return  // the peer is already gone; close will clean up
        } catch {
            preconditionFailure("shutdown can only fail with ENOTCONN on a socket we own: \(error)")
        }
    }

    /// Closes any descriptor. Never retried on EINTR: Linux has released the descriptor by then, and
    /// a retry could close one another thread just opened. EBADF traps (double close is a bug).
    public static func close(_ fd: Int32) {
        let result = Glibc.close(fd)
        if result == -1 {
            let code = Glibc.errno
            precondition(code != EBADF, "close of a descriptor we do not own: \(fd)")
        }
    }
}

// MARK: - Connecting

extension Socket {
    /// Resolves `host` and connects, blocking, trying each address in turn. Returns a blocking,
    /// close-on-exec socket with TCP_NODELAY (use `setNonBlocking` to hand it to an event loop).
    /// For tests, tools and clients at startup, not for the event-loop thread.
    public static func connect(host: String, port: UInt16) throws(SyscallError) -> Int32 {
        let addresses = try SocketAddress.resolve(host: host, port: port)
        var lastError = SyscallError.resolutionFailed(host: host, reason: "no addresses")
        for address in addresses {
            let fd = try makeSocket(for: address.family, nonBlocking: false)
            do throws(SyscallError) {
                _ = try address.withSockAddr { (pointer, length) throws(SyscallError) in
                    try connectRetryingInterrupt(fd, pointer, length)
                }
                setNoDelay(fd)
                return fd
            } catch {
                close(fd)
                lastError = error
            }
        }
        throw lastError
    }

    /// Starts a non-blocking connect. Returns the non-blocking socket and whether it is already
    /// connected (loopback often is). If not, register it for `.write`; when writable, call
    /// `finishConnect` to learn the outcome.
    public static func startConnect(to address: SocketAddress) throws(SyscallError) -> (fd: Int32, isConnected: Bool) {
        let fd = try makeSocket(for: address.family, nonBlocking: true)
        do throws(SyscallError) {
            let connected = try address.withSockAddr { (pointer, length) throws(SyscallError) -> Bool in
                do throws(SyscallError) {
                    _ = try syscall("connect", bugs: .badDescriptorOrPointer) { Glibc.connect(fd, pointer, length) }
                    return true
                } catch .other(errno: EINPROGRESS, call: _) {
                    return false
                }
            }
            setNoDelay(fd)
            return (fd, connected)
        } catch {
            close(fd)
            throw error
        }
    }

    /// Reports how a non-blocking connect ended (SO_ERROR): returns on success, throws
    /// `.connectionRefused` and the like on failure. The caller then closes a failed socket.
    public static func finishConnect(_ fd: Int32) throws(SyscallError) {
        var pending: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = try syscall("getsockopt(SO_ERROR)") { getsockopt(fd, SOL_SOCKET, SO_ERROR, &pending, &length) }
        if pending != 0 {
            throw SyscallError(errno: pending, call: "connect")
        }
    }

    /// A blocking connect interrupted by a signal keeps connecting in the background; calling
    /// connect again then reports EALREADY, so wait for completion with poll instead.
    private static func connectRetryingInterrupt(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) throws(SyscallError) {
        if Glibc.connect(fd, address, length) == 0 { return }
        let code = Glibc.errno
        guard code == EINTR else {
            precondition(code != EBADF && code != EFAULT, "connect: \(errorText(code))")
            throw SyscallError(errno: code, call: "connect")
        }
        var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        _ = try syscall("poll") { poll(&descriptor, 1, -1) }
        try finishConnect(fd)
    }
}

// MARK: - Options and addresses

extension Socket {
    /// Switches O_NONBLOCK on or off.
    public static func setNonBlocking(_ fd: Int32, _ nonBlocking: Bool) {
        let flags = syscallCannotFail("fcntl(F_GETFL)") { fcntl(fd, F_GETFL) }
        let updated = nonBlocking ? flags | O_NONBLOCK : flags & ~O_NONBLOCK
        _ = syscallCannotFail("fcntl(F_SETFL)") { fcntl(fd, F_SETFL, updated) }
    }

    /// The local address a socket is bound to.
    public static func localAddress(_ fd: Int32) throws(SyscallError) -> SocketAddress {
        let answer = try SocketAddress.fromKernel { (address, length) throws(SyscallError) in
            try syscall("getsockname") { getsockname(fd, address, length) }
        }
        guard let address = answer.address else { preconditionFailure("getsockname on a non-IP socket") }
        return address
    }

    /// The peer's address; throws (ENOTCONN) once the peer is gone.
    public static func remoteAddress(_ fd: Int32) throws(SyscallError) -> SocketAddress {
        let answer = try SocketAddress.fromKernel { (address, length) throws(SyscallError) in
            try syscall("getpeername") { getpeername(fd, address, length) }
        }
        guard let address = answer.address else { preconditionFailure("getpeername on a non-IP socket") }
        return address
    }

    /// Turns Nagle off. Best effort: it only affects latency, and it can fail harmlessly on a
    /// socket the peer already reset (the next read reports that properly).
    static func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32, call: String) throws(SyscallError) {
        var value = value
        _ = try syscall(call) { setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size)) }
    }

    static func makeSocket(for family: SocketAddress.Family, nonBlocking: Bool) throws(SyscallError) -> Int32 {
        let domain: Int32
        switch family {
        case .ipv4: domain = AF_INET
        case .ipv6: domain = AF_INET6
        }
        var type = Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue)
        if nonBlocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
        return try syscall("socket") { Glibc.socket(domain, type, 0) }
    }
}
