/// `TCPListener` is a bound, listening, non-blocking TCP socket. `accept()` never blocks: it returns
/// nil when no connection is pending, so the event loop calls it until nil on each readable event.
/// Accepted sockets are non-blocking, close-on-exec and have Nagle off (TCP_NODELAY), because
/// ZooKeeper replies are small frames that must not wait for an ACK.
import Glibc

public final class TCPListener {
    /// The listening descriptor; register it with `EventLoop` for `.read`.
    public let fd: Int32
    /// The address actually bound (with the kernel-chosen port when `port` was 0).
    public let localAddress: SocketAddress
    public var localPort: UInt16 { localAddress.port }
    private var isClosed = false

    /// Binds and listens. `host` is "" or "0.0.0.0" for every IPv4 interface, "::" for every
    /// interface (dual-stack: IPv4 peers appear as IPv4 addresses), a literal, or a host name
    /// (resolved once, first address wins). `port` 0 asks the kernel for an ephemeral port.
    public init(host: String, port: UInt16, backlog: Int32 = 128) throws(SyscallError) {
        let address = try TCPListener.bindAddress(host: host, port: port)
        let fd = try Socket.makeSocket(for: address.family, nonBlocking: true)
        do throws(SyscallError) {
            try Socket.setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, call: "setsockopt(SO_REUSEADDR)")
            if address.family == .ipv6, address.addressBytes.allSatisfy({ $0 == 0 }) {
                // Linux defaults to dual-stack, but a sysctl can change that; Java listens on both.
                try Socket.setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 0, call: "setsockopt(IPV6_V6ONLY)")
            }
            _ = try address.withSockAddr { (pointer, length) throws(SyscallError) in
                try syscall("bind", bugs: .badDescriptorOrPointer) { Glibc.bind(fd, pointer, length) }
            }
            _ = try syscall("listen") { Glibc.listen(fd, backlog) }
            self.localAddress = try Socket.localAddress(fd)
        } catch {
            Socket.close(fd)
            throw error
        }
        self.fd = fd
    }

    /// Listens on every interface, IPv4 and IPv6 alike: a dual-stack socket on "::" (as Java's
    /// wildcard listener is), or "0.0.0.0" where the kernel has no IPv6 (`ipv6.disable=1`, a
    /// container without it). Inside a pod `localhost` resolves to `::1` as well as 127.0.0.1 and
    /// Java clients try either, so an IPv4-only listener would refuse some of them.
    public static func anyInterface(port: UInt16, backlog: Int32 = 128) throws(SyscallError) -> TCPListener {
        do {
            return try TCPListener(host: "::", port: port, backlog: backlog)
        } catch {
            guard let code = error.errno, [EAFNOSUPPORT, EADDRNOTAVAIL, EPROTONOSUPPORT].contains(code) else { throw error }
            return try TCPListener(host: "0.0.0.0", port: port, backlog: backlog)
        }
    }

    /// Whether this listener is bound to a wildcard address ("0.0.0.0" or "::").
    public var isWildcard: Bool { localAddress.addressBytes.allSatisfy { $0 == 0 } }

    deinit {
        if !isClosed { Socket.close(fd) }
    }

    /// Accepts one pending connection; nil when none is pending (EAGAIN). Throws for conditions
    /// the caller must act on, such as EMFILE (out of descriptors): the listener stays readable,
    /// so the caller should stop polling it for a while rather than spin.
    public func accept() throws(SyscallError) -> (fd: Int32, remote: SocketAddress)? {
        precondition(!isClosed, "accept on a closed listener")
        while true {
            let accepted: (result: Int32, address: SocketAddress?)
            do throws(SyscallError) {
                accepted = try SocketAddress.fromKernel { (address, length) throws(SyscallError) in
                    try syscall("accept4") {
                        LinuxCalls.accept4(fd, address, length, Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue))
                    }
                }
            } catch .wouldBlock {
                return nil
            } catch let error where TCPListener.isAbortedConnection(error) {
                continue  // the peer gave up before we accepted; look for the next one
            }
            guard let remote = accepted.address else {
                preconditionFailure("accept4 on a TCP listener returned a non-IP peer")
            }
            Socket.setNoDelay(accepted.result)
            return (accepted.result, remote)
        }
    }

    /// Closes the listening socket. Closing also removes it from any epoll set.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        Socket.close(fd)
    }

    private static func bindAddress(host: String, port: UInt16) throws(SyscallError) -> SocketAddress {
        if host.isEmpty || host == "0.0.0.0" {
            return SocketAddress(family: .ipv4, bytes: [0, 0, 0, 0], port: port)
        }
        let addresses = try SocketAddress.resolve(host: host, port: port)
        guard let first = addresses.first else {
            throw .resolutionFailed(host: host, reason: "no addresses")
        }
        return first
    }

    /// accept(2) reports these for a connection that failed between SYN and our accept; the man
    /// page says to treat them like EAGAIN and try again.
    private static func isAbortedConnection(_ error: SyscallError) -> Bool {
        guard let code = error.errno else { return false }
        return [ECONNABORTED, EPROTO, ENETDOWN, ENOPROTOOPT, EHOSTDOWN, ENONET, EHOSTUNREACH,
                EOPNOTSUPP, ENETUNREACH].contains(code)
    }
}
