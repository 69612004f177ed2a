/// `PosixThread` starts a named OS thread running a closure, for the few long-lived threads the
/// server has (the event loop, the storage thread). No pool, no async: these threads block in
/// `EventLoop.wait` or in fsync by design. To hand work to such a thread, push it onto a
/// `Mutex`-protected queue and call that thread's loop `waker.wakeup()`.
///
/// A thread inherits the creator's signal mask, so call `Signals.block` before starting threads.
import Glibc

public final class PosixThread {
    private let handle: pthread_t
    private var isJoined = false

    /// Starts `body` on a new thread named `name` (Linux keeps the first 15 bytes; shown by top/gdb).
    public init(name: String, _ body: @escaping @Sendable () -> Void) throws(SyscallError) {
        let start = ThreadStart(name: name, body: body)
        let context = Unmanaged.passRetained(start).toOpaque()
        var handle = pthread_t()
        let result = pthread_create(&handle, nil, { context in
            let start = Unmanaged<ThreadStart>.fromOpaque(context!).takeRetainedValue()
            start.run()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<ThreadStart>.fromOpaque(context).release()
            throw SyscallError(errno: result, call: "pthread_create")
        }
        self.handle = handle
    }

    deinit {
        // An unjoined thread keeps running; detach it so its resources are freed when it ends.
        if !isJoined { pthread_detach(handle) }
    }

    /// Waits for the thread to finish. Call at most once.
    public func join() {
        precondition(!isJoined, "thread joined twice")
        isJoined = true
        let result = pthread_join(handle, nil)
        precondition(result == 0, "pthread_join failed: \(errorText(result))")
    }
}

/// What the new thread needs, passed through pthread_create's `void *` argument.
private final class ThreadStart {
    let name: String
    let body: @Sendable () -> Void

    init(name: String, body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }

    func run() {
        // pthread_setname_np rejects names over 15 bytes, so cut them (on a UTF-8 boundary).
        var bytes = Array(name.utf8.prefix(15))
        while !bytes.isEmpty, String(validating: bytes, as: UTF8.self) == nil { bytes.removeLast() }
        bytes.append(0)
        _ = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { LinuxCalls.setThreadName(pthread_self(), $0.baseAddress) }
        }
        body()
    }
}
