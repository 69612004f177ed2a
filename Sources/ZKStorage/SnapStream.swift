/// The snapshot a Zab leader sends after SNAP on the quorum stream (`LearnerHandler.syncFollower`,
/// `Learner.syncWithLeader`): the snapshot file's body without its file header, seal or digest,
/// then the ustring "BenWasHere":
///
///     int count, then count × { long sessionId, int timeoutMs }
///     int count, then count × { long aclIndex, vector<ACL> }          the ACL cache
///     repeat { ustring path, buffer data, long aclIndex, StatPersisted }  pre-order, root as ""
///     ustring "/"                                                        end of nodes
///     ustring "BenWasHere"                                               signature
///
/// Nothing on the stream says how long the snapshot is, so `SnapStreamReader` parses it as the
/// bytes arrive and reports where it ended; whatever follows is quorum packets again.
import ZKCore
import ZKProtocol
import ZKDataTree

public enum SnapStream {
    public static let signature = "BenWasHere"

    /// The live tree at its last applied txn, with the session table, in the stream form. The
    /// tree is walked directly (not through a snapshot capture), so the caller serializes it in
    /// one step, between two applied txns.
    public static func serialize(tree: DataTree, sessions: [(SessionID, Int32)]) -> [UInt8] {
        var w = JuteWriter(capacity: 64 * 1024)
        SnapshotFormat.writeSessionsAndACLs(sessions.sorted { $0.0 < $1.0 }, tree, &w)
        var stack: [String] = [""]
        while let path = stack.popLast() {
            guard let node = tree.node(path.isEmpty ? "/" : path) else { continue }
            w.writeString(path)
            node.withData { w.writeBuffer(borrowing: $0) }
            w.writeLong(tree.snapshotACLIndex(node))
            node.stat.encode(to: &w)
            for name in Array(node.children).reversed() { stack.append(path + "/" + name) }
        }
        w.writeString("/")
        w.writeString(signature)
        return w.bytes
    }
}

/// Rebuilds a tree and session table from a SNAP stream, fed in pieces as they arrive.
public struct SnapStreamReader {
    public enum Step: Equatable {
        /// More bytes are needed.
        case needMore
        /// The snapshot ended; this many bytes of the last piece fed followed it.
        case finished(leftover: Int)
    }

    private enum Stage { case sessionCount, sessions(Int), aclCount, acls(Int), nodes, signature, done }

    public let zxid: Zxid
    public private(set) var tree: DataTree
    public private(set) var sessions: [(SessionID, Int32)] = []
    private var stage = Stage.sessionCount
    private var buffer: [UInt8] = []
    private var limits: Limits
    /// One record (a node with its data) is at most this long; a longer "incomplete" record is garbage.
    private let recordBytesMax: Int

    public init(zxid: Zxid, extendedTypesEnabled: Bool, limits: Limits) {
        self.zxid = zxid
        self.limits = limits
        self.limits.vectorElementsMax = Int(Int32.max)
        recordBytesMax = limits.packetSizeBytesMax + 64 * 1024
        tree = DataTree.forLoading(extendedTypesEnabled: extendedTypesEnabled)
    }

    /// Parses what it can of `bytes` (after what came before). Throws for a malformed stream.
    public mutating func feed(_ bytes: ArraySlice<UInt8>) throws(SnapshotError) -> Step {
        guard !isDone else { return .finished(leftover: bytes.count) }
        let before = buffer.count
        buffer.append(contentsOf: bytes)
        var r = JuteReader(buffer, limits: limits)
        var consumed = 0
        do {
            while !isDone {
                try step(&r)
                consumed = r.offset
            }
        } catch JuteError.truncated {
            r = JuteReader(buffer, limits: limits)
            guard buffer.count - consumed <= recordBytesMax else {
                throw SnapshotError("a snapshot record longer than \(recordBytesMax) bytes")
            }
        } catch let error as SnapshotError {
            throw error
        } catch let error as TreeLoadError {
            throw SnapshotError(error.description)
        } catch {
            throw SnapshotError("malformed snapshot stream: \(error)")
        }
        if isDone {
            let leftover = buffer.count - consumed
            buffer = []
            invariant(leftover <= bytes.count, "snapshot leftover \(leftover) beyond the last piece (\(before) buffered before)")
            tree.finishLoading(snapshotZxid: zxid)
            return .finished(leftover: leftover)
        }
        buffer.removeFirst(consumed)
        return .needMore
    }

    private var isDone: Bool { if case .done = stage { return true } else { return false } }

    /// Reads one record; `r` is left after it only when the record was whole.
    private mutating func step(_ r: inout JuteReader) throws {
        switch stage {
        case .sessionCount:
            let count = Int(try r.readInt())
            guard count >= 0 else { throw SnapshotError("bad session count \(count)") }
            stage = .sessions(count)
        case .sessions(let left):
            guard left > 0 else { stage = .aclCount; return }
            let id = SessionID(try r.readLong())
            let timeout = try r.readInt()
            sessions.append((id, timeout))
            stage = .sessions(left - 1)
        case .aclCount:
            let count = Int(try r.readInt())
            guard count >= 0 else { throw SnapshotError("bad ACL cache size \(count)") }
            stage = .acls(count)
        case .acls(let left):
            guard left > 0 else { stage = .nodes; return }
            let index = try r.readLong()
            let acl = try r.readVector(ACL.self) ?? []
            tree.loadACL(index: index, acl: acl)
            stage = .acls(left - 1)
        case .nodes:
            let path = try r.readNonNullString()
            if path == "/" { stage = .signature; return }
            let data = try r.readBuffer()
            let aclIndex = try r.readLong()
            let stat = try StatPersisted(from: &r)
            try tree.load(path: path, data: data, aclIndex: aclIndex, stat: stat)
        case .signature:
            let signature = try r.readNonNullString()
            guard signature == SnapStream.signature else { throw SnapshotError("missing signature after snapshot (got \(signature.prefix(32)))") }
            stage = .done
        case .done:
            break
        }
    }
}
