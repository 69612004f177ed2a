import Testing
@testable import ZKCore
@testable import ZKProtocol

/// The quorum port's packets, byte for byte as Apache's `BinaryOutputArchive` writes `QuorumPacket`.
@Suite struct QuorumPacketTests {
    @Test func ackWithNullDataAndNullAuthInfo() {
        let packet = QuorumPacket(.ack, zxid: Zxid(0x1_0000_0002))
        #expect(packet.serialized() == bytes("00 00 00 03  00 00 00 01 00 00 00 02  ff ff ff ff  ff ff ff ff"))
    }

    @Test func leaderInfoCarriesTheProtocolVersion() {
        let packet = QuorumPacket(.leaderInfo, zxid: Zxid(epoch: Epoch(2), counter: 0), data: QuorumInt.encode(LearnerInfo.protocolVersion))
        #expect(packet.serialized() == bytes("00 00 00 11  00 00 00 02 00 00 00 00  00 00 00 04 00 01 00 00  ff ff ff ff"))
    }

    @Test func requestWithAuthInfo() throws {
        let body = ForwardedRequest(session: SessionID(0x0100_0000_0000_0001), cxid: 7, opCode: 1, record: [0xAA, 0xBB])
        let packet = QuorumPacket(.request, zxid: Zxid(-1), data: body.serialized(), authInfo: [Id(scheme: "ip", id: "1")])
        #expect(packet.serialized() == bytes("""
            00 00 00 01  ff ff ff ff ff ff ff ff  00 00 00 12
            01 00 00 00 00 00 00 01  00 00 00 07  00 00 00 01  aa bb
            00 00 00 01  00 00 00 02 69 70  00 00 00 01 31
            """))
        var decoder = QuorumPacketDecoder(limits: Limits())
        decoder.append(packet.serialized()[...])
        let decoded = try #require(try decoder.next())
        #expect(decoded == packet)
        #expect(try ForwardedRequest(decoding: decoded.data ?? []) == body)
    }

    @Test func learnerInfoAcceptsTheShortForms() throws {
        let full = LearnerInfo(serverID: ServerID(3), configVersion: 0x1_0000_0000)
        #expect(full.serialized() == bytes("00 00 00 00 00 00 00 03  00 01 00 00  00 00 00 01 00 00 00 00"))
        #expect(try LearnerInfo(decoding: full.serialized()) == full)
        let sidOnly = try LearnerInfo(decoding: Array(full.serialized()[0..<8]))
        #expect(sidOnly.serverID == ServerID(3) && sidOnly.protocolVersion == 0 && sidOnly.configVersion == 0)
        let noConfig = try LearnerInfo(decoding: Array(full.serialized()[0..<12]))
        #expect(noConfig.protocolVersion == 0x10000 && noConfig.configVersion == 0)
        #expect(throws: (any Error).self) { try LearnerInfo(decoding: [1, 2, 3]) }
    }

    @Test func pingTouchesAndRevalidation() throws {
        let touches = [SessionTouch(session: SessionID(5), timeoutMs: 30_000), SessionTouch(session: SessionID(-2), timeoutMs: 4000)]
        let data = SessionTouch.serialize(touches)
        #expect(data.count == 24)
        #expect(try SessionTouch.decodeAll(data) == touches)
        #expect(try SessionTouch.decodeAll(nil) == [])
        #expect(throws: (any Error).self) { try SessionTouch.decodeAll(Array(data[0..<13])) }
        let reply = RevalidateReply(session: SessionID(9), valid: true)
        #expect(reply.serialized() == bytes("00 00 00 00 00 00 00 09 01"))
        #expect(try RevalidateReply(decoding: reply.serialized()) == reply)
    }

    /// Packets are cut out of a byte stream however the bytes arrive: one at a time here.
    @Test func decoderReassemblesPacketsFromSingleBytes() throws {
        let packets = [
            QuorumPacket(.proposal, zxid: Zxid(0x1_0000_0001), data: Array(repeating: 7, count: 300)),
            QuorumPacket(.commit, zxid: Zxid(0x1_0000_0001)),
            QuorumPacket(.ping, zxid: Zxid(0x1_0000_0001), data: []),
            QuorumPacket(.upToDate, zxid: Zxid(-1)),
        ]
        let stream = packets.flatMap { $0.serialized() }
        var decoder = QuorumPacketDecoder(limits: Limits())
        var decoded: [QuorumPacket] = []
        for byte in stream {
            decoder.append([byte][...])
            while let packet = try decoder.next() { decoded.append(packet) }
        }
        #expect(decoded == packets)
        #expect(decoder.bufferedBytes == 0)
    }

    @Test func snapshotBytesAfterSnapAreTakenRaw() throws {
        var decoder = QuorumPacketDecoder(limits: Limits())
        decoder.append((QuorumPacket(.snap, zxid: Zxid(5)).serialized() + [1, 2, 3, 4, 5])[...])
        #expect(try decoder.next()?.type == .snap)
        #expect(Array(decoder.takeRaw(upTo: 3)) == [1, 2, 3])
        #expect(Array(decoder.takeRaw(upTo: 100)) == [4, 5])
    }

    @Test(arguments: [
        ("unknown type", "00 00 00 63  00 00 00 00 00 00 00 00  ff ff ff ff  ff ff ff ff"),
        ("type zero", "00 00 00 00  00 00 00 00 00 00 00 00  ff ff ff ff  ff ff ff ff"),
        ("negative data length", "00 00 00 03  00 00 00 00 00 00 00 00  ff ff ff f0"),
        ("data over the limit", "00 00 00 02  00 00 00 00 00 00 00 00  7f ff ff ff"),
        ("auth count over the limit", "00 00 00 03  00 00 00 00 00 00 00 00  ff ff ff ff  7f ff ff ff"),
        ("auth string over the limit", "00 00 00 03  00 00 00 00 00 00 00 00  ff ff ff ff  00 00 00 01  7f 00 00 00"),
    ])
    func malformedStreamsAreRefusedBeforeBuffering(name: String, hexBytes: String) {
        var decoder = QuorumPacketDecoder(limits: Limits())
        decoder.append(bytes(hexBytes)[...])
        #expect(throws: (any Error).self, "\(name)") { _ = try decoder.next() }
    }

    @Test func everyTypeRoundTrips() throws {
        for type in QuorumPacketType.allCases {
            let packet = QuorumPacket(type, zxid: Zxid(Int64(type.rawValue) << 32 | 9), data: [UInt8](repeating: UInt8(type.rawValue), count: Int(type.rawValue)))
            var r = JuteReader(packet.serialized())
            #expect(try QuorumPacket(from: &r) == packet)
            #expect(r.isAtEnd)
        }
        #expect(QuorumPacketType.ackEpoch.description == "ACKEPOCH")
        #expect(QuorumPacketType.allCases.map(\.rawValue) == Array(1...19))
    }
}

/// The election port's handshake and notifications (`QuorumCnxManager.InitialMessage`,
/// `FastLeaderElection.buildMsg`).
@Suite struct ElectionMessageTests {
    @Test func handshakeIsVersionSidAndAddress() throws {
        let handshake = ElectionHandshake(serverID: ServerID(2), address: "zk-1:3888")
        let b = handshake.serialized()
        #expect(b == bytes("ff ff ff ff ff ff 00 00  00 00 00 00 00 00 00 02  00 00 00 09") + Array("zk-1:3888".utf8))
        let (decoded, used) = try #require(try ElectionHandshake.decode(b[...] + [0xEE][...]))
        #expect(decoded == handshake && used == b.count)
        for n in 0..<b.count { #expect(try ElectionHandshake.decode(b[0..<n]) == nil, "prefix of \(n) bytes") }
    }

    @Test func aBareSidIsTheOldForm() throws {
        let (decoded, used) = try #require(try ElectionHandshake.decode(bytes("00 00 00 00 00 00 00 05")[...]))
        #expect(decoded.serverID == ServerID(5) && decoded.addresses.isEmpty && used == 8)
    }

    @Test func multipleAddressesAndIPv6() throws {
        var w = JuteWriter()
        let text = "[::1]:3888|10.0.0.1:3889"
        w.writeLong(ElectionHandshake.protocolVersion2)
        w.writeLong(7)
        w.writeInt(Int32(text.utf8.count))
        w.bytes += Array(text.utf8)
        let (decoded, _) = try #require(try ElectionHandshake.decode(w.bytes[...]))
        #expect(decoded.addresses == ["[::1]:3888", "10.0.0.1:3889"])
    }

    @Test(arguments: [
        ("unknown version", "ff ff ff ff ff ff 00 07  00 00 00 00 00 00 00 02  00 00 00 03 61 3a 31"),
        ("zero-length address", "ff ff ff ff ff ff 00 00  00 00 00 00 00 00 00 02  00 00 00 00"),
        ("address too long", "ff ff ff ff ff ff 00 00  00 00 00 00 00 00 00 02  00 00 08 01"),
        ("no port", "ff ff ff ff ff ff 00 00  00 00 00 00 00 00 00 02  00 00 00 04 7a 6b 2d 31"),
        ("bad port", "ff ff ff ff ff ff 00 00  00 00 00 00 00 00 00 02  00 00 00 03 61 3a 78"),
    ])
    func badHandshakesAreRefused(name: String, hexBytes: String) {
        #expect(throws: ElectionHandshake.DecodeError.self, "\(name)") { _ = try ElectionHandshake.decode(bytes(hexBytes)[...]) }
    }

    @Test func fullNotificationLayout() throws {
        let n = Notification(state: .looking, leader: ServerID(3), zxid: Zxid(0x1_0000_0005), electionEpoch: 2,
                             peerEpoch: Epoch(1), config: "version=0")
        let b = n.serialized()
        #expect(b == bytes("""
            00 00 00 00  00 00 00 00 00 00 00 03  00 00 00 01 00 00 00 05  00 00 00 00 00 00 00 02
            00 00 00 00 00 00 00 01  00 00 00 02  00 00 00 09
            """) + Array("version=0".utf8))
        #expect(try Notification(decoding: b) == n)
    }

    @Test func shortFormsAsApacheReadsThem() throws {
        let full = Notification(state: .following, leader: ServerID(2), zxid: Zxid(0x3_0000_0010), electionEpoch: 4,
                                peerEpoch: Epoch(3), config: "")
        let b = full.serialized()
        let short28 = try Notification(decoding: Array(b[0..<28]))
        #expect(short28.peerEpoch == Epoch(3) && short28.version == 0 && short28.config == nil && short28.state == .following)
        // 40 bytes is "no version" even though 3.4 wrote version 1 there.
        var v1 = Array(b[0..<40])
        v1[39] = 1
        let short40 = try Notification(decoding: v1)
        #expect(short40.peerEpoch == Epoch(3) && short40.version == 0 && short40.config == nil)
        // Version 1 in a longer message: no config follows.
        var longV1 = Array(b[0..<44])
        longV1[39] = 1
        #expect(try Notification(decoding: longV1).config == nil)
    }

    @Test(arguments: [27, 30, 37, 41, 43])
    func truncatedNotificationsAreRefused(length: Int) {
        let b = Notification(state: .leading, leader: ServerID(1), zxid: Zxid(1), electionEpoch: 1, peerEpoch: Epoch(1), config: "x").serialized()
        #expect(throws: Notification.DecodeError.self) { _ = try Notification(decoding: Array(b[0..<length])) }
    }

    @Test func badStateAndConfigLengthAreRefused() {
        var b = Notification(state: .leading, leader: ServerID(1), zxid: Zxid(1), electionEpoch: 1, peerEpoch: Epoch(1), config: "abc").serialized()
        var badState = b
        badState[3] = 9
        #expect(throws: Notification.DecodeError.unknownState(9)) { _ = try Notification(decoding: badState) }
        b[43] = 200  // config length beyond the message
        #expect(throws: Notification.DecodeError.badConfigLength(200)) { _ = try Notification(decoding: b) }
        b[40] = 0xff  // negative
        #expect(throws: Notification.DecodeError.self) { _ = try Notification(decoding: b) }
    }
}
