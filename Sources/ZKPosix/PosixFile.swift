/// `PosixFile` is an open file descriptor with the few calls a write-ahead log and snapshot store
/// need: append, positional read/write, fdatasync, truncate, size. It is a plain value: the owner
/// closes it exactly once (a second close traps). Writes loop until every byte is written, so a
/// short write never silently drops part of a record.
import Glibc

public struct PosixFile: Sendable {
    /// How to open a file. `.append` implies writing at the end on every write (O_APPEND).
    public struct OpenOptions: OptionSet, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let read = OpenOptions(rawValue: 1 << 0)
        public static let write = OpenOptions(rawValue: 1 << 1)
        public static let append = OpenOptions(rawValue: 1 << 2)
        /// Create the file if it does not exist.
        public static let create = OpenOptions(rawValue: 1 << 3)
        /// Empty an existing file.
        public static let truncate = OpenOptions(rawValue: 1 << 4)
        /// With `.create`: fail with EEXIST if the file exists (O_EXCL).
        public static let exclusive = OpenOptions(rawValue: 1 << 5)
    }

    public let fd: Int32

    /// Opens `path` (close-on-exec). New files get `permissions` minus the umask.
    public init(path: String, options: OpenOptions, permissions: UInt32 = 0o644) throws(SyscallError) {
        let flags = PosixFile.openFlags(options)
        fd = try syscall("open(\(path))", bugs: .badDescriptorOrPointer) { Glibc.open(path, flags, mode_t(permissions)) }
    }

    /// Wraps a descriptor the caller owns.
    public init(fd: Int32) {
        self.fd = fd
    }

    private static func openFlags(_ options: OpenOptions) -> Int32 {
        let writes = options.contains(.write) || options.contains(.append)
        var flags: Int32 = O_CLOEXEC
        if writes { flags |= options.contains(.read) ? O_RDWR : O_WRONLY } else { flags |= O_RDONLY }
        if options.contains(.append) { flags |= O_APPEND }
        if options.contains(.create) { flags |= O_CREAT }
        if options.contains(.truncate) { flags |= O_TRUNC }
        if options.contains(.exclusive) { flags |= O_EXCL }
        return flags
    }

    // MARK: Writing

    /// Writes all of `bytes` at the current position (the end, for `.append`).
    public func write(_ bytes: UnsafeRawBufferPointer) throws(SyscallError) {
        var done = 0
        while done < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[done...])
            done += try syscall("write", bugs: .badDescriptorOrPointer) { Glibc.write(fd, rest.baseAddress, rest.count) }
        }
    }

    public func write(_ bytes: [UInt8]) throws(SyscallError) {
        try bytes.withBytes { (raw) throws(SyscallError) in try write(raw) }
    }

    /// Writes all of `bytes` at `offset` without moving the file position.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(SyscallError) {
        precondition(offset >= 0, "negative file offset")
        var done = 0
        while done < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[done...])
            let position = off_t(offset) + off_t(done)
            done += try syscall("pwrite", bugs: .badDescriptorOrPointer) { Glibc.pwrite(fd, rest.baseAddress, rest.count, position) }
        }
    }

    public func write(_ bytes: [UInt8], at offset: Int64) throws(SyscallError) {
        try bytes.withBytes { (raw) throws(SyscallError) in try write(raw, at: offset) }
    }

    // MARK: Reading

    /// Reads up to `count` bytes at `offset`; fewer only at end of file.
    public func read(count: Int, at offset: Int64) throws(SyscallError) -> [UInt8] {
        precondition(count >= 0 && offset >= 0, "negative read size or offset")
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let position = off_t(offset) + off_t(done)
            let got = try bytes.withMutableBytes { (raw) throws(SyscallError) in
                try syscall("pread", bugs: .badDescriptorOrPointer) {
                    Glibc.pread(fd, raw.baseAddress! + done, count - done, position)
                }
            }
            if got == 0 { break }
            done += got
        }
        bytes.removeLast(count - done)
        return bytes
    }

    // MARK: Durability and size

    /// Flushes data (and the metadata needed to read it back, such as the size) to the device.
    public func synchronizeData() throws(SyscallError) {
        _ = try syscall("fdatasync", bugs: .badDescriptorOrPointer) { fdatasync(fd) }
    }

    /// Flushes data and all metadata (fsync).
    public func synchronize() throws(SyscallError) {
        _ = try syscall("fsync", bugs: .badDescriptorOrPointer) { fsync(fd) }
    }

    /// Cuts or extends (with zeros) the file to `size` bytes.
    public func truncate(to size: Int64) throws(SyscallError) {
        precondition(size >= 0, "negative file size")
        _ = try syscall("ftruncate", bugs: .badDescriptorOrPointer) { ftruncate(fd, off_t(size)) }
    }

    /// The file's current size in bytes (fstat).
    public func size() throws(SyscallError) -> Int64 {
        var status = stat()
        _ = try syscall("fstat", bugs: .badDescriptorOrPointer) { fstat(fd, &status) }
        return Int64(status.st_size)
    }

    /// Closes the descriptor. Durability comes from `synchronizeData` before this, not from close.
    public func close() {
        Socket.close(fd)
    }
}

/// Flushes the C library's buffered standard output (Swift's `print` writes through it), for a
/// process about to trap.
public func flushStandardOutput() {
    fflush(nil)  // every output stream; `stdout` itself is not concurrency-safe to name
}
