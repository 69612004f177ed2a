import Testing
@testable import ZKCore
@testable import ZKProtocol

private let digestACL = [ACL(perms: 31, id: Id(scheme: "digest", id: "bob:Vzkm1e8dnbQtNZP0QmBdqmZLmAw="))]

private func sampleStat() -> Stat {
    var s = Stat()
    s.czxid = 0x1_0000_0002; s.mzxid = 3; s.ctime = 1_700_000_000_000; s.mtime = 1_700_000_000_001
    s.version = 4; s.cversion = -1; s.aversion = 6; s.ephemeralOwner = 0x0100_0000_0000_0001
    s.dataLength = 9; s.numChildren = 10; s.pzxid = 11
    return s
}

@Suite struct RecordTests {
    @Test func statIs68BytesInDeclarationOrder() throws {
        let s = sampleStat()
        let b = s.serialized()
        #expect(b.count == 68)
        var expected = JuteWriter()
        for v in [s.czxid, s.mzxid, s.ctime, s.mtime] { expected.writeLong(v) }
        for v in [s.version, s.cversion, s.aversion] { expected.writeInt(v) }
        expected.writeLong(s.ephemeralOwner)
        expected.writeInt(s.dataLength); expected.writeInt(s.numChildren)
        expected.writeLong(s.pzxid)
        #expect(b == expected.bytes)
        try expectRoundTrip(s, size: 68)
    }

    @Test func statPersistedIs60Bytes() throws {
        var s = StatPersisted()
        s.czxid = 1; s.mzxid = 2; s.ctime = 3; s.mtime = 4; s.version = 5; s.cversion = 6; s.aversion = -1
        s.ephemeralOwner = Int64.min; s.pzxid = 9
        try expectRoundTrip(s, size: 60)
        #expect(Array(s.serialized()[44..<52]) == bytes("80 00 00 00 00 00 00 00"))
    }

