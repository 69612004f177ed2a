// The fuzz targets. Each takes bytes as they would arrive from a client, a peer or a disk and runs
// them through the production decoder and, where the decoder feeds a state machine, through that
// state machine too: a decoder that accepts garbage is only half the question. A target never
// checks *what* is decoded; it checks that nothing traps (a Swift runtime check, an `invariant`,
// AddressSanitizer) and that the structures built stay consistent.
import ZKCore
import ZKProtocol
import ZKDataTree
import ZKStorage
import ZKZab
import ZKReplica
import ZKServer

struct FuzzTarget: Sendable {
    let name: String
    let summary: String
    let run: @Sendable ([UInt8]) -> Void

    nonisolated(unsafe) static var selected = all[0]

    static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }

    static let all: [FuzzTarget] = [
        FuzzTarget(name: "client", summary: "a client connection's bytes into a standalone Replica (framing, four-letter words, every request record)", run: clientConnection),
        FuzzTarget(name: "quorum", summary: "a quorum-port stream into a ZabLeader (from a learner) and a ZabLearner (from the leader), payloads decoded", run: quorumStream),
        FuzzTarget(name: "election", summary: "an election-port stream: the 3888 handshake, then notifications into FastLeaderElection", run: electionStream),
        FuzzTarget(name: "txnlog", summary: "a transaction log file, and the bytes as one txn record", run: txnLog),
        FuzzTarget(name: "snapshot", summary: "a snapshot file loaded into a DataTree, whose structure is then checked", run: snapshot),
        FuzzTarget(name: "config", summary: "zoo.cfg text and a myid file", run: configFiles),
    ]
}

// MARK: Client port

private let clientClock = Clock(monotonicMs: 10_000, wallMs: 1_700_000_000_000)

/// One connection: its bytes split by the shell's `FrameDecoder`, each event given to the replica,
/// every txn it logs reported durable at once (so writes are applied and answered), and the input
/// stops where the replica closes the connection, as the shell would.
@Sendable func clientConnection(_ bytes: [UInt8]) {
    var config = ReplicaConfig()
    config.limits.packetSizeBytesMax = 1 << 16
    var clock = clientClock
    let replica = Replica(config: config, now: clock)
    let connection = ConnectionID(1)
    replica.handle(.connected(connection, RemoteAddress(ip: "127.0.0.1", port: 40001)), now: clock)
    var decoder = FrameDecoder(frameSizeBytesMax: config.limits.packetSizeBytesMax)
    decoder.append(bytes)
    var open = true
    while open {
        let event: FrameEvent?
        do { event = try decoder.next() } catch { break }
        guard let event else { break }
        switch event {
        case .frame(let payload): replica.handle(.frame(connection, payload), now: clock)
        case .fourLetterWord(let word, let argument):
            replica.handle(.fourLetterWord(connection, word, argument: argument, host: HostSnapshot()), now: clock)
            open = false
        case .telnetClose: open = false
        }
        var logged: Zxid?
        for effect in replica.takeEffects() {
            switch effect {
            case .persist(.append(let zxid, _)): logged = zxid
            case .close(connection): open = false
            default: continue
            }
        }
        if let logged { replica.handle(.logSynced(through: logged), now: clock) }
        clock.monotonicMs += 7
        clock.wallMs += 7
        replica.handle(.tick, now: clock)
        _ = replica.takeEffects()
    }
    replica.handle(.disconnected(connection), now: clock)
    _ = replica.takeEffects()
}

// MARK: Quorum port

private let members = (1...3).map { QuorumMember(id: ServerID(Int64($0)), host: "10.0.0.\($0)", quorumPort: 2888, electionPort: 3888) }
private let timing = ZabTiming(tickTimeMs: 2000, initLimitTicks: 10, syncLimitTicks: 5)
/// Both sides have history: epoch 3, txns up to 0x300000005, the leader's last three committed.
private let history = ZabHistory(
    acceptedEpoch: Epoch(3), currentEpoch: Epoch(3),
    lastLoggedZxid: Zxid(epoch: Epoch(3), counter: 5), lastProcessedZxid: Zxid(epoch: Epoch(3), counter: 5),
    committedLog: (3...5).map { Proposal(zxid: Zxid(epoch: Epoch(3), counter: UInt32($0)), data: [0, 0, 0, UInt8($0)]) })

/// The packets of a quorum stream, and each packet's payload decoded by the record its type carries.
@Sendable func quorumStream(_ bytes: [UInt8]) {
    var limits = Limits()
    limits.packetSizeBytesMax = 1 << 16
    var decoder = QuorumPacketDecoder(limits: limits)
    decoder.append(bytes[...])
    var packets: [QuorumPacket] = []
    while packets.count < 256, let packet = try? decoder.next() { packets.append(packet) }
    for packet in packets { decodePayload(packet) }
    asLeader(packets)
    asLearner(packets)
}

private func decodePayload(_ packet: QuorumPacket) {
    switch packet.type {
    case .followerInfo, .observerInfo, .leaderInfo: _ = try? LearnerInfo(decoding: packet.data ?? [])
    case .ackEpoch, .newLeader: _ = try? QuorumInt.decode(packet.data)
    case .request: _ = try? ForwardedRequest(decoding: packet.data ?? [])
    case .ping: _ = try? SessionTouch.decodeAll(packet.data)
    case .revalidate: _ = try? RevalidateReply(decoding: packet.data)
    case .proposal, .inform: _ = try? TxnEntry.decode(packet.data ?? [])
    default: break
    }
}

