/// The election port's (3888) wire format (`QuorumCnxManager`, `FastLeaderElection`): the initial
/// message a connecting server sends, then length-prefixed messages, each a notification.
import ZKCore

/// `QuorumPeer.ServerState`, as its ordinal travels in a notification.
public enum PeerState: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case looking = 0
    case following = 1
    case leading = 2
    case observing = 3

    /// As Apache's logs and `srvr`'s `Mode:` line spell it (upper case in logs).
    public var description: String {
        switch self {
        case .looking: return "LOOKING"
        case .following: return "FOLLOWING"
        case .leading: return "LEADING"
        case .observing: return "OBSERVING"
        }
    }
}

/// What a server writes first on an election connection it opened (`QuorumCnxManager.InitialMessage`):
/// `long protocolVersion, long sid, int addressLength, bytes address` (`host:port` of its election
/// address). Servers older than 3.5 send the sid alone, as the first long (which is then ≥ 0).
public struct ElectionHandshake: Sendable, Equatable {
    /// `PROTOCOL_VERSION_V1`: one address. V2 (-65535) carries `a|b|…` for multi-address setups.
    public static let protocolVersion1: Int64 = -65536
    public static let protocolVersion2: Int64 = -65535
    /// `QuorumCnxManager.maxBuffer`: the longest address string accepted.
    public static let addressBytesMax = 2048

    public var serverID: ServerID
    /// The sender's election address(es); empty for the bare-sid form.
    public var addresses: [String]

    public init(serverID: ServerID, address: String) {
        self.serverID = serverID
        addresses = [address]
    }

    /// The V1 form (what Apache sends unless multi-address is enabled).
    public func serialized() -> [UInt8] {
        let address = Array((addresses.first ?? "").utf8)
        var w = JuteWriter(capacity: 20 + address.count)
        w.writeLong(ElectionHandshake.protocolVersion1)
        w.writeLong(serverID.rawValue)
        w.writeInt(Int32(address.count))
        w.bytes.append(contentsOf: address)
        return w.bytes
    }

    public enum DecodeError: Error, Equatable, CustomStringConvertible {
        case unknownProtocolVersion(Int64)
        case unreasonableAddressLength(Int32)
        case badAddress(String)

        public var description: String {
            switch self {
            case .unknownProtocolVersion(let v): return "Got unrecognized protocol version \(v)"
            case .unreasonableAddressLength(let n): return "Unreasonable buffer length: \(n)"
            case .badAddress(let a): return "Badly formed address: \(a)"
            }
        }
    }

    /// Decodes the handshake at the start of `bytes`: nil while incomplete, else the handshake and the
    /// number of bytes it took.
    public static func decode(_ bytes: ArraySlice<UInt8>) throws(DecodeError) -> (ElectionHandshake, Int)? {
        guard let first = long(bytes, 0) else { return nil }
        if first >= 0 { return (ElectionHandshake(serverID: ServerID(first), addresses: []), 8) }
        guard first == protocolVersion1 || first == protocolVersion2 else { throw .unknownProtocolVersion(first) }
        guard let sid = long(bytes, 8), let length = int(bytes, 16) else { return nil }
        guard length > 0, Int(length) <= addressBytesMax else { throw .unreasonableAddressLength(length) }
        let start = bytes.startIndex + 20
        guard bytes.count >= 20 + Int(length) else { return nil }
        let text = String(decoding: bytes[start..<(start + Int(length))], as: UTF8.self)
        let addresses = text.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        for address in addresses where !ElectionHandshake.isHostAndPort(address) { throw .badAddress(address) }
        return (ElectionHandshake(serverID: ServerID(sid), addresses: addresses), 20 + Int(length))
    }

    private init(serverID: ServerID, addresses: [String]) {
        self.serverID = serverID
        self.addresses = addresses
    }

    /// `host:port` or `[v6]:port` with a numeric port (`ConfigUtils.getHostAndPort`).
    static func isHostAndPort(_ s: String) -> Bool {
        guard let colon = s.lastIndex(of: ":"), colon != s.startIndex else { return false }
        let host = s[..<colon]
        let port = s[s.index(after: colon)...]
        guard let n = Int(port), n >= 0, n <= 65535 else { return false }
        if host.hasPrefix("[") { return host.hasSuffix("]") && host.count > 2 }
        return !host.contains(":")
    }
}

/// A fast-leader-election notification (`FastLeaderElection.buildMsg` / `WorkerReceiver`).
public struct Notification: Sendable, Equatable {
    /// `Notification.CURRENTVERSION`.
    public static let currentVersion: Int32 = 2
    /// `QuorumCnxManager.PACKETMAXSIZE`: the largest election message accepted.
    public static let messageBytesMax = 512 * 1024

