/// Where the znodes live, laid out for memory: about 100 bytes a znode above its name and data, where
/// a dictionary of full paths to node objects cost over 300.
///
/// - **Nodes**: one allocation per znode holding its `NodeHeader` (the persisted stat, its parent,
///   its ACL's slot, links), then its name (the last path component, UTF-8), then its data, carved
///   from size-class slabs (`Slabs`) so that no allocator header or power-of-two rounding is paid.
///   A node is named by a number, a `UInt32` into the id table; a node whose size changes
///   (`setData` with a new length) moves and keeps its number. No full path is stored anywhere:
///   paths are walked component by component from the root, and rebuilt from parents when needed.
/// - **Children**: a parent's children are a hash table of bucket heads whose chains run through the
///   children's headers (`NodeHeader.next`). The table reproduces Java's `HashSet<String>` exactly
///   (see `ChildSet` for the rules), so children iterate in Apache's order.
/// - **Release**: freed numbers are reused; a slab page whose blocks are all free is given back to
///   the allocator, and by the shell's `malloc_trim` to the system.
///
/// Owned by one thread (the event loop); everything is reached through pointers, so there is no
/// copy-on-write or exclusivity bookkeeping per access. Nothing here knows what a znode means: that
/// is `DataTree`'s.
import ZKCore

struct NodeHeader {
    var czxid: Int64
    var mzxid: Int64
    var pzxid: Int64
    var ctime: Int64
    var mtime: Int64
    var ephemeralOwner: Int64
    var version: Int32
    var cversion: Int32
    var aversion: Int32
    var parent: UInt32
    /// The next node in the parent's bucket chain.
    var next: UInt32
    var aclSlot: UInt32
    var nameLength: UInt32
    /// -1 for null data.
    var dataLength: Int32
    /// Index into the store's child tables; `NodeStore.none` until the first child is added.
    var table: UInt32
    /// This node's part of the tree digest (`TreeDigest`), as of its last change.
    var digest: UInt32
}

final class NodeStore {
    static let none = UInt32.max
    static let headerBytes = MemoryLayout<NodeHeader>.size
    /// `new HashSet<>(8)`, as Apache's `DataNode.addChild` makes a node's first child set.
    static let firstTableCapacity: UInt32 = 8

    /// Node number → its block (nil: free).
    private var slots: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    private var slotCapacity = 1024
    private var slotsUsed = 0
    private var freeIDs: [UInt32] = []
    /// While a snapshot is written, freed numbers are held here instead of reused: the snapshot
    /// writer names nodes by number, and a number given to a new node would name another node.
    private var heldIDs: [UInt32]?
    /// Child tables: `count`, `capacity`, then `capacity` bucket heads; nil entries are free.
    private var tables: [UnsafeMutablePointer<UInt32>?] = []
    private var freeTables: [UInt32] = []
    private let slabs = Slabs()
    private(set) var count = 0
    private var tableBytes = 0
    /// Bytes given back since the shell last asked (`takeReleasedBytes`), to decide on `malloc_trim`.
    private var releasedBytes = 0

    init() {
        slots = .allocate(capacity: slotCapacity)
    }

    deinit {
        for id in 0..<slotsUsed {
            if let block = slots[id] { slabs.free(block, bytes: Self.blockBytes(block)) }
        }
        for table in tables { table?.deallocate() }
        slots.deallocate()
    }

    @inline(__always) func record(_ id: UInt32) -> UnsafeMutablePointer<NodeHeader> {
        slots[Int(id)].unsafelyUnwrapped.assumingMemoryBound(to: NodeHeader.self)
    }

    /// Whether `id` names a live node (for invariant checks and tests).
    func isLive(_ id: UInt32) -> Bool { Int(id) < slotsUsed && slots[Int(id)] != nil }

    /// Bytes this store holds: the id table, slab pages and large blocks, child tables.
    var memoryBytes: Int { slotCapacity * 8 + slabs.bytesHeld + tableBytes }

    /// Bytes freed since the last call.
    func takeReleasedBytes() -> Int {
        defer { releasedBytes = 0 }
        return releasedBytes + slabs.takeReleasedBytes()
    }

