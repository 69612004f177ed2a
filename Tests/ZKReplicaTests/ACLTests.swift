import Testing
@testable import ZKCore
@testable import ZKProtocol
@testable import ZKDataTree
@testable import ZKReplica

private let bobAll = ACL(perms: Permissions.all.rawValue, id: Id(scheme: "digest", id: bobDigest))

@Suite struct AuthenticationTests {
    @Test func digestIdMatchesApache() {
        // DigestAuthenticationProvider.generateDigest("bob:secret").
        #expect(Authentication.digestId("bob:secret") == bobDigest)
        #expect(bobDigest.hasPrefix("bob:"))
        #expect(Authentication.digestId("super:pw") == zookeeperDigest(user: "super", password: "pw"))
    }

    @Test func digestAuthSucceeds() throws {
        let h = Harness()
        let (c, _) = h.connect()
        let reply = h.addAuth(c, scheme: "digest", "bob:secret")
        #expect(reply.xid == SpecialXid.auth)
        #expect(reply.zxid == 0)
        #expect(reply.err == .ok)
        #expect(!h.isClosed(c))
        let who = h.request(c, .whoAmI)
        var r = JuteReader(who.body)
        let infos = try #require(try r.readVector(ClientInfo.self))
        #expect(infos.contains(ClientInfo(authScheme: "digest", user: "bob")))
        #expect(infos.contains(ClientInfo(authScheme: "ip", user: "127.0.0.1")))
    }

    @Test func unknownSchemeFailsAndCloses() {
        let h = Harness()
        let (c, _) = h.connect()
        h.send(c, .auth, AuthPacket(scheme: "kerberos", auth: Array("x".utf8)), xid: SpecialXid.auth)
        let messages = h.take(c)
        #expect(messages.count == 2)
        #expect(messages.first?.reply?.xid == SpecialXid.auth)
        #expect(messages.first?.reply?.err == .authFailed)
        #expect(messages.last?.isClose == true)
    }

    @Test func authIsAnsweredAheadOfQueuedRequests() {
        let h = Harness()
        let (c, _) = h.connect()
        let w = h.send(c, .create, CreateRequest(path: "/a", data: nil, acl: ACL.openACLUnsafe, flags: 0))
        h.send(c, .auth, AuthPacket(scheme: "digest", auth: Array("bob:secret".utf8)), xid: SpecialXid.auth)
        #expect(h.take(c).compactMap(\.reply).map(\.xid) == [SpecialXid.auth])
        h.sync()
        #expect(h.take(c).compactMap(\.reply).map(\.xid) == [w])
    }
}

@Suite struct ACLEnforcementTests {
    @Test func digestACLProtectsANode() throws {
        let h = Harness()
        let (bob, _) = h.connect()
        let (other, _) = h.connect()
        #expect(h.addAuth(bob, scheme: "digest", "bob:secret").err == .ok)
        #expect(h.create(bob, "/secret", data: [1], acl: [bobAll]).err == .ok)
        #expect(h.getData(bob, "/secret").dataAndStat?.0 == [1])
        #expect(h.getData(other, "/secret").err == .noAuth)
        #expect(h.setData(other, "/secret", [2]).err == .noAuth)
        #expect(h.getChildren(other, "/secret").err == .noAuth)
        #expect(h.create(other, "/secret/kid").err == .noAuth)
        #expect(h.request(other, .getACL, PathRecord(path: "/secret")).err == .noAuth)
        #expect(h.request(other, .setACL, SetACLRequest(path: "/secret", acl: ACL.openACLUnsafe, version: -1)).err == .noAuth)
        // Apache 3.8.0 does not check READ on exists (3.8.4 does); the server follows 3.8.0.
        #expect(h.exists(other, "/secret").err == .ok)
        // A wrong password gives a different digest.
        #expect(h.addAuth(other, scheme: "digest", "bob:wrong").err == .ok)
        #expect(h.getData(other, "/secret").err == .noAuth)
        #expect(h.addAuth(other, scheme: "digest", "bob:secret").err == .ok)
        #expect(h.getData(other, "/secret").err == .ok)
    }

    @Test func getACLMasksDigestsWithoutAdmin() throws {
        let h = Harness()
        let (bob, _) = h.connect()
        let (other, _) = h.connect()
        #expect(h.addAuth(bob, scheme: "digest", "bob:secret").err == .ok)
        let acl = [bobAll, ACL(perms: Permissions.read.rawValue, id: .anyone)]
        #expect(h.create(bob, "/mixed", acl: acl).err == .ok)
        let masked = try #require(h.request(other, .getACL, PathRecord(path: "/mixed")).aclAndStat)
        #expect(masked.0 == [ACL(perms: 31, id: Id(scheme: "digest", id: "bob:x")), ACL(perms: 1, id: .anyone)])
        let full = try #require(h.request(bob, .getACL, PathRecord(path: "/mixed")).aclAndStat)
        #expect(full.0 == acl)
    }

