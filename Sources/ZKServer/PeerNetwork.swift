/// The ensemble's sockets in the server shell: the election port (3888 by convention) with
/// Apache's connection handshake and tie-break, the quorum port (2888) as a leader's listener or a
/// learner's connection to the leader, each link with its own bounded send queue, non-blocking
/// connects retried with backoff and the host name resolved again on every attempt (a
/// StatefulSet pod's DNS name exists only once it is Ready). No protocol decisions: notifications
/// are framed and decoded here; quorum bytes go to the replica as they arrive.
///
/// Tie-break (`QuorumCnxManager`): one election connection per pair of servers, the one the
/// larger id dialed. A smaller id still dials (so the larger one learns it is there); the larger
/// id closes that connection and dials back.
import ZKCore
import ZKProtocol
import ZKZab
import ZKReplica
import ZKPosix

final class PeerLink {
    enum Kind: Equatable {
        /// Accepted on the election port; the handshake says who it is.
        case electionIncoming
        case election(ServerID)
        case learner(LearnerID)
        case leader
    }
    let fd: Int32
    let token: UInt64
    var kind: Kind
    var connecting: Bool
    var input: [UInt8] = []
    var output = OutputQueue()
    var interest: EventLoop.Interest = []
    let description: String

    init(fd: Int32, token: UInt64, kind: Kind, connecting: Bool, description: String) {
        self.fd = fd
        self.token = token
        self.kind = kind
        self.connecting = connecting
        self.description = description
    }
}

final class PeerNetwork {
    static let tokenBase: UInt64 = 1 << 62
    static let electionListenerToken: UInt64 = tokenBase
    static let quorumListenerToken: UInt64 = tokenBase + 1
    /// A peer whose queue grows past this is not reading: its connection is closed.
    static let outputBytesMax = 512 * 1024 * 1024
    static let pendingNotificationsMax = 8
    /// Failed connects are retried after 10 ms, doubling to 1 s (servers of an ensemble start
    /// together, and a leader listens only once elected: the first attempts often find no one).
    static let firstRetryMs: Int64 = 10
    static let retryMsMax: Int64 = 1000

    let myID: ServerID
    let verifier: QuorumVerifier
    let listenOnAllIPs: Bool
    let loop: EventLoop
    let logger: Logger
    private var electionListener: TCPListener?
    private var quorumListener: TCPListener?
    private(set) var links: [UInt64: PeerLink] = [:]
    private var electionLinks: [ServerID: PeerLink] = [:]
    private var pending: [ServerID: [Notification]] = [:]
    private var nextDialMs: [ServerID: Int64] = [:]
    private var dialBackoffMs: [ServerID: Int64] = [:]
    private var leaderBackoffMs = PeerNetwork.firstRetryMs
    private var leaderLink: PeerLink?
    /// The leader this server wants to follow, and when to try connecting again.
    private var wantedLeader: ServerID?
    private var nextLeaderAttemptMs: Int64 = 0
    private var nextToken: UInt64 = tokenBase + 16
    var inputs: [PeerInput] = []
    /// Links with bytes queued this turn and not yet written.
    private var unflushed: [PeerLink] = []

    /// Peers' names are resolved off the loop (see `HostResolver`).
    private let resolver: HostResolver

    init(myID: ServerID, verifier: QuorumVerifier, listenOnAllIPs: Bool, loop: EventLoop, logger: Logger) throws(ServerError) {
        self.resolver = try HostResolver(loopWaker: loop.waker)
        self.myID = myID
        self.verifier = verifier
        self.listenOnAllIPs = listenOnAllIPs
        self.loop = loop
        self.logger = logger
    }

    static func owns(_ token: UInt64) -> Bool { token >= tokenBase && token < EventLoop.signalToken }

    private var me: QuorumMember { verifier.member(myID)! }

    /// Binds the election port. A host name that does not resolve yet, or an address not yet on any
    /// interface, is retried from `tick` with the usual backoff instead of failing startup: in a
    /// StatefulSet a pod's DNS record can appear after the process starts. Other errors (the port in
    /// use, no permission) are fatal, as they will not go away by waiting.
    func start() throws(ServerError) {
        try resolver.start()
        try bindElectionPort(nowMs: 0, atStartup: true)
    }

