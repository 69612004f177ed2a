/// SHA-1 (FIPS 180-4), in pure Swift, and ZooKeeper's digest-scheme identity built on it.
///
/// SHA-1 is broken for collision resistance; ZooKeeper uses it only for the `digest` auth scheme
/// (`DigestAuthenticationProvider`), so it is here for compatibility, not for new security uses.
public enum SHA1 {
    /// The 20-byte SHA-1 digest of `bytes`.
    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var state: (UInt32, UInt32, UInt32, UInt32, UInt32) =
            (0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0)
        // Padding: 0x80, zeros up to 56 mod 64, then the message length in bits, big-endian.
        var tail = [UInt8]()
        let fullBlocks = bytes.count / 64
        tail.append(contentsOf: bytes[(fullBlocks * 64)...])
        tail.append(0x80)
        while tail.count % 64 != 56 { tail.append(0) }
        let bitCount = UInt64(bytes.count) &* 8
        for shift in stride(from: 56, through: 0, by: -8) {
            tail.append(UInt8(truncatingIfNeeded: bitCount >> UInt64(shift)))
        }
        var schedule = [UInt32](repeating: 0, count: 80)
        bytes.withUnsafeBufferPointer { buffer in
            for block in 0..<fullBlocks {
                compress(&state, UnsafeBufferPointer(rebasing: buffer[(block * 64)..<(block * 64 + 64)]),
                         schedule: &schedule)
            }
        }
        tail.withUnsafeBufferPointer { buffer in
            for block in 0..<(buffer.count / 64) {
                compress(&state, UnsafeBufferPointer(rebasing: buffer[(block * 64)..<(block * 64 + 64)]),
                         schedule: &schedule)
            }
        }
        var digest = [UInt8]()
        digest.reserveCapacity(20)
        for word in [state.0, state.1, state.2, state.3, state.4] {
            digest.append(UInt8(truncatingIfNeeded: word >> 24))
            digest.append(UInt8(truncatingIfNeeded: word >> 16))
            digest.append(UInt8(truncatingIfNeeded: word >> 8))
            digest.append(UInt8(truncatingIfNeeded: word))
        }
        return digest
    }

    /// The digest of the UTF-8 bytes of `text`.
    public static func hash(_ text: String) -> [UInt8] { hash(Array(text.utf8)) }

    private static func compress(
        _ state: inout (UInt32, UInt32, UInt32, UInt32, UInt32),
        _ block: UnsafeBufferPointer<UInt8>,
        schedule w: inout [UInt32]
    ) {
        precondition(block.count == 64, "SHA-1 block must be 64 bytes")
        for t in 0..<16 {
            w[t] = UInt32(block[4 * t]) << 24 | UInt32(block[4 * t + 1]) << 16
                | UInt32(block[4 * t + 2]) << 8 | UInt32(block[4 * t + 3])
        }
        for t in 16..<80 {
            w[t] = rotateLeft(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1)
        }
        var (a, b, c, d, e) = state
        for t in 0..<80 {
            let f: UInt32
            let k: UInt32
            switch t {
            case 0..<20: f = (b & c) | (~b & d); k = 0x5A82_7999
            case 20..<40: f = b ^ c ^ d; k = 0x6ED9_EBA1
            case 40..<60: f = (b & c) | (b & d) | (c & d); k = 0x8F1B_BCDC
            default: f = b ^ c ^ d; k = 0xCA62_C1D6 // over Int
            }
            let temp = rotateLeft(a, 5) &+ f &+ e &+ k &+ w[t]
            e = d
            d = c
            c = rotateLeft(b, 30)
            b = a
            a = temp
        }
        state = (state.0 &+ a, state.1 &+ b, state.2 &+ c, state.3 &+ d, state.4 &+ e)
    }

    @inline(__always)
    private static func rotateLeft(_ x: UInt32, _ n: UInt32) -> UInt32 { (x << n) | (x >> (32 - n)) }
}

/// The identity the `digest` auth scheme stores in ACLs and that `superDigest` expects:
/// `user:base64(sha1("user:password"))`, as Apache ZooKeeper's
/// `DigestAuthenticationProvider.generateDigest` computes it. A client authenticating with
/// `addauth digest bob:secret` gets the identity `zookeeperDigest(user: "bob", password: "secret")`.
public func zookeeperDigest(user: String, password: String) -> String {
    user + ":" + Base64.encode(SHA1.hash(user + ":" + password))
}
