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
///
/// Storage is flat, for memory: names in one array, each bucket a chain of indexes through `next`
/// (about 28 bytes a child, where an array per bucket cost over 70), behind one reference that is
/// nil for leaves.
public struct ChildSet: Sequence, @unchecked Sendable {
    // Unchecked: `storage` is copied before any mutation unless uniquely referenced (copy-on-write),
    // like the standard collections.
    /// nil until the first insert, so a leaf costs one pointer.
    private var storage: Storage?
    /// The table size of the first insert (Java's `new HashSet<>(n)` rounds n up to a power of two).
    private var initialCapacity: Int32 = 8

    fileprivate final class Storage {
        var names: [String] = []
        var next: [Int32] = []
        var heads: [Int32]
        /// Slots of removed names, reused by later inserts.
        var free: [Int32] = []
        var count = 0

        init(capacity: Int) { heads = Array(repeating: -1, count: capacity) }

        func copy() -> Storage {
            let c = Storage(capacity: 0)
            c.names = names
            c.next = next
            c.heads = heads
            c.free = free
            c.count = count
            return c
        }
    }

    public init() {}

    /// `new HashSet<>(capacity)`; `HashSet()` is 16.
    public init(initialCapacity: Int) {
        var capacity: Int32 = 1
        while Int(capacity) < initialCapacity { capacity <<= 1 }
        self.initialCapacity = capacity
    }

    public init<S: Sequence>(_ names: S) where S.Element == String {
        for name in names { insert(name) }
    }

    /// Java's `HashSet.clone()`: a table sized for the current count (`tableSizeFor(n / 0.75 + 1)`),
    /// filled in this set's iteration order. The clone can iterate in a different order.
    public func javaClone() -> ChildSet {
        let wanted = Int(Float(count) / 0.75 + 1)
        var clone = ChildSet(initialCapacity: Swift.max(1, wanted))
        for name in self { clone.insert(name) }
        return clone
    }

    public var count: Int { storage?.count ?? 0 }
    public var isEmpty: Bool { count == 0 }

    /// Java's `String.hashCode()`.
    static func javaHashCode(_ s: String) -> Int32 {
        var h: Int32 = 0
        for unit in s.utf16 { h = h &* 31 &+ Int32(unit) }
        return h
    }

    private static func bucket(_ s: String, capacity: Int) -> Int {
        let h = UInt32(bitPattern: javaHashCode(s))
        return Int((h ^ (h >> 16)) & UInt32(capacity - 1))
    }

    /// The slot holding `name`, with the slot before it in its chain (-1 for the head).
    private func find(_ name: String) -> (slot: Int32, previous: Int32, bucket: Int)? {
        guard let s = storage, !s.heads.isEmpty else { return nil }
        let b = ChildSet.bucket(name, capacity: s.heads.count)
        var previous: Int32 = -1
        var slot = s.heads[b]
        while slot >= 0 {
            if s.names[Int(slot)].sameBytes(as: name) { return (slot, previous, b) }
            previous = slot
            slot = s.next[Int(slot)]
        }
        return nil
    }

    public func contains(_ name: String) -> Bool { find(name) != nil }

    /// The storage, unshared, for a mutation.
    private mutating func writable() -> Storage {
        if storage == nil { storage = Storage(capacity: Int(initialCapacity)) }
        if !isKnownUniquelyReferenced(&storage!) { storage = storage!.copy() }
        return storage!
    }

    @discardableResult
    public mutating func insert(_ name: String) -> Bool {
        guard find(name) == nil else { return false }
        let s = writable()
        ChildSet.link(name, bucket: ChildSet.bucket(name, capacity: s.heads.count), in: s)
        s.count += 1
        if s.count > s.heads.count * 3 / 4 { ChildSet.grow(s) }
        return true
    }

    /// Stores a name in a free slot at the end of its bucket's chain.
    private static func link(_ name: String, bucket b: Int, in s: Storage) {
        let slot: Int32
        if let reused = s.free.popLast() {
            slot = reused
            s.names[Int(slot)] = name
            s.next[Int(slot)] = -1
        } else {
            slot = Int32(s.names.count)
            s.names.append(name)
            s.next.append(-1)
        }
        if s.heads[b] < 0 {
            s.heads[b] = slot
        } else {
            var last = s.heads[b]
            while s.next[Int(last)] >= 0 { last = s.next[Int(last)] }
            s.next[Int(last)] = slot
        }
    }

    @discardableResult
    public mutating func remove(_ name: String) -> Bool {
        guard let (slot, previous, b) = find(name) else { return false }
        let s = writable()
        if previous < 0 { s.heads[b] = s.next[Int(slot)] } else { s.next[Int(previous)] = s.next[Int(slot)] }
        s.names[Int(slot)] = ""
        s.next[Int(slot)] = -1
        s.free.append(slot)
        s.count -= 1
        if s.count == 0 {
            // Keep the table size (Java's never shrinks) but drop the storage of names.
            s.names = []
            s.next = []
            s.free = []
            s.heads = Array(repeating: -1, count: s.heads.count)
        }
        return true
    }

    /// Doubles the table. Each new bucket receives the names of exactly one old bucket, in their old
    /// order, which is what Java's split into "lo" and "hi" lists does.
    private static func grow(_ s: Storage) {
        var ordered: [String] = []
        ordered.reserveCapacity(s.count)
        for b in 0..<s.heads.count {
            var slot = s.heads[b]
            while slot >= 0 {
                ordered.append(s.names[Int(slot)])
                slot = s.next[Int(slot)]
            }
        }
        s.heads = Array(repeating: -1, count: s.heads.count * 2)
        s.names = []
        s.next = []
        s.free = []
        s.names.reserveCapacity(ordered.count)
        s.next.reserveCapacity(ordered.count)
        for name in ordered { link(name, bucket: bucket(name, capacity: s.heads.count), in: s) }
    }

    public struct Iterator: IteratorProtocol {
        fileprivate let storage: Storage?
        fileprivate var bucket = -1
        fileprivate var slot: Int32 = -1

        public mutating func next() -> String? {
            guard let s = storage else { return nil }
            while slot < 0 {
                bucket += 1
                guard bucket < s.heads.count else { return nil }
                slot = s.heads[bucket]
            }
            let name = s.names[Int(slot)]
            slot = s.next[Int(slot)]
            return name
        }
    }

    public func makeIterator() -> Iterator { Iterator(storage: storage) }
}
