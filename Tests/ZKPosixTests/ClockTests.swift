// Clocks: monotonic never goes backwards; wall clock is in the right era; units agree.
import Testing
import ZKPosix

@Suite struct ClockTests {
    @Test func monotonicDoesNotGoBackwards() {
        var previous = monotonicNanoseconds()
        for _ in 0..<1000 {
            let now = monotonicNanoseconds()
            #expect(now >= previous)
            previous = now
        }
        let milliseconds = monotonicMilliseconds()
        #expect(milliseconds >= previous / 1_000_000)
    }

    @Test func wallClockIsAfter2020() {
        #expect(wallClockMilliseconds() > 1_577_836_800_000)
    }
}
