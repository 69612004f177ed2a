/// An in-memory `Disk` for the storage tests and the simulator, with the faults a real disk has:
///
/// - **Lost unsynced data.** Every file keeps its current content and the content its last `sync()` made
///   durable; `crash()` drops everything not synced. Directory entries (creations, renames, removals) are
///   durable only after `syncDirectory` (unless `directoryEntriesAreDurable` is set).
/// - **Injected errors.** `failNext(.write, .noSpace)` makes the next write (or sync, truncate) throw.
/// - **A full disk.** With `capacityBytes` set, writes that would use more space throw `.noSpace`; either
///   nothing is written (`.atomic`) or the bytes that fit are written first (`.partial`), like a short
///   `pwrite` followed by ENOSPC.
///
/// - **Torn tails.** `crash(tearing:)` keeps, of each file's unsynced bytes, a random prefix from the
///   first byte that differs from its synced content: a power loss mid-write.
/// - **A disk that lies.** With `syncsAreLost` set, `sync()` succeeds and persists nothing (a skipped
///   or misplaced fdatasync, a volatile write cache): the simulator must then find lost writes.
///
/// Space used is the written bytes: growing a file with `truncate` is metadata (a sparse hole of zeros) and
/// costs nothing, as Apache's preallocation relies on.
import ZKCore
import ZKStorage

public final class MemoryDisk: Disk {
    public enum Operation: Hashable, Sendable { case write, sync, truncate, create, rename, remove, syncDirectory, read }
    public enum FullDiskMode: Sendable { case atomic, partial }

    /// One file's bytes, shared by every name and handle that refers to it (an inode).
    public final class Inode {
        var current: [UInt8] = []
        /// What survives a crash.
        var synced: [UInt8] = []
        /// Bytes that hold written data (the rest of `current` is a sparse hole): counts against capacity.
        var allocated = 0
        init() {}
        init(bytes: [UInt8]) { current = bytes; synced = bytes; allocated = bytes.count }
    }

    /// Directories and, per directory, file name → inode.
    public private(set) var directories: [String: [String: Inode]] = [:]
    /// The entries that survive a crash (as of each directory's last `syncDirectory`).
    private var durableDirectories: [String: [String: Inode]] = [:]
    public var directoryEntriesAreDurable = false
    public var syncsAreLost = false
    /// With `syncsAreLost`, only syncs of files whose path contains this are lost (nil: all).
    public var syncsAreLostOnlyFor: String?

    public var capacityBytes: Int?
    public var fullDiskMode: FullDiskMode = .atomic
    private var faults: [(operation: Operation, kind: DiskError.Kind, path: String?)] = []
    /// Handles from before the last crash are dead.
    public private(set) var generation = 0

    // Counters.
    public private(set) var syncCount = 0
    public private(set) var directorySyncCount = 0
    public private(set) var writeCount = 0
    public private(set) var truncateCount = 0
    public private(set) var operations: [(Operation, String)] = []

    public init(directories names: [String] = []) {
        for name in names { makeDirectory(name) }
    }

    // MARK: Test controls

    public func makeDirectory(_ path: String) {
        if directories[path] == nil { directories[path] = [:] }
        if durableDirectories[path] == nil { durableDirectories[path] = [:] }
    }

    /// Puts a durable file (already synced, directory entry durable).
    public func put(_ path: String, _ bytes: [UInt8]) {
        let (dir, name) = split(path)
        makeDirectory(dir)
        let inode = Inode(bytes: bytes)
        directories[dir]![name] = inode
        durableDirectories[dir]![name] = inode
    }

    /// The current bytes of a file (nil if it does not exist).
    public func contents(_ path: String) -> [UInt8]? {
        let (dir, name) = split(path)
        return directories[dir]?[name]?.current
    }

    /// The bytes of a file that would survive a crash now.
    public func durableContents(_ path: String) -> [UInt8]? {
        let (dir, name) = split(path)
        guard let inode = directoryEntriesAreDurable ? directories[dir]?[name] : durableDirectories[dir]?[name] else { return nil }
        return inode.synced
    }

    public func exists(_ path: String) -> Bool { contents(path) != nil }

