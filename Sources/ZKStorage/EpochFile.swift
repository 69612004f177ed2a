/// Zab's epoch files (`QuorumPeer.writeLongToFile` / `readLongFromFile`): `acceptedEpoch` and
/// `currentEpoch` in the snapshot directory, each the decimal epoch with no trailing newline,
/// written through `<name>.tmp`, synced, then renamed into place.
import ZKCore

public enum EpochFile: String, Sendable, Equatable, CaseIterable {
    case acceptedEpoch
    case currentEpoch

    public var fileName: String { rawValue }

    public static func path(_ file: EpochFile, _ layout: StorageLayout) -> String {
        layout.snapshotDirectory + "/" + file.fileName
    }

    /// The stored epoch, or nil when the file does not exist.
    public static func read(_ file: EpochFile, disk: Disk, layout: StorageLayout) throws(DiskError) -> Epoch? {
        let bytes: [UInt8]
        do {
            bytes = try disk.read(path(file, layout))
        } catch {
            if error.kind == .notFound { return nil }
            throw error
        }
        let text = String(decoding: bytes, as: UTF8.self)
        // Apache reads one line; tolerate the newline older tools wrote.
        let digits = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).first.map(String.init) ?? ""
        guard let value = Int64(digits), value >= 0 else {
            throw DiskError(.other, "\(path(file, layout)): not an epoch: \"\(text)\"")
        }
        return Epoch(value)
    }

    /// Writes the file atomically; the epoch is durable when this returns.
    public static func write(_ file: EpochFile, _ epoch: Epoch, disk: Disk, layout: StorageLayout) throws(DiskError) {
        let target = path(file, layout)
        let temporary = target + ".tmp"
        let handle = try disk.create(temporary)
        do {
            try handle.write(Array(String(epoch.rawValue).utf8), at: 0)
            try handle.sync()
        } catch {
            handle.close()
            throw error
        }
        handle.close()
        try disk.rename(temporary, to: target)
        try disk.syncDirectory(layout.snapshotDirectory)
    }
}