    @Test func connectRequestWithReadOnlyByteIs45Bytes() throws {
        let request = ConnectRequest(protocolVersion: 0, lastZxidSeen: 0x1_0000_0005, timeOut: 30000,
                                     sessionId: 0, passwd: Array(repeating: 0, count: 16), readOnly: true)
        let b = request.serialized()
        #expect(b.count == 45)
        #expect(b == bytes("00 00 00 00  00 00 00 01 00 00 00 05  00 00 75 30  00 00 00 00 00 00 00 00  00 00 00 10")
                + Array(repeating: 0, count: 16) + [1])
        try expectRoundTrip(request, size: 45)
    }

    @Test func connectRequestOfAnOldClientIs44Bytes() throws {
        let request = ConnectRequest(timeOut: 4000, sessionId: 0x0100_0000_0000_0001,
                                     passwd: Array(1...16), readOnly: nil)
        let b = request.serialized()
        #expect(b.count == 44)
        let decoded = try ConnectRequest(bytes: b)
        #expect(decoded.readOnly == nil)
        #expect(decoded == request)
        // A readOnly=false byte is kept apart from a missing one.
        let withFalse = try ConnectRequest(bytes: b + [0])
        #expect(withFalse.readOnly == false)
    }

    @Test func connectResponseLayout() throws {
        let password = bytes("f22acd4a97e69d6d20a49bb638eadb38")
        let response = ConnectResponse(timeOut: 4000, sessionId: 0x0100_0000_0000_0000, passwd: password, readOnly: false)
        let b = response.serialized()
        #expect(b == bytes("00 00 00 00  00 00 0f a0  01 00 00 00 00 00 00 00  00 00 00 10") + password + [0])
        try expectRoundTrip(response, size: 37)
        let old = ConnectResponse(timeOut: 0, sessionId: 0, passwd: Array(repeating: 0, count: 16), readOnly: nil)
        try expectRoundTrip(old, size: 36)
    }

    @Test func headers() throws {
        #expect(RequestHeader(xid: 1, type: 4).serialized() == bytes("00 00 00 01 00 00 00 04"))
        #expect(ReplyHeader(xid: -1, zxid: -1, err: 0).serialized()
                == bytes("ff ff ff ff ff ff ff ff ff ff ff ff 00 00 00 00"))
        try expectRoundTrip(RequestHeader(xid: Int32.max, type: -11), size: 8)
        try expectRoundTrip(ReplyHeader(xid: 7, zxid: 0x1234_5678_9abc, err: -101), size: 16)
    }

    @Test func everyRequestRecordRoundTrips() throws {
        try expectRoundTrip(Id(scheme: "world", id: "anyone"))
        try expectRoundTrip(ACL(perms: 1, id: Id(scheme: "ip", id: "10.0.0.0/8")))
        try expectRoundTrip(CreateRequest(path: "/a", data: [1, 2], acl: ACL.openACLUnsafe, flags: 3))
        try expectRoundTrip(CreateRequest(path: "/a", data: nil, acl: digestACL, flags: 0))
        try expectRoundTrip(CreateTTLRequest(path: "/t", data: [], acl: ACL.openACLUnsafe, flags: 5, ttl: 1000))
        try expectRoundTrip(PathRecord(path: "/zookeeper"))
        try expectRoundTrip(PathWatchRequest(path: "/a", watch: true))
        try expectRoundTrip(PathWatchRequest(path: "/a", watch: false))
        try expectRoundTrip(PathVersionRequest(path: "/a", version: -1))
        try expectRoundTrip(SetDataRequest(path: "/a", data: Array(repeating: 7, count: 300), version: 3))
        try expectRoundTrip(SetDataRequest(path: "/a", data: nil, version: -1))
        try expectRoundTrip(SetACLRequest(path: "/a", acl: ACL.readACLUnsafe + digestACL, version: 0))
        try expectRoundTrip(AuthPacket(scheme: "digest", auth: Array("bob:secret".utf8)))
        try expectRoundTrip(PathTypeRequest(path: "/w", type: 1))
        try expectRoundTrip(WatcherEvent(type: .nodeChildrenChanged, path: "/a"))
        try expectRoundTrip(ClientInfo(authScheme: "ip", user: "127.0.0.1"))
        try expectRoundTrip(TxnHeader(clientId: 1, cxid: 2, zxid: 3, time: 4, type: 5), size: 32)
        try expectRoundTrip(TxnDigest(treeDigest: 0x1234), size: 12)
    }

    @Test func setWatchesVersionOneAndTwo() throws {
        let v1 = SetWatches(relativeZxid: 9, dataWatches: ["/a"], existWatches: ["/b", "/c"], childWatches: [])
        try expectRoundTrip(v1)
        let v2 = SetWatches(relativeZxid: 9, dataWatches: [], existWatches: [], childWatches: ["/d"],
                            persistentWatches: ["/p"], persistentRecursiveWatches: ["/r", "/s"])
        var r = JuteReader(v2.serialized())
        #expect(try SetWatches.decodeVersion2(from: &r) == v2)
        #expect(r.isAtEnd)
        // Version 1 ignores the persistent lists.
        #expect(v1.serialized().count == 8 + 4 + 6 + 4 + 6 + 6 + 4)
    }

    @Test func reconfigRequestRoundTrips() throws {
        let b = encoded { w in
            w.writeString("server.2=h:2888:3888"); w.writeString(nil); w.writeString(nil); w.writeLong(-1)
        }
        let request = try ReconfigRequest(bytes: b)
        #expect(request.joiningServers == "server.2=h:2888:3888")
        #expect(request.leavingServers == nil)
        #expect(request.curConfigId == -1)
        #expect(request.serialized() == b)
    }

    @Test func watcherEventLayout() {
        let e = WatcherEvent(type: .nodeDeleted, path: "/x")
        #expect(e.serialized() == bytes("00 00 00 02 00 00 00 03 00 00 00 02 2f 78"))
    }

    @Test func wellKnownACLs() {
        #expect(ACL.openACLUnsafe == [ACL(perms: 31, id: Id(scheme: "world", id: "anyone"))])
        #expect(ACL.readACLUnsafe == [ACL(perms: 1, id: Id(scheme: "world", id: "anyone"))])
        #expect(ACL.creatorAllACL == [ACL(perms: 31, id: Id(scheme: "auth", id: ""))])
    }

    @Test func ttlOwnerEncoding() {
        #expect(UInt64(bitPattern: EphemeralOwner.ttl(1000)) == 0xff00_0000_0000_03e8)
        #expect(EphemeralOwner.isTTL(EphemeralOwner.ttl(1000)))
        #expect(EphemeralOwner.ttlValue(EphemeralOwner.ttl(1000)) == 1000)
        #expect(!EphemeralOwner.isTTL(EphemeralOwner.container))
        #expect(!EphemeralOwner.isTTL(0x0100_0000_0000_0001))
    }

    @Test(arguments: [
        (CreateMode.persistent, false, false), (.ephemeral, true, false), (.persistentSequential, false, true),
        (.ephemeralSequential, true, true), (.container, false, false), (.persistentWithTTL, false, false),
        (.persistentSequentialWithTTL, false, true),
    ])
    func createModeFlags(mode: CreateMode, ephemeral: Bool, sequential: Bool) {
        #expect(mode.isEphemeral == ephemeral)
        #expect(mode.isSequential == sequential)
        #expect(mode.isContainer == (mode == .container))
        #expect(mode.isTTL == (mode.rawValue == 5 || mode.rawValue == 6))
    }
}
