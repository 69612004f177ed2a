/// Signal numbers for modules that do not import Glibc (only ZKPosix may).
import Glibc

extension Signals {
    public static let terminate: Int32 = SIGTERM
    public static let interrupt: Int32 = SIGINT
    public static let childExited: Int32 = SIGCHLD
}

extension Signals {
    /// Ends the process with `status` (for executables that do not import Glibc).
    public static func exitProcess(_ status: Int32) -> Never { exit(status) }
}

extension Signals {
    /// Whether this process is its PID namespace's init (PID 1 in a container whose command `exec`s
    /// the server). Init gets no default signal actions and inherits every orphan, so the server
    /// then handles SIGTERM itself (it always does) and reaps the orphans' exit statuses.
    public static var isNamespaceInit: Bool { getpid() == 1 }

    /// Collects the exit status of every child that has ended, so none stays a zombie.
    public static func reapExitedChildren() {
        var status: Int32 = 0
        while waitpid(-1, &status, WNOHANG) > 0 {}
    }
}
