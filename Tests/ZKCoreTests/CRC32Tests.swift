import Testing
import ZKCore

/// Expected values from zlib (`zlib.crc32`), which computes the same CRC-32 as java.util.zip.CRC32.
@Suite struct CRC32Tests {
    @Test func knownVectors() {
        var check = CRC32()
        check.update(Array("123456789".utf8))
        #expect(check.value == 3_421_780_262)
        var long = CRC32()
        let bytes = (0..<3).flatMap { _ in (0...255).map { UInt8($0) } }
        long.update(bytes)
        #expect(long.value == 2_965_430_058)
        #expect(CRC32().value == 0)
    }

    @Test func incrementalEqualsOneShot() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 37) }
        var whole = CRC32()
        whole.update(bytes)
        var parts = CRC32()
        parts.update(bytes[0..<3])
        parts.update(bytes[3..<517])
        parts.update(bytes[517...])
        #expect(parts.value == whole.value)
    }

    /// The table-driven update (sixteen bytes a step, then single bytes) equals the bit-at-a-time
    /// definition for every length up to 100 and some longer ones, at every alignment.
    @Test func tablesMatchTheBitwiseDefinition() {
        func reference(_ bytes: ArraySlice<UInt8>) -> UInt32 {
            var c: UInt32 = 0xFFFF_FFFF
            for b in bytes {
                c ^= UInt32(b)
                for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            }
            return c ^ 0xFFFF_FFFF
        }
        let bytes = (0..<1_100).map { UInt8(truncatingIfNeeded: ($0 &* 131) ^ ($0 >> 3)) }
        for length in Array(0...100) + [255, 256, 257, 1_000] {
            for start in 0..<4 {
                var crc = CRC32()
                crc.update(bytes[start..<(start + length)])
                #expect(crc.value == reference(bytes[start..<(start + length)]), "length \(length) at \(start)")
            }
        }
    }
}
