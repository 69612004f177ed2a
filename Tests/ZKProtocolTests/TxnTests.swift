import Testing
@testable import ZKCore
@testable import ZKProtocol

private let acl = ACL.openACLUnsafe + [ACL(perms: 1, id: Id(scheme: "ip", id: "10.0.0.0/8"))]

/// (header type, txn, what decoding gives back).
private let txnCases: [(OpCode, Txn, Txn)] = {
    let plain: [(OpCode, Txn)] = [
        (.createSession, .createSession(timeOutMs: 30000)),
        (.closeSession, .closeSession(ephemeralPaths: ["/e1", "/e2"])),
        (.closeSession, .closeSession(ephemeralPaths: [])),
        (.create, .create(path: "/a", data: [1, 2], acl: acl, ephemeral: false, parentCVersion: 5)),
        (.create, .create(path: "/a", data: nil, acl: acl, ephemeral: true, parentCVersion: 0)),
        (.create2, .create(path: "/b", data: [], acl: acl, ephemeral: false, parentCVersion: 1)),
        (.createContainer, .createContainer(path: "/c", data: [3], acl: acl, parentCVersion: 2)),
        (.createTTL, .createTTL(path: "/t", data: [4], acl: acl, parentCVersion: 3, ttl: 1000)),
        (.delete, .delete(path: "/d")),
        (.deleteContainer, .delete(path: "/c")),
        (.setData, .setData(path: "/s", data: [5], version: 7)),
        (.setData, .setData(path: "/s", data: nil, version: 1)),
        (.setACL, .setACL(path: "/s", acl: acl, version: 2)),
        (.check, .checkVersion(path: "/s", version: 3)),
        (.error, .error(.noNode)),
        (.multi, .multi([
            TypedTxn(type: .create, txn: .create(path: "/m", data: [1], acl: acl, ephemeral: false, parentCVersion: 9)),
            TypedTxn(type: .createTTL, txn: .createTTL(path: "/mt", data: nil, acl: acl, parentCVersion: 10, ttl: 5)),
            TypedTxn(type: .createContainer, txn: .createContainer(path: "/mc", data: nil, acl: acl, parentCVersion: 11)),
            TypedTxn(type: .setData, txn: .setData(path: "/m", data: [2], version: 1)),
            TypedTxn(type: .check, txn: .checkVersion(path: "/m", version: 1)),
            TypedTxn(type: .delete, txn: .delete(path: "/m")),
            TypedTxn(type: .error, txn: .error(.runtimeInconsistency)),
        ])),
        (.multi, .multi([])),
    ]
    return plain.map { ($0.0, $0.1, $0.1) }
}()

@Suite struct TxnTests {
    @Test func everyTxnRoundTripsThroughAnEntry() throws {
        for (index, (type, txn, expected)) in txnCases.enumerated() {
            let header = TxnHeader(clientId: 0x0100_0000_0000_0001, cxid: Int32(index), zxid: Int64(index + 1),
                                   time: 1_700_000_000_000, type: type.rawValue)
            let entry = TxnEntry(header: header, txn: txn)
            let decoded = try TxnEntry.decode(entry.serialized())
            #expect(decoded.header == header, "case \(index)")
            #expect(decoded.txn == expected, "case \(index) \(type)")
            #expect(decoded.digest == nil, "case \(index)")
            #expect(decoded.zxid == Int64(index + 1))
        }
    }

    @Test func everyTxnRoundTripsWithADigest() throws {
        for (index, (type, txn, expected)) in txnCases.enumerated() {
            let header = TxnHeader(clientId: 1, cxid: 1, zxid: 1, time: 1, type: type.rawValue)
            let digest = TxnDigest(version: 2, treeDigest: Int64(index) - 0x7777)
            let decoded = try TxnEntry.decode(TxnEntry(header: header, txn: txn, digest: digest).serialized())
            #expect(decoded.txn == expected, "case \(index) \(type)")
            #expect(decoded.digest == digest, "case \(index) \(type)")
        }
    }

