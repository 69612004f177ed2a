/// The ensemble's membership and what a quorum of it is (`QuorumMaj`): a majority of the voting
/// members. Observers are members that never vote.
import ZKCore

/// One `server.N` entry as Zab needs it.
public struct QuorumMember: Sendable, Equatable {
    public enum Role: String, Sendable, Equatable {
        case participant
        case observer
    }

    public var id: ServerID
    /// Host of the quorum and election ports, as configured (an IPv6 address without brackets).
    public var host: String
    public var quorumPort: Int
    public var electionPort: Int
    public var role: Role
    /// `clientHost:clientPort` when the client address came from the dynamic configuration (it is then
    /// part of the verifier string); nil otherwise.
    public var dynamicClientAddress: String?

    public init(id: ServerID, host: String, quorumPort: Int, electionPort: Int, role: Role = .participant,
                dynamicClientAddress: String? = nil) {
        self.id = id
        self.host = host
        self.quorumPort = quorumPort
        self.electionPort = electionPort
        self.role = role
        self.dynamicClientAddress = dynamicClientAddress
    }

    /// `host` as Apache writes it in addresses: IPv6 in brackets.
    public var delimitedHost: String { host.contains(":") ? "[" + host + "]" : host }

    /// The election address as a connecting server announces it (`host:port`).
    public var electionAddress: String { delimitedHost + ":" + String(electionPort) }

    /// `QuorumServer.toString`: `host:quorumPort:electionPort:role[;client]`.
    public var verifierText: String {
        var text = delimitedHost + ":" + String(quorumPort) + ":" + String(electionPort) + ":" + role.rawValue
        if let dynamicClientAddress { text += ";" + dynamicClientAddress }
        return text
    }
}

public struct QuorumVerifier: Sendable, Equatable {
    /// Members by ascending id (the order `QuorumMaj.toString` writes them in).
    public let members: [QuorumMember]
    /// The configuration version: 0 for a static configuration, then the zxid that activated it.
    public var version: Int64

    public init(members: [QuorumMember], version: Int64 = 0) {
        var byID: [ServerID: QuorumMember] = [:]
        for member in members { byID[member.id] = member }
        self.members = byID.values.sorted { $0.id < $1.id }
        self.version = version
    }

    public var voters: [QuorumMember] { members.filter { $0.role == .participant } }

    public func member(_ id: ServerID) -> QuorumMember? { members.first { $0.id == id } }

    public func isVoter(_ id: ServerID) -> Bool { member(id)?.role == .participant }

    /// A majority of the voting members (`QuorumMaj.containsQuorum`: more than half).
    public func containsQuorum<S: Sequence>(_ ids: S) -> Bool where S.Element == ServerID {
        var counted = Set<ServerID>()
        for id in ids where isVoter(id) { counted.insert(id) }
        return counted.count > voters.count / 2
    }

    /// How many voters make a quorum (`mntr`'s `zk_quorum_size` is the voter count; this is the
    /// majority).
    public var quorumSize: Int { voters.count / 2 + 1 }

    /// `QuorumMaj.toString`: a `server.N=…` line per member, then `version=<hex>` with no newline.
    public var text: String {
        var text = ""
        for member in members {
            text += "server." + String(member.id.rawValue) + "=" + member.verifierText + "\n"
        }
        return text + "version=" + String(UInt64(bitPattern: version), radix: 16)
    }
}