    private var electionBindBackoffMs = PeerNetwork.firstRetryMs
    private var nextElectionBindMs: Int64?

    private func bindElectionPort(nowMs: Int64, atStartup: Bool) throws(ServerError) {
        let host = listenOnAllIPs ? "0.0.0.0" : me.host
        // At startup the name is resolved here (nothing is served yet); later only off the loop.
        var bindHost = host
        if !atStartup && SocketAddress(ip: host, port: 0) == nil {
            switch resolver.lookup(host) {
            case nil:
                awaitingResolution.insert(host)
                return scheduleElectionBind(nowMs: nowMs)
            case .failure(let error):
                logger.warn("Cannot bind the election port \(host):\(me.electionPort) yet: \(error); retrying in \(electionBindBackoffMs) ms")
                return scheduleElectionBind(nowMs: nowMs)
            case .success(let addresses):
                guard let first = addresses.first else { return scheduleElectionBind(nowMs: nowMs) }
                bindHost = first.ip
            }
        }
        do {
            let listener = try TCPListener(host: bindHost, port: UInt16(me.electionPort))
            try loop.register(listener.fd, interest: .read, token: PeerNetwork.electionListenerToken)
            electionListener = listener
            nextElectionBindMs = nil
            logger.info("\(myID) is accepting connections now, my election bind port: \(listener.localAddress.javaDescription)")
        } catch {
            guard error.mayResolveLater else {
                if atStartup { throw .fatal("Failed to bind the election port \(host):\(me.electionPort): \(error)") }
                logger.error("Failed to bind the election port \(host):\(me.electionPort): \(error); retrying")
                scheduleElectionBind(nowMs: nowMs)
                return
            }
            logger.warn("Cannot bind the election port \(host):\(me.electionPort) yet: \(error); retrying in \(electionBindBackoffMs) ms")
            scheduleElectionBind(nowMs: nowMs)
        }
    }

    private func scheduleElectionBind(nowMs: Int64) {
        nextElectionBindMs = nowMs + electionBindBackoffMs
        electionBindBackoffMs = min(electionBindBackoffMs * 2, PeerNetwork.retryMsMax)
    }

    func stop() {
        resolver.stop()
        for link in Array(links.values) { close(link, reason: nil) }
        electionListener?.close()
        quorumListener?.close()
        electionListener = nil
        quorumListener = nil
    }

    // MARK: Effects from the replica

    func carryOut(_ output: PeerOutput, nowMs: Int64) {
        switch output {
        case .sendNotification(let n, let to):
            sendNotification(n, to: to, nowMs: nowMs)
        case .listenForLearners(let on):
            on ? listenForLearners() : stopListeningForLearners()
        case .sendToLearner(let id, let bytes):
            guard let link = links[id.rawValue] else { return }
            enqueue(bytes, on: link)
        case .closeLearner(let id):
            if let link = links[id.rawValue] { close(link, reason: nil) }
        case .connectToLeader(let id):
            wantedLeader = id
            nextLeaderAttemptMs = nowMs
            leaderBackoffMs = PeerNetwork.firstRetryMs
            connectToLeaderIfDue(nowMs: nowMs)
        case .sendToLeader(let bytes):
            guard let link = leaderLink, !link.connecting else { return }
            enqueue(bytes, on: link)
        case .closeLeaderConnection:
            wantedLeader = nil
            if let link = leaderLink { close(link, reason: nil) }
        case .reloadDatabase, .saveSnapshot:
            invariant(false, "\(output) is the server's, not the network's")
        }
    }

    /// Retries what is due: connects to the leader, dials for queued notifications.
    func tick(nowMs: Int64) {
        retryAnswered()
        if let due = nextElectionBindMs, nowMs >= due { try? bindElectionPort(nowMs: nowMs, atStartup: false) }
        connectToLeaderIfDue(nowMs: nowMs)
        for (id, queued) in pending.sorted(by: { $0.key < $1.key }) where !queued.isEmpty && electionLinks[id] == nil {
            dial(id, nowMs: nowMs)
        }
    }

