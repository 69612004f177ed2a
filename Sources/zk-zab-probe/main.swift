/// zk-zab-probe: one Zab peer with no tree, for proving the wire formats against Apache ZooKeeper.
/// It runs the real `FastLeaderElection` on its election port and then the real `ZabLeader` or
/// `ZabLearner` on the quorum port, keeps its log in memory (an append is durable at once), and
/// prints what happens, one event per line, for a test to read:
///
///     ELECTED <leader> <LEADING|FOLLOWING|OBSERVING>   ESTABLISHED <epoch>   SERVING <epoch>
///     COMMIT <zxid hex>   PROPOSED <zxid hex>   LOOK_AGAIN <reason>   STEP_DOWN <reason>
///
/// As a leader it answers forwarded createSession and closeSession requests (the only txns it can
/// prepare without a tree) and, once established, proposes one create of `--create PATH`.
///
/// usage: zk-zab-probe --myid N --server ID=HOST:QUORUM:ELECTION ... [--create /path] [--tick-ms 2000]
import Glibc
import ZKCore
import ZKProtocol
import ZKZab
import ZKPosix

func fail(_ message: String) -> Never {
    print("ERROR \(message)")
    exit(2)
}

struct Options {
    var myID = ServerID(0)
    var members: [QuorumMember] = []
    var createPath: String?
    var tickMs: Int64 = 2000

    init(_ arguments: [String]) {
        var i = 0
        func value() -> String {
            i += 1
            guard i < arguments.count else { fail("missing value after \(arguments[i - 1])") }
            return arguments[i]
        }
        while i < arguments.count {
            switch arguments[i] {
            case "--myid": myID = ServerID(Int64(value()) ?? 0)
            case "--create": createPath = value()
            case "--tick-ms": tickMs = Int64(value()) ?? 2000
            case "--server":
                let text = value()
                let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
                let fields = parts.count == 2 ? parts[1].split(separator: ":").map(String.init) : []
                guard parts.count == 2, let id = Int64(parts[0]), fields.count >= 3, let q = Int(fields[1]), let e = Int(fields[2]) else {
                    fail("bad --server \(text)")
                }
                members.append(QuorumMember(id: ServerID(id), host: fields[0], quorumPort: q, electionPort: e,
                                            role: fields.count > 3 && fields[3] == "observer" ? .observer : .participant))
            default: fail("unknown argument \(arguments[i])")  // over String
            }
            i += 1
        }
        guard members.contains(where: { $0.id == myID }) else { fail("--myid \(myID) has no --server line") }
    }
}

/// A TCP connection with a receive buffer; writes block (the probe sends little).
final class Link {
    let fd: Int32
    var input: [UInt8] = []
    var peer: ServerID?
    init(fd: Int32) { self.fd = fd }
    func write(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = (try? bytes.withUnsafeBytes { try Socket.writeSome(fd, bytes: UnsafeRawBufferPointer(rebasing: $0[offset...])) }) ?? -1
            if n <= 0 { return }
            offset += n
        }
    }
}

let options = Options(Array(CommandLine.arguments.dropFirst()))
let verifier = QuorumVerifier(members: options.members)
let me = verifier.member(options.myID)!
let timing = ZabTiming(tickTimeMs: options.tickMs, initLimitTicks: 10, syncLimitTicks: 5)
let loop = try! EventLoop()
let electionListener = try! TCPListener(host: me.host, port: UInt16(me.electionPort))
try! loop.register(electionListener.fd, interest: .read, token: 1)
var links: [UInt64: Link] = [:]
var nextToken: UInt64 = 100
var electionLinks: [ServerID: Link] = [:]
var pendingNotifications: [ServerID: [Notification]] = [:]
var election = FastLeaderElection(config: ElectionConfig(myID: options.myID, verifier: verifier))
var leader: ZabLeader?
var learner: ZabLearner?
var learnerLink: Link?
var quorumListener: TCPListener?
var decoders: [UInt64: QuorumPacketDecoder] = [:]
var log: [Proposal] = []
var lastZxid = Zxid(0)
var currentEpoch = Epoch(0)
var acceptedEpoch = Epoch(0)
var learnerTokens: [UInt64: LearnerID] = [:]

