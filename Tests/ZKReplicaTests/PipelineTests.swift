import Testing
@testable import ZKCore
@testable import ZKProtocol
@testable import ZKDataTree
@testable import ZKReplica

private func createRecord(_ path: String, _ mode: CreateMode = .persistent, data: [UInt8]? = []) -> CreateRequest {
    CreateRequest(path: path, data: data, acl: ACL.openACLUnsafe, flags: mode.rawValue)
}

@Suite struct DurabilityTests {
    @Test func writeIsAnsweredOnlyAfterItsZxidIsSynced() throws {
        let h = Harness()
        let (c, _) = h.connect()
        let xid = h.send(c, .create, createRecord("/a", data: [1]))
        #expect(h.unsynced.map(\.zxid) == [2])
        #expect(h.take(c).isEmpty)
        #expect(h.replica.tree.node("/a") == nil, "not applied before it is durable")
        #expect(h.replica.outstandingRequests == 1)
        h.sync(through: 1)  // an older zxid changes nothing
        #expect(h.take(c).isEmpty)
        h.sync(through: 2)
        let messages = h.take(c)
        #expect(messages.count == 1)
        let reply = try #require(messages.first?.reply)
        #expect(reply.xid == xid)
        #expect(reply.err == .ok)
        #expect(reply.zxid == 2)
        #expect(reply.path == "/a")
        #expect(h.replica.outstandingRequests == 0)
    }

    @Test func readQueuedBehindAnUnsyncedWriteWaits() throws {
        let h = Harness()
        let (c, _) = h.connect()
        let w1 = h.send(c, .create, createRecord("/a"))
        let w2 = h.send(c, .setData, SetDataRequest(path: "/a", data: [9], version: -1))
        let r1 = h.send(c, .getData, PathWatchRequest(path: "/a", watch: false))
        let p = h.send(c, .ping, xid: SpecialXid.ping)
        #expect(h.take(c).isEmpty)
        #expect(h.replica.outstandingRequests == 4)
        h.sync(through: 2)
        let first = h.take(c).compactMap(\.reply)
        #expect(first.map(\.xid) == [w1])
        h.sync(through: 3)
        let rest = h.take(c).compactMap(\.reply)
        #expect(rest.map(\.xid) == [w2, r1, p])
        // The read sees the write before it.
        #expect(rest[1].dataAndStat?.0 == [9])
        #expect(rest[1].zxid == 3)
        #expect(h.replica.outstandingRequests == 0)
    }

    @Test func readsOnAnotherConnectionDoNotWaitAndSeeOnlyCommittedState() {
        let h = Harness()
        let (c1, _) = h.connect()
        let (c2, _) = h.connect()
        h.send(c1, .create, createRecord("/a"))
        let xid = h.send(c2, .exists, PathWatchRequest(path: "/a", watch: false))
        let replies = h.take(c2).compactMap(\.reply)
        #expect(replies.map(\.xid) == [xid])
        #expect(replies.first?.err == .noNode)
        #expect(h.take(c1).isEmpty)
        h.sync()
        #expect(h.take(c1).compactMap(\.reply).map(\.err) == [.ok])
        #expect(h.exists(c2, "/a").err == .ok)
    }

    @Test func oneSyncAnswersABatchOfWrites() {
        let h = Harness()
        let (c, _) = h.connect()
        let xids = (0..<5).map { h.send(c, .create, createRecord("/n\($0)")) }
        #expect(h.unsynced.count == 5)
        h.sync()
        let replies = h.take(c).compactMap(\.reply)
        #expect(replies.map(\.xid) == xids)
        // Each reply carries the last processed zxid when it is answered: its own txn's.
        #expect(replies.map(\.zxid) == [2, 3, 4, 5, 6])
        #expect(replies.allSatisfy { $0.err == .ok })
    }

