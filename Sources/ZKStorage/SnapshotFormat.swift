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
    /// Pre-order walk by node number: each frame is a parent's path length in `path` and its
    /// children (Apache's HashSet order), with the next one to visit. The first frame holds the root.
    private var stack: [(pathLength: Int, children: [UInt32], next: Int)]
    /// The path of the node being written, UTF-8: the root is "", its children "/name", and so on.
    private var path: [UInt8] = []
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
        stack = [(-1, [tree.snapshotRoot], 0)]
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
            guard stack[top].next < stack[top].children.count else {
                stack.removeLast()
                continue
            }
            let id = stack[top].children[stack[top].next]
            stack[top].next += 1
            let base = stack[top].pathLength
            let children: [UInt32]? = tree.withSnapshotNode(id) { node in
                guard let node else { return nil }
                // The root's path is ""; below it, the parent's path, "/", the name.
                path.removeSubrange(max(0, base)...)
                if base >= 0 {
                    path.append(UInt8(ascii: "/"))
                    path.append(contentsOf: node.name)
                }
                path.withUnsafeBytes { w.writeBuffer(borrowing: $0) }  // a ustring is encoded as a buffer
                w.writeBuffer(borrowing: node.data)
                w.writeLong(node.aclIndex)
                node.stat.encode(to: &w)
                return node.children
            }
            // Children in the order Apache would write them (its HashSet order), depth first.
            if let children, !children.isEmpty { stack.append((path.count, children, 0)) }
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

/// Reads a snapshot file into a new tree, a window of the file at a time (`SnapshotSource`): loading
/// holds the tree and one window, not the tree and the whole file (a 1 GB snapshot of 5,000,000
/// znodes made the loading peak twice the loaded tree).
public enum SnapshotReader {
    public struct Loaded {
        public var tree: DataTree
        public var sessions: [(SessionID, Int32)]
        /// From the digest section, when present (3.6+ servers write it).
        public var digestZxid: Zxid?
    }

    /// A snapshot already in memory.
    public static func read(_ bytes: [UInt8], snapshotZxid: Zxid, extendedTypesEnabled: Bool) throws(SnapshotError) -> Loaded {
        guard SnapshotFormat.looksComplete(bytes) else { throw SnapshotError("incomplete snapshot (no seal at the end)") }
        var source = SnapshotSource(bytes)
        return try read(&source, snapshotZxid: snapshotZxid, extendedTypesEnabled: extendedTypesEnabled)
    }

    /// The snapshot file at `path`, read in windows of `windowBytes`.
    public static func read(path: String, disk: Disk, snapshotZxid: Zxid, extendedTypesEnabled: Bool,
                            windowBytes: Int = SnapshotSource.defaultWindowBytes) throws(SnapshotError) -> Loaded {
        let size: Int
        do {
            size = Int(try disk.size(path))
            guard size >= 10, try disk.read(path, at: size - 5, count: 5) == SnapshotFormat.trailer else {
                throw SnapshotError("incomplete snapshot (no seal at the end)")
            }
        } catch let error as SnapshotError {
            throw error
        } catch {
            throw SnapshotError("cannot read: \(error)")
        }
        var source = SnapshotSource(size: size, windowBytes: windowBytes) { offset, count in try disk.read(path, at: offset, count: count) }
        return try read(&source, snapshotZxid: snapshotZxid, extendedTypesEnabled: extendedTypesEnabled)
    }

