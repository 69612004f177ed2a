/// Where the znodes live, laid out for memory: about 100 bytes a znode above its name and data, where
/// a dictionary of full paths to node objects cost over 300.
///
/// - **Records**: one fixed-size `NodeRecord` per znode (the persisted stat, its parent, its ACL's
///   slot, two pointers), in pages of `recordsPerPage`. A node is named by its record's number, a
///   `UInt32`. Freed records are reused; a page whose records are all free is given back to the
///   allocator (and, through `malloc_trim` by the shell, to the system).
/// - **Blocks**: the node's name (its last path component, UTF-8) and data in one allocation,
///   prefixed by their two lengths. No full path is stored anywhere: paths are walked component by
///   component from the root, and rebuilt from parents when needed.
/// - **Children**: a parent's children are a hash table of bucket heads (`ChildTable`) whose chains
///   run through the children's records (`NodeRecord.next`). The table reproduces Java's
///   `HashSet<String>` exactly (see `ChildSet` for the rules), so children iterate in Apache's order.
///
/// Owned by one thread (the event loop); everything is reached through pointers, so there is no
/// copy-on-write or exclusivity bookkeeping per access. Nothing here knows what a znode means: that
/// is `DataTree`'s.
import ZKCore

struct NodeRecord {
    var czxid: Int64
    var mzxid: Int64
    var pzxid: Int64
    var ctime: Int64
    var mtime: Int64
    var ephemeralOwner: Int64
    /// `UInt32` name length, `Int32` data length (-1: null data), the name's bytes, the data's bytes.
    var block: UnsafeMutableRawPointer
    /// nil until the first child is added: `count`, `capacity`, then `capacity` bucket heads.
    var table: UnsafeMutablePointer<UInt32>?
    var version: Int32
    var cversion: Int32
    var aversion: Int32
    var parent: UInt32
    /// The next record in the parent's bucket chain (or, once freed, in the page's free list).
    var next: UInt32
    var aclSlot: UInt32
}

final class NodeStore {
    static let none = UInt32.max
    static let pageShift = 11
    static let recordsPerPage = 1 << pageShift
    static let blockHeaderBytes = 8
    /// `new HashSet<>(8)`, as Apache's `DataNode.addChild` makes a node's first child set.
    static let firstTableCapacity: UInt32 = 8

    struct Page {
        var records: UnsafeMutablePointer<NodeRecord>?
        var live: Int32 = 0
        /// Records `0..<used` were handed out at least once; below it, freed ones are in `freeHead`.
        var used: Int32 = 0
        var freeHead: UInt32 = NodeStore.none
        var hasRoom = true
    }

    private var pages: UnsafeMutablePointer<Page>
    private var pageCapacity = 16
    private(set) var pageCount = 0
    /// Pages with a free record, the one to allocate from last.
    private var roomy: [Int32] = []
    private(set) var count = 0
    /// Bytes of blocks and tables allocated (records are counted by page): what `memoryBytes` reports.
    private(set) var blockBytes = 0
    /// Bytes given back since the shell last asked (`takeReleasedBytes`), to decide on `malloc_trim`.
    private var releasedBytes = 0

    init() {
        pages = .allocate(capacity: pageCapacity)
    }

    deinit {
        for p in 0..<pageCount {
            guard let records = pages[p].records else { continue }
            for slot in 0..<Int(pages[p].used) where records[slot].block != Self.freedMarker {
                records[slot].block.deallocate()
                records[slot].table?.deallocate()
            }
            records.deallocate()
        }
        pages.deallocate()
    }

    /// Marks a freed record (never a real allocation).
    private nonisolated(unsafe) static let freedMarker = UnsafeMutableRawPointer(bitPattern: 0x10)!

    @inline(__always) func record(_ id: UInt32) -> UnsafeMutablePointer<NodeRecord> {
        pages[Int(id >> UInt32(Self.pageShift))].records.unsafelyUnwrapped + Int(id & UInt32(Self.recordsPerPage - 1))
    }

    /// Whether `id` names a live record (for invariant checks and tests).
    func isLive(_ id: UInt32) -> Bool {
        let p = Int(id >> UInt32(Self.pageShift))
        guard p < pageCount, let records = pages[p].records else { return false }
        let slot = Int(id & UInt32(Self.recordsPerPage - 1))
        return slot < Int(pages[p].used) && records[slot].block != Self.freedMarker
    }

    var pagesAllocated: Int { (0..<pageCount).reduce(0) { $0 + (pages[$1].records == nil ? 0 : 1) } }

