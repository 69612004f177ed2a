/// Log levels, shared by the core (which emits log effects) and the shell (which prints them).
public enum LogLevel: Int, Comparable, Sendable, CaseIterable, CustomStringConvertible {
    case trace, debug, info, warn, error

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }

    /// `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`.
    public var name: String {
        switch self {
        case .trace: "TRACE"
        case .debug: "DEBUG"
        case .info: "INFO"
        case .warn: "WARN"
        case .error: "ERROR"
        }
    }

    /// `%-5p`: the name left-aligned in five columns.
    public var paddedName: String {
        switch self {
        case .trace: "TRACE"
        case .debug: "DEBUG"
        case .info: "INFO "
        case .warn: "WARN "
        case .error: "ERROR"
        }
    }

    public var description: String { name }

    /// Parses a level name, case-insensitively. Besides the five names it accepts log4j's `ALL`
    /// (= TRACE), `FATAL` (= ERROR) and `WARNING` (= WARN).
    public init?(name: String) {
        switch name.uppercased() {
        case "TRACE", "ALL": self = .trace
        case "DEBUG": self = .debug
        case "INFO": self = .info
        case "WARN", "WARNING": self = .warn
        case "ERROR", "FATAL": self = .error
        default: return nil // over String
        }
    }
}
