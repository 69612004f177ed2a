import Dispatch
import Testing
import ZKCore
import ZKProtocol
@testable import ZKClient

/// Operations against a real in-process zk-server: chroot, pipelining, persistent watches,
/// removeWatches, multi, auth.
@Suite struct ClientOperationTests {
    @Test func chrootMakesEveryPathRelative() throws {
        let server = try TestServer()
        defer { server.stop() }
        let proxy = try TestProxy(upstreamPort: server.port)
        defer { proxy.stop() }
        let root = try connectedClient(server.connectString)
        defer { root.close() }
        try root.create("/app")
        let events = EventRecorder()
        let zk = try connectedClient(proxy.connectString + "/app", watcher: events.watcher)
        defer { zk.close() }

        #expect(try zk.create("/x", data: bytes("1")) == "/x")
        #expect(try zk.create("/x/s-", mode: .persistentSequential) == "/x/s-0000000000")
        let (path, stat) = try zk.createWithStat("/y", data: bytes("yy"))
        #expect(path == "/y" && stat.dataLength == 2)
        try zk.create("/e", mode: .ephemeral)
        #expect(try zk.getChildren("/").sorted() == ["e", "x", "y"])
        #expect(try zk.getChildrenWithStat("/x").0 == ["s-0000000000"])
        #expect(try root.getChildren("/app").sorted() == ["e", "x", "y"], "server side the nodes are under /app")
        #expect(try root.getData("/app/x").0 == bytes("1"))
        #expect(try zk.exists("/app") == nil)
        #expect(try zk.getEphemerals() == ["/e"])
        #expect(try zk.getAllChildrenNumber("/") == 4)
        try zk.sync("/")
        #expect(throws: ZooKeeperError(.noNode, path: "/none")) { try zk.getData("/none") }
        #expect(try zk.multi([.create(.create, CreateRequest(path: "/m", data: nil, acl: ACL.openACLUnsafe, flags: 0))])
                == [.create(path: "/m")])

