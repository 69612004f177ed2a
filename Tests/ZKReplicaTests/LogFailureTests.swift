import Testing
import ZKCore
import ZKProtocol
@testable import ZKReplica

/// When the log cannot be written (ENOSPC, EIO), txns that were not durable are dropped and their
/// requests fail; later writes are refused at once; reads go on.
@Suite struct LogFailureTests {
    @Test func unsyncedWritesFailAndLaterWritesAreRefused() throws {
        let h = Harness()
        let (c, _) = h.connect()
        #expect(h.create(c, "/kept").err == .ok)
        let lost = h.send(c, .create, CreateRequest(path: "/lost", data: [], acl: ACL.openACLUnsafe, flags: 0))
        let readBehind = h.send(c, .getData, PathWatchRequest(path: "/kept", watch: false))
        h.handle(.logFailed("write: No space left on device"))
        let messages = h.take(c)
        #expect(messages.compactMap(\.reply).map(\.xid) == [lost, readBehind], "replies stay in request order")
        #expect(messages.first?.reply?.err == .systemError)
        #expect(messages.last?.reply?.err == .ok)
        #expect(h.replica.tree.node("/lost") == nil)
        #expect(h.replica.lastProposedZxid == h.replica.lastProcessedZxid, "dropped zxids are reused after a restart")
        #expect(h.replica.logFailure != nil)

        let before = h.logEntries.count
        let refused = h.send(c, .setData, SetDataRequest(path: "/kept", data: [1], version: -1))
        let reply = try #require(h.take(c).compactMap(\.reply).first)
        #expect(reply.xid == refused && reply.err == .systemError)
        #expect(h.logEntries.count == before, "nothing more is appended")
        #expect(h.getData(c, "/kept").err == .ok, "reads still work")
        #expect(h.replica.outstandingRequests == 0)
    }

    @Test func newSessionsAndExpiryWaitForTheLog() {
        let h = Harness()
        let (_, session) = h.connect(timeoutMs: 4000)
        h.handle(.logFailed("EIO"))
        let before = h.logEntries.count
        h.advance(ms: 60_000)
        h.tick()
        #expect(h.logEntries.count == before, "expiring a session needs a closeSession txn")
        #expect(h.replica.sessionTable.map(\.0) == [session])
        let c = h.open()
        h.sendConnect(c, ConnectRequest(timeOut: 4000))
        #expect(h.take(c).contains { $0.isClose }, "a new session cannot be created")
    }
}
