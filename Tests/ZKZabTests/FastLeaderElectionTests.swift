import Testing
@testable import ZKCore
@testable import ZKProtocol
@testable import ZKZab

/// A few servers' elections over a FIFO-per-link network, delivering in a seeded random order, with
/// time advanced to the next deadline when nothing is in flight. Messages pass through the real wire
/// encoding, so the election only ever sees what a peer could have sent.
struct ElectionNetwork {
    var elections: [ServerID: FastLeaderElection] = [:]
    var links: [Link: [[UInt8]]] = [:]
    var up: Set<ServerID> = []
    var nowMs: Int64 = 0
    var random: SeededRandom
    var outcomes: [ServerID: (Vote, PeerState)] = [:]
    var sent = 0

    struct Link: Hashable { var from: ServerID; var to: ServerID }

    init(voters: Int, observers: Int = 0, seed: UInt64) {
        random = SeededRandom(seed: seed)
        var members: [QuorumMember] = []
        for i in 1...(voters + observers) {
            members.append(QuorumMember(id: ServerID(Int64(i)), host: "127.0.0.1", quorumPort: 2000 + i, electionPort: 3000 + i,
                                        role: i > voters ? .observer : .participant))
        }
        let verifier = QuorumVerifier(members: members)
        for member in members {
            elections[member.id] = FastLeaderElection(config: ElectionConfig(myID: member.id, verifier: verifier))
        }
    }

    mutating func start(_ id: ServerID, zxid: Zxid, epoch: Epoch) {
        up.insert(id)
        outcomes[id] = nil
        var effects: [ElectionEffect] = []
        elections[id]!.startLooking(lastLoggedZxid: zxid, currentEpoch: epoch, nowMs: nowMs, into: &effects)
        carryOut(effects, from: id)
    }

    /// A crash: the server's queued messages are lost both ways.
    mutating func crash(_ id: ServerID) {
        up.remove(id)
        outcomes[id] = nil
        for link in links.keys where link.from == id || link.to == id { links[link] = nil }
    }

    mutating func carryOut(_ effects: [ElectionEffect], from id: ServerID) {
        for effect in effects {
            switch effect {
            case .send(let n, let to):
                #expect(to != id, "a send to oneself")
                sent += 1
                guard up.contains(to) else { continue }
                links[Link(from: id, to: to), default: []].append(n.serialized())
            case .elected(let vote, let state):
                outcomes[id] = (vote, state)
            }
        }
    }

    /// Delivers one message or fires the earliest deadline; false when nothing is left to do.
    mutating func step() -> Bool {
        let busy = links.filter { !$0.value.isEmpty }.keys.sorted { ($0.from, $0.to) < ($1.from, $1.to) }
        if !busy.isEmpty {
            let link = busy[Int(random.next() % UInt64(busy.count))]
            let bytes = links[link]!.removeFirst()
            let n = try! Notification(decoding: bytes)
            var effects: [ElectionEffect] = []
            elections[link.to]!.received(n, from: link.from, nowMs: nowMs, into: &effects)
            carryOut(effects, from: link.to)
            return true
        }
        let deadlines = up.compactMap { id in elections[id]!.deadlineMs.map { (id, $0) } }.sorted { ($0.1, $0.0) < ($1.1, $1.0) }
        guard let (id, deadline) = deadlines.first else { return false }
        nowMs = max(nowMs, deadline)
        var effects: [ElectionEffect] = []
        elections[id]!.timeout(nowMs: nowMs, into: &effects)
        carryOut(effects, from: id)
        return true
    }

    /// Runs until nothing is in flight and nobody is looking; false if that takes over `stepsMax`.
    @discardableResult
    mutating func runUntilSettled(stepsMax: Int = 20_000) -> Bool {
        var steps = 0
        while step() {
            steps += 1
            if steps >= stepsMax { return false }
        }
        return true
    }

