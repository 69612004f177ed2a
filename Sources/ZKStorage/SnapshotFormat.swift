/// Apache ZooKeeper's snapshot file (`FileSnap`, `SerializeUtils`, `DataTree.serialize`), version 2:
///
///     FileHeader { int magic = "ZKSN", int version = 2, long dbid = -1 }
///     int count, then count × { long sessionId, int timeoutMs }
///     int count, then count × { long aclIndex, vector<ACL> }          the ACL cache
///     repeat { ustring path, buffer data, long aclIndex, StatPersisted }  pre-order, root as ""
///     ustring "/"                                                        end of nodes
///     long adler32 of every byte above, ustring "/"                      seal
///     long zxid, int digestVersion = 2, long digest, long adler32, ustring "/"  3.6+ tree digest
///
/// The digest is Apache's (`DigestCalculator`): the sum, modulo 2^64, of CRC-32(path ‖ data ‖ czxid,
/// mzxid, pzxid, ctime, mtime, version, cversion, aversion, ephemeralOwner) over every node except
/// those under "/zookeeper/", with the root's path as "". Apache compares it after loading.
///
/// A valid file ends with `00 00 00 01 2F` (the seal's "/"). Files are named `snapshot.<hex zxid>`.
/// `SnapshotWriter` produces the stream in chunks so the event loop can interleave it with requests;
/// `SnapshotReader` rebuilds a tree and the session table, verifying the checksum.
import ZKCore
import ZKProtocol
import ZKDataTree

public enum SnapshotFormat {
    public static let magic: Int32 = 0x5A4B_534E
    public static let version: Int32 = 2
    public static let dbid: Int64 = -1
    public static let trailer: [UInt8] = [0, 0, 0, 1, 0x2F]

    public static func fileName(zxid: Zxid) -> String { "snapshot." + zxid.hex }

    /// The session table (sorted by the caller) and the tree's ACL cache: what a snapshot file and a
    /// SNAP stream both begin with.
    static func writeSessionsAndACLs(_ sessions: [(SessionID, Int32)], _ tree: DataTree, _ w: inout JuteWriter) {
        w.writeInt(Int32(sessions.count))
        for (id, timeout) in sessions {
            w.writeLong(id.rawValue)
            w.writeInt(timeout)
        }
        let acls = tree.snapshotACLs()
        w.writeInt(Int32(acls.count))
        for (index, acl) in acls {
            w.writeLong(index)
            w.writeVector(acl)
        }
    }

    /// Apache's quick validity check (`SnapStream.isValidSnapshot`): long enough and sealed.
    public static func looksComplete(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 10 && Array(bytes.suffix(5)) == trailer
    }
}

/// Writes a snapshot of a tree as it was at `beginSnapshot()`, a few thousand nodes per call.
public struct SnapshotWriter {
    public let zxid: Zxid
    private let tree: DataTree
    /// Pre-order walk: each frame is a parent's path and its children's names (Apache's HashSet
    /// order), with the next one to visit. The root frame holds the root's own path, "".
    private var stack: [(base: String?, names: [String], next: Int)] = [(nil, [""], 0)]
    private var checksum = Adler32()
    private var started = false
    public private(set) var isFinished = false
    public private(set) var nodesWritten = 0
    private let sessions: [(SessionID, Int32)]
    /// The tree's digest when the snapshot began: the tree keeps it as nodes change (`TreeDigest`).
    private let digest: UInt64

    /// Starts the snapshot: the tree captures from now on until `finish` is reached.
    public init(tree: DataTree, sessions: [(SessionID, Int32)]) {
        self.tree = tree
        self.sessions = sessions.sorted { $0.0 < $1.0 }
        zxid = tree.beginSnapshot()
        digest = tree.digest
    }

    /// The next piece of the file; nil once the whole file was returned (the tree then stops capturing).
    /// A chunk ends after `nodesMax` nodes, once it holds `bytesMax` bytes, or once `pastDeadline`
    /// says so (asked every 64 nodes), whichever comes first; it holds at least one node.
    public mutating func nextChunk(nodesMax: Int = 4096, bytesMax: Int = Int.max, pastDeadline: (() -> Bool)? = nil) -> [UInt8]? {
        guard !isFinished else { return nil }
        var w = JuteWriter(capacity: 64 * 1024)
        if !started {
            started = true
            writePreamble(&w)
        }
        var written = 0
        while written < nodesMax, w.bytes.count < bytesMax, let top = stack.indices.last {
            guard stack[top].next < stack[top].names.count else {
                stack.removeLast()
                continue
            }
            let name = stack[top].names[stack[top].next]
            stack[top].next += 1
            let path = stack[top].base.map { $0 + "/" + name } ?? name
            let children: [String]? = tree.withSnapshotNode(path.isEmpty ? "/" : path) { node in
                guard let node else { return nil }
                w.writeString(path)
                w.writeBuffer(borrowing: node.data)
                w.writeLong(node.aclIndex)
                node.stat.encode(to: &w)
                return node.childNames
            }
            // Children in the order Apache would write them (its HashSet order), depth first.
            if let children, !children.isEmpty { stack.append((path, children, 0)) }
            if children != nil {
                written += 1
                if written & 63 == 0, let pastDeadline, pastDeadline() { break }
            }
        }
        nodesWritten += written
        if stack.isEmpty { writeEnd(&w) }
        checksum.update(w.bytes)
        if isFinished {
            appendSeal(&w)
            appendDigest(&w)
        }
        return w.bytes
    }