    /// Changes bytes of a file in place (durably), e.g. to corrupt it.
    public func modify(_ path: String, _ change: (inout [UInt8]) -> Void) {
        let (dir, name) = split(path)
        guard let inode = directories[dir]?[name] else { preconditionFailure("no file \(path)") }
        change(&inode.current)
        inode.synced = inode.current
        inode.allocated = inode.current.count
    }

    /// The next `operation` (on a path containing `pathContaining`, if given) throws `kind`. Queued: several
    /// calls fail several operations, in order.
    public func failNext(_ operation: Operation, _ kind: DiskError.Kind, pathContaining: String? = nil) {
        faults.append((operation, kind, pathContaining))
    }

    public var pendingFaults: Int { faults.count }

    /// Power loss: unsynced bytes and unsynced directory entries are gone; open handles become invalid.
    public func crash() {
        var keepNothing = SeededRandom(seed: 0)
        crash(tearing: &keepNothing, tornTails: false)
    }

    /// Power loss that may also keep a random prefix of each file's unsynced bytes (a torn tail).
    public func crash<R: RandomNumberGenerator>(tearing random: inout R, tornTails: Bool = true) {
        generation += 1
        if !directoryEntriesAreDurable {
            directories = durableDirectories
        }
        var seen = Set<ObjectIdentifier>()
        for name in directories.keys.sorted() {
            for file in directories[name]!.keys.sorted() {
                let inode = directories[name]![file]!
                guard seen.insert(ObjectIdentifier(inode)).inserted else { continue }
                inode.current = tornTails ? MemoryDisk.torn(inode, &random) : inode.synced
                inode.allocated = min(inode.allocated, inode.current.count)
            }
        }
    }

    /// The synced bytes with a random prefix of the unsynced change written over them.
    private static func torn<R: RandomNumberGenerator>(_ inode: Inode, _ random: inout R) -> [UInt8] {
        let current = inode.current, synced = inode.synced
        var first = 0
        while first < current.count && first < synced.count && current[first] == synced[first] { first += 1 }
        guard first < current.count else { return synced }
        let cut = Int.random(in: first...current.count, using: &random)
        var result = Array(current[0..<cut])
        if synced.count > cut { result += synced[cut...] }
        return result
    }

    public var usedBytes: Int {
        var seen = Set<ObjectIdentifier>()
        var total = 0
        for (_, entries) in directories {
            for (_, inode) in entries where seen.insert(ObjectIdentifier(inode)).inserted { total += inode.allocated }
        }
        return total
    }

    // MARK: Disk

    public func list(_ directory: String) throws(DiskError) -> [String] {
        guard let entries = directories[directory] else { throw DiskError(.notFound, "\(directory): no such directory") }
        return entries.keys.sorted()
    }

    public func read(_ path: String) throws(DiskError) -> [UInt8] {
        try fault(.read, path)
        return try inode(path).current
    }

    public func read(_ path: String, at offset: Int, count: Int) throws(DiskError) -> [UInt8] {
        try fault(.read, path)
        let bytes = try inode(path).current
        guard offset < bytes.count else { return [] }
        return Array(bytes[offset..<min(bytes.count, offset + count)])
    }

    public func size(_ path: String) throws(DiskError) -> Int64 { Int64(try inode(path).current.count) }

    public func create(_ path: String) throws(DiskError) -> DiskFile {
        try fault(.create, path)
        let (dir, name) = split(path)
        guard directories[dir] != nil else { throw DiskError(.notFound, "\(dir): no such directory") }
        let inode: Inode
        if let existing = directories[dir]![name] {
            inode = existing
            inode.current = []
            inode.allocated = 0
        } else {
            inode = Inode()
            directories[dir]![name] = inode
        }
        return MemoryFile(disk: self, inode: inode, path: path)
    }

    public func openForWriting(_ path: String) throws(DiskError) -> DiskFile {
        MemoryFile(disk: self, inode: try inode(path), path: path)
    }

    public func rename(_ from: String, to: String) throws(DiskError) {
        try fault(.rename, from)
        let (fromDir, fromName) = split(from)
        let (toDir, toName) = split(to)
        guard let inode = directories[fromDir]?[fromName] else { throw DiskError(.notFound, "\(from): no such file") }
        guard directories[toDir] != nil else { throw DiskError(.notFound, "\(toDir): no such directory") }
        directories[fromDir]![fromName] = nil
        directories[toDir]![toName] = inode
    }

