/// A size-class allocator for znode blocks: blocks up to `largestSlabBlock` bytes are carved from
/// 64 KiB pages of one size each (sizes in steps of 8 bytes), with no per-block header and at most 7
/// bytes of rounding, where `malloc` adds a 8-byte header and rounds to 16. Larger blocks (big data)
/// come from the system allocator as they are.
///
/// Pages are aligned to their size, so a block's page is found from its address; each page keeps a
/// free list through its free blocks and a count of live ones. Pages are cut from regions of up to 4 MiB (one
/// aligned allocation each: aligning every 64 KiB page on its own left a hole beside each, 12% of
/// the tree). A page whose blocks are all free goes back to the region's pool (the last page with
/// room of a size is kept, so one node changing size back and forth does not churn pages); a region
/// whose pages are all free is given back to the system allocator.
import ZKCore

struct SlabPage {
    var freeHead: UnsafeMutableRawPointer?
    /// Offset of the first block never handed out.
    var bump: Int32
    var live: Int32
    var blockBytes: Int32
    var inList: Bool
    /// The region it was cut from.
    var region: Int32
    /// Neighbours in its size's list of pages with room.
    var previous: UnsafeMutableRawPointer?
    var next: UnsafeMutableRawPointer?
}

final class Slabs {
    static let pageBytes = 64 * 1024
    static let largestSlabBlock = 2048
    static let headerBytes = (MemoryLayout<SlabPage>.size + 15) & ~15
    static let regionPages = 64
    static let regionBytes = regionPages * pageBytes
    private static let classes = largestSlabBlock / 8 + 1

    /// Per size class: the first page with room.
    private let roomy: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    private(set) var pageCount = 0
    /// Regions by number (nil: given back) with how many of their pages are in use.
    private var regions: [(base: UnsafeMutableRawPointer, pages: Int, pagesInUse: Int)?] = []
    /// Pages given back, ready to be cut again (their headers name their region).
    private var freePages: [UnsafeMutableRawPointer] = []
    /// The region new pages are cut from, and its first page never cut: a page is touched only when
    /// it is first used, so a small tree costs a page per size class, not a region.
    private var cutting: (region: Int, next: Int)?
    private var largeBytes = 0
    private var releasedBytes = 0

    init() {
        roomy = .allocate(capacity: Self.classes)
        roomy.initialize(repeating: nil, count: Self.classes)
    }

    deinit {
        for region in regions { region?.base.deallocate() }
        roomy.deallocate()
    }

    /// Bytes in use: pages holding blocks and large blocks (a region's untouched pages cost nothing).
    var bytesHeld: Int { pageCount * Self.pageBytes + largeBytes }

    /// Bytes of the regions still allocated (touched or not).
    var mappedBytes: Int { regions.reduce(0) { $0 + ($1?.pages ?? 0) } * Self.pageBytes }

    /// Regions still allocated.
    var regionCount: Int { regions.lazy.filter { $0 != nil }.count }

    func takeReleasedBytes() -> Int {
        defer { releasedBytes = 0 }
        return releasedBytes
    }

    @inline(__always) private func header(_ page: UnsafeMutableRawPointer) -> UnsafeMutablePointer<SlabPage> {
        page.assumingMemoryBound(to: SlabPage.self)
    }

    @inline(__always) static func rounded(_ bytes: Int) -> Int { (max(bytes, 8) + 7) & ~7 }

    func allocate(bytes: Int) -> UnsafeMutableRawPointer {
        let size = Self.rounded(bytes)
        guard size <= Self.largestSlabBlock else {
            largeBytes += size
            return UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        }
        let c = size >> 3
        let page = roomy[c] ?? newPage(c, size: size)
        let h = header(page)
        let block: UnsafeMutableRawPointer
        if let free = h.pointee.freeHead {
            block = free
            h.pointee.freeHead = free.load(as: UnsafeMutableRawPointer?.self)
        } else {
            block = page + Int(h.pointee.bump)
            h.pointee.bump += Int32(size)
        }
        h.pointee.live += 1
        if h.pointee.freeHead == nil && Int(h.pointee.bump) + size > Self.pageBytes { unlink(page, c) }
        return block
    }

