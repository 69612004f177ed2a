/// Apache ZooKeeper's transaction log file (`FileTxnLog`), format version 2:
///
///     FileHeader { int magic = "ZKLG", int version = 2, long dbid = 0 }
///     repeat: long checksum   Adler-32 of the txn bytes only (not of the length or the marker)
///             int  length     of the txn bytes
///             txn bytes       TxnHeader ‖ txn record ‖ optional TxnDigest
///             byte 0x42       end of record ('B')
///     zeros                   preallocated space; a record whose length is 0 means end of log
///
/// Files are named `log.<hex zxid of their first txn>` (`Long.toHexString`).
import ZKCore
import ZKProtocol

public enum TxnLogFormat {
    public static let magic: Int32 = 0x5A4B_4C47
    public static let version: Int32 = 2
    public static let headerBytes = 16
    public static let endOfRecord: UInt8 = 0x42
    /// Per-record overhead: checksum, length, end marker.
    public static let recordOverheadBytes = 13

    public static func fileHeader() -> [UInt8] {
        var w = JuteWriter(capacity: headerBytes)
        w.writeInt(magic)
        w.writeInt(version)
        w.writeLong(0)
        return w.bytes
    }

    /// Appends one record to `buffer`; the checksum is computed here, and verified again on read.
    public static func appendRecord(_ txn: [UInt8], to buffer: inout JuteWriter) {
        invariant(!txn.isEmpty, "empty txn record")
        buffer.writeLong(Int64(Adler32.checksum(txn)))
        buffer.writeBuffer(txn)
        buffer.writeByte(endOfRecord)
    }

    public static func fileName(firstZxid: Zxid) -> String { "log." + firstZxid.hex }

    /// The zxid in a `<prefix>.<hex>` file name, nil for other names (including `.tmp` files).
    public static func zxid(inFileName name: String, prefix: String) -> Zxid? {
        guard name.hasPrefix(prefix + ".") else { return nil }
        let hex = name.dropFirst(prefix.count + 1)
        guard !hex.isEmpty, hex.count <= 16, let value = UInt64(hex, radix: 16) else { return nil }
        return Zxid(Int64(bitPattern: value))
    }

    public struct Record: Sendable, Equatable {
        public var zxid: Zxid
        public var txn: [UInt8]
        /// Offset just past this record's end marker.
        public var endOffset: Int
    }

    /// Why reading stopped before the end of the file's data.
    public enum TailProblem: Sendable, Equatable, CustomStringConvertible {
        case badHeader
        /// Shorter than its header: a crash while the file was being created. It holds no txns.
        case incompleteHeader
        case partialRecord(offset: Int)
        case checksumMismatch(offset: Int)
        case missingEndMarker(offset: Int)
        case unreadableTxn(offset: Int)
        /// A damaged record with intact records after it: not a torn write but corruption of data
        /// that may have been acknowledged. Recovery refuses to cut it off.
        case corruptBeforeValidRecords(offset: Int)

        public var description: String {
            switch self {
            case .badHeader: return "not a version-2 txn log (bad header)"
            case .incompleteHeader: return "shorter than its header (cut while being created)"
            case .partialRecord(let o): return "partial record at offset \(o)"
            case .checksumMismatch(let o): return "checksum mismatch in the record at offset \(o)"
            case .missingEndMarker(let o): return "record at offset \(o) has no end-of-record marker"
            case .unreadableTxn(let o): return "record at offset \(o) holds no readable txn header"
            case .corruptBeforeValidRecords(let o): return "damaged record at offset \(o) followed by intact records"
            }
        }
    }

    public struct ParsedLog: Sendable {
        public var records: [Record] = []
        /// Offset just past the last good record (or the header): where a torn tail is cut.
        public var validEnd: Int = 0
        public var problem: TailProblem?
    }

    /// Reads every complete, checksummed record of an in-memory file.
    public static func parse(_ bytes: [UInt8]) -> ParsedLog {
        var source = ByteSource(bytes: bytes)
        return (try? parse(&source)) ?? ParsedLog()
    }

    /// Reads a log file through `read(offset, count)`, fetching only as far as the records go, so
    /// the preallocated zeros of a 64 MiB file are never read.
    public static func parse(fileSize: Int, read: @escaping (Int, Int) throws(DiskError) -> [UInt8]) throws(DiskError) -> ParsedLog {
        var source = ByteSource(fileSize: fileSize, read: read)
        return try parse(&source)
    }