    public func remove(_ path: String) throws(DiskError) {
        try fault(.remove, path)
        let (dir, name) = split(path)
        guard directories[dir]?[name] != nil else { throw DiskError(.notFound, "\(path): no such file") }
        directories[dir]![name] = nil
    }

    public func syncDirectory(_ path: String) throws(DiskError) {
        try fault(.syncDirectory, path)
        guard let entries = directories[path] else { throw DiskError(.notFound, "\(path): no such directory") }
        durableDirectories[path] = entries
        directorySyncCount += 1
    }

    // MARK: Files

    fileprivate func write(_ inode: Inode, _ bytes: [UInt8], at offset: Int, path: String) throws(DiskError) {
        try fault(.write, path)
        writeCount += 1
        let end = offset + bytes.count
        var count = bytes.count
        var error: DiskError?
        if let capacityBytes {
            let growth = max(0, end - inode.allocated)
            let free = capacityBytes - usedBytes
            if growth > free {
                error = DiskError(.noSpace, "\(path): No space left on device")
                switch fullDiskMode {
                case .atomic: count = 0
                case .partial: count = max(0, min(bytes.count, inode.allocated + free - offset))
                }
            }
        }
        if count > 0 {
            if inode.current.count < offset + count {
                inode.current.append(contentsOf: repeatElement(0, count: offset + count - inode.current.count))
            }
            inode.current.replaceSubrange(offset..<offset + count, with: bytes[0..<count])
            inode.allocated = max(inode.allocated, offset + count)
        }
        if let error { throw error }
    }

    fileprivate func truncate(_ inode: Inode, to size: Int, path: String) throws(DiskError) {
        try fault(.truncate, path)
        truncateCount += 1
        if size < inode.current.count {
            inode.current.removeSubrange(size...)
            inode.allocated = min(inode.allocated, size)
        } else {
            inode.current.append(contentsOf: repeatElement(0, count: size - inode.current.count))
        }
    }

    fileprivate func sync(_ inode: Inode, path: String) throws(DiskError) {
        try fault(.sync, path)
        syncCount += 1
        let lost = syncsAreLost && (syncsAreLostOnlyFor.map { path.contains($0) } ?? true)
        if !lost { inode.synced = inode.current }
    }

    private func fault(_ operation: Operation, _ path: String) throws(DiskError) {
        operations.append((operation, path))
        guard let index = faults.firstIndex(where: { $0.operation == operation && ($0.path.map { path.contains($0) } ?? true) }) else { return }
        let kind = faults.remove(at: index).kind
        throw DiskError(kind, "\(path): injected \(kind) on \(operation)")
    }

    private func inode(_ path: String) throws(DiskError) -> Inode {
        let (dir, name) = split(path)
        guard let inode = directories[dir]?[name] else { throw DiskError(.notFound, "\(path): no such file") }
        return inode
    }

    private func split(_ path: String) -> (String, String) {
        guard let slash = path.lastIndex(of: "/") else { return ("", path) }
        return (String(path[..<slash]), String(path[path.index(after: slash)...]))
    }
}

public final class MemoryFile: DiskFile {
    private let disk: MemoryDisk
    private let inode: MemoryDisk.Inode
    private let path: String
    private let generation: Int
    public private(set) var isClosed = false

    init(disk: MemoryDisk, inode: MemoryDisk.Inode, path: String) {
        self.disk = disk
        self.inode = inode
        self.path = path
        generation = disk.generation
    }

    private func check() throws(DiskError) {
        precondition(!isClosed, "\(path): used after close")
        if generation != disk.generation { throw DiskError(.io, "\(path): handle from before a crash") }
    }

    public func write(_ bytes: [UInt8], at offset: Int64) throws(DiskError) {
        try check()
        try disk.write(inode, bytes, at: Int(offset), path: path)
    }

    public func truncate(to size: Int64) throws(DiskError) {
        try check()
        try disk.truncate(inode, to: Int(size), path: path)
    }

    public func sync() throws(DiskError) {
        try check()
        try disk.sync(inode, path: path)
    }

    public func close() { isClosed = true }
}