    @inline(__always) static func blockBytes(_ block: UnsafeMutableRawPointer) -> Int {
        let h = block.assumingMemoryBound(to: NodeHeader.self)
        return headerBytes + Int(h.pointee.nameLength) + max(0, Int(h.pointee.dataLength))
    }

    // MARK: Nodes

    /// A new node holding `name` and `data`, its stat zero; linking it under `parent` is the caller's.
    func allocate(name: UnsafeRawBufferPointer, data: UnsafeRawBufferPointer?, parent: UInt32) -> UInt32 {
        let id: UInt32
        if let reused = freeIDs.popLast() {
            id = reused
        } else {
            if slotsUsed == slotCapacity { growSlots() }
            id = UInt32(slotsUsed)
            slotsUsed += 1
        }
        let header = NodeHeader(czxid: 0, mzxid: 0, pzxid: 0, ctime: 0, mtime: 0, ephemeralOwner: 0, version: 0,
                                cversion: 0, aversion: 0, parent: parent, next: Self.none, aclSlot: 0,
                                nameLength: UInt32(name.count), dataLength: data == nil ? -1 : Int32(data!.count),
                                table: Self.none, digest: 0)
        slots[Int(id)] = makeBlock(header, name: name, data: data)
        count += 1
        return id
    }

    private func growSlots() {
        invariant(slotCapacity < Int(UInt32.max / 2), "more znodes than node numbers")
        let grown = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: slotCapacity * 2)
        grown.moveInitialize(from: slots, count: slotsUsed)
        slots.deallocate()
        slots = grown
        slotCapacity *= 2
    }

    private func makeBlock(_ header: NodeHeader, name: UnsafeRawBufferPointer, data: UnsafeRawBufferPointer?) -> UnsafeMutableRawPointer {
        let dataCount = data?.count ?? 0
        let block = slabs.allocate(bytes: Self.headerBytes + name.count + dataCount)
        block.assumingMemoryBound(to: NodeHeader.self).initialize(to: header)
        if let base = name.baseAddress, name.count > 0 {
            (block + Self.headerBytes).copyMemory(from: base, byteCount: name.count)
        }
        if let data, let base = data.baseAddress, dataCount > 0 {
            (block + Self.headerBytes + name.count).copyMemory(from: base, byteCount: dataCount)
        }
        return block
    }

    /// Frees a node with its child table; it must be unlinked from its parent already.
    func free(_ id: UInt32) {
        let block = slots[Int(id)].unsafelyUnwrapped
        let table = block.assumingMemoryBound(to: NodeHeader.self).pointee.table
        if table != Self.none { releaseTable(table) }
        slabs.free(block, bytes: Self.blockBytes(block))
        slots[Int(id)] = nil
        if heldIDs != nil { heldIDs!.append(id) } else { freeIDs.append(id) }
        count -= 1
    }

    /// From now on, freed numbers are not reused until `releaseHeldIDs`.
    func holdFreedIDs() {
        if heldIDs == nil { heldIDs = [] }
    }

    func releaseHeldIDs() {
        if let held = heldIDs { freeIDs.append(contentsOf: held) }
        heldIDs = nil
    }

    @inline(__always) func name(_ id: UInt32) -> UnsafeRawBufferPointer {
        let h = record(id)
        return UnsafeRawBufferPointer(start: UnsafeRawPointer(h) + Self.headerBytes, count: Int(h.pointee.nameLength))
    }

    /// The node's data; nil for null data (a count of 0 is empty data).
    @inline(__always) func data(_ id: UInt32) -> UnsafeRawBufferPointer? {
        let h = record(id)
        let length = h.pointee.dataLength
        guard length >= 0 else { return nil }
        return UnsafeRawBufferPointer(start: UnsafeRawPointer(h) + Self.headerBytes + Int(h.pointee.nameLength), count: Int(length))
    }

    /// Replaces the node's data: in place when the length is unchanged, else the node moves to a
    /// block of the new size (pointers from `record` taken before are then stale).
    func setData(_ id: UInt32, _ data: UnsafeRawBufferPointer?) {
        let old = slots[Int(id)].unsafelyUnwrapped
        let h = old.assumingMemoryBound(to: NodeHeader.self)
        if let data, Int(h.pointee.dataLength) == data.count {
            if let base = data.baseAddress, data.count > 0 {
                (old + Self.headerBytes + Int(h.pointee.nameLength)).copyMemory(from: base, byteCount: data.count)
            }
            return
        }
        var header = h.pointee
        header.dataLength = data == nil ? -1 : Int32(data!.count)
        slots[Int(id)] = makeBlock(header, name: name(id), data: data)
        slabs.free(old, bytes: Self.blockBytes(old))
    }

    func nameEquals(_ id: UInt32, _ other: UnsafeRawBufferPointer) -> Bool {
        let mine = name(id)
        guard mine.count == other.count else { return false }
        guard let a = mine.baseAddress, let b = other.baseAddress else { return true }
        return memcmpBytes(a, b, mine.count)
    }

    @inline(__always) private func table(of id: UInt32) -> UnsafeMutablePointer<UInt32>? {
        let index = record(id).pointee.table
        return index == Self.none ? nil : tables[Int(index)]
    }

    // MARK: Children

    static func bucket(of hash: Int32, capacity: UInt32) -> UInt32 {
        let h = UInt32(bitPattern: hash)
        return (h ^ (h >> 16)) & (capacity - 1)
    }

    func childCount(_ id: UInt32) -> Int {
        guard let table = table(of: id) else { return 0 }
        return Int(table[0])
    }

    /// The child of `parent` named `name`.
    func child(of parent: UInt32, named name: UnsafeRawBufferPointer) -> UInt32? {
        guard let table = table(of: parent), table[0] > 0 else { return nil }
        var c = table[2 + Int(Self.bucket(of: JavaHash.of(name), capacity: table[1]))]
        while c != Self.none {
            if nameEquals(c, name) { return c }
            c = record(c).pointee.next
        }
        return nil
    }

    /// Links `child` (not yet among `parent`'s children) at the end of its bucket, growing the table
    /// past 3/4 full as `HashMap` does.
    func link(_ child: UInt32, under parent: UInt32) {
        if record(parent).pointee.table == Self.none { record(parent).pointee.table = makeTable(capacity: Self.firstTableCapacity) }
        let table = table(of: parent).unsafelyUnwrapped
        append(child, to: table, bucket: Int(Self.bucket(of: JavaHash.of(name(child)), capacity: table[1])))
        table[0] += 1
        if table[0] > table[1] * 3 / 4 { grow(parent) }
    }

    private func append(_ child: UInt32, to table: UnsafeMutablePointer<UInt32>, bucket: Int) {
        record(child).pointee.next = Self.none
        var c = table[2 + bucket]
        if c == Self.none {
            table[2 + bucket] = child
            return
        }
        while record(c).pointee.next != Self.none { c = record(c).pointee.next }
        record(c).pointee.next = child
    }

    /// Unlinks `child` from `parent`'s table. Java's table keeps its size when it empties.
    func unlink(_ child: UInt32, from parent: UInt32) {
        guard let table = table(of: parent) else { return }
        let b = 2 + Int(Self.bucket(of: JavaHash.of(name(child)), capacity: table[1]))
        var previous = Self.none
        var c = table[b]
        while c != Self.none && c != child {
            previous = c
            c = record(c).pointee.next
        }
        invariant(c == child, "unlinking a node that is not among its parent's children")
        let after = record(child).pointee.next
        if previous == Self.none { table[b] = after } else { record(previous).pointee.next = after }
        record(child).pointee.next = Self.none
        table[0] -= 1
    }

    private func newTable(capacity: UInt32) -> UnsafeMutablePointer<UInt32> {
        let table = UnsafeMutablePointer<UInt32>.allocate(capacity: 2 + Int(capacity))
        table[0] = 0
        table[1] = capacity
        (table + 2).initialize(repeating: Self.none, count: Int(capacity))
        tableBytes += (2 + Int(capacity)) * 4
        return table
    }

    /// A new table's index.
    private func makeTable(capacity: UInt32) -> UInt32 {
        let table = newTable(capacity: capacity)
        if let index = freeTables.popLast() {
            tables[Int(index)] = table
            return index
        }
        tables.append(table)
        return UInt32(tables.count - 1)
    }

    private func dropTable(_ table: UnsafeMutablePointer<UInt32>) {
        let size = (2 + Int(table[1])) * 4
        tableBytes -= size
        releasedBytes += size
        table.deallocate()
    }

    private func releaseTable(_ index: UInt32) {
        dropTable(tables[Int(index)].unsafelyUnwrapped)
        tables[Int(index)] = nil
        freeTables.append(index)
    }

    /// Doubles a table: old bucket b splits into b and b + capacity, each keeping its order (Java's
    /// "lo" and "hi" lists), so iteration order matches `HashMap.resize`.
    private func grow(_ parent: UInt32) {
        let index = Int(record(parent).pointee.table)
        let old = tables[index].unsafelyUnwrapped
        let capacity = old[1]
        let grown = newTable(capacity: capacity * 2)
        grown[0] = old[0]
        for b in 0..<Int(capacity) {
            var loTail = Self.none, hiTail = Self.none
            var c = old[2 + b]
            while c != Self.none {
                let next = record(c).pointee.next
                record(c).pointee.next = Self.none
                let target = Int(Self.bucket(of: JavaHash.of(name(c)), capacity: capacity * 2))
                if target == b {
                    if loTail == Self.none { grown[2 + b] = c } else { record(loTail).pointee.next = c }
                    loTail = c
                } else {
                    if hiTail == Self.none { grown[2 + target] = c } else { record(hiTail).pointee.next = c }
                    hiTail = c
                }
                c = next
            }
        }
        dropTable(old)
        tables[index] = grown
    }

    /// The bucket heads of `parent`'s table (nil without one), for iterating without a closure.
    func childTable(of parent: UInt32) -> UnsafeMutablePointer<UInt32>? { table(of: parent) }

    /// Calls `body` with each child of `parent`, in Java's `HashSet` iteration order.
    @inline(__always) func forEachChild(of parent: UInt32, _ body: (UInt32) -> Void) {
        guard let table = table(of: parent), table[0] > 0 else { return }
        for b in 0..<Int(table[1]) {
            var c = table[2 + b]
            while c != Self.none {
                let next = record(c).pointee.next
                body(c)
                c = next
            }
        }
    }
}

