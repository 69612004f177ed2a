/// Jute binary encoding, as Apache ZooKeeper's `BinaryOutputArchive`/`BinaryInputArchive` define it.
///
/// - `int`/`long`: big-endian two's complement, 4/8 bytes. `boolean`: one byte (reader: non-zero = true).
/// - `ustring`: int byte length then UTF-8 bytes; null is length -1.
/// - `buffer`: int length then raw bytes; null is length -1.
/// - `vector<T>`: int count then elements; null is count -1.
/// - records: fields in declaration order with no tags, lengths or padding.
///
/// The reader never trusts a length: every string, buffer and vector is checked against the bytes that
/// remain and against the configured maxima before anything is allocated.
import ZKCore

/// Why a record could not be decoded. Client input that fails to decode closes that one connection.
public enum JuteError: Error, Equatable, CustomStringConvertible {
    /// The record ends before a field does.
    case truncated(needed: Int, remaining: Int)
    /// A length prefix is negative (other than -1 for null) or above the limit.
    case unreasonableLength(Int)
    /// A vector count is above `Limits.vectorElementsMax`.
    case tooManyElements(Int)
    /// A value is not one the protocol defines (an unknown enum value where decoding cannot go on).
    case invalidValue(String)

    public var description: String {
        switch self {
        case .truncated(let needed, let remaining): return "truncated record: needed \(needed) bytes, \(remaining) remain"
        case .unreasonableLength(let n): return "Unreasonable length = \(n)"
        case .tooManyElements(let n): return "too many vector elements: \(n)"
        case .invalidValue(let what): return "invalid value: \(what)"
        }
    }
}

/// Appends jute-encoded fields to a byte buffer. Reuse one writer (call `reset`) to avoid allocation.
public struct JuteWriter: Sendable {
    public var bytes: [UInt8]

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func reset() { bytes.removeAll(keepingCapacity: true) }

    @inlinable public mutating func writeByte(_ v: UInt8) { bytes.append(v) }
    @inlinable public mutating func writeBool(_ v: Bool) { bytes.append(v ? 1 : 0) }

    // One append of the big-endian bytes: a byte at a time was four capacity and uniqueness checks
    // per int (the Stat of every reply is eleven fields).
    @inlinable public mutating func writeInt(_ v: Int32) {
        withUnsafeBytes(of: UInt32(bitPattern: v).bigEndian) { bytes.append(contentsOf: $0) }
    }