    /// Apache's per-node digest (`DigestCalculator.calculateDigest`, version 2; see `NodeDigest`).
    public static func nodeDigest(path: String, data: [UInt8]?, stat: StatPersisted) -> UInt64 {
        guard let data else { return UInt64(NodeDigest.of(path: path, data: nil, stat: stat)) }
        return data.withUnsafeBytes { UInt64(NodeDigest.of(path: path, data: $0, stat: stat)) }
    }

    /// The digest section, sealed like the nodes (its checksum covers the whole file so far).
    private mutating func appendDigest(_ w: inout JuteWriter) {
        var section = JuteWriter(capacity: 20)
        section.writeLong(zxid.rawValue)
        section.writeInt(2)
        section.writeLong(Int64(bitPattern: digest))
        checksum.update(w.bytes.suffix(13))  // the first seal (long + ustring "/") is part of the stream
        checksum.update(section.bytes)
        w.bytes.append(contentsOf: section.bytes)
        w.writeLong(Int64(checksum.value))
        w.writeString("/")
    }

    private func writePreamble(_ w: inout JuteWriter) {
        w.writeInt(SnapshotFormat.magic)
        w.writeInt(SnapshotFormat.version)
        w.writeLong(SnapshotFormat.dbid)
        SnapshotFormat.writeSessionsAndACLs(sessions, tree, &w)
    }

    private mutating func writeEnd(_ w: inout JuteWriter) {
        w.writeString("/")
        isFinished = true
        tree.endSnapshot()
    }

    /// The seal covers everything before it, so it is added after the checksum is updated.
    private func appendSeal(_ w: inout JuteWriter) {
        w.writeLong(Int64(checksum.value))
        w.writeString("/")
    }
}

public struct SnapshotError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Reads a whole snapshot file into a new tree.
public enum SnapshotReader {
    public struct Loaded {
        public var tree: DataTree
        public var sessions: [(SessionID, Int32)]
        /// From the digest section, when present (3.6+ servers write it).
        public var digestZxid: Zxid?
    }

    public static func read(_ bytes: [UInt8], snapshotZxid: Zxid, extendedTypesEnabled: Bool) throws(SnapshotError) -> Loaded {
        guard SnapshotFormat.looksComplete(bytes) else { throw SnapshotError("incomplete snapshot (no seal at the end)") }
        var limits = Limits()
        limits.packetSizeBytesMax = Int(Int32.max / 2)
        limits.vectorElementsMax = Int(Int32.max)
        var r = JuteReader(bytes, limits: limits)
        do {
            guard try r.readInt() == SnapshotFormat.magic else { throw SnapshotError("not a snapshot (bad magic)") }
            let version = try r.readInt()
            guard version == SnapshotFormat.version else { throw SnapshotError("unsupported snapshot version \(version)") }
            _ = try r.readLong()
            let sessions = try readSessions(&r)
            let tree = DataTree.forLoading(extendedTypesEnabled: extendedTypesEnabled)
            try readACLs(&r, into: tree)
            try readNodes(&r, into: tree)
            try checkSeal(&r, bytes)
            let digestZxid = try readDigest(&r, bytes)
            tree.finishLoading(snapshotZxid: snapshotZxid)
            return Loaded(tree: tree, sessions: sessions, digestZxid: digestZxid)
        } catch let error as SnapshotError {
            throw error
        } catch let error as TreeLoadError {
            throw SnapshotError(error.description)
        } catch {
            throw SnapshotError("unreadable snapshot: \(error)")
        }
    }

    private static func readSessions(_ r: inout JuteReader) throws -> [(SessionID, Int32)] {
        let count = Int(try r.readInt())
        guard count >= 0, count <= r.remaining / 12 else { throw SnapshotError("bad session count \(count)") }
        var sessions: [(SessionID, Int32)] = []
        sessions.reserveCapacity(count)
        for _ in 0..<count { sessions.append((SessionID(try r.readLong()), try r.readInt())) }
        return sessions
    }

    private static func readACLs(_ r: inout JuteReader, into tree: DataTree) throws {
        let count = Int(try r.readInt())
        guard count >= 0, count <= r.remaining / 12 else { throw SnapshotError("bad ACL cache size \(count)") }
        for _ in 0..<count {
            let index = try r.readLong()
            let acl = try r.readVector(ACL.self) ?? []
            tree.loadACL(index: index, acl: acl)
        }
    }

    private static func readNodes(_ r: inout JuteReader, into tree: DataTree) throws {
        while true {
            let path = try r.readNonNullString()
            if path == "/" { return }
            let data = try r.readBuffer()
            let aclIndex = try r.readLong()
            let stat = try StatPersisted(from: &r)
            try tree.load(path: path, data: data, aclIndex: aclIndex, stat: stat)
        }
    }

    /// The seal: the Adler-32 of everything before it, then "/".
    private static func checkSeal(_ r: inout JuteReader, _ bytes: [UInt8]) throws {
        let expected = Adler32.checksum(bytes[0..<r.offset])
        let stored = try r.readLong()
        guard try r.readNonNullString() == "/" else { throw SnapshotError("bad seal marker") }
        guard stored == Int64(expected) else { throw SnapshotError("CRC corruption in snapshot") }
    }

    private static func readDigest(_ r: inout JuteReader, _ bytes: [UInt8]) throws -> Zxid? {
        guard r.remaining > 0 else { return nil }
        let zxid = Zxid(try r.readLong())
        // Digest version 1 (3.6.0) stored the digest as a hex string, later versions as a long.
        if try r.readInt() < 2 { _ = try r.readString() } else { _ = try r.readLong() }
        try checkSeal(&r, bytes)
        return zxid
    }
}
