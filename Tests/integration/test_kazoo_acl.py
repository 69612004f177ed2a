"""ACLs through kazoo: world, auth (creator), digest, ip (address and CIDR), super user, getACL masking and the
NOAUTH cases of every operation. Expected behaviour is Apache ZooKeeper 3.8's."""

import base64
import hashlib

import pytest
from kazoo.exceptions import AuthFailedError, BadVersionError, InvalidACLError, NoAuthError, NoNodeError
from kazoo.security import (
    ACL,
    CREATOR_ALL_ACL,
    OPEN_ACL_UNSAFE,
    READ_ACL_UNSAFE,
    Id,
    Permissions,
    make_acl,
    make_digest_acl,
    make_digest_acl_credential,
)

ALL = Permissions.ALL


def digest(user: str, password: str) -> str:
    return f"{user}:" + base64.b64encode(hashlib.sha1(f"{user}:{password}".encode()).digest()).decode()


def test_default_acl_is_open(zk, root):
    path = zk.create(root + "/open")
    acls, stat = zk.get_acls(path)
    assert acls == OPEN_ACL_UNSAFE
    assert stat.aversion == 0


def test_set_acls_with_version(zk, root):
    path = zk.create(root + "/n")
    read_admin = [make_acl("world", "anyone", read=True, admin=True)]
    stat = zk.set_acls(path, read_admin)
    assert stat.aversion == 1
    assert stat.version == 0  # the data version is untouched
    with pytest.raises(BadVersionError):
        zk.set_acls(path, OPEN_ACL_UNSAFE, version=0)
    acls, stat = zk.get_acls(path)
    assert acls == read_admin and stat.aversion == 1
    stat = zk.set_acls(path, READ_ACL_UNSAFE, version=1)
    assert stat.aversion == 2
    with pytest.raises(NoAuthError):  # setACL needs ADMIN (checked before the version)
        zk.set_acls(path, OPEN_ACL_UNSAFE, version=0)
    with pytest.raises(NoNodeError):
        zk.set_acls(root + "/missing", OPEN_ACL_UNSAFE)
    with pytest.raises(InvalidACLError):
        zk.set_acls(root, [])


def test_read_only_node(zk, root):
    path = zk.create(root + "/ro", b"data", acl=READ_ACL_UNSAFE)
    assert zk.get(path)[0] == b"data"
    assert zk.get_children(path) == []
    with pytest.raises(NoAuthError):
        zk.set(path, b"x")
    with pytest.raises(NoAuthError):
        zk.create(path + "/child")
    zk.delete(path)  # deletion is governed by the parent's DELETE permission, not the node's ACL


def test_each_permission_bit(zk, root):
    def node(name, perms):
        return zk.create(f"{root}/{name}", b"d", acl=[make_acl("world", "anyone", **perms)])

    no_read = node("no-read", dict(write=True, create=True, delete=True, admin=True))
    with pytest.raises(NoAuthError):
        zk.get(no_read)
    with pytest.raises(NoAuthError):
        zk.get_children(no_read)
    assert zk.exists(no_read) is not None  # exists is not ACL-checked
    zk.set(no_read, b"w")

    no_write = node("no-write", dict(read=True, create=True, delete=True, admin=True))
    with pytest.raises(NoAuthError):
        zk.set(no_write, b"w")

    no_create = node("no-create", dict(read=True, write=True, delete=True, admin=True))
    with pytest.raises(NoAuthError):
        zk.create(no_create + "/c")
    with pytest.raises(NoAuthError):
        zk.create(no_create + "/s", sequence=True)

    no_delete = node("no-delete", dict(read=True, write=True, create=True, admin=True))
    zk.create(no_delete + "/c")
    with pytest.raises(NoAuthError):
        zk.delete(no_delete + "/c")

    no_admin = node("no-admin", dict(read=True, write=True, create=True, delete=True))
    with pytest.raises(NoAuthError):
        zk.set_acls(no_admin, OPEN_ACL_UNSAFE)
    assert zk.get_acls(no_admin)[0][0].perms == Permissions.READ | Permissions.WRITE | Permissions.CREATE | Permissions.DELETE

    nothing = node("nothing", {})
    with pytest.raises(NoAuthError):
        zk.get_acls(nothing)  # getACL needs READ or ADMIN
    zk.delete(nothing)