    func free(_ block: UnsafeMutableRawPointer, bytes: Int) {
        let size = Self.rounded(bytes)
        guard size <= Self.largestSlabBlock else {
            largeBytes -= size
            releasedBytes += size
            block.deallocate()
            return
        }
        let c = size >> 3
        let page = UnsafeMutableRawPointer(bitPattern: UInt(bitPattern: Int(bitPattern: block)) & ~UInt(Self.pageBytes - 1))!
        let h = header(page)
        invariant(Int(h.pointee.blockBytes) == size, "a block of \(size) bytes freed into a page of \(h.pointee.blockBytes)-byte blocks")
        block.storeBytes(of: h.pointee.freeHead, as: UnsafeMutableRawPointer?.self)
        h.pointee.freeHead = block
        h.pointee.live -= 1
        if !h.pointee.inList { link(page, c) }
        if h.pointee.live == 0 && pagesWithRoom(c) > 1 {
            unlink(page, c)
            pageCount -= 1
            returnPage(page)
        }
    }

    private func pagesWithRoom(_ c: Int) -> Int {
        // Only "more than one" matters: look at most two pages deep.
        guard let first = roomy[c] else { return 0 }
        return header(first).pointee.next == nil ? 1 : 2
    }

    private func newPage(_ c: Int, size: Int) -> UnsafeMutableRawPointer {
        let page: UnsafeMutableRawPointer
        let region: Int
        if let reused = freePages.popLast() {
            page = reused
            region = Int(header(page).pointee.region)
        } else {
            if cutting == nil || cutting!.next == regions[cutting!.region]!.pages { addRegion() }
            region = cutting!.region
            page = regions[region]!.base + cutting!.next * Self.pageBytes
            cutting!.next += 1
        }
        regions[region]!.pagesInUse += 1
        header(page).initialize(to: SlabPage(freeHead: nil, bump: Int32(Self.headerBytes), live: 0, blockBytes: Int32(size),
                                             inList: false, region: Int32(region), previous: nil, next: nil))
        pageCount += 1
        link(page, c)
        return page
    }

    /// Regions double from one page to `regionPages` as the tree grows: a small tree (a test, a fuzz
    /// input, an idle server) maps 64 KiB instead of 4 MiB.
    private func addRegion() {
        let pages = min(Self.regionPages, 1 << min(regionCount, 6))
        let base = UnsafeMutableRawPointer.allocate(byteCount: pages * Self.pageBytes, alignment: Self.pageBytes)
        let number = regions.firstIndex(where: { $0 == nil }) ?? regions.count
        if number == regions.count { regions.append(nil) }
        regions[number] = (base, pages, 0)
        cutting = (number, 0)
    }

    /// A page none of whose blocks is in use goes back to its region's pool; an unused region (other
    /// than the last one) goes back to the system allocator.
    private func returnPage(_ page: UnsafeMutableRawPointer) {
        let number = Int(header(page).pointee.region)
        freePages.append(page)
        regions[number]!.pagesInUse -= 1
        guard regions[number]!.pagesInUse == 0, regions.lazy.filter({ $0 != nil }).count > 1 else { return }
        let (base, pages, _) = regions[number]!
        freePages.removeAll { $0 >= base && $0 < base + pages * Self.pageBytes }
        if cutting?.region == number { cutting = nil }
        base.deallocate()
        regions[number] = nil
        releasedBytes += pages * Self.pageBytes
    }

    private func link(_ page: UnsafeMutableRawPointer, _ c: Int) {
        let h = header(page)
        h.pointee.previous = nil
        h.pointee.next = roomy[c]
        if let first = roomy[c] { header(first).pointee.previous = page }
        roomy[c] = page
        h.pointee.inList = true
    }

    private func unlink(_ page: UnsafeMutableRawPointer, _ c: Int) {
        let h = header(page)
        if let previous = h.pointee.previous { header(previous).pointee.next = h.pointee.next } else { roomy[c] = h.pointee.next }
        if let next = h.pointee.next { header(next).pointee.previous = h.pointee.previous }
        h.pointee.previous = nil
        h.pointee.next = nil
        h.pointee.inList = false
    }
}
