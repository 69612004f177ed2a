import Testing
import ZKCore
import ZKProtocol
@testable import ZKReplica

/// Client input never crashes the server: seeded random garbage — random opcodes with random bodies,
/// truncated valid records, random handshakes — is fed to the replica; it must answer or close, and
/// its bookkeeping must stay consistent. A failing seed is printed by the expectation.
@Suite struct GarbageInputTests {
    private static let opcodes: [Int32] = OpCode.allCases.map(\.rawValue) + [-100, 23, 99, 108, Int32.max, Int32.min]

    private static func randomBytes(_ count: Int, _ random: inout SeededRandom) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
    }

    @Test(arguments: 0..<40)
    func randomRequestsAfterAHandshake(seed: Int) {
        var random = SeededRandom(seed: UInt64(seed))
        let h = Harness()
        let (c, _) = h.connect()
        for _ in 0..<50 {
            let op = GarbageInputTests.opcodes.randomElement(using: &random)!
            var w = JuteWriter()
            RequestHeader(xid: Int32.random(in: 1...1000, using: &random), type: op).encode(to: &w)
            // Sometimes a plausible prefix (a path), then random bytes of random length.
            if Bool.random(using: &random) { w.writeString("/g\(Int.random(in: 0...3, using: &random))") }
            w.bytes += GarbageInputTests.randomBytes(Int.random(in: 0...64, using: &random), &random)
            h.sendFrame(c, w.bytes)
            h.sync()
            h.tick()
        }
        #expect(h.replica.outstandingRequests >= 0, "seed \(seed)")
        #expect(h.replica.lastProposedZxid == h.replica.lastProcessedZxid, "seed \(seed): every txn committed")
    }

    @Test(arguments: 0..<40)
    func randomHandshakesAndFrames(seed: Int) {
        var random = SeededRandom(seed: UInt64(seed) &+ 1000)
        let h = Harness()
        for _ in 0..<20 {
            let c = h.open()
            let count = Int.random(in: 0...60, using: &random)
            h.sendFrame(c, GarbageInputTests.randomBytes(count, &random))
            h.sendFrame(c, GarbageInputTests.randomBytes(Int.random(in: 0...40, using: &random), &random))
            h.sync()
            if Bool.random(using: &random) { h.disconnect(c) }
        }
        #expect(h.replica.outstandingRequests >= 0, "seed \(seed)")
    }

    /// Every valid request record, cut at every length: never a crash, always an answer or a close.
    @Test func truncatedRecordsOfEveryOpcode() {
        let h = Harness()
        let (c, _) = h.connect()
        let records: [(OpCode, [UInt8])] = [
            (.create, CreateRequest(path: "/t", data: [1, 2], acl: ACL.openACLUnsafe, flags: 0).serialized()),
            (.createTTL, CreateTTLRequest(path: "/t", data: [1], acl: ACL.openACLUnsafe, flags: 5, ttl: 10).serialized()),
            (.setData, SetDataRequest(path: "/t", data: [1], version: -1).serialized()),
            (.setACL, SetACLRequest(path: "/t", acl: ACL.openACLUnsafe, version: -1).serialized()),
            (.getData, PathWatchRequest(path: "/t", watch: true).serialized()),
            (.setWatches, SetWatches(relativeZxid: 0, dataWatches: ["/a"], existWatches: [], childWatches: ["/b"]).serialized()),
            (.addWatch, PathTypeRequest(path: "/t", type: 1).serialized()),
            (.delete, PathVersionRequest(path: "/t", version: -1).serialized()),
        ]
        for (op, record) in records {
            for cut in 0..<record.count {
                var w = JuteWriter()
                RequestHeader(xid: 1, type: op.rawValue).encode(to: &w)
                w.bytes += record[0..<cut]
                h.sendFrame(c, w.bytes)
                h.sync()
            }
        }
        #expect(h.replica.lastProposedZxid == h.replica.lastProcessedZxid)
    }
}