    @Test func superDigestMayDoAnything() {
        let h = Harness { $0.superDigest = zookeeperDigest(user: "super", password: "pw") }
        let (bob, _) = h.connect()
        let (root, _) = h.connect()
        #expect(h.addAuth(bob, scheme: "digest", "bob:secret").err == .ok)
        #expect(h.create(bob, "/secret", data: [1], acl: [bobAll]).err == .ok)
        #expect(h.getData(root, "/secret").err == .noAuth)
        #expect(h.addAuth(root, scheme: "digest", "super:pw").err == .ok)
        #expect(h.getData(root, "/secret").err == .ok)
        #expect(h.request(root, .getACL, PathRecord(path: "/secret")).aclAndStat?.0 == [bobAll], "super has ADMIN: no masking")
        #expect(h.request(root, .setACL, SetACLRequest(path: "/secret", acl: ACL.openACLUnsafe, version: -1)).err == .ok)
    }

    @Test func authACLExpandsToTheCallersDigestIdentities() throws {
        let h = Harness()
        let (bob, _) = h.connect()
        #expect(h.addAuth(bob, scheme: "digest", "bob:secret").err == .ok)
        #expect(h.create(bob, "/mine", acl: ACL.creatorAllACL).err == .ok)
        let acl = try #require(h.request(bob, .getACL, PathRecord(path: "/mine")).aclAndStat)
        #expect(acl.0 == [bobAll])
        #expect(h.replica.tree.node("/mine")?.acl == [bobAll])
        // Without an authenticated identity (ip does not count) `auth` is invalid.
        let (anonymous, _) = h.connect()
        #expect(h.create(anonymous, "/theirs", acl: ACL.creatorAllACL).err == .invalidACL)
    }

    @Test func duplicateACLEntriesAreRemoved() {
        let h = Harness()
        let (c, _) = h.connect()
        #expect(h.create(c, "/d", acl: ACL.openACLUnsafe + ACL.openACLUnsafe).err == .ok)
        #expect(h.replica.tree.node("/d")?.acl == ACL.openACLUnsafe)
    }

    @Test(arguments: [
        [ACL](),
        [ACL(perms: 31, id: Id(scheme: "digest", id: "nocolon"))],
        [ACL(perms: 31, id: Id(scheme: "digest", id: "a:b:c"))],
        [ACL(perms: 31, id: Id(scheme: "foo", id: "bar"))],
        [ACL(perms: 31, id: Id(scheme: "world", id: "someone"))],
        [ACL(perms: 31, id: Id(scheme: "ip", id: "300.1.1.1"))],
        [ACL(perms: 31, id: Id(scheme: "ip", id: "10.0.0.0/33"))],
        [ACL(perms: 31, id: Id(scheme: "ip", id: "not-an-ip"))],
        ACL.openACLUnsafe + [ACL(perms: 31, id: Id(scheme: "super", id: ""))],
    ])
    func invalidACLs(acl: [ACL]) {
        let h = Harness()
        let (c, _) = h.connect()
        #expect(h.create(c, "/x", acl: acl).err == .invalidACL)
        #expect(h.create(c, "/y").err == .ok)
        #expect(h.request(c, .setACL, SetACLRequest(path: "/y", acl: acl, version: -1)).err == .invalidACL)
    }

    @Test(arguments: [
        ("10.1.0.0/16", "10.1.200.7", true), ("10.1.0.0/16", "10.2.0.1", false),
        ("10.1.2.3", "10.1.2.3", true), ("10.1.2.3", "10.1.2.4", false),
        ("10.0.0.0/8", "10.255.255.255", true), ("0.0.0.0/0", "192.168.1.1", true),
        ("10.1.2.0/23", "10.1.3.9", true), ("10.1.2.0/23", "10.1.4.1", false),
        ("::1", "::1", true), ("fe80::/16", "fe80::1", true), ("fe80::/16", "10.0.0.1", false),
    ])
    func ipACL(expression: String, clientIP: String, allowed: Bool) {
        let h = Harness()
        let (creator, _) = h.connect()
        let acl = [ACL(perms: Permissions.read.rawValue, id: Id(scheme: "ip", id: expression)),
                   ACL(perms: Permissions.all.rawValue, id: Id(scheme: "ip", id: "127.0.0.1"))]
        #expect(h.create(creator, "/net", acl: acl).err == .ok)
        let (client, _) = h.connect(ip: clientIP)
        #expect(h.getData(client, "/net").err == (allowed ? .ok : .noAuth))
    }

    @Test func configNodeIsReadOnlyForTheWorld() {
        let h = Harness()
        let (c, _) = h.connect()
        #expect(h.getData(c, "/zookeeper/config").err == .ok)
        #expect(h.setData(c, "/zookeeper/config", [1]).err == .noAuth)
        #expect(h.create(c, "/zookeeper/config/x").err == .noAuth)
        #expect(h.request(c, .getACL, PathRecord(path: "/zookeeper/config")).aclAndStat?.1.aversion == -1)
    }

    @Test func skipACL() {
        let h = Harness { $0.skipACL = true }
        let (a, _) = h.connect()
        let (b, _) = h.connect()
        #expect(h.addAuth(a, scheme: "digest", "bob:secret").err == .ok)
        #expect(h.create(a, "/secret", acl: [bobAll]).err == .ok)
        #expect(h.getData(b, "/secret").err == .ok)
    }
}