def test_digest_acl(zk, kazoo_factory, root):
    acl = make_digest_acl("alice", "secret", all=True)
    assert acl.id.id == digest("alice", "secret")
    path = zk.create(root + "/secret", b"s", acl=[acl])
    with pytest.raises(NoAuthError):
        zk.get(path)
    wrong = kazoo_factory()
    wrong.add_auth("digest", "alice:wrong")
    with pytest.raises(NoAuthError):
        wrong.get(path)
    alice = kazoo_factory()
    alice.add_auth("digest", "alice:secret")
    assert alice.get(path)[0] == b"s"
    alice.set(path, b"t")
    alice.create(path + "/child")
    assert alice.get_acls(path)[0] == [acl]


def test_auth_scheme_expands_to_the_authenticated_identities(zk, kazoo_factory, root):
    alice = kazoo_factory()
    alice.add_auth("digest", "alice:secret")
    path = alice.create(root + "/creator", b"c", acl=CREATOR_ALL_ACL)
    acls, _ = alice.get_acls(path)
    assert acls == [ACL(ALL, Id("digest", make_digest_acl_credential("alice", "secret")))]
    with pytest.raises(NoAuthError):
        zk.get(path)
    with pytest.raises(InvalidACLError):  # "auth" with no authenticated identity
        zk.create(root + "/nobody", acl=CREATOR_ALL_ACL)


def test_auth_scheme_with_two_identities(kazoo_factory, root):
    client = kazoo_factory()
    client.add_auth("digest", "alice:a")
    client.add_auth("digest", "bob:b")
    path = client.create(root + "/both", acl=CREATOR_ALL_ACL)
    ids = sorted(acl.id.id for acl in client.get_acls(path)[0])
    assert ids == sorted([digest("alice", "a"), digest("bob", "b")])


def test_get_acl_masks_digests_without_admin(zk, kazoo_factory, root):
    acl = [make_acl("world", "anyone", read=True), make_digest_acl("alice", "secret", all=True)]
    path = zk.create(root + "/masked", acl=acl)
    masked, _ = zk.get_acls(path)
    assert masked == [ACL(Permissions.READ, Id("world", "anyone")), ACL(ALL, Id("digest", "alice:x"))]
    alice = kazoo_factory()
    alice.add_auth("digest", "alice:secret")
    assert alice.get_acls(path)[0] == acl


def test_ip_acl(zk, root):
    allowed = zk.create(root + "/ip-ok", b"1", acl=[make_acl("ip", "127.0.0.1", all=True)])
    assert zk.get(allowed)[0] == b"1"
    cidr = zk.create(root + "/cidr-ok", b"2", acl=[make_acl("ip", "127.0.0.0/8", all=True)])
    assert zk.get(cidr)[0] == b"2"
    other = zk.create(root + "/ip-other", b"3", acl=[make_acl("ip", "10.1.2.3", all=True)])
    with pytest.raises(NoAuthError):
        zk.get(other)
    other_net = zk.create(root + "/cidr-other", b"4", acl=[make_acl("ip", "10.0.0.0/8", all=True)])
    with pytest.raises(NoAuthError):
        zk.get(other_net)
    narrow = zk.create(root + "/cidr-32", b"5", acl=[make_acl("ip", "127.0.0.1/32", all=True)])
    assert zk.get(narrow)[0] == b"5"


def test_mixed_acl_entries_union(zk, kazoo_factory, root):
    acl = [make_acl("world", "anyone", read=True), make_digest_acl("alice", "secret", write=True)]
    path = zk.create(root + "/mixed", b"m", acl=acl)
    assert zk.get(path)[0] == b"m"
    with pytest.raises(NoAuthError):
        zk.set(path, b"x")
    alice = kazoo_factory()
    alice.add_auth("digest", "alice:secret")
    alice.set(path, b"x")
    assert zk.get(path)[0] == b"x"


def test_add_auth_unknown_scheme_fails(kazoo_factory):
    client = kazoo_factory()
    with pytest.raises(AuthFailedError):
        client.add_auth("nosuchscheme", "whatever")


def test_super_digest(server, server_factory, kazoo_factory):
    private = server_factory(server.kind, {"DigestAuthenticationProvider.superDigest": digest("super", "root-pw")})
    owner = kazoo_factory(target=private)
    path = owner.create("/locked", b"l", acl=[make_digest_acl("alice", "secret", all=True)])
    nobody = kazoo_factory(target=private)
    with pytest.raises(NoAuthError):
        nobody.get(path)
    admin = kazoo_factory(target=private)
    admin.add_auth("digest", "super:root-pw")
    assert admin.get(path)[0] == b"l"
    admin.set_acls(path, OPEN_ACL_UNSAFE)
    assert nobody.get(path)[0] == b"l"
    impostor = kazoo_factory(target=private)
    impostor.add_auth("digest", "super:wrong")
    owner.set_acls(path, [make_digest_acl("alice", "secret", all=True)])
    with pytest.raises(NoAuthError):
        impostor.get(path)
