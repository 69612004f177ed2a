/// Signal numbers for modules that do not import Glibc (only ZKPosix may).
import Glibc

extension Signals {
    public static let terminate: Int32 = SIGTERM
    public static let interrupt: Int32 = SIGINT
}

extension Signals {
    /// Ends the process with `status` (for executables that do not import Glibc).
    public static func exitProcess(_ status: Int32) -> Never { exit(status) }
}