/// A leader of three with one learner sending `packets`; once established it proposes two txns.
private func asLeader(_ packets: [QuorumPacket]) {
    var effects: [LeaderEffect] = []
    var nowMs: Int64 = 1_000
    var leader = ZabLeader(myID: ServerID(1), verifier: QuorumVerifier(members: members), timing: timing,
                           history: history, nowMs: nowMs, into: &effects)
    let learner = LearnerID(1)
    leader.learnerConnected(learner, nowMs: nowMs)
    var proposed = false
    for packet in packets {
        leader.received(packet, from: learner, nowMs: nowMs, into: &effects)
        let open = settle(&effects) { effect, more in
            switch effect {
            case .persistEpoch(let kind, let epoch): leader.epochPersisted(kind, epoch, nowMs: nowMs, into: &more)
            case .established where !proposed:
                proposed = true
                for _ in 0..<2 {
                    guard let zxid = leader.nextZxid() else { break }
                    leader.propose(Proposal(zxid: zxid, data: [1, 2, 3]), nowMs: nowMs, into: &more)
                    leader.durable(through: zxid, nowMs: nowMs, into: &more)
                }
            case .close(learner, _): return false
            default: break
            }
            return true
        }
        guard open else { return }
        nowMs += 100
        leader.tick(nowMs: nowMs, into: &effects)
    }
}

/// A follower of server 1 receiving `packets` from it, its disk acknowledging everything at once.
private func asLearner(_ packets: [QuorumPacket]) {
    var effects: [LearnerEffect] = []
    var nowMs: Int64 = 1_000
    var learner = ZabLearner(myID: ServerID(2), leaderID: ServerID(1), isObserver: false, timing: timing,
                             history: history, nowMs: nowMs)
    learner.connected(nowMs: nowMs, into: &effects)
    for packet in packets {
        learner.received(packet, nowMs: nowMs, into: &effects)
        let open = settle(&effects) { effect, more in
            switch effect {
            case .persistEpoch(let kind, let epoch): learner.epochPersisted(kind, epoch, into: &more)
            case .append(let proposal): learner.durable(through: proposal.zxid, into: &more)
            case .truncateLog: learner.truncated(into: &more)
            case .receiveSnapshot: learner.snapshotInstalled(into: &more)
            case .lookAgain: return false
            default: break
            }
            return true
        }
        guard open else { return }
        nowMs += 100
        learner.tick(nowMs: nowMs, into: &effects)
    }
}

/// Carries out `effects`, and the effects that produces, for at most eight rounds (a bound on two
/// state machines answering each other forever); what is left is dropped. `carryOut` returns false
/// when the connection ends. Returns false then.
private func settle<Effect>(_ effects: inout [Effect], _ carryOut: (Effect, inout [Effect]) -> Bool) -> Bool {
    for _ in 0..<8 where !effects.isEmpty {
        let pending = effects
        effects.removeAll()
        for effect in pending where !carryOut(effect, &effects) { return false }
    }
    effects.removeAll()
    return true
}

// MARK: Election port

/// The bytes a server receives on an incoming 3888 connection: the handshake, then length-prefixed
/// notifications, each decoded and given to server 1's election.
@Sendable func electionStream(_ bytes: [UInt8]) {
    let handshake: (ElectionHandshake, Int)?
    do { handshake = try ElectionHandshake.decode(bytes[...]) } catch { return }
    guard let (_, used) = handshake else { return }
    let frames = ElectionFrames.split(bytes[used...])
    var election = FastLeaderElection(config: ElectionConfig(myID: ServerID(1), verifier: QuorumVerifier(members: members)))
    var effects: [ElectionEffect] = []
    var nowMs: Int64 = 1_000
    election.startLooking(lastLoggedZxid: Zxid(epoch: Epoch(3), counter: 5), currentEpoch: Epoch(3), nowMs: nowMs, into: &effects)
    for (i, body) in frames.bodies.enumerated() {
        guard let notification = try? Notification(decoding: body) else { continue }
        // Alternate senders so that a quorum of agreeing votes is reachable.
        election.received(notification, from: ServerID(Int64(2 + i % 2)), nowMs: nowMs, into: &effects)
        nowMs += 50
        election.timeout(nowMs: nowMs, into: &effects)
        effects.removeAll()
    }
}

// MARK: Files

/// A txn log file as recovery parses it, every good record decoded; and the whole input as one
/// record, since the log's checksums keep mutated records from reaching the decoder.
@Sendable func txnLog(_ bytes: [UInt8]) {
    let parsed = TxnLogFormat.parse(bytes)
    for record in parsed.records { _ = try? TxnEntry.decode(record.txn) }
    _ = try? TxnEntry.decode(bytes)
}

/// A snapshot file loaded as recovery loads it; a tree that loads must pass its own structure check.
@Sendable func snapshot(_ bytes: [UInt8]) {
    guard let loaded = try? SnapshotReader.read(bytes, snapshotZxid: Zxid(0x1_0000_0005), extendedTypesEnabled: false) else { return }
    if let problem = loaded.tree.checkStructure() {
        fatalError("a snapshot loaded into an inconsistent tree: \(problem)")
    }
}

/// zoo.cfg as the server reads it at startup, and the same text as a myid file.
@Sendable func configFiles(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    _ = ConfigParser.parse(text, source: "zoo.cfg")
    _ = ConfigParser.parseMyID(fileContents: text)
}
