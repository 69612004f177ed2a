/// `SystemInfo` answers the host and process questions of ZooKeeper's `envi` and `mntr` commands
/// (host name, user, directories, OS, descriptor counts) and the resource questions of benchmarks
/// (resident memory, CPU time). Calls that may block on DNS say so; the rest read the kernel only.
import Glibc

public enum SystemInfo {
    /// uname(2), in the shape of Java's os.name / os.version / os.arch.
    public struct OperatingSystem: Sendable, Equatable {
        /// "Linux".
        public var name: String
        /// The kernel release, e.g. "6.8.0-45-generic".
        public var version: String
        /// The machine, e.g. "x86_64", "aarch64".
        public var architecture: String

        /// What Java reports as os.arch: "amd64" for x86_64, "x86" for i?86, otherwise as is.
        public var javaArchitecture: String {
            switch architecture {
            case "x86_64": return "amd64"
            case "i386", "i486", "i586", "i686": return "x86"
            default: return architecture  // an open set of kernel strings
            }
        }
    }

    /// Process CPU time from getrusage(RUSAGE_SELF).
    public struct CPUTime: Sendable, Equatable {
        public var userMicroseconds: Int64
        public var systemMicroseconds: Int64
        public var totalMicroseconds: Int64 { userMicroseconds + systemMicroseconds }
    }

    // MARK: Host and user

    /// gethostname(2): the kernel's node name.
    public static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        let result = gethostname(&buffer, buffer.count - 1)
        precondition(result == 0, "gethostname cannot fail with a 256-byte buffer")
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// The fully qualified name of this host, best effort (getaddrinfo AI_CANONNAME); falls back to
    /// `hostName()`. May block on DNS: call at startup or from `envi`, not per request.
    public static func canonicalHostName() -> String {
        let name = hostName()
        var hints = addrinfo()
        hints.ai_flags = AI_CANONNAME
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &list) == 0, let first = list else { return name }
        defer { freeaddrinfo(first) }
        guard let canonical = first.pointee.ai_canonname else { return name }
        return String(cString: canonical)
    }

    /// The login name of the effective user, or nil if the user has no passwd entry (containers).
    public static func userName() -> String? {
        passwordEntry { String(cString: $0.pw_name) }
    }

    /// The home directory of the effective user, or nil without a passwd entry.
    public static func homeDirectory() -> String? {
        passwordEntry { String(cString: $0.pw_dir) }
    }

    /// getpwuid_r, the thread-safe form, growing its buffer on ERANGE.
    private static func passwordEntry(_ read: (passwd) -> String) -> String? {
        var size = 1024
        while size <= 1 << 20 {
            var entry = passwd()
            var found: UnsafeMutablePointer<passwd>?
            var buffer = [CChar](repeating: 0, count: size)
            let result = getpwuid_r(geteuid(), &entry, &buffer, size, &found)
            if result == ERANGE { size *= 2; continue }
            guard result == 0, found != nil else { return nil }
            return read(entry)  // entry's strings point into buffer, still alive here
        }
        return nil
    }

    /// getcwd(3).
    public static func currentDirectory() throws(SyscallError) -> String {
        guard let path = getcwd(nil, 0) else {
            throw SyscallError(errno: Glibc.errno, call: "getcwd")
        }
        defer { free(path) }
        return String(cString: path)
    }

    public static func operatingSystem() -> OperatingSystem {
        var names = utsname()
        precondition(uname(&names) == 0, "uname cannot fail")
        return OperatingSystem(name: text(names.sysname), version: text(names.release),
                               architecture: text(names.machine))
    }

    /// A fixed-size C char array (imported as a tuple) as a String.
    private static func text<Tuple>(_ tuple: Tuple) -> String {
        withUnsafeBytes(of: tuple) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    // MARK: Process

    public static func processID() -> Int32 {
        getpid()
    }

    /// Online processors (sysconf), for sizing thread counts and reporting.
    public static func processorCount() -> Int {
        max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    }

    /// Open descriptors of this process: entries of /proc/self/fd, minus the one used to list it
    /// (Java's UnixOperatingSystemMXBean counts the same way).
    public static func openFileDescriptorCount() throws(SyscallError) -> Int {
        var count = 0
        try FileSystem.forEachEntry("/proc/self/fd") { _, _ in count += 1 }
        return count - 1
    }

    /// The soft RLIMIT_NOFILE: how many descriptors this process may have open.
    public static func maxFileDescriptorCount() -> Int64 {
        var limit = rlimit()
        precondition(getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, "getrlimit cannot fail")
        return limit.rlim_cur >= rlim_t(Int64.max) ? Int64.max : Int64(limit.rlim_cur)  // RLIM_INFINITY is all ones
    }

    /// Resident set size in bytes: the second field of /proc/self/statm times the page size.
    public static func residentMemoryBytes() throws(SyscallError) -> Int64 {
        try memoryBytes().resident
    }

    /// Virtual and resident size in bytes: the first two fields of /proc/self/statm times the page size.
    public static func memoryBytes() throws(SyscallError) -> (virtual: Int64, resident: Int64) {
        let statm = try FileSystem.readFile("/proc/self/statm")
        let fields = statm.split(separator: UInt8(ascii: " "))
        guard fields.count >= 2, let size = Int64(String(decoding: fields[0], as: UTF8.self)),
              let resident = Int64(String(decoding: fields[1], as: UTF8.self)) else {
            preconditionFailure("/proc/self/statm has an unexpected format")
        }
        let page = Int64(sysconf(Int32(_SC_PAGESIZE)))
        return (size * page, resident * page)
    }

    public static func cpuTime() -> CPUTime {
        var usage = rusage()
        precondition(getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) == 0, "getrusage cannot fail")
        return CPUTime(userMicroseconds: microseconds(usage.ru_utime),
                       systemMicroseconds: microseconds(usage.ru_stime))
    }

    private static func microseconds(_ time: timeval) -> Int64 {
        Int64(time.tv_sec) * 1_000_000 + Int64(time.tv_usec)
    }
}

/// Memory the process no longer uses, given back to the system.
public enum MemoryRelease {
    /// `malloc_trim(0)`: returns the allocator's free pages (anywhere in the heap, not only at its
    /// top) to the kernel. Called after a large delete or a snapshot load; takes a few milliseconds
    /// for a heap of hundreds of megabytes.
    public static func trimFreeMemory() {
        _ = glibcMallocTrim(0)
    }
}

/// glibc's `malloc_trim` (declared in malloc.h, which the Glibc module does not bring in).
@_silgen_name("malloc_trim")
private func glibcMallocTrim(_ pad: Int) -> Int32
