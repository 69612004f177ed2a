/// Apache's tree digest (`DigestCalculator`, digest version 2, kept by `NodeHashMapImpl`), maintained
/// as the tree changes instead of recomputed by every snapshot.
///
/// A node's digest is CRC-32 over its path (the root's as ""), its data and 60 bytes of its stat
/// (czxid, mzxid, pzxid, ctime, mtime, version, cversion, aversion, ephemeralOwner, big-endian);
/// nodes under "/zookeeper/" count 0 (Apache excludes them: quota nodes change locally). The tree's
/// digest is the sum of its nodes' digests modulo 2^64. Each node's current digest is cached in its
/// header (a CRC fits 32 bits), so a change subtracts the old value without recomputing it, and a
/// snapshot takes the sum as it is when it starts: no snapshot reads a node's data for its digest.
import ZKCore
import ZKProtocol

public enum NodeDigest {
    /// The digest of a node at `path` with `data` and `stat` (the version-2 formula).
    public static func of(path: String, data: UnsafeRawBufferPointer?, stat s: StatPersisted) -> UInt32 {
        var path = path
        return path.withUTF8 { bytes in
            of(path: UnsafeRawBufferPointer(bytes), data: data, longs: (s.czxid, s.mzxid, s.pzxid, s.ctime, s.mtime),
               ints: (s.version, s.cversion, s.aversion), owner: s.ephemeralOwner)
        }
    }

    /// The digest of a node in the store, from its header.
    static func of(path: UnsafeRawBufferPointer, data: UnsafeRawBufferPointer?, header h: NodeHeader) -> UInt32 {
        of(path: path, data: data, longs: (h.czxid, h.mzxid, h.pzxid, h.ctime, h.mtime),
           ints: (h.version, h.cversion, h.aversion), owner: h.ephemeralOwner)
    }

    static func of(path: String, data: UnsafeRawBufferPointer?, header: NodeHeader) -> UInt32 {
        var path = path
        return path.withUTF8 { of(path: UnsafeRawBufferPointer($0), data: data, header: header) }
    }

    private static let excludedPrefix: [UInt8] = Array("/zookeeper/".utf8)

    private static func of(path: UnsafeRawBufferPointer, data: UnsafeRawBufferPointer?,
                           longs: (Int64, Int64, Int64, Int64, Int64), ints: (Int32, Int32, Int32), owner: Int64) -> UInt32 {
        if path.count >= excludedPrefix.count,
           excludedPrefix.withUnsafeBytes({ memcmpBytes($0.baseAddress!, path.baseAddress!, $0.count) }) {
            return 0
        }
        var crc = CRC32()
        // "/" and "" both name the root; Apache digests it as "".
        if !(path.count == 1 && path[0] == UInt8(ascii: "/")) { crc.update(path) }
        if let data, data.count > 0 { crc.update(data) }
        // czxid, mzxid, pzxid, ctime, mtime, version, cversion, aversion, ephemeralOwner: 60 bytes.
        withUnsafeTemporaryAllocation(byteCount: 64, alignment: 8) { b in
            func long(_ value: Int64, at offset: Int) { b.storeBytes(of: UInt64(bitPattern: value).bigEndian, toByteOffset: offset, as: UInt64.self) }
            func int(_ value: Int32, at offset: Int) { b.storeBytes(of: UInt32(bitPattern: value).bigEndian, toByteOffset: offset, as: UInt32.self) }
            long(longs.0, at: 0); long(longs.1, at: 8); long(longs.2, at: 16); long(longs.3, at: 24); long(longs.4, at: 32)
            int(ints.0, at: 40); int(ints.1, at: 44); int(ints.2, at: 48)
            long(owner, at: 52)
            crc.update(UnsafeRawBufferPointer(start: b.baseAddress, count: 60))
        }
        return crc.value
    }
}

extension DataTree {
    /// Recomputes the cached digest of `id`, whose path is `path`, after it changed, and moves the
    /// tree's sum by the difference.
    func refreshDigest(_ id: UInt32, path: String) {
        let r = store.record(id)
        let new = NodeDigest.of(path: path, data: store.data(id), header: r.pointee)
        digest = digest &- UInt64(r.pointee.digest) &+ UInt64(new)
        r.pointee.digest = new
    }

    /// The node is about to be freed: its digest leaves the sum.
    func dropDigest(_ id: UInt32) {
        let r = store.record(id)
        digest &-= UInt64(r.pointee.digest)
        r.pointee.digest = 0
    }

    /// The digest recomputed from every node (for checks: it must equal `digest`).
    public func recomputedDigest() -> UInt64 {
        var sum: UInt64 = 0
        forEachNode { path, node in
            sum &+= UInt64(NodeDigest.of(path: path, data: store.data(node.id), header: store.record(node.id).pointee))
        }
        return sum
    }
}
