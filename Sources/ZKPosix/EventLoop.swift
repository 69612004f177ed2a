/// `EventLoop` is a level-triggered epoll set owned by one thread. Callers register descriptors with
/// a `token` of their choosing (a connection slot, say) and get back tokens with readiness flags.
///
/// Two tokens are reserved:
/// - `wakeupToken`: another thread called `waker.wakeup()` (an eventfd). The loop drains the
///   eventfd itself inside `wait`, so the caller only has to look at its queues.
/// - `signalToken`: a signal from `watchSignals` is pending; call `nextSignal()` until nil.
///
/// Level-triggered is deliberate: a connection that was not fully drained (because of a per-turn
/// budget) is reported again next turn, so fairness never costs a lost wakeup.
import Glibc

public final class EventLoop {
    /// What a registration waits for. Errors and hangups are always reported.
    public struct Interest: OptionSet, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let read = Interest(rawValue: 1)
        public static let write = Interest(rawValue: 2)
    }

    /// One ready descriptor. `hangup` (EPOLLHUP) means both directions are closed; there may still
    /// be data to read first. `error` (EPOLLERR) means a read or write will report the error.
    public struct Event: Sendable, Equatable {
        public var token: UInt64
        public var readable: Bool
        public var writable: Bool
        public var hangup: Bool
        public var error: Bool

        public init(token: UInt64, readable: Bool, writable: Bool, hangup: Bool, error: Bool) {
            self.token = token
            self.readable = readable
            self.writable = writable
            self.hangup = hangup
            self.error = error
        }
    }

    public static let wakeupToken: UInt64 = .max
    public static let signalToken: UInt64 = .max - 1

    /// Hand this to other threads; `wakeup()` makes a blocked `wait` return.
    public let waker: Waker
    private let epollFD: Int32
    private var signalFD: Int32 = -1
    private let kernelEvents: UnsafeMutableRawBufferPointer
    private let kernelEventsMax: Int32

    /// `maxEventsPerWait` bounds one `wait`; further ready descriptors are reported next time.
    public init(maxEventsPerWait: Int = 256) throws(SyscallError) {
        precondition(maxEventsPerWait > 0 && maxEventsPerWait <= Int(Int32.max / 16), "maxEventsPerWait out of range")
        epollFD = try syscall("epoll_create1") { LinuxCalls.epollCreate1(LinuxCalls.closeOnExec) }
        do throws(SyscallError) {
            waker = try Waker()
        } catch {
            Socket.close(epollFD)
            throw error
        }
        kernelEventsMax = Int32(maxEventsPerWait)
        kernelEvents = .allocate(byteCount: maxEventsPerWait * LinuxCalls.epollEventStride, alignment: 8)
        try control(LinuxCalls.epollControlAdd, waker.fd, events: LinuxCalls.epollIn, token: EventLoop.wakeupToken)
    }

    deinit {
        // Closing the epoll descriptor drops every registration; the eventfd lives on in `waker`
        // until the last thread holding it lets go, so a late wakeup() never hits a reused fd.
        Socket.close(epollFD)
        if signalFD >= 0 { Socket.close(signalFD) }
        kernelEvents.deallocate()
    }

    // MARK: Registration

    public func register(_ fd: Int32, interest: Interest, token: UInt64) throws(SyscallError) {
        precondition(token < EventLoop.signalToken, "tokens \(EventLoop.signalToken) and above are reserved")
        try control(LinuxCalls.epollControlAdd, fd, events: EventLoop.mask(interest), token: token)
    }

    /// Changes interest (and token) of a registered descriptor; e.g. add `.write` while output is queued.
    public func modify(_ fd: Int32, interest: Interest, token: UInt64) throws(SyscallError) {
        precondition(token < EventLoop.signalToken, "tokens \(EventLoop.signalToken) and above are reserved")
        try control(LinuxCalls.epollControlModify, fd, events: EventLoop.mask(interest), token: token)
    }

    /// Removes a descriptor. Closing a descriptor also removes it, so this is only needed for a
    /// descriptor that stays open.
    public func unregister(_ fd: Int32) throws(SyscallError) {
        try control(LinuxCalls.epollControlDelete, fd, events: 0, token: 0)
    }

    /// ENOMEM and ENOSPC (too many watches) are the environment and are thrown; EEXIST, ENOENT and
    /// EPERM mean we registered twice, removed an unknown descriptor, or passed a regular file: bugs.
    private func control(_ operation: Int32, _ fd: Int32, events: UInt32, token: UInt64) throws(SyscallError) {
        try withUnsafeTemporaryAllocation(byteCount: LinuxCalls.epollEventStride, alignment: 8) { (raw) throws(SyscallError) in
            raw.storeBytes(of: events, toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: token, toByteOffset: LinuxCalls.epollEventDataOffset, as: UInt64.self)
            do throws(SyscallError) {
                _ = try syscall("epoll_ctl") { LinuxCalls.epollControl(epollFD, operation, fd, raw.baseAddress) }
            } catch {
                let code = error.errno ?? 0
                precondition(code != EEXIST && code != ENOENT && code != EPERM, "epoll_ctl on fd \(fd): \(error)")
                throw error
            }
        }
    }

    private static func mask(_ interest: Interest) -> UInt32 {
        var mask: UInt32 = 0
        if interest.contains(.read) { mask |= LinuxCalls.epollIn }
        if interest.contains(.write) { mask |= LinuxCalls.epollOut }
        return mask
    }

    // MARK: Waiting

    /// Waits up to `timeoutMs` (-1 forever, 0 poll) and replaces `events` with the ready ones
    /// (reusing its storage). A signal interrupting the wait yields no events rather than a retry,
    /// so the caller recomputes its timers from the clock before waiting again.
    public func wait(timeoutMs: Int32, into events: inout [Event]) throws(SyscallError) {
        events.removeAll(keepingCapacity: true)
        let count = LinuxCalls.epollWait(epollFD, kernelEvents.baseAddress, kernelEventsMax, timeoutMs)
        if count == -1 {
            let code = Glibc.errno
            if code == EINTR { return }
            preconditionFailure("epoll_wait: \(errorText(code))")  // only EBADF, EFAULT, EINVAL exist
        }
        for index in 0..<Int(count) {
            let offset = index * LinuxCalls.epollEventStride
            let flags = kernelEvents.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
            let token = kernelEvents.loadUnaligned(fromByteOffset: offset + LinuxCalls.epollEventDataOffset, as: UInt64.self)
            if token == EventLoop.wakeupToken { waker.drain() }
            events.append(Event(token: token,
                                readable: flags & LinuxCalls.epollIn != 0,
                                writable: flags & LinuxCalls.epollOut != 0,
                                hangup: flags & LinuxCalls.epollHangup != 0,
                                error: flags & LinuxCalls.epollError != 0))
        }
    }

    // MARK: Signals

    /// Blocks `signals` in the calling thread and reports them through `signalToken` instead of
    /// running their default action. Every other thread must block them too, or the kernel may
    /// deliver a process-directed signal there: call `Signals.block` at the top of `main`, before
    /// any thread starts (threads inherit the mask). May be called once per loop.
    public func watchSignals(_ signals: [Int32]) throws(SyscallError) {
        precondition(signalFD < 0, "watchSignals called twice")
        var set = Signals.makeSet(signals)
        _ = Signals.block(signals)
        signalFD = try syscall("signalfd") {
            LinuxCalls.signalFD(-1, &set, LinuxCalls.nonBlocking | LinuxCalls.closeOnExec)
        }
        try control(LinuxCalls.epollControlAdd, signalFD, events: LinuxCalls.epollIn, token: EventLoop.signalToken)
    }

    /// The next pending watched signal (e.g. SIGTERM), or nil when none is pending.
    public func nextSignal() throws(SyscallError) -> Int32? {
        precondition(signalFD >= 0, "nextSignal without watchSignals")
        return try withUnsafeTemporaryAllocation(byteCount: LinuxCalls.signalInfoSize, alignment: 8) { (raw) throws(SyscallError) -> Int32? in
            do throws(SyscallError) {
                let count = try syscall("read(signalfd)") { Glibc.read(signalFD, raw.baseAddress, raw.count) }
                precondition(count == LinuxCalls.signalInfoSize, "signalfd returned a partial record")
            } catch .wouldBlock {
                return nil
            }
            return Int32(bitPattern: raw.load(fromByteOffset: 0, as: UInt32.self))
        }
    }
}