    public var state: PeerState
    /// The proposed leader.
    public var leader: ServerID
    /// The proposed leader's last zxid.
    public var zxid: Zxid
    /// The sender's logical clock (election round).
    public var electionEpoch: Int64
    /// The proposed leader's current epoch.
    public var peerEpoch: Epoch
    /// 0 for the short forms, 2 for the full one.
    public var version: Int32
    /// The sender's quorum verifier string (`QuorumMaj.toString`); nil in the short forms.
    public var config: String?

    public init(state: PeerState, leader: ServerID, zxid: Zxid, electionEpoch: Int64, peerEpoch: Epoch,
                version: Int32 = Notification.currentVersion, config: String?) {
        self.state = state
        self.leader = leader
        self.zxid = zxid
        self.electionEpoch = electionEpoch
        self.peerEpoch = peerEpoch
        self.version = version
        self.config = config
    }

    /// The full (version 2) form: 44 bytes plus the config string.
    public func serialized() -> [UInt8] {
        let configBytes = Array((config ?? "").utf8)
        var w = JuteWriter(capacity: 44 + configBytes.count)
        w.writeInt(state.rawValue)
        w.writeLong(leader.rawValue)
        w.writeLong(zxid.rawValue)
        w.writeLong(electionEpoch)
        w.writeLong(peerEpoch.rawValue)
        w.writeInt(Notification.currentVersion)
        w.writeInt(Int32(configBytes.count))
        w.bytes.append(contentsOf: configBytes)
        return w.bytes
    }

    public enum DecodeError: Error, Equatable, CustomStringConvertible {
        case tooShort(Int)
        case unknownState(Int32)
        case badConfigLength(Int32)

        public var description: String {
            switch self {
            case .tooShort(let n): return "Got a short response: \(n) bytes"
            case .unknownState(let s): return "unknown server state \(s)"
            case .badConfigLength(let n): return "Invalid configLength in notification message: \(n)"
            }
        }
    }

    /// Decodes one message body. As Apache does: 28 bytes lack the peer epoch (taken from the zxid),
    /// exactly 40 bytes are read as having no version (3.4 writes version 1 there), and versions
    /// above 1 carry a config string.
    public init(decoding bytes: [UInt8]) throws(DecodeError) {
        let n = bytes.count
        guard n >= 28 else { throw .tooShort(n) }
        var r = JuteReader(bytes)
        do {
            let rawState = try r.readInt()
            guard let state = PeerState(rawValue: rawState) else { throw DecodeError.unknownState(rawState) }
            self.state = state
            leader = ServerID(try r.readLong())
            zxid = Zxid(try r.readLong())
            electionEpoch = try r.readLong()
            if n == 28 {
                peerEpoch = zxid.epoch
                version = 0
            } else {
                peerEpoch = Epoch(try r.readLong())
                version = n == 40 ? 0 : try r.readInt()
            }
            config = nil
            if version > 1 {
                let length = try r.readInt()
                guard length >= 0, Int(length) <= r.remaining else { throw DecodeError.badConfigLength(length) }
                config = String(decoding: r.readRest().prefix(Int(length)), as: UTF8.self)
            }
        } catch let error as DecodeError {
            throw error
        } catch {
            // Every read above is bounds-checked by `n` except the version's, reached only when n > 40.
            throw .tooShort(n)
        }
    }
}

private func long(_ bytes: ArraySlice<UInt8>, _ at: Int) -> Int64? {
    guard bytes.count >= at + 8 else { return nil }
    var v: UInt64 = 0
    for i in 0..<8 { v = v << 8 | UInt64(bytes[bytes.startIndex + at + i]) }
    return Int64(bitPattern: v)
}

private func int(_ bytes: ArraySlice<UInt8>, _ at: Int) -> Int32? {
    guard bytes.count >= at + 4 else { return nil }
    var v: UInt32 = 0
    for i in 0..<4 { v = v << 8 | UInt32(bytes[bytes.startIndex + at + i]) }
    return Int32(bitPattern: v)
}

/// The election stream after the handshake: `int length` then that many bytes of notification, again
/// and again (`QuorumCnxManager.RecvWorker`).
public enum ElectionFrames {
    public struct Split: Sendable, Equatable {
        /// The complete message bodies, in order.
        public var bodies: [[UInt8]] = []
        /// Bytes used by them; the rest waits for more input.
        public var consumed = 0
        /// A length prefix outside 1…`Notification.messageBytesMax`: the connection must be closed.
        public var badLength: Int32?
    }

    public static func split(_ bytes: ArraySlice<UInt8>) -> Split {
        var split = Split()
        while let length = int(bytes, split.consumed) {
            guard length > 0, Int(length) <= Notification.messageBytesMax else {
                split.badLength = length
                break
            }
            let start = bytes.startIndex + split.consumed + 4
            guard bytes.endIndex - start >= Int(length) else { break }
            split.bodies.append(Array(bytes[start..<(start + Int(length))]))
            split.consumed += 4 + Int(length)
        }
        return split
    }
}