    @inlinable public mutating func writeLong(_ v: Int64) {
        withUnsafeBytes(of: UInt64(bitPattern: v).bigEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func writeString(_ s: String?) {
        guard var s else { writeInt(-1); return }
        s.withUTF8 { utf8 in
            writeInt(Int32(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    public mutating func writeBuffer(_ b: [UInt8]?) {
        guard let b else { writeInt(-1); return }
        writeInt(Int32(b.count))
        bytes.append(contentsOf: b)
    }

    /// A buffer from borrowed bytes (a znode's data lent by the tree): no intermediate array.
    public mutating func writeBuffer(borrowing b: UnsafeRawBufferPointer?) {
        guard let b else { writeInt(-1); return }
        writeInt(Int32(b.count))
        bytes.append(contentsOf: b)
    }

    public mutating func writeStringVector(_ v: [String]?) {
        guard let v else { writeInt(-1); return }
        writeInt(Int32(v.count))
        for s in v { writeString(s) }
    }

    public mutating func writeVector<T: JuteRecord>(_ v: [T]?) {
        guard let v else { writeInt(-1); return }
        writeInt(Int32(v.count))
        for r in v { r.encode(to: &self) }
    }

    public mutating func write<T: JuteRecord>(_ record: T) { record.encode(to: &self) }

    /// Overwrites a big-endian int at `offset` (used to patch a frame's length prefix).
    public mutating func patchInt(_ v: Int32, at offset: Int) {
        let u = UInt32(bitPattern: v)
        bytes[offset] = UInt8(truncatingIfNeeded: u >> 24)
        bytes[offset + 1] = UInt8(truncatingIfNeeded: u >> 16)
        bytes[offset + 2] = UInt8(truncatingIfNeeded: u >> 8)
        bytes[offset + 3] = UInt8(truncatingIfNeeded: u)
    }
}

/// Reads jute-encoded fields from a byte buffer, checking every length.
public struct JuteReader {
    public let bytes: [UInt8]
    public private(set) var offset: Int
    private let end: Int
    /// Largest string or buffer accepted (`jute.maxbuffer` + extra size, as in Apache's checkLength).
    public var lengthMax: Int
    public var vectorElementsMax: Int

    public init(_ bytes: [UInt8], offset: Int = 0, limits: Limits = Limits()) {
        self.bytes = bytes
        self.offset = offset
        self.end = bytes.count
        self.lengthMax = limits.packetSizeBytesMax + limits.juteExtraSizeBytes
        self.vectorElementsMax = limits.vectorElementsMax
    }

    public var remaining: Int { end - offset }
    public var isAtEnd: Bool { offset >= end }

    @inline(__always) private func need(_ n: Int) throws {
        if n > end - offset { throw JuteError.truncated(needed: n, remaining: end - offset) }
    }

    public mutating func readByte() throws -> UInt8 {
        try need(1)
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func readBool() throws -> Bool { try readByte() != 0 }

    // One unaligned big-endian load after the bounds check (`need`), not four checked subscripts.
    public mutating func readInt() throws -> Int32 {
        try need(4)
        let at = offset
        let u = bytes.withUnsafeBytes { UInt32(bigEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
        offset += 4
        return Int32(bitPattern: u)
    }

    public mutating func readLong() throws -> Int64 {
        guard end - offset >= 8 else {
            // Short: fail exactly as two ints would (the error says which half was missing).
            let high = Int64(try readInt())
            return (high << 32) | Int64(UInt32(bitPattern: try readInt()))
        }
        let at = offset
        let u = bytes.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        offset += 8
        return Int64(bitPattern: u)
    }

    private mutating func readLength() throws -> Int? {
        let n = Int(try readInt())
        if n == -1 { return nil }
        if n < 0 || n > lengthMax { throw JuteError.unreasonableLength(n) }
        try need(n)
        return n
    }

    public mutating func readString() throws -> String? {
        guard let n = try readLength() else { return nil }
        defer { offset += n }
        return String(decoding: bytes[offset..<offset + n], as: UTF8.self)
    }

    /// A string field that the protocol requires; null decodes as "" like Java's null-tolerant paths
    /// would fail later, so callers that must reject null use `readString` instead.
    public mutating func readNonNullString() throws -> String { try readString() ?? "" }

    public mutating func readBuffer() throws -> [UInt8]? {
        guard let n = try readLength() else { return nil }
        defer { offset += n }
        return Array(bytes[offset..<offset + n])
    }

    private mutating func readCount() throws -> Int? {
        let n = Int(try readInt())
        if n == -1 { return nil }
        if n < 0 { throw JuteError.unreasonableLength(n) }
        if n > vectorElementsMax { throw JuteError.tooManyElements(n) }
        // Every element takes at least one byte: a count beyond the remaining bytes is a lie.
        try need(n)
        return n
    }

    public mutating func readStringVector() throws -> [String]? {
        guard let n = try readCount() else { return nil }
        var v = [String]()
        v.reserveCapacity(n)
        for _ in 0..<n { v.append(try readNonNullString()) }
        return v
    }

    public mutating func readVector<T: JuteRecord>(_: T.Type) throws -> [T]? {
        guard let n = try readCount() else { return nil }
        var v = [T]()
        v.reserveCapacity(n)
        for _ in 0..<n { v.append(try T(from: &self)) }
        return v
    }

    public mutating func read<T: JuteRecord>(_: T.Type) throws -> T { try T(from: &self) }

    /// The unread bytes (for records whose tail is optional, like ConnectRequest's readOnly flag).
    public mutating func readRest() -> [UInt8] {
        defer { offset = end }
        return Array(bytes[offset..<end])
    }
}

/// A record of `zookeeper.jute`: decodable from and encodable to its binary form.
public protocol JuteRecord {
    init(from reader: inout JuteReader) throws
    func encode(to writer: inout JuteWriter)
}

extension JuteRecord {
    /// The record's bytes on their own (tests, txn payloads).
    public func serialized() -> [UInt8] {
        var w = JuteWriter()
        encode(to: &w)
        return w.bytes
    }

    public init(bytes: [UInt8], limits: Limits = Limits()) throws {
        var r = JuteReader(bytes, limits: limits)
        try self.init(from: &r)
    }
}
