import Testing
@testable import ZKCore
@testable import ZKProtocol

@Suite struct MultiOpTests {
    static let ops: [MultiOp] = [
        .create(.create, CreateRequest(path: "/a", data: [1], acl: ACL.openACLUnsafe, flags: 0)),
        .create(.create2, CreateRequest(path: "/b", data: nil, acl: ACL.openACLUnsafe, flags: 1)),
        .create(.createContainer, CreateRequest(path: "/c", data: [], acl: ACL.openACLUnsafe, flags: 4)),
        .createTTL(CreateTTLRequest(path: "/t", data: [2], acl: ACL.openACLUnsafe, flags: 5, ttl: 500)),
        .delete(PathVersionRequest(path: "/d", version: 3)),
        .setData(SetDataRequest(path: "/e", data: [9, 9], version: -1)),
        .check(PathVersionRequest(path: "/f", version: 0)),
    ]

    @Test func endMarker() {
        #expect(encoded { MultiOp.encode([], to: &$0) } == bytes("ff ff ff ff 01 ff ff ff ff"))
    }

    @Test func roundTrip() throws {
        let b = encoded { MultiOp.encode(Self.ops, to: &$0) }
        var r = JuteReader(b)
        #expect(try MultiOp.decode(from: &r, opsMax: 100) == Self.ops)
        #expect(r.isAtEnd)
        let reads: [MultiOp] = [.getChildren(PathWatchRequest(path: "/", watch: false)),
                                .getData(PathWatchRequest(path: "/x", watch: false))]
        var r2 = JuteReader(encoded { MultiOp.encode(reads, to: &$0) })
        #expect(try MultiOp.decode(from: &r2, opsMax: 100) == reads)
    }

    @Test func eachOpIsHeaderThenRecord() {
        let op = MultiOp.check(PathVersionRequest(path: "/f", version: 7))
        #expect(encoded { MultiOp.encode([op], to: &$0) }
                == bytes("00 00 00 0d 00 ff ff ff ff  00 00 00 02 2f 66 00 00 00 07  ff ff ff ff 01 ff ff ff ff"))
    }

    @Test func opCountAboveLimitIsRejected() {
        var r = JuteReader(encoded { MultiOp.encode(Self.ops, to: &$0) })
        #expect(throws: JuteError.tooManyElements(3)) { try MultiOp.decode(from: &r, opsMax: 2) }
    }

    @Test(arguments: [Int32(11), 7, 99, -10])
    func unknownOrForbiddenOpTypeIsRejected(type: Int32) {
        var r = JuteReader(encoded { w in w.writeInt(type); w.writeBool(false); w.writeInt(-1); w.writeString("/a") })
        #expect(throws: JuteError.self) { try MultiOp.decode(from: &r, opsMax: 10) }
    }

    @Test func missingEndMarkerIsTruncated() {
        let b = encoded { MultiOp.encode(Self.ops, to: &$0) }
        var r = JuteReader(Array(b.dropLast(9)))
        #expect(throws: JuteError.self) { try MultiOp.decode(from: &r, opsMax: 100) }
    }

    @Test func opProperties() {
        #expect(Self.ops.map(\.opCode) == [.create, .create2, .createContainer, .createTTL, .delete, .setData, .check])
        #expect(Self.ops.map(\.path) == ["/a", "/b", "/c", "/t", "/d", "/e", "/f"])
        #expect(Self.ops.allSatisfy { !$0.isRead })
        #expect(MultiOp.getData(PathWatchRequest(path: "/", watch: false)).isRead)
    }
}

@Suite struct MultiResultTests {
    static func stat(_ v: Int64) -> Stat {
        var s = Stat()
        s.czxid = v; s.mzxid = v; s.pzxid = v; s.dataLength = 1
        return s
    }

    static let results: [MultiResult] = [
        .create(path: "/a"),
        .create2(path: "/b", stat: stat(2)),
        .delete,
        .setData(stat(3)),
        .check,
        .getChildren(["x", "y"]),
        .getData([1, 2, 3], stat(4)),
        .getData(nil, stat(5)),
        .error(.noNode),
        .error(.runtimeInconsistency),
        .error(.ok),
    ]

    @Test func roundTrip() throws {
        let b = encoded { MultiResult.encode(Self.results, to: &$0) }
        var r = JuteReader(b)
        #expect(try MultiResult.decode(from: &r) == Self.results)
        #expect(r.isAtEnd)
    }

    @Test func errorResultLayout() {
        // MultiHeader(type -1, done false, err) then ErrorResponse(err), then the end marker.
        #expect(encoded { MultiResult.encode([.error(.nodeExists)], to: &$0) }
                == bytes("ff ff ff ff 00 ff ff ff 92  ff ff ff 92  ff ff ff ff 01 ff ff ff ff"))
    }

    @Test func okResultsCarryErrZero() {
        #expect(encoded { MultiResult.encode([.delete, .create(path: "/a")], to: &$0) }
                == bytes("00 00 00 02 00 00 00 00 00  00 00 00 01 00 00 00 00 00  00 00 00 02 2f 61  ff ff ff ff 01 ff ff ff ff"))
    }

    @Test func emptyResponseIsTheEndMarker() throws {
        let b = encoded { MultiResult.encode([], to: &$0) }
        #expect(b == bytes("ff ff ff ff 01 ff ff ff ff"))
        var r = JuteReader(b)
        #expect(try MultiResult.decode(from: &r) == [])
    }

    @Test func responseBodyMultiEncodesResults() {
        var w = JuteWriter()
        ResponseBody.multi([.check]).encode(to: &w)
        #expect(w.bytes == encoded { MultiResult.encode([.check], to: &$0) })
    }
}
