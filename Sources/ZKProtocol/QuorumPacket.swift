/// The quorum port's (2888) wire format: jute `QuorumPacket` records written back to back on the TCP
/// stream, with no length prefix (`Learner.writePacket`, `LearnerHandler`), and the payloads each packet
/// type carries (`Leader.java` constants, `Learner.java`, `LearnerHandler.java`).
import ZKCore

/// `Leader.java`'s packet type constants.
public enum QuorumPacketType: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case request = 1
    case proposal = 2
    case ack = 3
    case commit = 4
    case ping = 5
    case revalidate = 6
    case sync = 7
    case inform = 8
    case commitAndActivate = 9
    case newLeader = 10
    case followerInfo = 11
    case upToDate = 12
    case diff = 13
    case trunc = 14
    case snap = 15
    case observerInfo = 16
    case leaderInfo = 17
    case ackEpoch = 18
    case informAndActivate = 19

    /// The names Apache's logs use (`LearnerHandler.packetToString`).
    public var description: String {
        switch self {
        case .request: return "REQUEST"
        case .proposal: return "PROPOSAL"
        case .ack: return "ACK"
        case .commit: return "COMMIT"
        case .ping: return "PING"
        case .revalidate: return "REVALIDATE"
        case .sync: return "SYNC"
        case .inform: return "INFORM"
        case .commitAndActivate: return "COMMITANDACTIVATE"
        case .newLeader: return "NEWLEADER"
        case .followerInfo: return "FOLLOWERINFO"
        case .upToDate: return "UPTODATE"
        case .diff: return "DIFF"
        case .trunc: return "TRUNC"
        case .snap: return "SNAP"
        case .observerInfo: return "OBSERVERINFO"
        case .leaderInfo: return "LEADERINFO"
        case .ackEpoch: return "ACKEPOCH"
        case .informAndActivate: return "INFORMANDACTIVATE"
        }
    }
}

/// `QuorumPacket { int type; long zxid; buffer data; vector<Id> authinfo }`.
public struct QuorumPacket: Sendable, Equatable {
    public var type: QuorumPacketType
    public var zxid: Zxid
    /// nil is written as length -1 (Apache sends null data for ACK, COMMIT, UPTODATE, …).
    public var data: [UInt8]?
    /// The client's auth ids, on REQUEST only; nil is written as count -1.
    public var authInfo: [Id]?

    public init(_ type: QuorumPacketType, zxid: Zxid, data: [UInt8]? = nil, authInfo: [Id]? = nil) {
        self.type = type
        self.zxid = zxid
        self.data = data
        self.authInfo = authInfo
    }

    public func encode(to w: inout JuteWriter) {
        w.writeInt(type.rawValue)
        w.writeLong(zxid.rawValue)
        w.writeBuffer(data)
        w.writeVector(authInfo)
    }

    public func serialized() -> [UInt8] {
        var w = JuteWriter(capacity: 24 + (data?.count ?? 0))
        encode(to: &w)
        return w.bytes
    }

    /// Decodes one packet; an unknown type is an error (the stream cannot be resynchronized).
    public init(from r: inout JuteReader) throws {
        let rawType = try r.readInt()
        guard let type = QuorumPacketType(rawValue: rawType) else {
            throw JuteError.invalidValue("quorum packet type \(rawType)")
        }
        self.type = type
        zxid = Zxid(try r.readLong())
        data = try r.readBuffer()
        authInfo = try r.readVector(Id.self)
    }
}

/// Cuts the quorum stream into packets. Bytes are appended as they arrive; `next()` returns each whole
/// packet once all its bytes are in, and throws on bytes that cannot be a packet (the connection must
/// then be closed: there is no framing to resynchronize on). Lengths are checked before anything is
/// buffered for them, so a peer cannot make this grow past one packet of `packetBytesMax`.
public struct QuorumPacketDecoder: Sendable {
    private var buffer: [UInt8] = []
    private var head = 0
    private let limits: Limits

    public init(limits: Limits) {
        self.limits = limits
    }