@inline(__always) func memcmpBytes(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ count: Int) -> Bool {
    var i = 0
    while i + 8 <= count {
        if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
        i += 8
    }
    while i < count {
        if a.load(fromByteOffset: i, as: UInt8.self) != b.load(fromByteOffset: i, as: UInt8.self) { return false }
        i += 1
    }
    return true
}

/// Java's `String.hashCode()` (over UTF-16 code units) computed from UTF-8 bytes.
enum JavaHash {
    static func of(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        var h: Int32 = 0
        var i = 0
        let n = bytes.count
        while i < n {
            let b0 = UInt32(bytes[i])
            if b0 < 0x80 {
                h = h &* 31 &+ Int32(b0)
                i += 1
                continue
            }
            var scalar: UInt32
            if b0 >= 0xF0, i + 3 < n {
                scalar = (b0 & 0x07) << 18 | (UInt32(bytes[i + 1]) & 0x3F) << 12 | (UInt32(bytes[i + 2]) & 0x3F) << 6 | (UInt32(bytes[i + 3]) & 0x3F)
                i += 4
            } else if b0 >= 0xE0, i + 2 < n {
                scalar = (b0 & 0x0F) << 12 | (UInt32(bytes[i + 1]) & 0x3F) << 6 | (UInt32(bytes[i + 2]) & 0x3F)
                i += 3
            } else if b0 >= 0xC0, i + 1 < n {
                scalar = (b0 & 0x1F) << 6 | (UInt32(bytes[i + 1]) & 0x3F)
                i += 2
            } else {
                // Not UTF-8 a Swift String would hold; counted as the replacement character.
                scalar = 0xFFFD
                i += 1
            }
            if scalar > 0xFFFF {
                let v = scalar - 0x10000
                h = h &* 31 &+ Int32(0xD800 + (v >> 10))
                h = h &* 31 &+ Int32(0xDC00 + (v & 0x3FF))
            } else {
                h = h &* 31 &+ Int32(scalar)
            }
        }
        return h
    }
}
