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
}