    /// The largest data buffer accepted (`jute.maxbuffer` plus its extra size, as Apache's
    /// `BinaryInputArchive.checkLength`).
    public var dataBytesMax: Int { limits.packetSizeBytesMax + limits.juteExtraSizeBytes }

    public var bufferedBytes: Int { buffer.count - head }

    public mutating func append(_ bytes: ArraySlice<UInt8>) {
        if head > 0 && head == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            head = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next whole packet, or nil when more bytes are needed.
    public mutating func next() throws -> QuorumPacket? {
        guard let length = try wholePacketLength() else { return nil }
        var r = JuteReader(Array(buffer[head..<(head + length)]), limits: limits)
        let packet = try QuorumPacket(from: &r)
        invariant(r.isAtEnd, "quorum packet length \(length) disagrees with its decoding")
        consume(length)
        return packet
    }

    /// Takes up to `count` raw bytes that follow the last packet (the snapshot stream after SNAP).
    public mutating func takeRaw(upTo count: Int) -> ArraySlice<UInt8> {
        let n = min(count, bufferedBytes)
        let slice = buffer[head..<(head + n)]
        consume(n)
        return slice
    }

    private mutating func consume(_ n: Int) {
        head += n
        if head == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 64 * 1024 && head * 2 > buffer.count {
            buffer.removeFirst(head)
            head = 0
        }
    }

    /// The byte length of the packet at `head` if all of it is buffered; nil if not yet.
    private func wholePacketLength() throws -> Int? {
        var at = head
        guard let rawType = int32(at) else { return nil }
        guard QuorumPacketType(rawValue: rawType) != nil else {
            throw JuteError.invalidValue("quorum packet type \(rawType)")
        }
        at += 4 + 8
        guard let dataLength = int32(at) else { return nil }
        at += 4
        if dataLength < -1 || Int(dataLength) > dataBytesMax { throw JuteError.unreasonableLength(Int(dataLength)) }
        if dataLength > 0 { at += Int(dataLength) }
        guard let count = int32(at) else { return nil }
        at += 4
        if count < -1 || Int(count) > limits.vectorElementsMax { throw JuteError.tooManyElements(Int(count)) }
        for _ in 0..<max(0, Int(count)) {
            for _ in 0..<2 {  // Id { ustring scheme; ustring id }
                guard let n = int32(at) else { return nil }
                at += 4
                if n < -1 || Int(n) > dataBytesMax { throw JuteError.unreasonableLength(Int(n)) }
                if n > 0 { at += Int(n) }
            }
        }
        return at <= buffer.count ? at - head : nil
    }

    private func int32(_ at: Int) -> Int32? {
        guard at + 4 <= buffer.count else { return nil }
        return Int32(bitPattern: UInt32(buffer[at]) << 24 | UInt32(buffer[at + 1]) << 16 | UInt32(buffer[at + 2]) << 8 | UInt32(buffer[at + 3]))
    }
}

// MARK: Payloads

/// `LearnerInfo { long serverid; int protocolVersion; long configVersion }`, the data of FOLLOWERINFO
/// and OBSERVERINFO. The leader reads it by hand and accepts the shorter forms older learners send.
public struct LearnerInfo: Sendable, Equatable {
    /// `Leader.VERSION` / `Learner`'s protocol version: 0x10000 (Zab 1.0).
    public static let protocolVersion: Int32 = 0x10000

    public var serverID: ServerID
    public var protocolVersion: Int32
    public var configVersion: Int64

    public init(serverID: ServerID, protocolVersion: Int32 = LearnerInfo.protocolVersion, configVersion: Int64) {
        self.serverID = serverID
        self.protocolVersion = protocolVersion
        self.configVersion = configVersion
    }

    public func serialized() -> [UInt8] {
        var w = JuteWriter(capacity: 20)
        w.writeLong(serverID.rawValue)
        w.writeInt(protocolVersion)
        w.writeLong(configVersion)
        return w.bytes
    }