    /// Bytes this store holds: live pages of records, blocks and child tables.
    var memoryBytes: Int { pagesAllocated * Self.recordsPerPage * MemoryLayout<NodeRecord>.stride + blockBytes }

    /// Bytes freed since the last call.
    func takeReleasedBytes() -> Int {
        defer { releasedBytes = 0 }
        return releasedBytes
    }

    // MARK: Records

    /// A new record holding `name` and `data`; its other fields are the caller's to set.
    func allocate(name: UnsafeRawBufferPointer, data: UnsafeRawBufferPointer?, parent: UInt32) -> UInt32 {
        let id = takeRecord()
        let r = record(id)
        r.initialize(to: NodeRecord(czxid: 0, mzxid: 0, pzxid: 0, ctime: 0, mtime: 0, ephemeralOwner: 0,
                                    block: makeBlock(name: name, data: data), table: nil, version: 0,
                                    cversion: 0, aversion: 0, parent: parent, next: Self.none, aclSlot: 0))
        count += 1
        return id
    }

    private func takeRecord() -> UInt32 {
        if roomy.isEmpty { addPage() }
        let p = Int(roomy.last!)
        if pages[p].records == nil {
            pages[p].records = .allocate(capacity: Self.recordsPerPage)
        }
        var slot: Int
        if pages[p].freeHead != Self.none {
            slot = Int(pages[p].freeHead)
            pages[p].freeHead = pages[p].records.unsafelyUnwrapped[slot].next
        } else {
            slot = Int(pages[p].used)
            pages[p].used += 1
        }
        pages[p].live += 1
        if pages[p].freeHead == Self.none && Int(pages[p].used) == Self.recordsPerPage {
            pages[p].hasRoom = false
            roomy.removeLast()
        }
        return UInt32(p << Self.pageShift | slot)
    }

    private func addPage() {
        if pageCount == pageCapacity {
            let grown = UnsafeMutablePointer<Page>.allocate(capacity: pageCapacity * 2)
            grown.moveInitialize(from: pages, count: pageCount)
            pages.deallocate()
            pages = grown
            pageCapacity *= 2
        }
        invariant(pageCount < Int(UInt32.max >> UInt32(Self.pageShift)), "more znodes than node ids")
        (pages + pageCount).initialize(to: Page())
        roomy.append(Int32(pageCount))
        pageCount += 1
    }

    /// Frees a record with its block and child table; it must be unlinked from its parent already.
    func free(_ id: UInt32) {
        let r = record(id)
        releaseBlock(r.pointee.block)
        if let table = r.pointee.table { releaseTable(table) }
        r.pointee.block = Self.freedMarker
        r.pointee.table = nil
        let p = Int(id >> UInt32(Self.pageShift))
        r.pointee.next = pages[p].freeHead
        pages[p].freeHead = id & UInt32(Self.recordsPerPage - 1)
        pages[p].live -= 1
        count -= 1
        if !pages[p].hasRoom {
            pages[p].hasRoom = true
            roomy.append(Int32(p))
        }
        if pages[p].live == 0 && count > 0 {
            // An empty page goes back to the allocator; it is made again if it is chosen later.
            pages[p].records.unsafelyUnwrapped.deallocate()
            pages[p].records = nil
            pages[p].used = 0
            pages[p].freeHead = Self.none
            releasedBytes += Self.recordsPerPage * MemoryLayout<NodeRecord>.stride
        }
    }

    // MARK: Blocks

    private func makeBlock(name: UnsafeRawBufferPointer, data: UnsafeRawBufferPointer?) -> UnsafeMutableRawPointer {
        let dataCount = data?.count ?? 0
        let size = Self.blockHeaderBytes + name.count + dataCount
        let block = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        block.storeBytes(of: UInt32(name.count), as: UInt32.self)
        block.storeBytes(of: data == nil ? -1 : Int32(dataCount), toByteOffset: 4, as: Int32.self)
        if let base = name.baseAddress, name.count > 0 {
            (block + Self.blockHeaderBytes).copyMemory(from: base, byteCount: name.count)
        }
        if let data, let base = data.baseAddress, dataCount > 0 {
            (block + Self.blockHeaderBytes + name.count).copyMemory(from: base, byteCount: dataCount)
        }
        blockBytes += size
        return block
    }

    private func releaseBlock(_ block: UnsafeMutableRawPointer) {
        let size = Self.blockHeaderBytes + Int(Self.nameLength(block)) + max(0, Int(Self.dataLength(block)))
        blockBytes -= size
        releasedBytes += size
        block.deallocate()
    }

