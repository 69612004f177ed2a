/// Distinct ACL lists, shared by every node that uses them and numbered for snapshots, like
/// Apache's `ReferenceCountedACLCache`: a snapshot writes each list once and nodes refer to it by
/// index. Sharing also saves memory: a million nodes with the same ACL hold one array.
import ZKProtocol

struct ACLCache {
    private(set) var indexByList: [[ACL]: Int64] = [:]
    private(set) var listByIndex: [Int64: [ACL]] = [:]
    private var references: [Int64: Int] = [:]
    private var lastIndex: Int64 = 0

    /// The shared copy of `acl`, with one more reference.
    mutating func retain(_ acl: [ACL]) -> [ACL] {
        if let index = indexByList[acl] {
            references[index, default: 0] += 1
            return listByIndex[index]!
        }
        lastIndex += 1
        indexByList[acl] = lastIndex
        listByIndex[lastIndex] = acl
        references[lastIndex] = 1
        return acl
    }

    /// One reference fewer. Unused lists are kept until `purgeUnused` (not during a snapshot, whose
    /// ACL map must keep covering the nodes it has not written yet).
    mutating func release(_ acl: [ACL]) {
        guard let index = indexByList[acl] else { return }
        references[index, default: 1] -= 1
    }

    mutating func purgeUnused() {
        for (index, count) in references where count <= 0 {
            references[index] = nil
            if let list = listByIndex.removeValue(forKey: index) { indexByList[list] = nil }
        }
    }

    func index(of acl: [ACL]) -> Int64? { indexByList[acl] }

    /// Loading a snapshot: lists keep the indexes they had.
    mutating func restore(index: Int64, list: [ACL]) {
        indexByList[list] = index
        listByIndex[index] = list
        references[index] = 0
        lastIndex = max(lastIndex, index)
    }

    mutating func addReference(_ index: Int64) { references[index, default: 0] += 1 }
}