        _ = try zk.getData("/x", watch: .default)
        _ = try zk.getChildren("/", watch: .default)
        #expect(try zk.exists("/z", watch: .default) == nil)
        try zk.addWatch("/y", mode: .persistentRecursive, watch: .default)
        try root.setData("/app/x", data: bytes("2"))
        try root.create("/app/z")
        try root.create("/app/y/deep")
        #expect(events.wait { all in
            [node(.nodeDataChanged, "/x"), node(.nodeChildrenChanged, "/"), node(.nodeCreated, "/z"),
             node(.nodeCreated, "/y/deep")].allSatisfy(all.contains)
        }, "\(events.all)")

        // SetWatches after a reconnect carries the chroot too: a change made while away is reported.
        _ = try zk.getData("/x", watch: .default)
        proxy.hold()
        proxy.dropConnections()
        #expect(events.wait(forState: .disconnected))
        try root.setData("/app/x", data: bytes("3"))
        try root.create("/app/y/deeper")  // persistent watches are re-added, not caught up (Java)
        proxy.release()
        #expect(events.wait { $0.filter { $0 == node(.nodeDataChanged, "/x") }.count == 2 }, "\(events.all)")
        try root.setData("/app/y/deep", data: [1])
        #expect(events.wait(for: node(.nodeDataChanged, "/y/deep")))
        try zk.delete("/y/deep")
        #expect(try root.exists("/app/y/deep") == nil)
    }

    @Test func thousandsOfPipelinedRequestsCompleteInOrder() throws {
        let server = try TestServer()
        defer { server.stop() }
        let zk = try connectedClient(server.connectString)
        defer { zk.close() }
        try zk.create("/pipe")
        let count = 5000
        let log = CompletionLog()
        let start = DispatchTime.now()
        for i in 0..<count {
            // A create and a read of the same node: the read sees the create (one session, FIFO).
            zk.submit(.create(path: "/pipe/n\(i)", data: bytes("\(i)"), acl: ACL.openACLUnsafe, mode: .persistent, ttl: nil, withStat: false),
                      completion: log.callback(2 * i))
            zk.submit(.getData(path: "/pipe/n\(i)", watch: .none), completion: log.callback(2 * i + 1))
        }
        #expect(log.wait(forCount: 2 * count, timeoutMs: 15_000), "completed \(log.count) of \(2 * count)")
        let elapsedMs = (DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1_000_000
        let results = log.all
        #expect(results.map(\.0) == Array(0..<(2 * count)), "completions in submission order")
        var failures = 0
        for (tag, result) in results {
            let i = tag / 2
            switch (tag % 2, result) {
            case (0, .success(.created(let path, nil))) where path == "/pipe/n\(i)": break
            case (1, .success(.data(let data, _))) where data == bytes("\(i)"): break
            default:
                failures += 1
                if failures <= 3 { Issue.record("request \(tag): \(result)") }
            }
        }
        #expect(failures == 0)
        #expect(try zk.getAllChildrenNumber("/pipe") == Int32(count))
        #expect(elapsedMs < 10_000, "10000 pipelined requests took \(elapsedMs) ms")
    }

    @Test func persistentWatchSeesDataAndChildEventsOfItsNode() throws {
        let server = try TestServer()
        defer { server.stop() }
        let other = try connectedClient(server.connectString)
        defer { other.close() }
        let zk = try connectedClient(server.connectString)
        defer { zk.close() }
        let watch = EventRecorder()
        try zk.addWatch("/pw", mode: .persistent, watch: .custom(watch.watcher))
        try other.create("/pw")
        try other.setData("/pw", data: [1])
        try other.create("/pw/c")
        try other.setData("/pw/c", data: [1])
        try other.delete("/pw/c")
        try other.delete("/pw")
        let expected = [node(.nodeCreated, "/pw"), node(.nodeDataChanged, "/pw"), node(.nodeChildrenChanged, "/pw"),
                        node(.nodeChildrenChanged, "/pw"), node(.nodeDeleted, "/pw")]
        #expect(watch.wait { $0.filter { $0.type != .none }.count >= expected.count })
        #expect(watch.nodeEvents == expected)
        // Still there after firing, and re-registered after a reconnect.
        zk.dropConnectionForTesting()
        #expect(watch.wait { $0.filter { $0.type == .none }.map(\.state) == [.disconnected, .syncConnected] }, "\(watch.all)")
        // SyncConnected comes with the ConnectResponse; SetWatches2 is sent after it (as in Java), and
        // a persistent watch gets no catch-up events, so wait until the server has processed it.
        try barrier(zk)
        try other.create("/pw")
        #expect(watch.wait { $0.filter { $0.type != .none }.count == expected.count + 1 })
        try barrier(zk)
        #expect(watch.nodeEvents == expected + [node(.nodeCreated, "/pw")])
    }

    @Test func recursiveWatchSeesTheWholeSubtreeButNoChildEvents() throws {
        let server = try TestServer()
        defer { server.stop() }
        let other = try connectedClient(server.connectString)
        defer { other.close() }
        let zk = try connectedClient(server.connectString)
        defer { zk.close() }
        let watch = EventRecorder()
        try zk.addWatch("/rw", mode: .persistentRecursive, watch: .custom(watch.watcher))
        try other.create("/rw")
        try other.create("/rw/a")
        try other.create("/rw/a/b")
        try other.setData("/rw/a/b", data: [1])
        try other.delete("/rw/a/b")
        try other.create("/rwx")  // a sibling, not in the subtree
        let expected = [node(.nodeCreated, "/rw"), node(.nodeCreated, "/rw/a"), node(.nodeCreated, "/rw/a/b"),
                        node(.nodeDataChanged, "/rw/a/b"), node(.nodeDeleted, "/rw/a/b")]
        #expect(watch.wait(for: node(.nodeDeleted, "/rw/a/b")))
        try barrier(zk)
        #expect(watch.nodeEvents == expected)
        // removeWatches(any) ends it, with a PersistentWatchRemoved event.
        try zk.removeWatches("/rw", type: .any)
        try barrier(zk)
        #expect(watch.nodeEvents.last == node(.persistentWatchRemoved, "/rw"))
        try other.create("/rw/after")
        try barrier(zk)
        #expect(watch.nodeEvents.count == expected.count + 1)
    }

    @Test func removeWatchesRemovesLocallyAndOnTheServer() throws {
        let server = try TestServer()
        defer { server.stop() }
        let other = try connectedClient(server.connectString)
        defer { other.close() }
        let zk = try connectedClient(server.connectString)
        defer { zk.close() }
        try other.create("/rm")
        let data = EventRecorder()
        let child = EventRecorder()
        _ = try zk.getData("/rm", watch: .custom(data.watcher))
        _ = try zk.getChildren("/rm", watch: .custom(child.watcher))
        _ = try zk.call(.checkWatches(path: "/rm", type: .data))

        try zk.removeWatches("/rm", type: .data)
        try barrier(zk)
        #expect(data.nodeEvents == [node(.dataWatchRemoved, "/rm")])
        #expect(throws: ZooKeeperError(.noWatcher, path: "/rm")) { try zk.call(.checkWatches(path: "/rm", type: .data)) }
        _ = try zk.call(.checkWatches(path: "/rm", type: .children))
        try other.setData("/rm", data: [1])
        try barrier(zk)
        #expect(data.nodeEvents.count == 1, "the removed data watch did not fire")
        try other.create("/rm/c")
        #expect(child.wait(for: node(.nodeChildrenChanged, "/rm")))
        #expect(throws: ZooKeeperError(.noWatcher, path: "/rm")) { try zk.removeWatches("/rm", type: .data) }
        #expect(child.nodeEvents.count == 1 && data.nodeEvents.count == 1)
    }

    @Test func multiSucceedsAtomicallyOrThrowsTheFirstError() throws {
        let server = try TestServer()
        defer { server.stop() }
        let zk = try connectedClient(server.connectString)
        defer { zk.close() }
        let open = ACL.openACLUnsafe
        let results = try zk.multi([
            .create(.create, CreateRequest(path: "/m1", data: bytes("a"), acl: open, flags: 0)),
            .create(.create2, CreateRequest(path: "/m2", data: nil, acl: open, flags: 0)),
            .setData(SetDataRequest(path: "/m1", data: bytes("b"), version: 0)),
            .check(PathVersionRequest(path: "/m1", version: 1)),
            .delete(PathVersionRequest(path: "/m2", version: 0)),
        ])
        #expect(results.count == 5)
        if results.count == 5 {
            #expect(results[0] == .create(path: "/m1"))
            // Apache rebuilds a multi's creates from their flags (Op.create): create2 is answered as create.
            #expect(results[1] == .create(path: "/m2"))
            if case .setData(let stat) = results[2] { #expect(stat.version == 1) } else { Issue.record("\(results[2])") }
            #expect(results[3] == .check && results[4] == .delete)
        }
        #expect(try zk.getData("/m1").0 == bytes("b"))
        #expect(try zk.exists("/m2") == nil)

        let failing: [MultiOp] = [
            .create(.create, CreateRequest(path: "/m3", data: nil, acl: open, flags: 0)),
            .delete(PathVersionRequest(path: "/missing", version: -1)),
            .create(.create, CreateRequest(path: "/m1", data: nil, acl: open, flags: 0)),
        ]
        #expect(throws: ZooKeeperError(.noNode)) { try zk.multi(failing) }
        #expect(try zk.exists("/m3") == nil, "nothing of a failed multi is applied")
        #expect(try zk.call(.multi(failing)) == .multi([.error(.ok), .error(.noNode), .error(.runtimeInconsistency)]))
        #expect(throws: ZooKeeperError(.badVersion)) {
            try zk.multi([.check(PathVersionRequest(path: "/m1", version: 7)),
                          .create(.create, CreateRequest(path: "/m1", data: nil, acl: open, flags: 0))])
        }
        guard case .multi(let reads) = try zk.call(.multiRead([.getData(PathWatchRequest(path: "/m1", watch: false)),
                                                                .getChildren(PathWatchRequest(path: "/", watch: false)),
                                                                .getData(PathWatchRequest(path: "/missing", watch: false))])) else {
            Issue.record("multiRead gave no multi result")
            return
        }
        #expect(reads.count == 3)
        if reads.count == 3 {
            if case .getData(let d, _) = reads[0] { #expect(d == bytes("b")) } else { Issue.record("\(reads[0])") }
            if case .getChildren(let c) = reads[1] { #expect(c.contains("m1")) } else { Issue.record("\(reads[1])") }
            #expect(reads[2] == .error(.noNode))
        }
    }

    @Test func digestAuthGuardsNodesAndIsReplayedAfterReconnect() throws {
        let server = try TestServer()
        defer { server.stop() }
        let events = EventRecorder()
        let alice = try connectedClient(server.connectString, watcher: events.watcher)
        defer { alice.close() }
        try alice.addAuth(scheme: "digest", auth: bytes("alice:secret"))
        try alice.create("/secret", data: bytes("s"), acl: ACL.creatorAllACL)
        #expect(try alice.getData("/secret").0 == bytes("s"))
        #expect(try alice.whoAmI().contains(ClientInfo(authScheme: "digest", user: "alice")))

        let stranger = try connectedClient(server.connectString)
        defer { stranger.close() }
        #expect(throws: ZooKeeperError(.noAuth, path: "/secret")) { try stranger.getData("/secret") }
        try stranger.addAuth(scheme: "digest", auth: bytes("alice:wrong"))
        #expect(throws: ZooKeeperError(.noAuth, path: "/secret")) { try stranger.getData("/secret") }
        try stranger.addAuth(scheme: "digest", auth: bytes("alice:secret"))
        #expect(try stranger.getData("/secret").0 == bytes("s"))

        // Auth lives on the connection; the client sends it again on the new one.
        alice.dropConnectionForTesting()
        #expect(events.wait { $0.map(\.state) == [.syncConnected, .disconnected, .syncConnected] })
        #expect(try alice.getData("/secret").0 == bytes("s"))
        #expect(try alice.setData("/secret", data: bytes("t")).version == 1)
    }

    @Test func unknownAuthSchemeFailsTheClient() throws {
        let server = try TestServer()
        defer { server.stop() }
        let events = EventRecorder()
        let zk = try connectedClient(server.connectString, watcher: events.watcher)
        defer { zk.close() }
        try zk.addAuth(scheme: "no-such-scheme", auth: bytes("x"))
        #expect(events.wait(forState: .authFailed))
        #expect(zk.state == .authFailed)
        expectError(.authFailed) { try zk.exists("/") }
    }
}
