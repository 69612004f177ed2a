/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as `java.util.zip.CRC32` computes it.
/// Apache ZooKeeper's tree digest (`DigestCalculator`) is a sum of per-node CRC-32s, so a snapshot
/// pushes every znode's data through here: the loop uses slicing-by-8 (eight bytes per step).
public struct CRC32: Sendable {
    /// tables[k][b]: the CRC of byte b followed by k zero bytes (slicing-by-16: sixteen bytes a step).
    static let tables: [[UInt32]] = {
        var t = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 16)
        for n in 0..<256 {
            var c = UInt32(n)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            t[0][n] = c
        }
        for n in 0..<256 {
            for k in 1..<16 { t[k][n] = (t[k - 1][n] >> 8) ^ t[0][Int(t[k - 1][n] & 0xFF)] }
        }
        return t
    }()
    private static let flat: [UInt32] = tables.flatMap { $0 }
    @usableFromInline var crc: UInt32 = 0xFFFF_FFFF

    public init() {}

    @inlinable
    public mutating func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        if bytes.withContiguousStorageIfAvailable({ update(UnsafeRawBufferPointer($0)) }) != nil { return }
        Array(bytes).withUnsafeBytes { update($0) }
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var c = crc
        CRC32.flat.withUnsafeBufferPointer { t in
            var i = 0
            let n = bytes.count
            let base = bytes.baseAddress
            while i + 16 <= n {
                let w0 = c ^ UInt32(littleEndian: base.unsafelyUnwrapped.loadUnaligned(fromByteOffset: i, as: UInt32.self))
                let w1 = UInt32(littleEndian: base.unsafelyUnwrapped.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self))
                let w2 = UInt32(littleEndian: base.unsafelyUnwrapped.loadUnaligned(fromByteOffset: i + 8, as: UInt32.self))
                let w3 = UInt32(littleEndian: base.unsafelyUnwrapped.loadUnaligned(fromByteOffset: i + 12, as: UInt32.self))
                c = t[15 * 256 + Int(w0 & 0xFF)] ^ t[14 * 256 + Int((w0 >> 8) & 0xFF)]
                    ^ t[13 * 256 + Int((w0 >> 16) & 0xFF)] ^ t[12 * 256 + Int(w0 >> 24)]
                    ^ t[11 * 256 + Int(w1 & 0xFF)] ^ t[10 * 256 + Int((w1 >> 8) & 0xFF)]
                    ^ t[9 * 256 + Int((w1 >> 16) & 0xFF)] ^ t[8 * 256 + Int(w1 >> 24)]
                    ^ t[7 * 256 + Int(w2 & 0xFF)] ^ t[6 * 256 + Int((w2 >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((w2 >> 16) & 0xFF)] ^ t[4 * 256 + Int(w2 >> 24)]
                    ^ t[3 * 256 + Int(w3 & 0xFF)] ^ t[2 * 256 + Int((w3 >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((w3 >> 16) & 0xFF)] ^ t[Int(w3 >> 24)]
                i += 16
            }
            while i < n {
                c = t[Int((c ^ UInt32(bytes[i])) & 0xFF)] ^ (c >> 8)
                i += 1
            }
        }
        crc = c
    }

    public var value: UInt32 { crc ^ 0xFFFF_FFFF }
}