    @Test func createTxnLayout() {
        let txn = Txn.create(path: "/a", data: [0xaa], acl: ACL.openACLUnsafe, ephemeral: true, parentCVersion: 2)
        #expect(encoded { txn.encode(to: &$0) } == bytes("""
            00 00 00 02 2f 61  00 00 00 01 aa
            00 00 00 01  00 00 00 1f  00 00 00 05 77 6f 72 6c 64  00 00 00 06 61 6e 79 6f 6e 65
            01  00 00 00 02
            """))
    }

    @Test func multiTxnLayoutIsCountThenTypeAndBuffer() {
        let txn = Txn.multi([TypedTxn(type: .delete, txn: .delete(path: "/x")), TypedTxn(type: .error, txn: .error(.noNode))])
        #expect(encoded { txn.encode(to: &$0) } == bytes("""
            00 00 00 02
            00 00 00 02  00 00 00 06  00 00 00 02 2f 78
            ff ff ff ff  00 00 00 04  ff ff ff 9b
            """))
    }

    @Test func createTxnV0WithoutParentCVersionDecodesAsMinusOne() throws {
        let v0 = encoded { w in
            w.writeString("/old"); w.writeBuffer([1]); w.writeVector(ACL.openACLUnsafe); w.writeBool(false)
        }
        var r = JuteReader(v0)
        #expect(try Txn.decode(type: .create, from: &r)
                == .create(path: "/old", data: [1], acl: ACL.openACLUnsafe, ephemeral: false, parentCVersion: -1))
        let header = TxnHeader(clientId: 1, cxid: 1, zxid: 2, time: 3, type: OpCode.create.rawValue)
        let entry = try TxnEntry.decode(header.serialized() + v0)
        #expect(entry.txn == .create(path: "/old", data: [1], acl: ACL.openACLUnsafe, ephemeral: false, parentCVersion: -1))
        #expect(entry.digest == nil)
    }

    @Test func closeSessionWithoutARecord() throws {
        let header = TxnHeader(clientId: 5, cxid: 0, zxid: 9, time: 3, type: OpCode.closeSession.rawValue)
        let entry = try TxnEntry.decode(header.serialized())
        #expect(entry.txn == .closeSession(ephemeralPaths: []))
        #expect(entry.header == header)
    }

    @Test func unknownTxnTypeIsRejected() {
        let header = TxnHeader(clientId: 5, cxid: 0, zxid: 9, time: 3, type: 77)
        #expect(throws: JuteError.self) { try TxnEntry.decode(header.serialized()) }
        let ping = TxnHeader(clientId: 5, cxid: 0, zxid: 9, time: 3, type: OpCode.ping.rawValue)
        #expect(throws: JuteError.self) { try TxnEntry.decode(ping.serialized()) }
    }

    @Test func truncatedTxnIsRejected() {
        let header = TxnHeader(clientId: 5, cxid: 0, zxid: 9, time: 3, type: OpCode.setData.rawValue)
        let full = TxnEntry(header: header, txn: .setData(path: "/abc", data: [1, 2, 3], version: 1)).serialized()
        for cut in [31, 33, 40, full.count - 1] {
            #expect(throws: JuteError.self, "cut at \(cut)") { try TxnEntry.decode(Array(full[..<cut])) }
        }
    }

    @Test func multiTxnWithAHugeCountIsRejected() {
        var r = JuteReader(bytes("7f ff ff ff 00 00 00 02"))
        #expect(throws: JuteError.self) { try Txn.decode(type: .multi, from: &r) }
        var negative = JuteReader(bytes("ff ff ff fe"))
        #expect(throws: JuteError.self) { try Txn.decode(type: .multi, from: &negative) }
    }

    @Test func digestLayout() {
        #expect(TxnDigest(treeDigest: 1).serialized() == bytes("00 00 00 02 00 00 00 00 00 00 00 01"))
    }

    @Test func txnHeaderLayout() {
        let h = TxnHeader(clientId: 0x0100_0000_0000_0001, cxid: 3, zxid: 0x1_0000_0001, time: 0x0102, type: -10)
        #expect(h.serialized() == bytes("""
            01 00 00 00 00 00 00 01  00 00 00 03  00 00 00 01 00 00 00 01  00 00 00 00 00 00 01 02  ff ff ff f6
            """))
    }
}
