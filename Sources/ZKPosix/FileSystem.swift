/// `FileSystem` holds path-level calls: reading a config file, creating and inspecting data
/// directories, listing snapshots and logs, atomic replacement of small files. Paths are plain
/// `String`s. Listings are sorted so callers see the same order on every run.
import Glibc

public enum FileSystem {
    // MARK: Whole files

    /// Reads a whole file. Works for /proc files too (their size reads as 0, so we read to EOF).
    public static func readFile(_ path: String) throws(SyscallError) -> [UInt8] {
        let file = try PosixFile(path: path, options: .read)
        defer { file.close() }
        var bytes: [UInt8] = []
        let chunk = 64 * 1024
        // readAvailable appends a whole chunk before trimming, so reserve one chunk beyond the size.
        bytes.reserveCapacity(Int(try file.size()) + chunk)
        while true {
            let count = try Socket.readAvailable(file.fd, into: &bytes, maxBytes: chunk)
            if count == 0 { return bytes }
        }
    }

    /// Replaces `path` with `bytes` so that a crash leaves either the old or the new content:
    /// write `path.tmp`, fdatasync it, rename over `path`, fsync the directory (what Apache's
    /// AtomicFileOutputStream does for the epoch files).
    public static func writeFileAtomically(_ path: String, bytes: [UInt8]) throws(SyscallError) {
        let temporary = path + ".tmp"
        let file = try PosixFile(path: temporary, options: [.write, .create, .truncate])
        do throws(SyscallError) {
            try file.write(bytes)
            try file.synchronizeData()
        } catch {
            file.close()
            throw error
        }
        file.close()
        try rename(temporary, to: path)
        try synchronizeDirectory(parentDirectory(of: path))
    }

    // MARK: Queries

    public static func fileExists(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0
    }

    /// The file's last modification time in whole seconds since 1970, nil if it cannot be read.
    public static func modificationTimeSeconds(_ path: String) -> Int64? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return Int64(status.st_mtim.tv_sec)
    }

    public static func isDirectory(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
    }

    /// A directory we may create files in (write and search permission for this process).
    public static func isWritableDirectory(_ path: String) -> Bool {
        isDirectory(path) && access(path, W_OK | X_OK) == 0
    }

    /// The canonical absolute path (realpath) when `path` exists; otherwise `path` joined to the
    /// current directory, without touching the disk further.
    public static func absolutePath(_ path: String) -> String {
        if let resolved = realpath(path, nil) {
            defer { free(resolved) }
            return String(cString: resolved)
        }
        if path.hasPrefix("/") { return path }
        let base = (try? SystemInfo.currentDirectory()) ?? "/"
        return base.hasSuffix("/") ? base + path : base + "/" + path
    }

    /// Names in a directory, without "." and "..", sorted.
    public static func listDirectory(_ path: String) throws(SyscallError) -> [String] {
        var names: [String] = []
        try forEachEntry(path) { name, _ in names.append(name) }
        return names.sorted()
    }

    /// Total size of the regular files under `path`, recursively. Symbolic links are not followed.
    public static func directorySizeBytes(_ path: String) throws(SyscallError) -> Int64 {
        var total: Int64 = 0
        try forEachEntry(path) { (name, _) throws(SyscallError) in
            let child = path.hasSuffix("/") ? path + name : path + "/" + name
            var status = stat()
            do throws(SyscallError) {
                _ = try syscall("lstat(\(child))", bugs: .badDescriptorOrPointer) { lstat(child, &status) }
            } catch .notFound {
                return  // removed while we were walking (a purge); it no longer counts
            }
            switch status.st_mode & S_IFMT {
            case S_IFREG: total += Int64(status.st_size)
            case S_IFDIR: total += try directorySizeBytes(child)
            default: break  // links, sockets, devices: not data we own; st_mode is a C bit field
            }
        }
        return total
    }

    // MARK: Changes

    /// Creates `path` and any missing parents (mkdir -p). An existing directory is fine.
    public static func makeDirectories(_ path: String, permissions: UInt32 = 0o755) throws(SyscallError) {
        if isDirectory(path) { return }
        let parent = parentDirectory(of: path)
        if parent != path && !parent.isEmpty { try makeDirectories(parent, permissions: permissions) }
        do throws(SyscallError) {
            _ = try syscall("mkdir(\(path))", bugs: .badDescriptorOrPointer) { mkdir(path, mode_t(permissions)) }
        } catch .other(errno: EEXIST, call: _) where isDirectory(path) {
            return  // created concurrently by someone else
        }
    }

    /// Atomically renames `source` to `destination`, replacing it. Call `synchronizeDirectory` on
    /// the parent to make the rename itself durable.
    public static func rename(_ source: String, to destination: String) throws(SyscallError) {
        _ = try syscall("rename(\(source), \(destination))", bugs: .badDescriptorOrPointer) { Glibc.rename(source, destination) }
    }

    public static func removeFile(_ path: String) throws(SyscallError) {
        _ = try syscall("unlink(\(path))", bugs: .badDescriptorOrPointer) { unlink(path) }
    }

    /// Removes an empty directory.
    public static func removeDirectory(_ path: String) throws(SyscallError) {
        _ = try syscall("rmdir(\(path))", bugs: .badDescriptorOrPointer) { rmdir(path) }
    }

    /// Removes `path` and everything under it (rm -rf), without following symbolic links.
    public static func removeRecursively(_ path: String) throws(SyscallError) {
        var status = stat()
        do throws(SyscallError) {
            _ = try syscall("lstat(\(path))", bugs: .badDescriptorOrPointer) { lstat(path, &status) }
        } catch .notFound {
            return
        }
        guard status.st_mode & S_IFMT == S_IFDIR else { return try removeFile(path) }
        for name in try listDirectory(path) {
            try removeRecursively(path.hasSuffix("/") ? path + name : path + "/" + name)
        }
        try removeDirectory(path)
    }

    /// Makes a fresh private directory under $TMPDIR (or /tmp) and returns its path (mkdtemp).
    public static func makeTemporaryDirectory(prefix: String = "zk") throws(SyscallError) -> String {
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array((base + "/" + prefix + "-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        if made == nil { throw SyscallError(errno: Glibc.errno, call: "mkdtemp") }
        return template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// fsyncs a directory, which makes file creations, renames and removals in it durable.
    public static func synchronizeDirectory(_ path: String) throws(SyscallError) {
        let fd = try syscall("open(\(path))", bugs: .badDescriptorOrPointer) {
            open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        }
        defer { Socket.close(fd) }
        _ = try syscall("fsync(\(path))", bugs: .badDescriptorOrPointer) { fsync(fd) }
    }

    /// "a/b/c" → "a/b", "/a" → "/", "a" → ".".
    public static func parentDirectory(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        if slash == trimmed.startIndex { return "/" }
        return String(trimmed[..<slash])
    }

    // MARK: Directory walking

    /// Calls `body` with each entry name and its d_type, skipping "." and "..".
    static func forEachEntry(
        _ path: String, _ body: (String, UInt8) throws(SyscallError) -> Void
    ) throws(SyscallError) {
        guard let directory = opendir(path) else {
            throw SyscallError(errno: Glibc.errno, call: "opendir(\(path))")
        }
        defer { closedir(directory) }
        while true {
            Glibc.errno = 0
            guard let entry = readdir(directory) else {
                let code = Glibc.errno
                if code == 0 { return }
                throw SyscallError(errno: code, call: "readdir(\(path))")
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if name == "." || name == ".." { continue }
            try body(name, entry.pointee.d_type)
        }
    }
}
