/// The `Disk` of the production server: POSIX files through ZKPosix. ENOSPC maps to `.noSpace`,
/// EIO to `.io`, ENOENT to `.notFound`.
import ZKStorage
import ZKPosix

final class PosixDisk: Disk {
    static func diskError(_ error: SyscallError, _ what: String) -> DiskError {
        let kind: DiskError.Kind
        switch error {
        case .noSpace: kind = .noSpace
        case .notFound: kind = .notFound
        case .other(let errno, _) where errno == 5: kind = .io
        default: kind = .other
        }
        return DiskError(kind, "\(what): \(error)")
    }

    func list(_ directory: String) throws(DiskError) -> [String] {
        do { return try FileSystem.listDirectory(directory) } catch { throw PosixDisk.diskError(error, "list \(directory)") }
    }

    func read(_ path: String) throws(DiskError) -> [UInt8] {
        do { return try FileSystem.readFile(path) } catch { throw PosixDisk.diskError(error, "read \(path)") }
    }

    func read(_ path: String, at offset: Int, count: Int) throws(DiskError) -> [UInt8] {
        do {
            let file = try PosixFile(path: path, options: [.read])
            defer { file.close() }
            return try file.read(count: count, at: Int64(offset))
        } catch {
            throw PosixDisk.diskError(error, "read \(path)")
        }
    }

    func size(_ path: String) throws(DiskError) -> Int64 {
        do {
            let file = try PosixFile(path: path, options: [.read])
            defer { file.close() }
            return try file.size()
        } catch {
            throw PosixDisk.diskError(error, "size of \(path)")
        }
    }

    func create(_ path: String) throws(DiskError) -> DiskFile {
        do { return PosixDiskFile(try PosixFile(path: path, options: [.write, .create, .truncate]), path) } catch {
            throw PosixDisk.diskError(error, "create \(path)")
        }
    }

    func openForWriting(_ path: String) throws(DiskError) -> DiskFile {
        do { return PosixDiskFile(try PosixFile(path: path, options: [.write]), path) } catch {
            throw PosixDisk.diskError(error, "open \(path)")
        }
    }

    func rename(_ from: String, to: String) throws(DiskError) {
        do { try FileSystem.rename(from, to: to) } catch { throw PosixDisk.diskError(error, "rename \(from)") }
    }

    func remove(_ path: String) throws(DiskError) {
        do { try FileSystem.removeFile(path) } catch { throw PosixDisk.diskError(error, "remove \(path)") }
    }

    func syncDirectory(_ path: String) throws(DiskError) {
        do { try FileSystem.synchronizeDirectory(path) } catch { throw PosixDisk.diskError(error, "sync \(path)") }
    }
}

final class PosixDiskFile: DiskFile {
    private let file: PosixFile
    private let path: String
    private var closed = false

    init(_ file: PosixFile, _ path: String) {
        self.file = file
        self.path = path
    }

    deinit { close() }

    func write(_ bytes: [UInt8], at offset: Int64) throws(DiskError) {
        do { try file.write(bytes, at: offset) } catch { throw PosixDisk.diskError(error, "write \(path)") }
    }

    func truncate(to size: Int64) throws(DiskError) {
        do { try file.truncate(to: size) } catch { throw PosixDisk.diskError(error, "truncate \(path)") }
    }

    func sync() throws(DiskError) {
        do { try file.synchronizeData() } catch { throw PosixDisk.diskError(error, "fdatasync \(path)") }
    }

    func close() {
        guard !closed else { return }
        closed = true
        file.close()
    }
}