    /// Reading stops at zero padding (clean end) or at the first damaged record (`problem`), like
    /// Apache's reader.
    static func parse(_ source: inout ByteSource) throws(DiskError) -> ParsedLog {
        var parsed = ParsedLog()
        guard try source.ensure(headerBytes) else {
            // A file cut short before its header was complete: nothing was ever logged in it.
            parsed.problem = .incompleteHeader
            return parsed
        }
        var r = JuteReader(source.bytes)
        guard (try? r.readInt()) == magic, (try? r.readInt()) == version else {
            parsed.problem = .badHeader
            return parsed
        }
        var offset = headerBytes
        parsed.validEnd = offset
        while true {
            switch try readRecord(&source, at: offset) {
            case .end:
                return parsed
            case .record(let record):
                parsed.records.append(record)
                offset = record.endOffset
                parsed.validEnd = offset
            case .damaged(let problem):
                parsed.problem = try intactRecordFollows(&source, problem) ? .corruptBeforeValidRecords(offset: offset) : problem
                return parsed
            }
        }
    }

    /// Whether an intact record starts right after a damaged one whose length field is plausible.
    private static func intactRecordFollows(_ source: inout ByteSource, _ problem: TailProblem) throws(DiskError) -> Bool {
        let offset: Int
        switch problem {
        case .checksumMismatch(let o), .missingEndMarker(let o), .unreadableTxn(let o): offset = o
        case .badHeader, .incompleteHeader, .partialRecord, .corruptBeforeValidRecords: return false
        }
        var r = JuteReader(source.bytes, offset: offset + 8)
        guard let length = try? r.readInt(), length > 0 else { return false }
        if case .record = try readRecord(&source, at: offset + 12 + Int(length) + 1) { return true }
        return false
    }

    private enum Step {
        case end
        case record(Record)
        case damaged(TailProblem)
    }

    private static func readRecord(_ source: inout ByteSource, at offset: Int) throws(DiskError) -> Step {
        guard try source.ensure(offset + 12) else {
            return source.bytes[min(offset, source.bytes.count)...].allSatisfy { $0 == 0 } ? .end : .damaged(.partialRecord(offset: offset))
        }
        var r = JuteReader(source.bytes, offset: offset)
        let checksum = (try? r.readLong()) ?? 0
        let length = Int((try? r.readInt()) ?? 0)
        if length == 0 {
            // Zero padding (or a record that was never written): the end of the log.
            return checksum == 0 ? .end : .damaged(.partialRecord(offset: offset))
        }
        let start = offset + 12
        guard length > 0, length <= Int(Int32.max), try source.ensure(start + length + 1) else {
            return .damaged(.partialRecord(offset: offset))
        }
        let bytes = source.bytes
        let txn = Array(bytes[start..<start + length])
        guard bytes[start + length] == endOfRecord else { return .damaged(.missingEndMarker(offset: offset)) }
        guard Int64(Adler32.checksum(txn)) == checksum else { return .damaged(.checksumMismatch(offset: offset)) }
        guard length >= 32 else { return .damaged(.unreadableTxn(offset: offset)) }
        var header = JuteReader(txn, offset: 12)
        let zxid = Zxid((try? header.readLong()) ?? 0)
        return .record(Record(zxid: zxid, txn: txn, endOffset: start + length + 1))
    }
}

/// The bytes of a file read so far, fetched in 1 MiB steps on demand.
struct ByteSource {
    private(set) var bytes: [UInt8]
    private let fileSize: Int
    private let read: ((Int, Int) throws(DiskError) -> [UInt8])?

    init(bytes: [UInt8]) {
        self.bytes = bytes
        fileSize = bytes.count
        read = nil
    }

    init(fileSize: Int, read: @escaping (Int, Int) throws(DiskError) -> [UInt8]) {
        bytes = []
        self.fileSize = fileSize
        self.read = read
    }

    /// Whether the first `end` bytes are available (false: the file is shorter).
    mutating func ensure(_ end: Int) throws(DiskError) -> Bool {
        while bytes.count < end {
            guard let read, bytes.count < fileSize else { return false }
            let chunk = try read(bytes.count, min(fileSize - bytes.count, max(1 << 20, end - bytes.count)))
            if chunk.isEmpty { return false }
            bytes.append(contentsOf: chunk)
        }
        return true
    }
}