    @Test func longPipelineIsAnsweredInOrder() {
        let h = Harness()
        let (c, _) = h.connect()
        var expected: [Int32] = []
        for i in 0..<300 {
            if i % 3 == 2 {
                expected.append(h.send(c, .exists, PathWatchRequest(path: "/n\(i - 1)", watch: false)))
            } else {
                expected.append(h.send(c, .create, createRecord("/n\(i)")))
            }
            if i % 50 == 49, let last = h.logEntries.last { h.sync(through: last.zxid - 7) }
        }
        h.sync()
        let replies = h.take(c).compactMap(\.reply)
        #expect(replies.map(\.xid) == expected)
        #expect(replies.allSatisfy { $0.err == .ok })
        #expect(h.replica.outstandingRequests == 0)
    }

    @Test func outstandingRequestsDropWhenAConnectionGoes() {
        let h = Harness()
        let (c, _) = h.connect()
        h.send(c, .create, createRecord("/a"))
        h.send(c, .getData, PathWatchRequest(path: "/", watch: false))
        #expect(h.replica.outstandingRequests == 2)
        h.disconnect(c)
        #expect(h.replica.outstandingRequests == 0)
        h.sync()  // the txn still commits
        #expect(h.replica.tree.node("/a") != nil)
        #expect(h.replica.outstandingRequests == 0)
    }
}

@Suite struct CreateTests {
    @Test func createAndCreate2ResponseShapes() throws {
        let h = Harness()
        let (c, _) = h.connect()
        let plain = h.create(c, "/a", data: [1, 2])
        #expect(plain.err == .ok)
        #expect(plain.body == encodedString("/a"))
        let two = h.create(c, "/b", data: [1, 2, 3], op: .create2)
        let (path, stat) = try #require(two.pathAndStat)
        #expect(path == "/b")
        #expect(stat.czxid == two.zxid && stat.mzxid == two.zxid && stat.pzxid == two.zxid)
        #expect(stat.ctime == h.clock.wallMs && stat.mtime == h.clock.wallMs)
        #expect(stat.dataLength == 3)
        #expect(stat.version == 0 && stat.cversion == 0 && stat.aversion == 0)
        let container = h.create(c, "/c", mode: .container, op: .createContainer)
        #expect(container.err == .ok)
        #expect(container.pathAndStat?.1.ephemeralOwner == 0)
        #expect(h.replica.tree.containers == ["/c"])
    }

    @Test func sequentialNamesComeFromTheParentsCVersion() throws {
        let h = Harness()
        let (c, _) = h.connect()
        #expect(h.create(c, "/q").err == .ok)
        #expect(h.create(c, "/q/n-", mode: .persistentSequential).path == "/q/n-0000000000")
        #expect(h.create(c, "/q/n-", mode: .persistentSequential).path == "/q/n-0000000001")
        #expect(h.delete(c, "/q/n-0000000000").err == .ok)
        // Deletes do not bump the stored cversion.
        #expect(h.create(c, "/q/x").err == .ok)
        #expect(h.create(c, "/q/n-", mode: .ephemeralSequential).path == "/q/n-0000000003")
        // The root counts /q.
        #expect(h.create(c, "/s", mode: .persistentSequential).path == "/s0000000001")
    }

    @Test func sequentialCreateWithTrailingSlash() {
        let h = Harness()
        let (c, _) = h.connect()
        #expect(h.create(c, "/a").err == .ok)
        let reply = h.create(c, "/a/", mode: .persistentSequential)
        #expect(reply.err == .ok)
        #expect(reply.path == "/a/0000000000")
        #expect(h.replica.tree.node("/a/0000000000") != nil)
    }

    @Test(arguments: [(Int32(-5), "-000000005"), (0, "0000000000"), (42, "0000000042"), (Int32.max, "2147483647")])
    func sequenceSuffixIsJavaPercent010d(n: Int32, expected: String) {
        #expect(Preparer.sequenceSuffix(n) == expected)
    }

