/// A path as a dictionary key that compares byte for byte. Swift's `String ==` treats canonically
/// equivalent strings ("é" and "e" + U+0301) as equal; Java, and so ZooKeeper, does not, and two
/// such znodes may coexist. Hashing the UTF-8 bytes is also cheaper than Swift's normalizing hash.
public struct PathKey: Hashable, Sendable {
    public let path: String

    @inlinable public init(_ path: String) { self.path = path }

    @inlinable public static func == (a: PathKey, b: PathKey) -> Bool {
        a.path.utf8.elementsEqual(b.path.utf8)
    }

    @inlinable public func hash(into hasher: inout Hasher) {
        var copy = path
        copy.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