    private static func read(_ source: inout SnapshotSource, snapshotZxid: Zxid, extendedTypesEnabled: Bool) throws(SnapshotError) -> Loaded {
        do {
            let (magic, version) = try source.record { r in (try r.readInt(), try r.readInt()) }
            guard magic == SnapshotFormat.magic else { throw SnapshotError("not a snapshot (bad magic)") }
            guard version == SnapshotFormat.version else { throw SnapshotError("unsupported snapshot version \(version)") }
            _ = try source.record { r in try r.readLong() }
            let sessions = try readSessions(&source)
            let tree = DataTree.forLoading(extendedTypesEnabled: extendedTypesEnabled)
            try readACLs(&source, into: tree)
            try readNodes(&source, into: tree)
            try checkSeal(&source)
            let digestZxid = try readDigest(&source)
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

    private static func readSessions(_ source: inout SnapshotSource) throws -> [(SessionID, Int32)] {
        let count = Int(try source.record { r in try r.readInt() })
        guard count >= 0, count <= source.fileRemaining / 12 else { throw SnapshotError("bad session count \(count)") }
        var sessions: [(SessionID, Int32)] = []
        sessions.reserveCapacity(count)
        for _ in 0..<count { sessions.append(try source.record { r in (SessionID(try r.readLong()), try r.readInt()) }) }
        return sessions
    }

    private static func readACLs(_ source: inout SnapshotSource, into tree: DataTree) throws {
        let count = Int(try source.record { r in try r.readInt() })
        guard count >= 0, count <= source.fileRemaining / 12 else { throw SnapshotError("bad ACL cache size \(count)") }
        for _ in 0..<count {
            let (index, acl) = try source.record { r in (try r.readLong(), try r.readVector(ACL.self) ?? []) }
            tree.loadACL(index: index, acl: acl)
        }
    }

    private static func readNodes(_ source: inout SnapshotSource, into tree: DataTree) throws {
        while true {
            let node = try source.record { r -> (String, [UInt8]?, Int64, StatPersisted)? in
                let path = try r.readNonNullString()
                if path == "/" { return nil }
                return (path, try r.readBuffer(), try r.readLong(), try StatPersisted(from: &r))
            }
            guard let (path, data, aclIndex, stat) = node else { return }
            try tree.load(path: path, data: data, aclIndex: aclIndex, stat: stat)
        }
    }

    /// The seal: the Adler-32 of everything before it, then "/".
    private static func checkSeal(_ source: inout SnapshotSource) throws {
        let expected = source.checksumBeforePosition()
        let (stored, marker) = try source.record { r in (try r.readLong(), try r.readNonNullString()) }
        guard marker == "/" else { throw SnapshotError("bad seal marker") }
        guard stored == Int64(expected) else { throw SnapshotError("CRC corruption in snapshot") }
    }

    private static func readDigest(_ source: inout SnapshotSource) throws -> Zxid? {
        guard source.fileRemaining > 0 else { return nil }
        let zxid = try source.record { r -> Zxid in
            let zxid = Zxid(try r.readLong())
            // Digest version 1 (3.6.0) stored the digest as a hex string, later versions as a long.
            if try r.readInt() < 2 { _ = try r.readString() } else { _ = try r.readLong() }
            return zxid
        }
        try checkSeal(&source)
        return zxid
    }
}

/// A snapshot file as a sequence of records, read a window at a time. A record is parsed from the
/// window; one that runs past it (a truncated read) is parsed again once the window has moved on and
/// been refilled (and grown, for a record larger than a window). The Adler-32 of the file is kept
/// over the bytes consumed, for the seals.
public struct SnapshotSource {
    public static let defaultWindowBytes = 4 << 20
    private let windowBytes: Int
    private let fetch: ((Int, Int) throws -> [UInt8])?
    private let size: Int
    private var window: [UInt8]
    /// The file offset of `window[0]`.
    private var windowStart = 0
    private var position = 0
    private var checksum = Adler32()
    /// `window[..<checksummed]` is in `checksum`.
    private var checksummed = 0
    private let limits: Limits

    init(_ bytes: [UInt8]) {
        window = bytes
        size = bytes.count
        fetch = nil
        windowBytes = bytes.count
        limits = SnapshotSource.readerLimits
    }

    init(size: Int, windowBytes: Int, fetch: @escaping (Int, Int) throws -> [UInt8]) {
        window = []
        self.windowBytes = max(1, windowBytes)
        self.size = size
        self.fetch = fetch
        limits = SnapshotSource.readerLimits
    }

    /// A snapshot's strings and buffers may be as large as Apache writes them; the file's own size
    /// bounds them.
    private static var readerLimits: Limits {
        var limits = Limits()
        limits.packetSizeBytesMax = Int(Int32.max / 2)
        limits.vectorElementsMax = Int(Int32.max)
        return limits
    }

    var fileRemaining: Int { size - windowStart - position }

    mutating func record<T>(_ parse: (inout JuteReader) throws -> T) throws -> T {
        while true {
            switch attempt(parse) {
            case .success(let (value, end)):
                position = end
                return value
            case .failure(let error):
                guard case JuteError.truncated = error, windowStart + window.count < size, let fetch else { throw error }
                try refill(fetch)
            }
        }
    }

    /// One parse from the current position; the reader (and its hold on the window) ends here.
    private func attempt<T>(_ parse: (inout JuteReader) throws -> T) -> Result<(T, Int), Error> {
        var r = JuteReader(window, offset: position, limits: limits)
        do {
            let value = try parse(&r)
            return .success((value, r.offset))
        } catch {
            return .failure(error)
        }
    }

    private mutating func refill(_ fetch: (Int, Int) throws -> [UInt8]) throws {
        checksum.update(window[checksummed..<position])
        window.removeSubrange(0..<position)
        windowStart += position
        position = 0
        checksummed = 0
        let loaded = windowStart + window.count
        let count = min(size - loaded, max(windowBytes, window.count))
        let more = try fetch(loaded, count)
        guard !more.isEmpty else { throw SnapshotError("the snapshot file ended early") }
        window.append(contentsOf: more)
    }

    /// The Adler-32 of every byte before the current position.
    mutating func checksumBeforePosition() -> UInt32 {
        checksum.update(window[checksummed..<position])
        checksummed = position
        return checksum.value
    }
}
