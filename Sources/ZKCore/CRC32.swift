/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as `java.util.zip.CRC32` computes it.
/// Apache ZooKeeper's tree digest (`DigestCalculator`) is a sum of per-node CRC-32s.
public struct CRC32: Sendable {
    private static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }
    private var crc: UInt32 = 0xFFFF_FFFF

    public init() {}

    public mutating func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        var c = crc
        for byte in bytes { c = CRC32.table[Int((c ^ UInt32(byte)) & 0xFF)] ^ (c >> 8) }
        crc = c
    }

    public var value: UInt32 { crc ^ 0xFFFF_FFFF }
}