    /// What Zab does after an election that stale notifications misled: a follower whose leader does
    /// not lead, and a leader that is not followed by a quorum, fail discovery and look again. (The
    /// election alone does not promise one leader; Zab's epochs make a second one harmless.)
    mutating func restartMisled(zxids: [ServerID: Zxid], epoch: Epoch) -> Bool {
        var misled: [ServerID] = []
        for id in up.sorted() {
            guard let (vote, state) = outcomes[id] else { continue }
            switch state {
            case .following, .observing:
                if outcomes[vote.leader]?.1 != .leading || !up.contains(vote.leader) { misled.append(id) }
            case .leading:
                let followers = up.filter { outcomes[$0]?.0.leader == id }
                let verifier = elections[id]!.config.verifier
                if !verifier.containsQuorum(followers) { misled.append(id) }
            case .looking:
                break
            }
        }
        for id in misled { start(id, zxid: zxids[id]!, epoch: epoch) }
        return !misled.isEmpty
    }

    func describe() -> String {
        up.sorted().map { id in
            let e = elections[id]!
            return "\(id): \(e.peerState) round \(e.logicalClock) vote \(e.currentVote) proposal \(e.proposal)"
        }.joined(separator: "; ")
    }

    func leader(of id: ServerID) -> ServerID? { outcomes[id]?.0.leader }
}

private func sid(_ n: Int64) -> ServerID { ServerID(n) }

@Suite struct FastLeaderElectionTests {
    @Test(arguments: 1...40)
    func threeFreshServersElectTheHighestID(seed: UInt64) {
        var net = ElectionNetwork(voters: 3, seed: seed)
        for i in [1, 2, 3] as [Int64] { net.start(sid(i), zxid: Zxid(0), epoch: Epoch(0)) }
        net.runUntilSettled()
        #expect(net.outcomes[sid(3)]?.1 == .leading, "seed \(seed)")
        #expect(net.outcomes[sid(1)]?.1 == .following && net.outcomes[sid(2)]?.1 == .following, "seed \(seed)")
        #expect(Set(net.outcomes.values.map(\.0.leader)) == [sid(3)], "seed \(seed)")
    }