    /// 8 bytes: the sid only (protocol 0x0); 12: and the version; 20: and the config version
    /// (`LearnerHandler.run`).
    public init(decoding bytes: [UInt8]) throws {
        var r = JuteReader(bytes)
        serverID = ServerID(try r.readLong())
        protocolVersion = bytes.count >= 12 ? try r.readInt() : 0
        configVersion = bytes.count >= 20 ? try r.readLong() : 0
    }
}

/// The 4-byte int payloads: LEADERINFO's protocol version and ACKEPOCH's current epoch (-1 when the
/// follower had already accepted the proposed epoch).
public enum QuorumInt {
    public static func encode(_ value: Int32) -> [UInt8] {
        var w = JuteWriter(capacity: 4)
        w.writeInt(value)
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8]?) throws -> Int32 {
        guard let bytes, bytes.count >= 4 else { throw JuteError.truncated(needed: 4, remaining: bytes?.count ?? 0) }
        var r = JuteReader(bytes)
        return try r.readInt()
    }
}

/// REQUEST's data: `long sessionId, int cxid, int type`, then the request record's bytes as the client
/// sent them (`Learner.request`).
public struct ForwardedRequest: Sendable, Equatable {
    public var session: SessionID
    public var cxid: Int32
    public var opCode: Int32
    public var record: [UInt8]

    public init(session: SessionID, cxid: Int32, opCode: Int32, record: [UInt8]) {
        self.session = session
        self.cxid = cxid
        self.opCode = opCode
        self.record = record
    }

    public func serialized() -> [UInt8] {
        var w = JuteWriter(capacity: 16 + record.count)
        w.writeLong(session.rawValue)
        w.writeInt(cxid)
        w.writeInt(opCode)
        w.bytes.append(contentsOf: record)
        return w.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var r = JuteReader(bytes)
        session = SessionID(try r.readLong())
        cxid = try r.readInt()
        opCode = try r.readInt()
        record = r.readRest()
    }
}

/// A session and its timeout: PING replies carry a list of these (the sessions a learner's clients
/// touched since the last ping), and REVALIDATE from a learner carries one.
public struct SessionTouch: Sendable, Equatable {
    public var session: SessionID
    public var timeoutMs: Int32

    public init(session: SessionID, timeoutMs: Int32) {
        self.session = session
        self.timeoutMs = timeoutMs
    }

    public static func serialize(_ touches: [SessionTouch]) -> [UInt8] {
        var w = JuteWriter(capacity: touches.count * 12)
        for touch in touches {
            w.writeLong(touch.session.rawValue)
            w.writeInt(touch.timeoutMs)
        }
        return w.bytes
    }

    /// A learner's PING data: 12-byte entries to the end (none when the data is null or empty).
    public static func decodeAll(_ bytes: [UInt8]?) throws -> [SessionTouch] {
        guard let bytes, !bytes.isEmpty else { return [] }
        guard bytes.count % 12 == 0 else { throw JuteError.invalidValue("ping data of \(bytes.count) bytes (not whole session entries)") }
        var r = JuteReader(bytes)
        var touches: [SessionTouch] = []
        touches.reserveCapacity(bytes.count / 12)
        while !r.isAtEnd {
            touches.append(SessionTouch(session: SessionID(try r.readLong()), timeoutMs: try r.readInt()))
        }
        return touches
    }
}

/// The leader's answer to REVALIDATE: `long sessionId, boolean valid` (`Leader.revalidateSession` via
/// `LearnerHandler`).
public struct RevalidateReply: Sendable, Equatable {
    public var session: SessionID
    public var valid: Bool

    public init(session: SessionID, valid: Bool) {
        self.session = session
        self.valid = valid
    }

    public func serialized() -> [UInt8] {
        var w = JuteWriter(capacity: 9)
        w.writeLong(session.rawValue)
        w.writeBool(valid)
        return w.bytes
    }

    public init(decoding bytes: [UInt8]?) throws {
        var r = JuteReader(bytes ?? [])
        session = SessionID(try r.readLong())
        valid = try r.readBool()
    }
}
