/// The storage layer's only way to touch files. The production shell implements it with POSIX calls
/// (`PosixDisk`); tests and the simulator implement it in memory and can inject faults (ENOSPC, EIO,
/// torn writes, lost unsynced data). Paths are plain strings; directories are created by the caller.
public struct DiskError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case notFound
        case noSpace
        case io
        case other
    }
    public var kind: Kind
    public var message: String
    public init(_ kind: Kind, _ message: String) { self.kind = kind; self.message = message }
    public var description: String { message }
}

public protocol DiskFile: AnyObject {
    /// Writes all of `bytes` at `offset` (pwrite).
    func write(_ bytes: [UInt8], at offset: Int64) throws(DiskError)
    /// Sets the file's size; growing leaves zeros (sparse), as Apache's preallocation does.
    func truncate(to size: Int64) throws(DiskError)
    /// Makes written data durable (fdatasync).
    func sync() throws(DiskError)
    func close()
}

public protocol Disk: AnyObject {
    /// File names (not paths) in a directory, sorted.
    func list(_ directory: String) throws(DiskError) -> [String]
    func read(_ path: String) throws(DiskError) -> [UInt8]
    /// Up to `count` bytes at `offset` (fewer at the end of the file).
    func read(_ path: String, at offset: Int, count: Int) throws(DiskError) -> [UInt8]
    func size(_ path: String) throws(DiskError) -> Int64
    /// Creates (or truncates) a file for writing.
    func create(_ path: String) throws(DiskError) -> DiskFile
    /// Opens an existing file for writing without truncating it.
    func openForWriting(_ path: String) throws(DiskError) -> DiskFile
    func rename(_ from: String, to: String) throws(DiskError)
    func remove(_ path: String) throws(DiskError)
    /// Makes renames and creations in a directory durable (fsync of the directory).
    func syncDirectory(_ path: String) throws(DiskError)
}