    /// The epoch counts before the zxid, the zxid before the id.
    @Test(arguments: 1...20)
    func theMostUpToDateServerWins(seed: UInt64) {
        var net = ElectionNetwork(voters: 5, seed: seed)
        net.start(sid(1), zxid: Zxid(0x2_0000_0001), epoch: Epoch(2))  // newest epoch, fewest txns
        net.start(sid(2), zxid: Zxid(0x1_0000_0009), epoch: Epoch(1))
        net.start(sid(3), zxid: Zxid(0x1_0000_0009), epoch: Epoch(1))
        net.start(sid(4), zxid: Zxid(0x1_0000_0003), epoch: Epoch(1))
        net.start(sid(5), zxid: Zxid(0x1_0000_0008), epoch: Epoch(1))
        net.runUntilSettled()
        for i in 1...5 as ClosedRange<Int64> { #expect(net.leader(of: sid(i)) == sid(1), "seed \(seed), server \(i)") }
        #expect(net.outcomes[sid(1)]?.1 == .leading)
        #expect(net.outcomes[sid(1)]?.0.zxid == Zxid(0x2_0000_0001))
    }

    @Test func aTieOnEpochAndZxidGoesToTheHigherID() {
        var net = ElectionNetwork(voters: 3, seed: 7)
        net.start(sid(1), zxid: Zxid(0x1_0000_0009), epoch: Epoch(1))
        net.start(sid(2), zxid: Zxid(0x1_0000_0009), epoch: Epoch(1))
        net.start(sid(3), zxid: Zxid(0x1_0000_0004), epoch: Epoch(1))
        net.runUntilSettled()
        #expect(net.outcomes.values.allSatisfy { $0.0.leader == sid(2) })
        #expect(net.outcomes.count == 3)
    }

    /// Two of three suffice; the third, started later, follows the established leader through the
    /// out-of-election tally even though its own vote would be better.
    @Test(arguments: 1...20)
    func aLateServerFollowsTheEstablishedLeader(seed: UInt64) {
        var net = ElectionNetwork(voters: 3, seed: seed)
        net.start(sid(1), zxid: Zxid(0), epoch: Epoch(0))
        net.start(sid(2), zxid: Zxid(0), epoch: Epoch(0))
        net.runUntilSettled()
        #expect(net.outcomes[sid(2)]?.1 == .leading, "seed \(seed)")
        #expect(net.outcomes[sid(1)]?.1 == .following, "seed \(seed)")
        // The leader established epoch 1; the joiner has a higher id and would otherwise win.
        net.elections[sid(1)]!.updateElectionVote(peerEpoch: Epoch(1))
        net.elections[sid(2)]!.updateElectionVote(peerEpoch: Epoch(1))
        net.start(sid(3), zxid: Zxid(0), epoch: Epoch(0))
        net.runUntilSettled()
        #expect(net.outcomes[sid(3)]?.1 == .following, "seed \(seed)")
        #expect(net.leader(of: sid(3)) == sid(2), "seed \(seed)")
        #expect(net.outcomes[sid(2)]?.1 == .leading, "the leader kept leading")
    }

    @Test func aSingleServerOfThreeNeverElects() {
        var net = ElectionNetwork(voters: 3, seed: 1)
        net.start(sid(1), zxid: Zxid(0), epoch: Epoch(0))
        for _ in 0..<200 { _ = net.step() }
        #expect(net.outcomes[sid(1)] == nil)
        #expect(net.elections[sid(1)]!.peerState == .looking)
    }

    /// With nobody answering, the vote is resent at doubling intervals, capped.
    @Test func notificationIntervalDoublesUpToTheMaximum() {
        var net = ElectionNetwork(voters: 3, seed: 1)
        net.start(sid(1), zxid: Zxid(0), epoch: Epoch(0))
        var times: [Int64] = []
        for _ in 0..<12 {
            let before = net.nowMs
            _ = net.step()
            times.append(net.nowMs - before)
        }
        #expect(Array(times.prefix(9)) == [200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 51_200])
        #expect(times[9] == 60_000 && times[10] == 60_000)
    }

    /// A crashed leader's followers start new rounds and elect among themselves.
    @Test(arguments: 1...20)
    func afterTheLeaderCrashesTheRestReElect(seed: UInt64) {
        var net = ElectionNetwork(voters: 3, seed: seed)
        for i in [1, 2, 3] as [Int64] { net.start(sid(i), zxid: Zxid(0), epoch: Epoch(0)) }
        net.runUntilSettled()
        #expect(net.outcomes[sid(3)]?.1 == .leading)
        net.crash(sid(3))
        net.start(sid(1), zxid: Zxid(0x1_0000_0004), epoch: Epoch(1))
        net.start(sid(2), zxid: Zxid(0x1_0000_0005), epoch: Epoch(1))
        net.runUntilSettled()
        #expect(net.outcomes[sid(2)]?.1 == .leading, "seed \(seed)")
        #expect(net.leader(of: sid(1)) == sid(2), "seed \(seed)")
        #expect(net.outcomes[sid(2)]!.0.electionEpoch == 2, "a new round")
    }

    @Test(arguments: 1...10)
    func observersFollowAndNeverCount(seed: UInt64) {
        var net = ElectionNetwork(voters: 3, observers: 2, seed: seed)
        for i in 1...5 as ClosedRange<Int64> { net.start(sid(i), zxid: Zxid(0), epoch: Epoch(0)) }
        net.runUntilSettled()
        #expect(net.outcomes[sid(3)]?.1 == .leading, "seed \(seed): the highest voter, not observer 5")
        #expect(net.outcomes[sid(4)]?.1 == .observing && net.outcomes[sid(5)]?.1 == .observing, "seed \(seed)")
        #expect(net.leader(of: sid(4)) == sid(3) && net.leader(of: sid(5)) == sid(3))
    }

    /// Once a quorum agrees, a better vote inside the finalize wait reopens the election.
    @Test func aBetterVoteDuringTheFinalizeWaitWins() {
        let verifier = QuorumVerifier(members: (1...3).map { QuorumMember(id: sid(Int64($0)), host: "h", quorumPort: 1, electionPort: 2) })
        var e = FastLeaderElection(config: ElectionConfig(myID: sid(2), verifier: verifier))
        var effects: [ElectionEffect] = []
        e.startLooking(lastLoggedZxid: Zxid(5), currentEpoch: Epoch(1), nowMs: 0, into: &effects)
        // Server 1 agrees with 2: a quorum (1 and 2 itself) for 2; the wait starts.
        e.received(Notification(state: .looking, leader: sid(2), zxid: Zxid(5), electionEpoch: 1, peerEpoch: Epoch(1), config: nil),
                   from: sid(1), nowMs: 10, into: &effects)
        #expect(e.deadlineMs == 210)
        // A worse vote inside the wait is dropped and restarts the wait.
        e.received(Notification(state: .looking, leader: sid(1), zxid: Zxid(4), electionEpoch: 1, peerEpoch: Epoch(1), config: nil),
                   from: sid(1), nowMs: 50, into: &effects)
        #expect(e.deadlineMs == 250 && e.peerState == .looking)
        // Server 3 has more txns: 2 switches its vote to 3.
        effects.removeAll()
        e.received(Notification(state: .looking, leader: sid(3), zxid: Zxid(6), electionEpoch: 1, peerEpoch: Epoch(1), config: nil),
                   from: sid(3), nowMs: 100, into: &effects)
        #expect(e.proposal.leader == sid(3))
        #expect(effects.contains { if case .send(let n, _) = $0 { return n.leader == sid(3) } else { return false } })
        e.timeout(nowMs: 1000, into: &effects)
        // Votes for 3: from 3 and from 2 itself: a quorum, so the wait ran again and 2 follows 3.
        #expect(e.peerState == .following && e.currentVote.leader == sid(3))
    }

    /// A LOOKING server of an older round is told the current round's vote; an established server
    /// tells a LOOKING one whom it follows.
    @Test func repliesToOlderRoundsAndFromEstablishedServers() {
        let verifier = QuorumVerifier(members: (1...3).map { QuorumMember(id: sid(Int64($0)), host: "h", quorumPort: 1, electionPort: 2) })
        var e = FastLeaderElection(config: ElectionConfig(myID: sid(1), verifier: verifier))
        var effects: [ElectionEffect] = []
        e.startLooking(lastLoggedZxid: Zxid(0), currentEpoch: Epoch(0), nowMs: 0, into: &effects)
        e.startLooking(lastLoggedZxid: Zxid(0), currentEpoch: Epoch(0), nowMs: 0, into: &effects)  // round 2
        effects.removeAll()
        e.received(Notification(state: .looking, leader: sid(2), zxid: Zxid(0), electionEpoch: 1, peerEpoch: Epoch(0), config: nil),
                   from: sid(2), nowMs: 1, into: &effects)
        #expect(effects == [.send(Notification(state: .looking, leader: sid(1), zxid: Zxid(0), electionEpoch: 2, peerEpoch: Epoch(0),
                                               config: verifier.text), to: sid(2))])
        // Make 1 follow 3 (3 says LEADING in round 2, 3 and 1 make a quorum).
        e.received(Notification(state: .leading, leader: sid(3), zxid: Zxid(0), electionEpoch: 2, peerEpoch: Epoch(0), config: nil),
                   from: sid(3), nowMs: 2, into: &effects)
        #expect(e.peerState == .looking, "one LEADING vote is not a quorum")
        e.received(Notification(state: .following, leader: sid(3), zxid: Zxid(0), electionEpoch: 2, peerEpoch: Epoch(0), config: nil),
                   from: sid(2), nowMs: 3, into: &effects)
        #expect(e.peerState == .following && e.currentVote.leader == sid(3))
        effects.removeAll()
        e.received(Notification(state: .looking, leader: sid(2), zxid: Zxid(9), electionEpoch: 7, peerEpoch: Epoch(0), config: nil),
                   from: sid(2), nowMs: 4, into: &effects)
        guard case .send(let reply, let to)? = effects.first, effects.count == 1 else { Issue.record("no reply: \(effects)"); return }
        #expect(to == sid(2) && reply.state == .following && reply.leader == sid(3) && reply.electionEpoch == 2)
    }

    @Test func verifierTextIsApachesFormat() {
        let verifier = QuorumVerifier(members: [
            QuorumMember(id: sid(2), host: "zk-1.zk-hs", quorumPort: 2888, electionPort: 3888),
            QuorumMember(id: sid(1), host: "zk-0.zk-hs", quorumPort: 2888, electionPort: 3888),
            QuorumMember(id: sid(4), host: "::1", quorumPort: 2890, electionPort: 3890, role: .observer),
        ], version: 0x1_0000_0000)
        #expect(verifier.text == """
            server.1=zk-0.zk-hs:2888:3888:participant
            server.2=zk-1.zk-hs:2888:3888:participant
            server.4=[::1]:2890:3890:observer
            version=100000000
            """)
        #expect(verifier.quorumSize == 2)
        #expect(verifier.containsQuorum([sid(1), sid(2)]) && !verifier.containsQuorum([sid(1), sid(4)]))
    }

    /// Seeded runs of five servers with crashes and restarts at random points: whenever the election
    /// settles, every live server agrees on one leader, which leads, and at most one server leads.
    @Test(arguments: 1...30)
    func randomCrashesAndRestartsAgreeOnOneLeader(seed: UInt64) {
        var net = ElectionNetwork(voters: 5, seed: seed)
        var random = SeededRandom(seed: seed &* 31)
        var zxids: [ServerID: Zxid] = [:]
        for i in 1...5 as ClosedRange<Int64> {
            zxids[sid(i)] = Zxid(epoch: Epoch(1), counter: UInt32(random.next() % 4))
            net.start(sid(i), zxid: zxids[sid(i)]!, epoch: Epoch(1))
        }
        for round in 0..<4 {
            for _ in 0..<Int(random.next() % 40) { _ = net.step() }
            let victim = sid(Int64(random.next() % 5) + 1)
            net.crash(victim)
            // Everyone still up that is not looking starts over, as a quorum loss would make them.
            for id in net.up.sorted() where net.elections[id]!.peerState != .looking {
                net.start(id, zxid: zxids[id]!, epoch: Epoch(1))
            }
            net.start(victim, zxid: zxids[victim]!, epoch: Epoch(1))
            // A server stuck looking (its would-be followers follow it from an old round) is unstuck
            // the way Zab does it: those followers fail to connect to a leader that is not leading,
            // after initLimit, and look again.
            var attempts = 0
            var settled = false
            while attempts < 20 {
                settled = net.runUntilSettled(stepsMax: 2000)
                let restarted = net.restartMisled(zxids: zxids, epoch: Epoch(1))
                if settled && !restarted { break }
                attempts += 1
            }
            #expect(settled && attempts < 20, "seed \(seed) round \(round): no election settled: \(net.describe())")
            let leaders = Set(net.up.compactMap { net.leader(of: $0) })
            #expect(leaders.count == 1, "seed \(seed) round \(round): \(leaders)")
            let leading = net.up.filter { net.outcomes[$0]?.1 == .leading }
            #expect(leading.count == 1 && leaders.first == leading.first, "seed \(seed) round \(round)")
            #expect(net.up.allSatisfy { net.outcomes[$0] != nil }, "seed \(seed) round \(round): someone still looking")
        }
    }
}