@MainActor func say(_ line: String) { print(line); fflush(nil) }
@MainActor func register(_ link: Link) -> UInt64 {
    nextToken += 1
    links[nextToken] = link
    try! loop.register(link.fd, interest: .read, token: nextToken)
    return nextToken
}
@MainActor func nowMs() -> Int64 { monotonicMilliseconds() }

// MARK: Election

@MainActor func electionSend(_ n: Notification, to id: ServerID) {
    let body = n.serialized()
    var w = JuteWriter()
    w.writeInt(Int32(body.count))
    w.bytes += body
    if let link = electionLinks[id] { link.write(w.bytes); return }
    pendingNotifications[id, default: []].append(n)
    // Only the larger sid dials (the smaller one would close the connection and dial back).
    guard options.myID > id, let member = verifier.member(id),
          let fd = try? Socket.connect(host: member.host, port: UInt16(member.electionPort)) else { return }
    let link = Link(fd: fd)
    link.peer = id
    link.write(ElectionHandshake(serverID: options.myID, address: me.electionAddress).serialized())
    electionLinks[id] = link
    _ = register(link)
    for queued in pendingNotifications.removeValue(forKey: id) ?? [] { electionSend(queued, to: id) }
}

@MainActor func carryOut(_ effects: [ElectionEffect]) {
    for effect in effects {
        switch effect {
        case .send(let n, let to): electionSend(n, to: to)
        case .elected(let vote, let state):
            say("ELECTED \(vote.leader) \(state)")
            takeRole(vote, state)
        }
    }
}

@MainActor func electionInput(_ link: Link) {
    if link.peer == nil {
        guard let (handshake, used) = try? ElectionHandshake.decode(link.input[...]) else { return }
        link.input.removeFirst(used)
        if handshake.serverID < options.myID { Socket.close(link.fd); return }  // we dial it instead
        link.peer = handshake.serverID
        electionLinks[handshake.serverID] = link
        for queued in pendingNotifications.removeValue(forKey: handshake.serverID) ?? [] { electionSend(queued, to: handshake.serverID) }
    }
    while link.input.count >= 4 {
        let length = Int(UInt32(link.input[0]) << 24 | UInt32(link.input[1]) << 16 | UInt32(link.input[2]) << 8 | UInt32(link.input[3]))
        guard length > 0, length <= Notification.messageBytesMax else { fail("bad election frame length \(length)") }
        guard link.input.count >= 4 + length else { return }
        let body = Array(link.input[4..<(4 + length)])
        link.input.removeFirst(4 + length)
        guard let n = try? Notification(decoding: body) else { say("BAD_NOTIFICATION \(body.count) bytes"); continue }
        say("NOTIFICATION from \(link.peer!) \(n.state) leader \(n.leader) zxid \(n.zxid) round \(n.electionEpoch) epoch \(n.peerEpoch.rawValue) version \(n.version)")
        var effects: [ElectionEffect] = []
        election.received(n, from: link.peer!, nowMs: nowMs(), into: &effects)
        carryOut(effects)
    }
}

// MARK: Roles

@MainActor func currentHistory() -> ZabHistory {
    ZabHistory(acceptedEpoch: acceptedEpoch, currentEpoch: currentEpoch, lastLoggedZxid: lastZxid, lastProcessedZxid: lastZxid, committedLog: [])
}

