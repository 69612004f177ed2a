/// Clocks for the shell. The core never reads these: the shell turns monotonic time into ticks.
/// - Monotonic time (CLOCK_MONOTONIC) drives timeouts; it never jumps when the wall clock is set.
/// - Wall-clock time (CLOCK_REALTIME) is only for display and for Stat's ctime/mtime, which
///   ZooKeeper defines as wall-clock milliseconds since the epoch.
import Glibc

/// Monotonic nanoseconds since an arbitrary fixed point (boot, on Linux).
public func monotonicNanoseconds() -> Int64 {
    let now = readClock(CLOCK_MONOTONIC)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}

/// Monotonic milliseconds since an arbitrary fixed point.
public func monotonicMilliseconds() -> Int64 {
    let now = readClock(CLOCK_MONOTONIC)
    return Int64(now.tv_sec) * 1_000 + Int64(now.tv_nsec) / 1_000_000
}

/// Milliseconds since 1970-01-01T00:00:00Z, like Java's `System.currentTimeMillis()`.
public func wallClockMilliseconds() -> Int64 {
    let now = readClock(CLOCK_REALTIME)
    return Int64(now.tv_sec) * 1_000 + Int64(now.tv_nsec) / 1_000_000
}

private func readClock(_ clock: clockid_t) -> timespec {
    var now = timespec()
    let result = clock_gettime(clock, &now)
    precondition(result == 0, "clock_gettime cannot fail for a clock every Linux has")
    return now
}

/// Blocks the calling thread for about `ms` milliseconds (a shell waiting for a storage thread to
/// go idle; never used to order events in tests).
public func sleepMilliseconds(_ ms: Int) {
    var request = timespec(tv_sec: ms / 1000, tv_nsec: (ms % 1000) * 1_000_000)
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}
