/// Linux-only calls that Swift's Glibc module does not import: epoll, eventfd and signalfd live in
/// <sys/epoll.h>, <sys/eventfd.h> and <sys/signalfd.h>, which SwiftGlibc.h leaves out, and
/// accept4 and pthread_setname_np are declared only under _GNU_SOURCE, which it is not built with.
///
/// Rather than add a C shim target, we look the functions up once in the already-loaded libc with
/// `dlsym` and call them through `@convention(c)` pointers, which use the C calling convention, so
/// the call is exactly what a C caller would make. The structures and constants below are the
/// kernel ABI (stable since Linux 2.6.27) and are written out by hand; their layouts are checked
/// by the tests.
import Glibc

enum LinuxCalls {
    typealias EpollCreate1 = @convention(c) (Int32) -> Int32
    typealias EpollControl = @convention(c) (Int32, Int32, Int32, UnsafeMutableRawPointer?) -> Int32
    typealias EpollWait = @convention(c) (Int32, UnsafeMutableRawPointer?, Int32, Int32) -> Int32
    typealias EventFD = @convention(c) (UInt32, Int32) -> Int32
    typealias SignalFD = @convention(c) (Int32, UnsafePointer<sigset_t>?, Int32) -> Int32
    typealias SetThreadName = @convention(c) (pthread_t, UnsafePointer<CChar>?) -> Int32
    typealias Accept4 = @convention(c) (Int32, UnsafeMutablePointer<sockaddr>?, UnsafeMutablePointer<socklen_t>?, Int32) -> Int32

    static let epollCreate1 = lookup("epoll_create1", as: EpollCreate1.self)
    static let epollControl = lookup("epoll_ctl", as: EpollControl.self)
    static let epollWait = lookup("epoll_wait", as: EpollWait.self)
    static let eventFD = lookup("eventfd", as: EventFD.self)
    static let signalFD = lookup("signalfd", as: SignalFD.self)
    static let accept4 = lookup("accept4", as: Accept4.self)
    static let setThreadName = lookup("pthread_setname_np", as: SetThreadName.self)

    /// A nil handle is glibc's RTLD_DEFAULT: search the global scope, which always holds libc.
    private static func lookup<Function>(_ name: String, as type: Function.Type) -> Function {
        guard let symbol = dlsym(nil, name) else {
            preconditionFailure("libc has no \(name); ZKPosix needs Linux with glibc")
        }
        return unsafeBitCast(symbol, to: type)
    }

    // <sys/epoll.h>
    static let epollIn: UInt32 = 0x001
    static let epollOut: UInt32 = 0x004
    static let epollError: UInt32 = 0x008
    static let epollHangup: UInt32 = 0x010
    static let epollControlAdd: Int32 = 1
    static let epollControlDelete: Int32 = 2
    static let epollControlModify: Int32 = 3
    /// EPOLL_CLOEXEC, EFD_CLOEXEC and SFD_CLOEXEC all equal O_CLOEXEC; the NONBLOCK flags equal O_NONBLOCK.
    static let closeOnExec: Int32 = O_CLOEXEC
    static let nonBlocking: Int32 = O_NONBLOCK

    /// `struct epoll_event { uint32_t events; epoll_data_t data; }` is packed on x86-64 (12 bytes,
    /// data at offset 4) and naturally aligned elsewhere (16 bytes, data at offset 8).
    #if arch(x86_64)
    static let epollEventStride = 12
    static let epollEventDataOffset = 4
    #else
    static let epollEventStride = 16
    static let epollEventDataOffset = 8
    #endif

    /// `struct signalfd_siginfo` is 128 bytes; `ssi_signo` (uint32_t) comes first.
    static let signalInfoSize = 128
}
