import Testing
@testable import ZKStorage

/// The definition (RFC 1950 §8.2), one byte at a time with the modulus every step: slow and obviously right.
private func referenceAdler32(_ bytes: [UInt8]) -> UInt32 {
    var a: UInt32 = 1, b: UInt32 = 0
    for byte in bytes {
        a = (a + UInt32(byte)) % 65521
        b = (b + a) % 65521
    }
    return (b << 16) | a
}

/// A deterministic pseudo-random byte stream (xorshift), so large inputs exercise every byte value.
private func pseudoRandomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var x = seed
    return (0..<count).map { _ in
        x ^= x << 13; x ^= x >> 7; x ^= x << 17
        return UInt8(truncatingIfNeeded: x >> 24)
    }
}

@Suite struct Adler32Tests {
    @Test func knownVectors() {
        #expect(Adler32.checksum([UInt8]()) == 1)
        #expect(Adler32().value == 1)
        #expect(Adler32.checksum(Array("Wikipedia".utf8)) == 0x11E6_0398)
        #expect(Adler32.checksum(Array("a".utf8)) == 0x0062_0062)
        #expect(Adler32.checksum(Array("abc".utf8)) == 0x024D_0127)
        #expect(Adler32.checksum(Array("The quick brown fox jumps over the lazy dog".utf8)) == 0x5BDC_0FDA)
    }

    @Test func largeInputsMatchTheReference() {
        // 100 000 bytes of 0xFF: the worst case for overflow of the deferred modulus.
        let ones = [UInt8](repeating: 0xFF, count: 100_000)
        #expect(Adler32.checksum(ones) == referenceAdler32(ones))
        let random = pseudoRandomBytes(100_000, seed: 0x9E37_79B9_7F4A_7C15)
        #expect(Adler32.checksum(random) == referenceAdler32(random))
        // Right at zlib's NMAX block boundary.
        for count in [5551, 5552, 5553, 11104, 11105] {
            let block = [UInt8](repeating: 0xFF, count: count)
            #expect(Adler32.checksum(block) == referenceAdler32(block), "count \(count)")
        }
    }

    @Test func incrementalEqualsOneShot() {
        let data = pseudoRandomBytes(30_000, seed: 42)
        let expected = Adler32.checksum(data)
        for chunkSize in [1, 2, 3, 7, 100, 5551, 5552, 5553, 29_999] {
            var adler = Adler32()
            var offset = 0
            while offset < data.count {
                let end = min(data.count, offset + chunkSize)
                adler.update(data[offset..<end])
                offset = end
            }
            #expect(adler.value == expected, "chunk size \(chunkSize)")
        }
        // Empty updates change nothing; the value can be read between updates.
        var adler = Adler32()
        adler.update([UInt8]())
        adler.update(Array("Wiki".utf8))
        #expect(adler.value == Adler32.checksum(Array("Wiki".utf8)))
        adler.update(Array("pedia".utf8))
        #expect(adler.value == 0x11E6_0398)
    }
}
