import ZKCore

/// Logging for the production shell, in the layout of the log4j configuration that the Kubernetes
/// tutorial's `start-zookeeper` writes:
///
///     %d{ISO8601} [myid:%X{myid}] - %-5p [%t:%C{1}@%L] - %m%n
///     2016-12-06 19:34:16,236 [myid:1] - INFO  [main:QuorumPeer@827] - message
///
/// A `Logger` is a value passed to whoever logs (no global logger). The clock and the output sink
/// are injected, so tests are deterministic. `%C{1}` (the Java class) becomes the Swift file name
/// without `.swift`, and `%L` the line, both taken from `#fileID`/`#line` at the call site. Times are
/// rendered in UTC (log4j uses the JVM's time zone; containers usually run in UTC).
///
/// Messages are `@autoclosure`s: a disabled level costs one comparison and builds no string.
/// The sink receives one complete line without a line terminator; it must be safe to call from
/// every thread that holds a copy of the logger (each thread typically holds its own copy made
/// with `withThreadName(_:)`).
public struct Logger: Sendable {
    /// Messages below this level are dropped.
    public var threshold: LogLevel
    /// The `%X{myid}` value: the server id in an ensemble, empty for a standalone server.
    public var myid: String
    /// The `%t` value: the name of the thread this copy of the logger is used on.
    public var threadName: String
    private let clockMs: @Sendable () -> Int64
    private let sink: @Sendable (String) -> Void

    /// - Parameters:
    ///   - myid: the server id in an ensemble, nil for a standalone server (rendered `[myid:]`).
    ///   - clockMs: wall-clock time in milliseconds since 1970-01-01T00:00:00Z.
    ///   - sink: receives each formatted line, without a trailing newline.
    public init(
        threshold: LogLevel = .info,
        myid: ServerID? = nil,
        threadName: String = "main",
        clockMs: @escaping @Sendable () -> Int64,
        sink: @escaping @Sendable (String) -> Void
    ) {
        self.threshold = threshold
        self.myid = myid.map { String($0.rawValue) } ?? ""
        self.threadName = threadName
        self.clockMs = clockMs
        self.sink = sink
    }

    /// A copy that logs under another thread name (`%t`).
    public func withThreadName(_ name: String) -> Logger {
        var copy = self
        copy.threadName = name
        return copy
    }

    @inlinable public func isEnabled(_ level: LogLevel) -> Bool { level >= threshold }

    public func log(
        _ level: LogLevel, _ message: @autoclosure () -> String,
        fileID: StaticString = #fileID, line: UInt = #line
    ) {
        guard isEnabled(level) else { return }
        sink(Logger.formatLine(
            timeMs: clockMs(), myid: myid, level: level, threadName: threadName,
            fileID: fileID.description, line: line, message: message()))
    }

    /// Logs on behalf of another component (the replica's log effects), naming it as the class.
    public func log(_ level: LogLevel, _ message: @autoclosure () -> String, source: String, line: UInt) {
        guard isEnabled(level) else { return }
        sink(Logger.formatLine(
            timeMs: clockMs(), myid: myid, level: level, threadName: threadName,
            fileID: source, line: line, message: message()))
    }

    public func trace(_ message: @autoclosure () -> String, fileID: StaticString = #fileID, line: UInt = #line) {
        log(.trace, message(), fileID: fileID, line: line)
    }
    public func debug(_ message: @autoclosure () -> String, fileID: StaticString = #fileID, line: UInt = #line) {
        log(.debug, message(), fileID: fileID, line: line)
    }
    public func info(_ message: @autoclosure () -> String, fileID: StaticString = #fileID, line: UInt = #line) {
        log(.info, message(), fileID: fileID, line: line)
    }
    public func warn(_ message: @autoclosure () -> String, fileID: StaticString = #fileID, line: UInt = #line) {
        log(.warn, message(), fileID: fileID, line: line)
    }
    public func error(_ message: @autoclosure () -> String, fileID: StaticString = #fileID, line: UInt = #line) {
        log(.error, message(), fileID: fileID, line: line)
    }

    /// One log line without its terminator:
    /// `2016-12-06 19:34:16,236 [myid:1] - INFO  [main:Listener@42] - message`.
    public static func formatLine(
        timeMs: Int64, myid: String, level: LogLevel, threadName: String,
        fileID: String, line: UInt, message: String
    ) -> String {
        var text = formatTimestamp(ms: timeMs)
        text += " [myid:" + myid + "] - "
        text += level.paddedName
        text += " [" + threadName + ":" + className(fileID: fileID) + "@" + String(line) + "] - "
        text += message
        return text
    }

    /// `%C{1}` for Swift: `"ZKServer/Listener.swift"` → `"Listener"`.
    public static func className(fileID: String) -> String {
        var name = Substring(fileID)
        if let slash = name.lastIndex(of: "/") { name = name[name.index(after: slash)...] }
        if name.hasSuffix(".swift") { name = name.dropLast(6) }
        return String(name)
    }

    /// log4j's `%d{ISO8601}` in UTC: `yyyy-MM-dd HH:mm:ss,SSS`.
    public static func formatTimestamp(ms: Int64) -> String {
        let (seconds, millis) = floorDivide(ms, 1000)
        let (days, secondOfDay) = floorDivide(seconds, 86_400)
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        var text = ""
        text.reserveCapacity(23)
        text += pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + " "
        text += pad(secondOfDay / 3600, 2) + ":" + pad(secondOfDay / 60 % 60, 2) + ":" + pad(secondOfDay % 60, 2)
        text += "," + pad(millis, 3)
        return text
    }

    /// Days since 1970-01-01 → proleptic Gregorian (year, month, day), after Howard Hinnant's
    /// `civil_from_days` (valid for the whole Int64 range this is called with).
    static func civilDate(daysSinceEpoch days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097                                       // [0, 146096]
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)  // [0, 365]
        let monthIndex = (5 * dayOfYear + 2) / 153                             // [0, 11], March = 0
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        let quotient = a / b - ((a % b != 0 && (a < 0) != (b < 0)) ? 1 : 0)
        return (quotient, a - quotient * b)
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value.magnitude)
        let sign = value < 0 ? "-" : ""
        return sign + String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}