@MainActor func takeRole(_ vote: Vote, _ state: PeerState) {
    switch state {
    case .leading:
        quorumListener = try! TCPListener(host: me.host, port: UInt16(me.quorumPort))
        try! loop.register(quorumListener!.fd, interest: .read, token: 2)
        var effects: [LeaderEffect] = []
        leader = ZabLeader(myID: options.myID, verifier: verifier, timing: timing, history: currentHistory(), nowMs: nowMs(), into: &effects)
        leaderEffects(effects)
    case .following, .observing:
        let member = verifier.member(vote.leader)!
        var attempts = 0
        var fd: Int32?
        while fd == nil && attempts < 50 {
            fd = try? Socket.connect(host: member.host, port: UInt16(member.quorumPort))
            attempts += 1
            if fd == nil { usleep(100_000) }
        }
        guard let fd else { fail("cannot connect to the leader's quorum port") }
        let link = Link(fd: fd)
        learnerLink = link
        decoders[register(link)] = QuorumPacketDecoder(limits: Limits())
        learner = ZabLearner(myID: options.myID, leaderID: vote.leader, isObserver: state == .observing, timing: timing,
                             history: currentHistory(), nowMs: nowMs())
        var effects: [LearnerEffect] = []
        learner!.connected(nowMs: nowMs(), into: &effects)
        learnerEffects(effects)
    case .looking:
        break
    }
}

@MainActor func learnerEffects(_ effects: [LearnerEffect]) {
    for effect in effects {
        var more: [LearnerEffect] = []
        switch effect {
        case .send(let packet): learnerLink?.write(packet.serialized())
        case .persistEpoch(let kind, let epoch):
            switch kind { case .accepted: acceptedEpoch = epoch; case .current: currentEpoch = epoch }
            learner!.epochPersisted(kind, epoch, into: &more)
        case .append(let proposal):
            log.append(proposal)
            lastZxid = proposal.zxid
            learner!.durable(through: proposal.zxid, into: &more)
        case .truncateLog(let zxid):
            log.removeAll { $0.zxid > zxid }
            lastZxid = zxid
            learner!.truncated(into: &more)
        case .receiveSnapshot: fail("SNAP is not supported by the probe")
        case .commit(let zxid): say("COMMIT \(zxid)")
        case .serving(let epoch):
            say("SERVING \(epoch.rawValue)")
            election.updateElectionVote(peerEpoch: epoch)
        case .revalidated, .syncCompleted: break
        case .lookAgain(let reason):
            say("LOOK_AGAIN \(reason)")
            exit(1)
        }
        learnerEffects(more)
    }
}

@MainActor func propose(_ txn: Txn, session: SessionID, cxid: Int32, type: OpCode) {
    guard let zxid = leader!.nextZxid() else { return }
    let entry = TxnEntry(header: TxnHeader(clientId: session.rawValue, cxid: cxid, zxid: zxid.rawValue, time: wallClockMilliseconds(), type: type.rawValue), txn: txn)
    let proposal = Proposal(zxid: zxid, data: entry.serialized())
    log.append(proposal)
    lastZxid = zxid
    say("PROPOSED \(zxid)")
    var effects: [LeaderEffect] = []
    leader!.propose(proposal, nowMs: nowMs(), into: &effects)
    leader!.durable(through: zxid, nowMs: nowMs(), into: &effects)
    leaderEffects(effects)
}

@MainActor func leaderEffects(_ effects: [LeaderEffect]) {
    for effect in effects {
        var more: [LeaderEffect] = []
        switch effect {
        case .send(let packet, let to):
            links[learnerTokens.first { $0.value == to }!.key]?.write(packet.serialized())
        case .sendSnapshot: fail("SNAP is not supported by the probe")
        case .close(let id, let reason):
            say("CLOSE \(id) \(reason)")
            if let token = learnerTokens.first(where: { $0.value == id })?.key, let link = links.removeValue(forKey: token) {
                try? loop.unregister(link.fd)
                Socket.close(link.fd)
            }
        case .persistEpoch(let kind, let epoch):
            switch kind { case .accepted: acceptedEpoch = epoch; case .current: currentEpoch = epoch }
            leader!.epochPersisted(kind, epoch, nowMs: nowMs(), into: &more)
        case .commit(let zxid): say("COMMIT \(zxid)")
        case .established(let epoch):
            say("ESTABLISHED \(epoch.rawValue)")
            election.updateElectionVote(peerEpoch: epoch)
            if let path = options.createPath {
                propose(.create(path: path, data: Array("from the swift leader".utf8), acl: [ACL(perms: 31, id: .anyone)], ephemeral: false, parentCVersion: 1),
                        session: SessionID(0), cxid: 0, type: .create)
            }
        case .request(let request, _, _):
            switch request.opCode {
            case OpCode.createSession.rawValue:
                var r = JuteReader(request.record)
                let timeout = (try? r.readInt()) ?? 30_000
                propose(.createSession(timeOutMs: timeout), session: request.session, cxid: request.cxid, type: .createSession)
            case OpCode.closeSession.rawValue:
                propose(.closeSession(ephemeralPaths: []), session: request.session, cxid: request.cxid, type: .closeSession)
            default:
                say("REQUEST \(request.opCode) not supported")  // over Int32
            }
        case .revalidate(let touch, let from): leader!.revalidated(touch.session, valid: true, for: from, into: &more)
        case .touchSessions, .syncReached: break
        case .stepDown(let reason):
            say("STEP_DOWN \(reason)")
            exit(1)
        }
        leaderEffects(more)
    }
}

