/// A bit-exact copy of the algorithm of `java.util.Random` (a 48-bit linear congruential generator,
/// specified in the Java SE documentation). ZooKeeper derives session passwords from it, so a client
/// can move between Apache ZooKeeper servers and ours only if we produce the same bytes.
public struct JavaRandom: Sendable {
    private static let multiplier: UInt64 = 0x5_DEEC_E66D
    private static let addend: UInt64 = 0xB
    private static let mask: UInt64 = (1 << 48) - 1
    private var seed: UInt64

    public init(seed: Int64) {
        self.seed = (UInt64(bitPattern: seed) ^ JavaRandom.multiplier) & JavaRandom.mask
    }

    /// `next(bits)` of the Java class, for bits ≤ 32.
    private mutating func next(_ bits: Int) -> Int32 {
        seed = (seed &* JavaRandom.multiplier &+ JavaRandom.addend) & JavaRandom.mask
        return Int32(truncatingIfNeeded: Int64(bitPattern: seed) >> (48 - bits))
    }

    public mutating func nextInt() -> Int32 { next(32) }

    /// `nextBytes`: each `nextInt()` fills up to four bytes, least significant byte first.
    public mutating func nextBytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(count)
        while bytes.count < count {
            var word = UInt32(bitPattern: nextInt())
            for _ in 0..<min(4, count - bytes.count) {
                bytes.append(UInt8(truncatingIfNeeded: word))
                word >>= 8
            }
        }
        return bytes
    }
}

/// ZooKeeper's session password: `java.util.Random(sessionId ^ 0xB3415C00).nextBytes(16)`.
public func sessionPassword(for session: SessionID) -> [UInt8] {
    var random = JavaRandom(seed: session.rawValue ^ 0xB341_5C00)
    return random.nextBytes(16)
}