    @Test func ephemeralOwnerIsTheSession() throws {
        let h = Harness()
        let (c, session) = h.connect()
        let reply = h.create(c, "/e", mode: .ephemeral, op: .create2)
        #expect(reply.pathAndStat?.1.ephemeralOwner == session.rawValue)
        #expect(h.exists(c, "/e").stat?.ephemeralOwner == session.rawValue)
        #expect(Array(h.replica.tree.ephemerals(of: session)) == ["/e"])
        let list = h.request(c, .getEphemerals, PathRecord(path: "/"))
        #expect(list.children == ["/e"])
    }

    @Test(arguments: [
        ("/a", CreateMode.persistent, ErrorCode.nodeExists),
        ("/zookeeper", .persistent, .nodeExists),
        ("/missing/x", .persistent, .noNode),
        ("/eph/child", .persistent, .noChildrenForEphemerals),
        ("/eph/child", .ephemeralSequential, .noChildrenForEphemerals),
        ("a", .persistent, .badArguments),
        ("", .persistent, .badArguments),
        ("/a/", .persistent, .badArguments),
        ("//b", .persistent, .badArguments),
        // As in Apache, the parent ("/a/") is looked up before the path is validated.
        ("/a//b", .persistent, .noNode),
        ("/.", .persistent, .badArguments),
        ("/a/..", .persistent, .badArguments),
        ("/x\u{0}y", .persistent, .badArguments),
        ("/x\u{1}", .persistent, .badArguments),
        ("/ttl", .persistentWithTTL, .unimplemented),
    ])
    func createErrors(path: String, mode: CreateMode, expected: ErrorCode) {
        let h = Harness()
        let (c, _) = h.connect()
        #expect(h.create(c, "/a").err == .ok)
        #expect(h.create(c, "/eph", mode: .ephemeral).err == .ok)
        let zxidBefore = h.logEntries.last!.zxid
        let reply = h.create(c, path, mode: mode)
        #expect(reply.err == expected)
        #expect(reply.body.isEmpty, "an error reply is the header only")
        // A failed write is still an (error) txn with its own zxid.
        #expect(h.logEntries.last?.zxid == zxidBefore + 1)
        #expect(h.logEntries.last?.header.type == OpCode.error.rawValue)
        #expect(h.logEntries.last?.txn == .error(expected))
        #expect(reply.zxid == zxidBefore + 1)
    }

    @Test func unknownCreateFlagsAreBadArguments() {
        let h = Harness()
        let (c, _) = h.connect()
        let reply = h.request(c, .create, CreateRequest(path: "/a", data: nil, acl: ACL.openACLUnsafe, flags: 7))
        #expect(reply.err == .badArguments)
    }

    @Test func ttlCreateWithExtendedTypes() throws {
        let h = Harness { $0.extendedTypesEnabled = true }
        let (c, _) = h.connect()
        let ok = h.request(c, .createTTL, CreateTTLRequest(path: "/t", data: [], acl: ACL.openACLUnsafe, flags: 5, ttl: 1000))
        #expect(ok.err == .ok)
        #expect(ok.pathAndStat?.1.ephemeralOwner == 0)
        #expect(h.replica.tree.ttls == ["/t"])
        let seq = h.request(c, .createTTL, CreateTTLRequest(path: "/t/s-", data: [], acl: ACL.openACLUnsafe, flags: 6, ttl: 10))
        #expect(seq.pathAndStat?.0 == "/t/s-0000000000")
        for (flags, ttl) in [(Int32(5), Int64(0)), (5, -1), (5, EphemeralOwner.ttlMax + 1), (0, 1000)] {
            let bad = h.request(c, .createTTL, CreateTTLRequest(path: "/u", data: [], acl: ACL.openACLUnsafe, flags: flags, ttl: ttl))
            #expect(bad.err == .badArguments, "flags \(flags) ttl \(ttl)")
        }
    }

