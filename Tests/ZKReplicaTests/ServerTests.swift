import Testing
@testable import ZKCore
@testable import ZKProtocol
@testable import ZKDataTree
@testable import ZKReplica

@Suite struct FourLetterWordTests {
    @Test func ruok() {
        let h = Harness()
        let c = h.open()
        #expect(h.fourLetterWord(c, .ruok) == "imok")
        #expect(h.isClosed(c))
    }

    @Test func isroAndTraceMask() {
        let h = Harness()
        #expect(h.fourLetterWord(h.open(), .isro) == "rw")
        #expect(h.fourLetterWord(h.open(), .gtmk) == "306")  // Apache 3.8 default mask
        #expect(h.fourLetterWord(h.open(), .stmk, argument: 0x112) == "274")
        #expect(h.fourLetterWord(h.open(), .gtmk) == "274")
    }

    @Test(arguments: [FourLetterWord.srvr, .stat, .mntr, .cons, .dump, .wchs, .conf, .envi])
    func wordsOutsideTheWhitelistAreRefused(word: FourLetterWord) {
        let h = Harness { $0.fourLetterWordWhitelist = [.ruok] }
        let c = h.open()
        #expect(h.fourLetterWord(c, word) == "\(word.rawValue) is not executed because it is not in the whitelist.\n")
        #expect(h.isClosed(c))
        #expect(h.fourLetterWord(h.open(), .ruok) == "imok")
    }

    @Test func srvrShape() {
        let h = Harness()
        let (c, _) = h.connect()
        #expect(h.create(c, "/a").err == .ok)
        let text = h.fourLetterWord(h.open(), .srvr)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.count == 10)
        #expect(lines[0] == "Zookeeper version: \(ServerVersion.full)")
        #expect(lines[0].hasPrefix("Zookeeper version: 3.8.0-"))
        #expect(lines[1].hasPrefix("Latency min/avg/max: "))
        #expect(lines[1].split(separator: ":")[1].split(separator: "/").count == 3)
        #expect(lines[2].hasPrefix("Received: "))
        #expect(lines[3].hasPrefix("Sent: "))
        #expect(lines[4] == "Connections: 2")
        #expect(lines[5] == "Outstanding: 0")
        #expect(lines[6] == "Zxid: 0x2")
        #expect(lines[7] == "Mode: standalone")
        #expect(lines[8] == "Node count: 6")
        #expect(lines[9] == "")
    }

    @Test func statListsClients() {
        let h = Harness()
        h.connect()
        let text = h.fourLetterWord(h.open(), .stat)
        #expect(text.contains("Clients:\n /127.0.0.1:"))
        #expect(text.contains("Mode: standalone\n"))
        #expect(text.contains("Node count: 5\n"))
    }

    @Test func mntrReportsCounts() {
        let h = Harness()
        let (c, _) = h.connect()
        #expect(h.create(c, "/e", mode: .ephemeral).err == .ok)
        let text = h.fourLetterWord(h.open(), .mntr)
        for line in ["zk_server_state\tstandalone", "zk_znode_count\t6", "zk_ephemerals_count\t1",
                     "zk_global_sessions\t1", "zk_outstanding_requests\t0", "zk_commit_count\t0",
                     "zk_request_commit_queued\t2"] {
            #expect(text.contains(line + "\n"), "\(line)")
        }
    }

    @Test func hashAndDirs() {
        let h = Harness()
        h.connect()
        #expect(h.fourLetterWord(h.open(), .hash) == "")  // a standalone server logs no digests
        #expect(h.fourLetterWord(h.open(), .dirs) == "datadir_size: 0\nlogdir_size: 0\n")
    }
}

@Suite struct MalformedInputTests {
    @Test(arguments: [0, 1, 5, 7])
    func requestShorterThanAHeaderCloses(length: Int) {
        let h = Harness()
        let (c, _) = h.connect()
        let entries = h.logEntries.count
        h.sendFrame(c, Array(repeating: 1, count: length))
        #expect(h.take(c).map(\.isClose) == [true])
        #expect(h.logEntries.count == entries)
        // Later frames on the closing connection are ignored.
        h.send(c, .getData, PathWatchRequest(path: "/", watch: false))
        #expect(h.take(c).isEmpty)
        #expect(h.replica.outstandingRequests == 0)
    }