    /// When a retry is due next (the loop wakes for it), if any is pending.
    var nextRetryMs: Int64? {
        if resolver.hasAnswers { return 0 }
        var next: Int64? = nextElectionBindMs
        if wantedLeader != nil && leaderLink == nil { next = nextLeaderAttemptMs }
        for (id, queued) in pending where !queued.isEmpty && electionLinks[id] == nil {
            let due = nextDialMs[id, default: 0]
            next = min(next ?? due, due)
        }
        return next
    }

    /// Names whose first answer an attempt is waiting for.
    private var awaitingResolution: Set<String> = []

    /// Attempts that waited for a name's answer are due now that it is in.
    private func retryAnswered() {
        let answered = resolver.takeAnswered()
        guard !answered.isEmpty else { return }
        let waited = awaitingResolution.intersection(answered)
        guard !waited.isEmpty else { return }
        awaitingResolution.subtract(waited)
        for (id, queued) in pending where !queued.isEmpty {
            if let member = verifier.member(id), waited.contains(member.host) { nextDialMs[id] = 0 }
        }
        if let id = wantedLeader, let member = verifier.member(id), waited.contains(member.host) { nextLeaderAttemptMs = 0 }
        if nextElectionBindMs != nil, waited.contains(me.host) { nextElectionBindMs = 0 }
    }

    /// A connect succeeded: the next failure starts the backoff over.
    private func connected(_ link: PeerLink) {
        switch link.kind {
        case .election(let sid): dialBackoffMs[sid] = nil
        case .leader: leaderBackoffMs = PeerNetwork.firstRetryMs
        case .electionIncoming, .learner: break
        }
    }

    // MARK: Election port

    private func sendNotification(_ n: Notification, to id: ServerID, nowMs: Int64) {
        if let link = electionLinks[id], !link.connecting {
            let body = n.serialized()
            var w = JuteWriter(capacity: 4 + body.count)
            w.writeInt(Int32(body.count))
            w.bytes += body
            enqueue(w.bytes, on: link)
            return
        }
        var queued = pending[id, default: []]
        queued.append(n)
        if queued.count > PeerNetwork.pendingNotificationsMax { queued.removeFirst(queued.count - PeerNetwork.pendingNotificationsMax) }
        pending[id] = queued
        dial(id, nowMs: nowMs)
    }

    private func dial(_ id: ServerID, nowMs: Int64) {
        guard electionLinks[id] == nil, nowMs >= nextDialMs[id, default: 0], let member = verifier.member(id) else { return }
        let backoff = dialBackoffMs[id, default: PeerNetwork.firstRetryMs]
        nextDialMs[id] = nowMs + backoff
        dialBackoffMs[id] = min(backoff * 2, PeerNetwork.retryMsMax)
        guard let link = open(host: member.host, port: member.electionPort, kind: .election(id)) else { return }
        electionLinks[id] = link
        if !link.connecting { connected(link) }
        // The handshake goes first (queued until the connect completes).
        link.output.append(ElectionHandshake(serverID: myID, address: me.electionAddress).serialized())
        if !link.connecting { flushPending(id, link) }
    }

    private func flushPending(_ id: ServerID, _ link: PeerLink) {
        let queued = pending.removeValue(forKey: id) ?? []
        for n in queued { sendNotification(n, to: id, nowMs: 0) }
        if !link.output.isEmpty { unflushed.append(link) }
    }