    @Test func pipelinedWritesSeeEachOther() {
        let h = Harness()
        let (c, _) = h.connect()
        let x1 = h.send(c, .create, createRecord("/x"))
        let x2 = h.send(c, .create, createRecord("/x/y"))
        let x3 = h.send(c, .create, createRecord("/x/y/z", .persistentSequential))
        let x4 = h.send(c, .setData, SetDataRequest(path: "/x/y", data: [1], version: 0))
        let x5 = h.send(c, .setData, SetDataRequest(path: "/x/y", data: [2], version: 1))
        h.sync()
        let replies = h.take(c).compactMap(\.reply)
        #expect(replies.map(\.xid) == [x1, x2, x3, x4, x5])
        #expect(replies.map(\.err) == [.ok, .ok, .ok, .ok, .ok])
        #expect(replies[2].path == "/x/y/z0000000000")
        #expect(replies[4].stat?.version == 2)
        #expect(h.replica.tree.node("/x/y")?.data == [2])
    }

    @Test func pipelinedDuplicateCreateFails() {
        let h = Harness()
        let (c1, _) = h.connect()
        let (c2, _) = h.connect()
        h.send(c1, .create, createRecord("/x"))
        h.send(c2, .create, createRecord("/x"))
        h.send(c1, .create, createRecord("/x"))
        h.sync()
        #expect(h.take(c1).compactMap(\.reply).map(\.err) == [.ok, .nodeExists])
        #expect(h.take(c2).compactMap(\.reply).map(\.err) == [.nodeExists])
    }

    @Test func pipelinedDeleteThenCreate() {
        let h = Harness()
        let (c, _) = h.connect()
        #expect(h.create(c, "/x").err == .ok)
        h.send(c, .delete, PathVersionRequest(path: "/x", version: -1))
        h.send(c, .create, createRecord("/x/child"))
        h.send(c, .create, createRecord("/x"))
        h.sync()
        #expect(h.take(c).compactMap(\.reply).map(\.err) == [.ok, .noNode, .ok])
    }
}

@Suite struct UpdateTests {
    @Test func setDataVersions() throws {
        let h = Harness()
        let (c, _) = h.connect()
        #expect(h.create(c, "/a", data: [0]).err == .ok)
        let first = h.setData(c, "/a", [1], version: 0)
        #expect(first.err == .ok)
        let stat = try #require(first.stat)
        #expect(stat.version == 1)
        #expect(stat.mzxid == first.zxid)
        #expect(stat.czxid == 2)
        #expect(stat.dataLength == 1)
        #expect(h.setData(c, "/a", [2], version: 0).err == .badVersion)
        #expect(h.setData(c, "/a", [3], version: -1).stat?.version == 2)
        #expect(h.setData(c, "/missing", [3]).err == .noNode)
        #expect(h.setData(c, "bad", [3]).err == .badArguments)
        let data = h.getData(c, "/a")
        #expect(data.dataAndStat?.0 == [3])
        #expect(data.dataAndStat?.1.version == 2)
    }

    @Test func deleteRules() {
        let h = Harness()
        let (c, _) = h.connect()
        #expect(h.create(c, "/a").err == .ok)
        #expect(h.create(c, "/a/b").err == .ok)
        #expect(h.delete(c, "/a").err == .notEmpty)
        #expect(h.delete(c, "/a/b", version: 3).err == .badVersion)
        #expect(h.delete(c, "/a/b", version: 0).err == .ok)
        #expect(h.delete(c, "/a/b").err == .noNode)
        #expect(h.delete(c, "/a").err == .ok)
        for special in ["/zookeeper", "/zookeeper/quota", "/zookeeper/config", "/"] {
            #expect(h.delete(c, special).err == .badArguments, "\(special)")
        }
        #expect(h.delete(c, "nope").err == .badArguments)
    }

    @Test func setACLVersions() throws {
        let h = Harness()
        let (c, _) = h.connect()
        #expect(h.create(c, "/a").err == .ok)
        let reply = h.request(c, .setACL, SetACLRequest(path: "/a", acl: ACL.readACLUnsafe + [ACL(perms: 30, id: .anyone)], version: 0))
        #expect(reply.err == .ok)
        #expect(reply.stat?.aversion == 1)
        #expect(h.request(c, .setACL, SetACLRequest(path: "/a", acl: ACL.openACLUnsafe, version: 0)).err == .badVersion)
        let acl = h.request(c, .getACL, PathRecord(path: "/a"))
        #expect(acl.aclAndStat?.0 == ACL.readACLUnsafe + [ACL(perms: 30, id: .anyone)])
        #expect(acl.aclAndStat?.1.aversion == 1)
    }