    @Test(arguments: [Int32(999), -3, 0, 10, 200])
    func unknownOpcodeGetsUnimplementedThenClose(type: Int32) {
        let h = Harness()
        let (c, _) = h.connect()
        h.sendFrame(c, RequestHeader(xid: 7, type: type).serialized())
        let messages = h.take(c)
        #expect(messages.count == 2)
        #expect(messages.first?.reply?.xid == 7)
        #expect(messages.first?.reply?.err == .unimplemented)
        #expect(messages.last?.isClose == true)
        #expect(h.replica.outstandingRequests == 0)
    }

    @Test(arguments: [
        (OpCode.createSession, ErrorCode.marshallingError),
        (.deleteContainer, .badArguments),
        (.reconfig, .reconfigDisabled),
    ])
    func serverInternalOpcodesAreRejectedWrites(op: OpCode, expected: ErrorCode) {
        let h = Harness()
        let (c, _) = h.connect()
        var body: [UInt8] = []
        if op == .reconfig {
            var w = JuteWriter()
            w.writeString(nil); w.writeString(nil); w.writeString("server.1=a:1:2"); w.writeLong(-1)
            body = w.bytes
        } else if op == .deleteContainer {
            body = PathRecord(path: "/zookeeper").serialized()
        }
        let reply = h.request(c, op, body: body)
        #expect(reply.err == expected)
        #expect(h.logEntries.last?.txn == .error(expected))
        #expect(!h.isClosed(c))
    }

    @Test func truncatedCreateIsAMarshallingError() throws {
        let h = Harness()
        let (c, _) = h.connect()
        let full = CreateRequest(path: "/abc", data: [1, 2, 3], acl: ACL.openACLUnsafe, flags: 0).serialized()
        for cut in [0, 3, 6, full.count - 1] {
            let reply = h.request(c, .create, body: Array(full[..<cut]))
            #expect(reply.err == .marshallingError, "cut at \(cut)")
            #expect(h.logEntries.last?.txn == .error(.marshallingError))
        }
        // A lying length is also a marshalling error, not a crash or a huge allocation.
        var w = JuteWriter()
        w.writeInt(0x7fff_ffff)
        #expect(h.request(c, .create, body: w.bytes).err == .marshallingError)
        #expect(h.replica.tree.node("/abc") == nil)
        // The connection stays usable.
        #expect(!h.isClosed(c))
        #expect(h.create(c, "/abc").err == .ok)
        #expect(h.replica.outstandingRequests == 0)
    }

    @Test func truncatedReadIsAMarshallingErrorWithoutATxn() {
        let h = Harness()
        let (c, _) = h.connect()
        let entries = h.logEntries.count
        let reply = h.request(c, .getData, body: [0, 0, 0, 9, 0x2f])
        #expect(reply.err == .marshallingError)
        #expect(h.logEntries.count == entries)
        #expect(!h.isClosed(c))
    }

    @Test func malformedAuthPacketCloses() {
        let h = Harness()
        let (c, _) = h.connect()
        h.send(c, .auth, body: [0, 0], xid: SpecialXid.auth)
        #expect(h.take(c).map(\.isClose) == [true])
    }

    @Test func saslIsAnsweredWithANullToken() {
        let h = Harness()
        let (c, _) = h.connect()
        let reply = h.request(c, .sasl, body: [0, 0, 0, 0])
        #expect(reply.err == .ok)
        #expect(reply.body == [0xff, 0xff, 0xff, 0xff])
    }

    @Test func outstandingRequestsReturnToZero() {
        let h = Harness()
        let (c1, _) = h.connect()
        let (c2, _) = h.connect()
        for i in 0..<10 {
            h.send(c1, .create, CreateRequest(path: "/n\(i)", data: nil, acl: ACL.openACLUnsafe, flags: 0))
            h.send(c2, .exists, PathWatchRequest(path: "/n\(i)", watch: true))
            h.send(c1, .getData, PathWatchRequest(path: "/n\(i)", watch: false))
        }
        #expect(h.replica.outstandingRequests == 20)  // c2's reads are answered at once
        h.sync()
        #expect(h.replica.outstandingRequests == 0)
        #expect(h.take(c1).compactMap(\.reply).count == 20)
    }
}

