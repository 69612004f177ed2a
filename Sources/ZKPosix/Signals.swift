/// Process-wide signal setup for the server shell. The server handles SIGTERM/SIGINT as ordinary
/// events (see `EventLoop.watchSignals`), never in an async signal handler, so no Swift code ever
/// runs in signal context.
import Glibc

public enum Signals {
    /// A thread's signal mask, as saved by `block` and put back by `restore`.
    public struct Mask: Sendable {
        fileprivate var set: sigset_t
    }

    /// Writes to a closed socket then fail with EPIPE instead of killing the process. Call once at
    /// startup. (Our socket writes also pass MSG_NOSIGNAL; this covers every other write.)
    public static func ignoreSIGPIPE() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = SIG_IGN
        sigemptyset(&action.sa_mask)
        precondition(sigaction(SIGPIPE, &action, nil) == 0, "sigaction(SIGPIPE) cannot fail")
    }

    /// Blocks `signals` in the calling thread (and in every thread it creates later); returns the
    /// previous mask so a test can put it back.
    @discardableResult
    public static func block(_ signals: [Int32]) -> Mask {
        var set = makeSet(signals)
        var previous = sigset_t()
        let result = pthread_sigmask(SIG_BLOCK, &set, &previous)
        precondition(result == 0, "pthread_sigmask(SIG_BLOCK) failed: \(errorText(result))")
        return Mask(set: previous)
    }

    /// Puts back a mask returned by `block`. Any signal that became pending while blocked and is
    /// unblocked now is delivered at once, with its normal action.
    public static func restore(_ mask: Mask) {
        var set = mask.set
        let result = pthread_sigmask(SIG_SETMASK, &set, nil)
        precondition(result == 0, "pthread_sigmask(SIG_SETMASK) failed: \(errorText(result))")
    }

    /// Signals that are blocked and pending for the calling thread or the process.
    public static func pending() -> [Int32] {
        var set = sigset_t()
        let result = sigpending(&set)
        precondition(result == 0, "sigpending cannot fail")
        return (1..<Int32(65)).filter { sigismember(&set, $0) == 1 }
    }

    static func makeSet(_ signals: [Int32]) -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for number in signals {
            precondition(sigaddset(&set, number) == 0, "invalid signal number \(number)")
        }
        return set
    }
}
