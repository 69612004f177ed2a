/// Distinct ACL lists, shared by every node that uses them and numbered for snapshots, like
/// Apache's `ReferenceCountedACLCache`: a snapshot writes each list once and nodes refer to it by
/// index. Sharing also saves memory: a million nodes with the same ACL hold one array.
///
/// A node holds a *slot* (a `UInt32` into `entries`), so reading a node's ACL is an array access;
/// the *index* is the number a snapshot uses (Apache's, kept as loaded).
import ZKProtocol

struct ACLCache {
    struct Entry {
        var list: [ACL]
        var index: Int64
        var references: Int
        /// The list is OPEN_ACL_UNSAFE, which snapshots write as index -1 (decided once, not per node).
        let isOpen: Bool

        init(list: [ACL], index: Int64, references: Int) {
            self.list = list
            self.index = index
            self.references = references
            isOpen = list == ACL.openACLUnsafe
        }
    }
    private(set) var entries: [Entry?] = []
    private var slotByList: [[ACL]: UInt32] = [:]
    private var slotByIndex: [Int64: UInt32] = [:]
    private var freeSlots: [UInt32] = []
    private var lastIndex: Int64 = 0
    /// OPEN_ACL_UNSAFE as a snapshot's index -1 gives it: held by loaded nodes without taking a
    /// number, so the lists created later are numbered as before the load.
    private var unnumberedOpenSlot: UInt32?

    /// The slot of `acl`, with one more reference.
    mutating func retain(_ acl: [ACL]) -> UInt32 {
        if let slot = slotByList[acl] {
            entries[Int(slot)]!.references += 1
            return slot
        }
        lastIndex += 1
        let slot = store(Entry(list: acl, index: lastIndex, references: 1))
        slotByList[acl] = slot
        return slot
    }

    private mutating func store(_ entry: Entry) -> UInt32 {
        let slot: UInt32
        if let reused = freeSlots.popLast() {
            slot = reused
            entries[Int(slot)] = entry
        } else {
            slot = UInt32(entries.count)
            entries.append(entry)
        }
        if entry.index >= 0 { slotByIndex[entry.index] = slot }
        return slot
    }

    /// One reference fewer. Unused lists are kept until `purgeUnused` (not during a snapshot, whose
    /// ACL map must keep covering the nodes it has not written yet).
    mutating func release(_ slot: UInt32) {
        entries[Int(slot)]!.references -= 1
    }

    mutating func purgeUnused() {
        for slot in entries.indices {
            guard let entry = entries[slot], entry.references <= 0 else { continue }
            entries[slot] = nil
            if entry.index < 0 {
                unnumberedOpenSlot = nil
            } else {
                slotByIndex[entry.index] = nil
                if slotByList[entry.list] == UInt32(slot) { slotByList[entry.list] = nil }
            }
            freeSlots.append(UInt32(slot))
        }
    }

    @inline(__always) func list(_ slot: UInt32) -> [ACL] { entries[Int(slot)].unsafelyUnwrapped.list }
    func index(_ slot: UInt32) -> Int64 { entries[Int(slot)]!.index }
    @inline(__always) func isOpen(_ slot: UInt32) -> Bool { entries[Int(slot)].unsafelyUnwrapped.isOpen }

    /// Every list with its index, ascending.
    var listsByIndex: [(index: Int64, acl: [ACL])] {
        entries.compactMap { $0.map { ($0.index, $0.list) } }.filter { $0.index >= 0 }.sorted { $0.index < $1.index }
    }

    /// Loading a snapshot: lists keep the indexes they had.
    mutating func restore(index: Int64, list: [ACL]) {
        if let old = slotByIndex[index] { entries[Int(old)] = nil; freeSlots.append(old) }
        let slot = store(Entry(list: list, index: index, references: 0))
        slotByList[list] = slot
        lastIndex = max(lastIndex, index)
    }

    /// Loading a snapshot: one more reference to the list at `index`, by slot.
    mutating func retain(index: Int64) -> UInt32? {
        guard let slot = slotByIndex[index] else { return nil }
        entries[Int(slot)]!.references += 1
        return slot
    }

    /// Loading a snapshot: a node whose ACL index is -1 (OPEN_ACL_UNSAFE).
    mutating func retainUnnumberedOpen() -> UInt32 {
        if let slot = unnumberedOpenSlot {
            entries[Int(slot)]!.references += 1
            return slot
        }
        let slot = store(Entry(list: ACL.openACLUnsafe, index: -1, references: 1))
        unnumberedOpenSlot = slot
        return slot
    }
}
