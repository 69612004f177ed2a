/// ZKPosix is the only module that imports Glibc. Every other module sees typed, Swift-shaped calls.
///
/// Contract of every wrapper in this module:
/// - EINTR never reaches the caller: the call is retried (except `close`, which Linux never retries,
///   and `EventLoop.wait`, which reports zero events so the caller recomputes its deadlines).
/// - Errors the environment can cause (a peer resets, the disk fills) are thrown as `SyscallError`,
///   with the common ones as named cases so callers can `switch` on them.
/// - Errors that only a bug can cause (EBADF, EFAULT, and EINVAL on descriptors we own) trap with
///   `precondition`: continuing after writing to the wrong descriptor could corrupt data.
/// - Functions throw `SyscallError` as a typed error, so a `.wouldBlock` on the hot path allocates
///   nothing (an untyped `throws` would box the error on the heap).
import Glibc

/// An error reported by the operating system, or by the resolver for host names.
public enum SyscallError: Error, Equatable, Sendable, CustomStringConvertible {
    /// EAGAIN / EWOULDBLOCK: a non-blocking descriptor has nothing to read or no room to write.
    case wouldBlock
    /// ECONNRESET: the peer reset the connection.
    case connectionReset
    /// ECONNREFUSED: nothing listens at the address we connected to.
    case connectionRefused
    /// EPIPE: we wrote to a connection the peer has closed.
    case brokenPipe
    /// EADDRINUSE: another socket is bound to the address.
    case addressInUse
    /// ENOENT: no such file or directory.
    case notFound
    /// ENOSPC: the device is full.
    case noSpace
    /// EACCES: permission denied.
    case permissionDenied
    /// getaddrinfo could not resolve a host name; `reason` is gai_strerror's text.
    case resolutionFailed(host: String, reason: String)
    /// Any other errno, with the name of the call that failed.
    case other(errno: Int32, call: String)

    /// Maps an errno (never EINTR, which the wrappers retry) to the matching case.
    public init(errno code: Int32, call: String) {
        switch code {
        case EAGAIN: self = .wouldBlock  // EWOULDBLOCK == EAGAIN on Linux
        case ECONNRESET: self = .connectionReset
        case ECONNREFUSED: self = .connectionRefused
        case EPIPE: self = .brokenPipe
        case EADDRINUSE: self = .addressInUse
        case ENOENT: self = .notFound
        case ENOSPC: self = .noSpace
        case EACCES: self = .permissionDenied
        default: self = .other(errno: code, call: call)  // errno is an open C set, not our enum
        }
    }

    /// The errno this error stands for, or nil for resolver errors.
    public var errno: Int32? {
        switch self {
        case .wouldBlock: return EAGAIN
        case .connectionReset: return ECONNRESET
        case .connectionRefused: return ECONNREFUSED
        case .brokenPipe: return EPIPE
        case .addressInUse: return EADDRINUSE
        case .notFound: return ENOENT
        case .noSpace: return ENOSPC
        case .permissionDenied: return EACCES
        case .resolutionFailed: return nil
        case .other(let code, _): return code
        }
    }

    /// A name that does not resolve, or an address no interface has: both may change by waiting
    /// (a DNS record published later, an address assigned later), unlike a port in use.
    public var mayResolveLater: Bool {
        if case .resolutionFailed = self { return true }
        return errno == EADDRNOTAVAIL
    }

    public var description: String {
        switch self {
        case .resolutionFailed(let host, let reason):
            return "cannot resolve host \"\(host)\": \(reason)"
        case .other(let code, let call):
            return "\(call): \(errorText(code)) (errno \(code))"
        case .wouldBlock, .connectionReset, .connectionRefused, .brokenPipe, .addressInUse,
            .notFound, .noSpace, .permissionDenied:
            let code = errno ?? 0
            return "\(errorText(code)) (errno \(code))"
        }
    }
}

/// strerror's text. glibc's strerror returns a static string for every known errno (thread-safe
/// since 2.32) and a thread-local buffer for unknown ones, so it is safe on any thread.
func errorText(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "unknown error" }
    return String(cString: text)
}
