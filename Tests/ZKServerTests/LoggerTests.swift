import Testing
import ZKCore
@testable import ZKServer

/// Collects lines; the tests run single-threaded, the lock-free box is enough.
private final class Lines: @unchecked Sendable {
    var lines: [String] = []
}

private func makeLogger(_ threshold: LogLevel = .info, myid: ServerID? = nil, timeMs: Int64 = 1_481_052_856_236)
    -> (Logger, Lines)
{
    let lines = Lines()
    let logger = Logger(threshold: threshold, myid: myid, threadName: "main",
                        clockMs: { timeMs }, sink: { lines.lines.append($0) })
    return (logger, lines)
}

@Suite struct LoggerTests {
    @Test(arguments: [
        (Int64(1_481_052_856_236), "2016-12-06 19:34:16,236"),
        (Int64(0), "1970-01-01 00:00:00,000"),
        (Int64(-1), "1969-12-31 23:59:59,999"),
        (Int64(951_782_400_000), "2000-02-29 00:00:00,000"),
        (Int64(4_107_542_399_999), "2100-02-28 23:59:59,999"),
        (Int64(1_709_251_199_007), "2024-02-29 23:59:59,007"),
        (Int64(253_402_300_799_999), "9999-12-31 23:59:59,999"),
    ])
    func timestamps(ms: Int64, expected: String) {
        #expect(Logger.formatTimestamp(ms: ms) == expected)
    }

    /// Every day from 1900 to 2200 follows the previous one (checks the civil-date conversion).
    @Test func civilDatesAreConsecutive() {
        let daysInMonth = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        var (year, month, day): (Int64, Int64, Int64) = (1900, 1, 1)
        for days in Int64(-25567)...Int64(84_000) {
            let date = Logger.civilDate(daysSinceEpoch: days)
            #expect(date.year == year && date.month == month && date.day == day)
            let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
            let length = Int64(daysInMonth[Int(month - 1)]) + (month == 2 && leap ? 1 : 0)
            day += 1
            if day > length { day = 1; month += 1 }
            if month > 12 { month = 1; year += 1 }
        }
    }

    @Test func lineLayoutMatchesLog4jPattern() {
        let (logger, lines) = makeLogger(myid: ServerID(1))
        logger.info("Processing ruok command from /127.0.0.1:52740", fileID: "ZKServer/NIOServerCnxn.swift", line: 827)
        #expect(lines.lines == [
            "2016-12-06 19:34:16,236 [myid:1] - INFO  [main:NIOServerCnxn@827] - Processing ruok command from /127.0.0.1:52740",
        ])
    }

    @Test func standaloneHasEmptyMyidAndThreadNamesApply() {
        let (logger, lines) = makeLogger(.trace)
        logger.withThreadName("SyncThread:0").warn("slow fsync", fileID: "ZKServer/Storage.swift", line: 9)
        #expect(lines.lines == ["2016-12-06 19:34:16,236 [myid:] - WARN  [SyncThread:0:Storage@9] - slow fsync"])
    }

    @Test func levelsArePaddedToFiveColumns() {
        let (logger, lines) = makeLogger(.trace)
        for level in LogLevel.allCases { logger.log(level, "m", fileID: "M/F.swift", line: 1) }
        let levels = lines.lines.map { String($0.dropFirst(34).prefix(7)) }
        #expect(levels == ["TRACE [", "DEBUG [", "INFO  [", "WARN  [", "ERROR ["])
    }

    @Test func callSiteDefaultsToThisFile() {
        let (logger, lines) = makeLogger()
        logger.error("boom")
        #expect(lines.lines.count == 1)
        #expect(lines.lines[0].contains("[main:LoggerTests@"))
    }

    @Test func thresholdFiltersWithoutEvaluatingMessages() {
        let (logger, lines) = makeLogger(.warn)
        var evaluated = 0
        func message(_ text: String) -> String {
            evaluated += 1
            return text
        }
        logger.trace(message("t"))
        logger.debug(message("d"))
        logger.info(message("i"))
        logger.warn(message("w"))
        logger.error(message("e"))
        #expect(evaluated == 2)
        #expect(lines.lines.map { String($0.split(separator: " ").last!) } == ["w", "e"])
        #expect(!logger.isEnabled(.info) && logger.isEnabled(.warn))
    }

    @Test func levelNames() {
        #expect(LogLevel(name: "info") == .info)
        #expect(LogLevel(name: "WARNING") == .warn)
        #expect(LogLevel(name: "FATAL") == .error)
        #expect(LogLevel(name: "ALL") == .trace)
        #expect(LogLevel(name: "loud") == nil)
        #expect(LogLevel.allCases.map(\.name) == ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"])
    }

    @Test func classNameFromFileID() {
        #expect(Logger.className(fileID: "ZKServer/Listener.swift") == "Listener")
        #expect(Logger.className(fileID: "main.swift") == "main")
    }
}