    @Test func readRequests() throws {
        let h = Harness()
        let (c, _) = h.connect()
        for path in ["/r", "/r/a", "/r/b", "/r/a/x"] { #expect(h.create(c, path, data: [7]).err == .ok) }
        #expect(h.getChildren(c, "/r").children?.sorted() == ["a", "b"])
        let two = h.request(c, .getChildren2, PathWatchRequest(path: "/r", watch: false))
        #expect(two.body.count > 4 + 68)
        #expect(h.request(c, .getAllChildrenNumber, PathRecord(path: "/r")).int == 3)
        #expect(h.request(c, .getAllChildrenNumber, PathRecord(path: "/none")).err == .noNode)
        #expect(h.request(c, .sync, PathRecord(path: "/r")).path == "/r")
        #expect(h.getData(c, "/none").err == .noNode)
        #expect(h.exists(c, "/none").err == .noNode)
        let exists = try #require(h.exists(c, "/r").stat)
        #expect(exists.numChildren == 2)
        #expect(exists.cversion == 2)
        let whoAmI = h.request(c, .whoAmI)
        var r = JuteReader(whoAmI.body)
        #expect(try r.readVector(ClientInfo.self) == [ClientInfo(authScheme: "ip", user: "127.0.0.1")])
    }
}

@Suite struct MultiTests {
    private func multiBody(_ ops: [MultiOp]) -> [UInt8] {
        var w = JuteWriter()
        MultiOp.encode(ops, to: &w)
        return w.bytes
    }

    @Test func successfulMulti() throws {
        let h = Harness()
        let (c, _) = h.connect()
        #expect(h.create(c, "/old").err == .ok)
        let reply = h.request(c, .multi, body: multiBody([
            .create(.create, createRecord("/m", data: [1])),
            .create(.create2, createRecord("/m/a")),
            .create(.createContainer, CreateRequest(path: "/m/c", data: nil, acl: ACL.openACLUnsafe, flags: 4)),
            .setData(SetDataRequest(path: "/m", data: [2], version: 0)),
            .check(PathVersionRequest(path: "/m", version: 1)),
            .delete(PathVersionRequest(path: "/old", version: 0)),
        ]))
        #expect(reply.err == .ok)
        let results = try #require(reply.multi)
        #expect(results.count == 6)
        #expect(results[0] == .create(path: "/m"))
        #expect(results[1] == .create(path: "/m/a"))
        guard case .create2(let cpath, _) = results[2] else { Issue.record("container result \(results[2])"); return }
        #expect(cpath == "/m/c")
        guard case .setData(let stat) = results[3] else { Issue.record("setData result \(results[3])"); return }
        #expect(stat.version == 1)
        #expect(stat.mzxid == reply.zxid)
        #expect(results[4] == .check)
        #expect(results[5] == .delete)
        // One txn, one zxid.
        #expect(h.logEntries.last?.header.type == OpCode.multi.rawValue)
        #expect(h.replica.tree.node("/m")?.stat.czxid == reply.zxid)
        #expect(h.replica.tree.node("/old") == nil)
    }

