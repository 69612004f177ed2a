/// The one place where errno is read. Every wrapper calls `syscall(_:_:)`, which retries EINTR,
/// traps on errors that only a bug can cause, and turns the rest into `SyscallError`.
import Glibc

/// Which errno values mean "our program is wrong" for a given call.
enum BugErrors {
    /// EBADF and EFAULT: a stale descriptor or a bad pointer. Always a bug.
    case badDescriptorOrPointer
    /// Also EINVAL (and ENOTSOCK): for calls on descriptors we created ourselves, where an invalid
    /// argument can only come from our code, never from a peer or a user-supplied path.
    case ownedDescriptor

    func isBug(_ code: Int32) -> Bool {
        switch self {
        case .badDescriptorOrPointer: return code == EBADF || code == EFAULT
        case .ownedDescriptor: return code == EBADF || code == EFAULT || code == EINVAL || code == ENOTSOCK
        }
    }
}

/// Runs `body` (a C call returning -1 and setting errno on failure), retrying EINTR.
@inline(__always)
func syscall<Result: FixedWidthInteger>(
    _ call: String, bugs: BugErrors = .ownedDescriptor, _ body: () -> Result
) throws(SyscallError) -> Result {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = Glibc.errno
        if code == EINTR { continue }
        precondition(!bugs.isBug(code), "\(call) failed with a programming error: \(errorText(code)) (errno \(code))")
        throw SyscallError(errno: code, call: call)
    }
}

/// For calls that cannot fail except by a bug (fcntl F_GETFL on our own descriptor, and the like).
@inline(__always)
func syscallCannotFail<Result: FixedWidthInteger>(_ call: String, _ body: () -> Result) -> Result {
    do {
        return try syscall(call, body)
    } catch {
        preconditionFailure("\(call) failed unexpectedly: \(error)")
    }
}

/// Array's `withUnsafe…Bytes` methods are `rethrows`, which widens a typed error to `any Error`.
/// These keep `SyscallError` typed by carrying it out in a `Result`.
extension Array where Element == UInt8 {
    @inline(__always)
    func withBytes<Value>(_ body: (UnsafeRawBufferPointer) throws(SyscallError) -> Value) throws(SyscallError) -> Value {
        try withUnsafeBytes { raw in Result { () throws(SyscallError) in try body(raw) } }.get()
    }

    @inline(__always)
    mutating func withMutableBytes<Value>(_ body: (UnsafeMutableRawBufferPointer) throws(SyscallError) -> Value) throws(SyscallError) -> Value {
        try withUnsafeMutableBytes { raw in Result { () throws(SyscallError) in try body(raw) } }.get()
    }
}