@Suite struct ContainerAndTTLTests {
    @Test func emptiedContainerIsDeletedByATick() throws {
        let h = Harness { $0.containerCheckIntervalMs = 1000 }
        let (c, _) = h.connect()
        let (watcher, _) = h.connect()
        #expect(h.create(c, "/c", mode: .container, op: .createContainer).err == .ok)
        #expect(h.create(c, "/never", mode: .container, op: .createContainer).err == .ok)
        #expect(h.create(c, "/c/child").err == .ok)
        #expect(h.delete(c, "/c/child").err == .ok)
        #expect(h.exists(watcher, "/c", watch: true).err == .ok)
        let before = h.logEntries.count

        h.advance(ms: 500)
        h.tick()
        #expect(h.logEntries.count == before, "not before the check interval")

        h.advance(ms: 501)
        h.tick()
        #expect(h.logEntries.count == before + 1)
        let entry = try #require(h.logEntries.last)
        #expect(entry.header.type == OpCode.deleteContainer.rawValue)
        #expect(entry.header.clientId == 0)
        #expect(entry.txn == .delete(path: "/c"))
        // Another check before the delete is synced does not propose it again.
        h.advance(ms: 1001)
        h.tick()
        #expect(h.logEntries.count == before + 1)

        h.sync()
        #expect(h.replica.tree.node("/c") == nil)
        #expect(h.replica.tree.node("/never") != nil, "a container that never had children stays")
        #expect(h.replica.tree.containers == ["/never"])
        #expect(h.notifications(watcher) == [.event(.nodeDeleted, "/c")])
    }

    @Test func containerWithChildrenStays() {
        let h = Harness { $0.containerCheckIntervalMs = 1000 }
        let (c, _) = h.connect()
        #expect(h.create(c, "/c", mode: .container, op: .createContainer).err == .ok)
        #expect(h.create(c, "/c/a").err == .ok)
        #expect(h.create(c, "/c/b").err == .ok)
        #expect(h.delete(c, "/c/a").err == .ok)
        let before = h.logEntries.count
        h.advance(ms: 1001)
        h.tick()
        #expect(h.logEntries.count == before)
    }

    @Test func ttlNodeIsDeletedAfterItsTTL() throws {
        let h = Harness { $0.containerCheckIntervalMs = 1000; $0.extendedTypesEnabled = true }
        let (c, _) = h.connect()
        func createTTL(_ path: String, _ ttl: Int64) -> Reply {
            h.request(c, .createTTL, CreateTTLRequest(path: path, data: [], acl: ACL.openACLUnsafe,
                                                      flags: CreateMode.persistentWithTTL.rawValue, ttl: ttl))
        }
        #expect(createTTL("/t", 500).err == .ok)
        #expect(createTTL("/long", 100_000).err == .ok)
        #expect(createTTL("/parent", 500).err == .ok)
        #expect(h.create(c, "/parent/kid").err == .ok)
        let before = h.logEntries.count
        h.advance(ms: 1001)
        h.tick()
        #expect(h.logEntries.count == before + 1)
        let entry = try #require(h.logEntries.last)
        #expect(entry.header.type == OpCode.deleteContainer.rawValue)
        #expect(entry.txn == .delete(path: "/t"))
        h.sync()
        #expect(h.replica.tree.node("/t") == nil)
        #expect(h.replica.tree.node("/long") != nil)
        #expect(h.replica.tree.node("/parent") != nil, "a TTL node with children stays")
        #expect(h.replica.tree.ttls == ["/long", "/parent"])
    }

    @Test func recentlyModifiedTTLNodeStays() {
        let h = Harness { $0.containerCheckIntervalMs = 1000; $0.extendedTypesEnabled = true }
        let (c, _) = h.connect()
        #expect(h.request(c, .createTTL, CreateTTLRequest(path: "/t", data: [], acl: ACL.openACLUnsafe,
                                                          flags: 5, ttl: 1500)).err == .ok)
        h.advance(ms: 1000)
        #expect(h.setData(c, "/t", [1]).err == .ok)
        h.advance(ms: 1000)
        let before = h.logEntries.count
        h.tick()
        #expect(h.logEntries.count == before)
        h.advance(ms: 1000)
        h.tick()
        #expect(h.logEntries.last?.txn == .delete(path: "/t"))
    }
}