    private func electionInput(_ link: PeerLink) {
        if link.kind == .electionIncoming {
            let decoded: (ElectionHandshake, Int)?
            do { decoded = try ElectionHandshake.decode(link.input[...]) } catch {
                return close(link, reason: "a bad election handshake: \(error)")
            }
            guard let (handshake, used) = decoded else { return }
            link.input.removeFirst(used)
            let sid = handshake.serverID
            guard verifier.member(sid) != nil, sid != myID else {
                return close(link, reason: "an election connection from server \(sid), which is not in the configuration")
            }
            if sid < myID {
                // Ours to dial: close this one and connect back.
                close(link, reason: nil)
                if let old = electionLinks[sid] { close(old, reason: nil) }
                nextDialMs[sid] = 0
                dial(sid, nowMs: monotonicMilliseconds())
                return
            }
            if let old = electionLinks[sid] { close(old, reason: nil) }
            link.kind = .election(sid)
            electionLinks[sid] = link
            flushPending(sid, link)
        }
        guard case .election(let sid) = link.kind else { return }
        let split = ElectionFrames.split(link.input[...])
        for body in split.bodies {
            do {
                inputs.append(.notification(try Notification(decoding: body), from: sid))
            } catch {
                logger.warn("Ignoring a malformed notification from server \(sid): \(error)")
            }
        }
        if let length = split.badLength {
            return close(link, reason: "an election frame of \(length) bytes")
        }
        link.input.removeFirst(split.consumed)
    }

    // MARK: Quorum port

    private func listenForLearners() {
        guard quorumListener == nil else { return }
        let host = listenOnAllIPs ? "0.0.0.0" : me.host
        do {
            let listener = try TCPListener(host: host, port: UInt16(me.quorumPort))
            try loop.register(listener.fd, interest: .read, token: PeerNetwork.quorumListenerToken)
            quorumListener = listener
        } catch {
            // The leader's discovery times out without followers and it steps down.
            logger.error("Cannot listen for learners on \(host):\(me.quorumPort): \(error)")
        }
    }

    private func stopListeningForLearners() {
        if let listener = quorumListener {
            try? loop.unregister(listener.fd)
            listener.close()
        }
        quorumListener = nil
        for link in links.values.sorted(by: { $0.token < $1.token }) {
            if case .learner = link.kind { close(link, reason: nil) }
        }
    }

    private func connectToLeaderIfDue(nowMs: Int64) {
        guard let id = wantedLeader, leaderLink == nil, nowMs >= nextLeaderAttemptMs, let member = verifier.member(id) else { return }
        nextLeaderAttemptMs = nowMs + leaderBackoffMs
        leaderBackoffMs = min(leaderBackoffMs * 2, PeerNetwork.retryMsMax)
        guard let link = open(host: member.host, port: member.quorumPort, kind: .leader) else { return }
        leaderLink = link
        if !link.connecting {
            connected(link)
            inputs.append(.leaderConnected)
        }
    }

    // MARK: Sockets

    /// Starts a non-blocking connect to the latest address of `host`; nil (logged) if there is none
    /// yet (the attempt is retried when the name's answer comes in) or the connect fails at once.
    private func open(host: String, port: Int, kind: PeerLink.Kind) -> PeerLink? {
        let address: SocketAddress
        if let literal = SocketAddress(ip: host, port: UInt16(port)) {
            address = literal
        } else {
            switch resolver.lookup(host) {
            case nil:
                awaitingResolution.insert(host)
                return nil
            case .failure(let error):
                logger.debug("Cannot open a connection to \(host):\(port): \(error)")
                return nil
            case .success(let addresses):
                guard let first = addresses.first else { return nil }
                address = SocketAddress(family: first.family, bytes: first.addressBytes, port: UInt16(port), scopeID: first.scopeID)
            }
        }
        do {
            let (fd, connected) = try Socket.startConnect(to: address)
            nextToken += 1
            let link = PeerLink(fd: fd, token: nextToken, kind: kind, connecting: !connected, description: "\(host):\(port)")
            links[link.token] = link
            link.interest = connected ? .read : .write
            try loop.register(fd, interest: link.interest, token: link.token)
            return link
        } catch {
            logger.debug("Cannot open a connection to \(host):\(port): \(error)")
            return nil
        }
    }

    func accept(token: UInt64) {
        let listener = token == PeerNetwork.electionListenerToken ? electionListener : quorumListener
        guard let listener else { return }
        while true {
            guard let accepted = try? listener.accept() else { return }
            nextToken += 1
            let kind: PeerLink.Kind = token == PeerNetwork.electionListenerToken ? .electionIncoming : .learner(LearnerID(nextToken))
            let link = PeerLink(fd: accepted.fd, token: nextToken, kind: kind, connecting: false, description: accepted.remote.javaDescription)
            links[link.token] = link
            link.interest = .read
            do { try loop.register(accepted.fd, interest: .read, token: link.token) } catch {
                links[link.token] = nil
                Socket.close(accepted.fd)
                continue
            }
            if case .learner(let id) = kind {
                logger.info("Follower connection from \(link.description) (\(id))")
                inputs.append(.learnerConnected(id, remote: link.description))
            }
        }
    }

