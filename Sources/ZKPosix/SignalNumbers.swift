/// Signal numbers for modules that do not import Glibc (only ZKPosix may).
import Glibc

extension Signals {
    public static let terminate: Int32 = SIGTERM
    public static let interrupt: Int32 = SIGINT
}