    @inline(__always) static func nameLength(_ block: UnsafeMutableRawPointer) -> UInt32 {
        block.load(as: UInt32.self)
    }

    @inline(__always) static func dataLength(_ block: UnsafeMutableRawPointer) -> Int32 {
        block.load(fromByteOffset: 4, as: Int32.self)
    }

    @inline(__always) func name(_ id: UInt32) -> UnsafeRawBufferPointer {
        let block = record(id).pointee.block
        return UnsafeRawBufferPointer(start: block + Self.blockHeaderBytes, count: Int(Self.nameLength(block)))
    }

    /// The node's data; nil for null data (a count of 0 is empty data).
    @inline(__always) func data(_ id: UInt32) -> UnsafeRawBufferPointer? {
        let block = record(id).pointee.block
        let length = Self.dataLength(block)
        guard length >= 0 else { return nil }
        return UnsafeRawBufferPointer(start: block + Self.blockHeaderBytes + Int(Self.nameLength(block)), count: Int(length))
    }

    /// Replaces the node's data: in place when the length is unchanged, else in a new block.
    func setData(_ id: UInt32, _ data: UnsafeRawBufferPointer?) {
        let r = record(id)
        let old = r.pointee.block
        let oldLength = Self.dataLength(old)
        if let data, Int(oldLength) == data.count {
            if let base = data.baseAddress, data.count > 0 {
                (old + Self.blockHeaderBytes + Int(Self.nameLength(old))).copyMemory(from: base, byteCount: data.count)
            }
            return
        }
        r.pointee.block = makeBlock(name: name(id), data: data)
        releaseBlock(old)
    }

    func nameEquals(_ id: UInt32, _ other: UnsafeRawBufferPointer) -> Bool {
        let mine = name(id)
        guard mine.count == other.count else { return false }
        guard let a = mine.baseAddress, let b = other.baseAddress else { return true }
        return memcmpBytes(a, b, mine.count)
    }

    // MARK: Children

    static func bucket(of hash: Int32, capacity: UInt32) -> UInt32 {
        let h = UInt32(bitPattern: hash)
        return (h ^ (h >> 16)) & (capacity - 1)
    }

    func childCount(_ id: UInt32) -> Int {
        guard let table = record(id).pointee.table else { return 0 }
        return Int(table[0])
    }

    /// The child of `parent` named `name`.
    func child(of parent: UInt32, named name: UnsafeRawBufferPointer) -> UInt32? {
        guard let table = record(parent).pointee.table, table[0] > 0 else { return nil }
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
        let p = record(parent)
        if p.pointee.table == nil { p.pointee.table = makeTable(capacity: Self.firstTableCapacity) }
        let table = p.pointee.table.unsafelyUnwrapped
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
        guard let table = record(parent).pointee.table else { return }
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

    private func makeTable(capacity: UInt32) -> UnsafeMutablePointer<UInt32> {
        let table = UnsafeMutablePointer<UInt32>.allocate(capacity: 2 + Int(capacity))
        table[0] = 0
        table[1] = capacity
        (table + 2).initialize(repeating: Self.none, count: Int(capacity))
        blockBytes += (2 + Int(capacity)) * 4
        return table
    }

    private func releaseTable(_ table: UnsafeMutablePointer<UInt32>) {
        let size = (2 + Int(table[1])) * 4
        blockBytes -= size
        releasedBytes += size
        table.deallocate()
    }

    /// Doubles a table: old bucket b splits into b and b + capacity, each keeping its order (Java's
    /// "lo" and "hi" lists), so iteration order matches `HashMap.resize`.
    private func grow(_ parent: UInt32) {
        let p = record(parent)
        let old = p.pointee.table.unsafelyUnwrapped
        let capacity = old[1]
        let grown = makeTable(capacity: capacity * 2)
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
        releaseTable(old)
        p.pointee.table = grown
    }

    /// Calls `body` with each child of `parent`, in Java's `HashSet` iteration order.
    @inline(__always) func forEachChild(of parent: UInt32, _ body: (UInt32) -> Void) {
        guard let table = record(parent).pointee.table, table[0] > 0 else { return }
        for b in 0..<Int(table[1]) {
            var c = table[2 + b]
            while c != Self.none {
                let next = record(c).pointee.next
                body(c)
                c = next
            }
        }
    }

    /// `parent`'s table capacity (0 without a table): for tests of Java's growth rule.
    func tableCapacity(_ id: UInt32) -> Int {
        guard let table = record(id).pointee.table else { return 0 }
        return Int(table[1])
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
