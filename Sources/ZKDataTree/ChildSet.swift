import ZKCore

/// The names of a znode's children, kept in the iteration order of Java's `HashSet<String>`.
///
/// Apache ZooKeeper returns children in the order its `HashSet` iterates them, and some clients (the C
/// client's `ls`, scripts using kazoo) print that order as it is. To be indistinguishable we reproduce
/// it: Java's `String.hashCode` over UTF-16 code units, `HashMap`'s hash spreading (`h ^ h >>> 16`),
/// power-of-two tables starting at 8 buckets (`new HashSet<>(8)` in `DataNode`), growth by doubling when
/// the size passes 3/4 of the table, insertion order within a bucket. (Java turns a bucket of 8 or more
/// colliding names into a tree in tables of 64+; iteration order then differs slightly. Collisions of
/// that size do not occur with real names.)
public struct ChildSet: Sequence, Sendable {
    private var buckets: [[String]] = []
    public private(set) var count = 0
    /// The table size of the first insert (Java's `new HashSet<>(n)` rounds n up to a power of two).
    private var initialCapacity = 8

    public init() {}

    /// `new HashSet<>(capacity)`; `HashSet()` is 16.
    public init(initialCapacity: Int) {
        var capacity = 1
        while capacity < initialCapacity { capacity <<= 1 }
        self.initialCapacity = capacity
    }

    /// Java's `HashSet.clone()`: a table sized for the current count (`tableSizeFor(n / 0.75 + 1)`),
    /// filled in this set's iteration order. The clone can iterate in a different order.
    public func javaClone() -> ChildSet {
        let wanted = Int(Float(count) / 0.75 + 1)
        var clone = ChildSet(initialCapacity: Swift.max(1, wanted))
        for name in self { clone.insert(name) }
        return clone
    }

    public init<S: Sequence>(_ names: S) where S.Element == String {
        for name in names { insert(name) }
    }

    public var isEmpty: Bool { count == 0 }

    /// Java's `String.hashCode()`.
    static func javaHashCode(_ s: String) -> Int32 {
        var h: Int32 = 0
        for unit in s.utf16 { h = h &* 31 &+ Int32(unit) }
        return h
    }

    private static func bucketIndex(_ s: String, capacity: Int) -> Int {
        let h = UInt32(bitPattern: javaHashCode(s))
        return Int((h ^ (h >> 16)) & UInt32(capacity - 1))
    }

    /// Java compares strings by UTF-16 code units, not by canonical equivalence as Swift's `==` does.
    private static func same(_ a: String, _ b: String) -> Bool { a.sameBytes(as: b) }

    public func contains(_ name: String) -> Bool {
        guard !buckets.isEmpty else { return false }
        return buckets[ChildSet.bucketIndex(name, capacity: buckets.count)].contains { ChildSet.same($0, name) }
    }

    @discardableResult
    public mutating func insert(_ name: String) -> Bool {
        if buckets.isEmpty { buckets = Array(repeating: [], count: initialCapacity) }
        let i = ChildSet.bucketIndex(name, capacity: buckets.count)
        if buckets[i].contains(where: { ChildSet.same($0, name) }) { return false }
        buckets[i].append(name)
        count += 1
        if count > buckets.count * 3 / 4 { grow() }
        return true
    }

    @discardableResult
    public mutating func remove(_ name: String) -> Bool {
        guard !buckets.isEmpty else { return false }
        let i = ChildSet.bucketIndex(name, capacity: buckets.count)
        guard let k = buckets[i].firstIndex(where: { ChildSet.same($0, name) }) else { return false }
        buckets[i].remove(at: k)
        count -= 1
        return true
    }

    /// Doubles the table. Each new bucket receives the names of exactly one old bucket, in their old
    /// order, which is what Java's split into "lo" and "hi" lists does.
    private mutating func grow() {
        let capacity = buckets.count * 2
        var grown = [[String]](repeating: [], count: capacity)
        for bucket in buckets {
            for name in bucket { grown[ChildSet.bucketIndex(name, capacity: capacity)].append(name) }
        }
        buckets = grown
    }

    public func makeIterator() -> FlattenSequence<[[String]]>.Iterator { buckets.joined().makeIterator() }
}
