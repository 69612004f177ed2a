import ZKCore

/// A path as a dictionary key that compares byte for byte. Swift's `String ==` treats canonically
/// equivalent strings ("é" and "e" + U+0301) as equal; Java, and so ZooKeeper, does not, and two
/// such znodes may coexist.
///
/// The hash (FNV-1a over the UTF-8 bytes) is computed once, when the key is made: a dictionary of a
/// million znodes rehashes every key when it grows, and hashing a String each time costs a retain
/// and a pass over its bytes.
public struct PathKey: Hashable, Sendable {
    public let path: String
    @usableFromInline let hash: UInt64

    @inlinable public init(_ path: String) {
        self.path = path
        let contiguous: UInt64? = path.utf8.withContiguousStorageIfAvailable { bytes in
            var h: UInt64 = 0xCBF2_9CE4_8422_2325
            for byte in bytes { h = (h ^ UInt64(byte)) &* 0x100_0000_01B3 }
            return h
        }
        if let contiguous {
            hash = contiguous
        } else {
            var h: UInt64 = 0xCBF2_9CE4_8422_2325
            for byte in path.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01B3 }
            hash = h
        }
    }

    @inlinable public static func == (a: PathKey, b: PathKey) -> Bool {
        a.hash == b.hash && a.path.sameBytes(as: b.path)
    }

    @inlinable public func hash(into hasher: inout Hasher) { hasher.combine(hash) }
}