    @Test func failedMultiLayoutAndAtomicity() throws {
        let h = Harness()
        let (c, _) = h.connect()
        let reply = h.request(c, .multi, body: multiBody([
            .create(.create, createRecord("/ma")),
            .create(.create, createRecord("/ma/b")),
            .setData(SetDataRequest(path: "/missing", data: [1], version: -1)),
            .create(.create, createRecord("/mc")),
            .delete(PathVersionRequest(path: "/ma", version: -1)),
        ]))
        #expect(reply.err == .ok, "a failed multi still has err 0 in its header")
        #expect(reply.multi == [.error(.ok), .error(.ok), .error(.noNode), .error(.runtimeInconsistency), .error(.runtimeInconsistency)])
        // Raw layout of the first result: MultiHeader(-1, false, 0) + ErrorResponse(0).
        #expect(Array(reply.body.prefix(13)) == bytes("ff ff ff ff 00 00 00 00 00 00 00 00 00"))
        #expect(h.replica.tree.node("/ma") == nil)
        #expect(h.replica.tree.node("/mc") == nil)
        // The pending changes of the failed multi were rolled back: /ma can be created now.
        #expect(h.create(c, "/ma").err == .ok)
        #expect(h.replica.outstandingRequests == 0)
    }

    @Test func failedMultiPipelinedWithLaterWrites() {
        let h = Harness()
        let (c, _) = h.connect()
        h.send(c, .multi, body: multiBody([
            .create(.create, createRecord("/p")),
            .check(PathVersionRequest(path: "/p", version: 5)),
        ]))
        h.send(c, .create, createRecord("/p/child"))
        h.send(c, .create, createRecord("/p"))
        h.sync()
        let replies = h.take(c).compactMap(\.reply)
        #expect(replies.first?.multi == [.error(.ok), .error(.badVersion)])
        #expect(replies.dropFirst().map(\.err) == [.noNode, .ok])
    }

    @Test func multiWithAReadOpIsAMarshallingError() {
        let h = Harness()
        let (c, _) = h.connect()
        let reply = h.request(c, .multi, body: multiBody([
            .create(.create, createRecord("/a")),
            .getData(PathWatchRequest(path: "/", watch: false)),
        ]))
        #expect(reply.err == .marshallingError)
        #expect(h.replica.tree.node("/a") == nil)
    }

    @Test func multiReadAnswersEachOp() throws {
        let h = Harness()
        let (c, _) = h.connect()
        #expect(h.create(c, "/a", data: [5]).err == .ok)
        let reply = h.request(c, .multiRead, body: multiBody([
            .getData(PathWatchRequest(path: "/a", watch: false)),
            .getChildren(PathWatchRequest(path: "/a", watch: false)),
            .getData(PathWatchRequest(path: "/missing", watch: false)),
        ]))
        #expect(reply.err == .ok)
        let results = try #require(reply.multi)
        guard case .getData(let data, _) = results[0] else { Issue.record("\(results)"); return }
        #expect(data == [5])
        #expect(results[1] == .getChildren([]))
        #expect(results[2] == .error(.noNode))
        #expect(h.logEntries.last?.header.type != OpCode.multiRead.rawValue)
    }

    @Test func emptyMultiSucceeds() {
        let h = Harness()
        let (c, _) = h.connect()
        let reply = h.request(c, .multi, body: multiBody([]))
        #expect(reply.err == .ok)
        #expect(reply.multi == [])
    }

    /// Apache rebuilds each multi create op from its flags (`MultiOperationRecord.deserialize` →
    /// `Op.create(path, data, acl, flags)` → `Op.Create.getOpcode(createMode)`), so a create op with
    /// CONTAINER flags makes a container and a createContainer op with PERSISTENT flags a plain node.
    @Test
    func multiCreateOpcodeFollowsTheFlags() {
        let h = Harness()
        let (c, _) = h.connect()
        let reply = h.request(c, .multi, body: multiBody([
            .create(.create, CreateRequest(path: "/c", data: nil, acl: ACL.openACLUnsafe, flags: CreateMode.container.rawValue)),
            .create(.createContainer, CreateRequest(path: "/p", data: nil, acl: ACL.openACLUnsafe, flags: 0)),
        ]))
        #expect(reply.err == .ok)
        #expect(h.replica.tree.containers == ["/c"])
    }
}

private func encodedString(_ s: String) -> [UInt8] {
    var w = JuteWriter()
    w.writeString(s)
    return w.bytes
}
