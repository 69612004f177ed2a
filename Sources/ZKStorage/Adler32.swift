/// Adler-32 (RFC 1950), the checksum of Apache ZooKeeper's txn log records and snapshots
/// (`java.util.zip.Adler32`). Incremental: feed bytes in any chunking, read `value` at any point.
public struct Adler32: Sendable {
    private static let modulus: UInt32 = 65521
    /// Bytes that can be summed before `b` could overflow 32 bits (zlib's NMAX).
    private static let blockBytesMax = 5552
    private var a: UInt32 = 1
    private var b: UInt32 = 0

    public init() {}

    public var value: UInt32 { (b << 16) | a }

    public mutating func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        if bytes.withContiguousStorageIfAvailable({ update(UnsafeRawBufferPointer($0)) }) != nil { return }
        var remaining = 0
        for byte in bytes {
            a &+= UInt32(byte)
            b &+= a
            remaining += 1
            if remaining == Adler32.blockBytesMax {
                a %= Adler32.modulus
                b %= Adler32.modulus
                remaining = 0
            }
        }
        a %= Adler32.modulus
        b %= Adler32.modulus
    }

    /// The tight loop for contiguous bytes (log records, snapshot chunks), 16 bytes a step: after
    /// bytes x0…x15, `a` grows by their sum and `b` by 16·a plus Σ (16 − i)·xi, which is what the
    /// byte-at-a-time recurrence gives, so the sums stay exact (a block of 5,552 is 347 steps).
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var a = self.a, b = self.b
        let n = bytes.count
        guard n > 0, let base = bytes.baseAddress else { return }
        let weights = SIMD16<UInt32>(16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1)
        var index = 0
        while index < n {
            let end = min(n, index + Adler32.blockBytesMax)
            while index + 16 <= end {
                let x = SIMD16<UInt32>(truncatingIfNeeded: base.loadUnaligned(fromByteOffset: index, as: SIMD16<UInt8>.self))
                b &+= 16 &* a &+ (x &* weights).wrappedSum()
                a &+= x.wrappedSum()
                index += 16
            }
            while index < end {
                a &+= UInt32(base.load(fromByteOffset: index, as: UInt8.self))
                b &+= a
                index += 1
            }
            a %= Adler32.modulus
            b %= Adler32.modulus
        }
        self.a = a
        self.b = b
    }

    public static func checksum<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var adler = Adler32()
        adler.update(bytes)
        return adler.value
    }
}