/// The thread-safe half of an `EventLoop`: an eventfd that any thread may write to. It is a class
/// so the descriptor is closed only when the loop and every other holder are done with it.
public final class Waker: Sendable {
    let fd: Int32

    init() throws(SyscallError) {
        fd = try syscall("eventfd") { LinuxCalls.eventFD(0, LinuxCalls.nonBlocking | LinuxCalls.closeOnExec) }
    }

    deinit {
        Socket.close(fd)
    }

    /// Makes the loop's current or next `wait` return with a `wakeupToken` event. Cheap; wakeups
    /// coalesce until the loop drains them.
    public func wakeup() {
        var one: UInt64 = 1
        do throws(SyscallError) {
            _ = try syscall("write(eventfd)") { Glibc.write(fd, &one, 8) }
        } catch .wouldBlock {
            return  // the counter is saturated: a wakeup is already pending
        } catch {
            preconditionFailure("eventfd write cannot fail otherwise: \(error)")
        }
    }

    /// Resets the counter so the level-triggered eventfd stops reporting readable.
    func drain() {
        var count: UInt64 = 0
        do throws(SyscallError) {
            _ = try syscall("read(eventfd)") { Glibc.read(fd, &count, 8) }
        } catch .wouldBlock {
            return  // another wait already drained it
        } catch {
            preconditionFailure("eventfd read cannot fail otherwise: \(error)")
        }
    }
}