// MARK: Loop

var effects: [ElectionEffect] = []
election.startLooking(lastLoggedZxid: Zxid(0), currentEpoch: Epoch(0), nowMs: nowMs(), into: &effects)
carryOut(effects)
var events: [EventLoop.Event] = []
var nextTickMs = nowMs() + timing.pingIntervalMs
while true {
    try? loop.wait(timeoutMs: 50, into: &events)
    for event in events {
        switch event.token {
        case 1:
            while let (fd, _) = try? electionListener.accept() {
                Socket.setNonBlocking(fd, false)
                _ = register(Link(fd: fd))
            }
        case 2:
            while let (fd, _) = try? quorumListener!.accept() {
                Socket.setNonBlocking(fd, false)
                let link = Link(fd: fd)
                let token = register(link)
                learnerTokens[token] = LearnerID(token)
                decoders[token] = QuorumPacketDecoder(limits: Limits())
                leader!.learnerConnected(LearnerID(token), nowMs: nowMs())
            }
        default:
            guard let link = links[event.token] else { continue }
            let n = (try? Socket.readAvailable(link.fd, into: &link.input, maxBytes: 65536)) ?? 0
            if n == 0 {
                try? loop.unregister(link.fd)
                Socket.close(link.fd)
                links[event.token] = nil
                if let peer = link.peer, electionLinks[peer] === link { electionLinks[peer] = nil }
                if link === learnerLink { var more: [LearnerEffect] = []; learner!.disconnected(into: &more); learnerEffects(more) }
                if let id = learnerTokens.removeValue(forKey: event.token) { leader?.learnerDisconnected(id) }
                continue
            }
            if var decoder = decoders[event.token] {
                decoder.append(link.input[...])
                link.input.removeAll()
                while true {
                    let packet: QuorumPacket?
                    do { packet = try decoder.next() } catch { fail("bad quorum bytes: \(error)") }
                    guard let packet else { break }
                    if let id = learnerTokens[event.token] {
                        var more: [LeaderEffect] = []
                        leader!.received(packet, from: id, nowMs: nowMs(), into: &more)
                        leaderEffects(more)
                    } else {
                        var more: [LearnerEffect] = []
                        learner!.received(packet, nowMs: nowMs(), into: &more)
                        learnerEffects(more)
                    }
                }
                decoders[event.token] = decoder
            } else {
                electionInput(link)
            }
        }
    }
    let now = nowMs()
    if let deadline = election.deadlineMs, now >= deadline {
        var more: [ElectionEffect] = []
        election.timeout(nowMs: now, into: &more)
        carryOut(more)
    }
    if now >= nextTickMs {
        nextTickMs = now + timing.pingIntervalMs
        var l: [LeaderEffect] = []
        leader?.tick(nowMs: now, into: &l)
        leaderEffects(l)
        var f: [LearnerEffect] = []
        learner?.tick(nowMs: now, into: &f)
        learnerEffects(f)
    }
}