    func handle(_ event: EventLoop.Event, readBuffer: inout [UInt8]) {
        if event.token == PeerNetwork.electionListenerToken || event.token == PeerNetwork.quorumListenerToken {
            return accept(token: event.token)
        }
        guard let link = links[event.token] else { return }
        if link.connecting {
            guard event.writable || event.error || event.hangup else { return }
            do { try Socket.finishConnect(link.fd) } catch {
                return close(link, reason: nil)  // still `connecting`: retried, not reported
            }
            link.connecting = false
            connected(link)
            switch link.kind {
            case .leader: inputs.append(.leaderConnected)
            case .election(let sid): flushPending(sid, link)
            case .electionIncoming, .learner: break
            }
            setInterest(link)
            return
        }
        if event.readable || event.hangup || event.error {
            while links[link.token] != nil {
                let count: Int
                do {
                    count = try readBuffer.withUnsafeMutableBytes { raw in try Socket.readSome(link.fd, into: raw) }
                } catch SyscallError.wouldBlock {
                    break
                } catch {
                    return close(link, reason: nil)
                }
                if count == 0 { return close(link, reason: nil) }
                let bytes = Array(readBuffer[0..<count])
                switch link.kind {
                case .electionIncoming, .election:
                    link.input += bytes
                    electionInput(link)
                case .learner(let id): inputs.append(.learnerBytes(id, bytes))
                case .leader: inputs.append(.leaderBytes(bytes))
                }
                if count < readBuffer.count { break }
            }
        }
        if event.writable, links[link.token] != nil { write(link) }
    }

    /// Queues bytes; they are written at the end of the loop turn (`flush`), so a turn's packets to
    /// one peer (a burst of PROPOSALs, COMMITs or ACKs) leave in one writev, not one syscall each.
    private func enqueue(_ bytes: [UInt8], on link: PeerLink) {
        guard link.output.byteCount + bytes.count <= PeerNetwork.outputBytesMax else {
            return close(link, reason: "its send queue is over \(PeerNetwork.outputBytesMax) bytes")
        }
        if link.output.isEmpty && !link.connecting { unflushed.append(link) }
        link.output.append(bytes)
    }

    /// Writes what this turn queued.
    func flush() {
        let links = unflushed
        unflushed.removeAll(keepingCapacity: true)
        for link in links where self.links[link.token] != nil { write(link) }
    }

    private func write(_ link: PeerLink) {
        guard !link.connecting else { return }
        do { _ = try link.output.write(to: link.fd) } catch {
            return close(link, reason: nil)
        }
        setInterest(link)
    }

    private func setInterest(_ link: PeerLink) {
        var interest: EventLoop.Interest = .read
        if !link.output.isEmpty || link.connecting { interest.insert(.write) }
        guard interest != link.interest else { return }
        link.interest = interest
        try? loop.modify(link.fd, interest: interest, token: link.token)
    }

    /// Closes a link and tells the replica what it lost. `reason` (a protocol error) is a WARN.
    private func close(_ link: PeerLink, reason: String?) {
        guard links.removeValue(forKey: link.token) != nil else { return }
        if let reason { logger.warn("Closing the connection to \(link.description): \(reason)") }
        try? loop.unregister(link.fd)
        Socket.close(link.fd)
        switch link.kind {
        case .electionIncoming: break
        case .election(let sid): if electionLinks[sid] === link { electionLinks[sid] = nil }
        case .learner(let id): inputs.append(.learnerDisconnected(id))
        case .leader:
            // A connect that failed is retried (the leader may not listen yet); the learner gives
            // up after initLimit. A connection that broke ends the following.
            if leaderLink === link {
                leaderLink = nil
                if wantedLeader != nil && !link.connecting { inputs.append(.leaderDisconnected) }
            }
        }
    }
}
