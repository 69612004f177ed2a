"""Znode operations through kazoo: every create mode kazoo offers, get/set/delete/exists/children/sync, and the
exact Stat rules (versions, cversion, pzxid, numChildren, dataLength, ephemeralOwner, zxids).

These encode Apache ZooKeeper 3.8's behaviour and run against every selected server.
"""

import pytest
from kazoo.exceptions import (
    BadArgumentsError,
    BadVersionError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
)
from kazoo.protocol.states import ZnodeStat


def assert_fresh_stat(stat: ZnodeStat, data_length: int, owner: int = 0) -> None:
    assert stat.czxid == stat.mzxid == stat.pzxid
    assert stat.czxid > 0
    assert stat.ctime == stat.mtime
    assert (stat.version, stat.cversion, stat.aversion) == (0, 0, 0)
    assert stat.ephemeralOwner == owner
    assert stat.dataLength == data_length
    assert stat.numChildren == 0


def test_create_persistent_and_get(zk, root):
    path = zk.create(root + "/p", b"hello")
    assert path == root + "/p"
    data, stat = zk.get(path)
    assert data == b"hello"
    assert_fresh_stat(stat, 5)


def test_create2_returns_the_new_stat(zk, root):
    path, stat = zk.create(root + "/c2", b"abc", include_data=True)
    assert path == root + "/c2"
    assert_fresh_stat(stat, 3)
    assert zk.exists(path) == stat


def test_create_empty_data(zk, root):
    zk.create(root + "/empty")
    data, stat = zk.get(root + "/empty")
    assert data == b""
    assert stat.dataLength == 0


def test_create_ephemeral(zk, root):
    session_id = zk.client_id[0]
    path, stat = zk.create(root + "/eph", b"e", ephemeral=True, include_data=True)
    assert_fresh_stat(stat, 1, owner=session_id)
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create(root + "/eph/child")
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create(root + "/eph/child", sequence=True)


def test_create_existing_and_missing_parent(zk, root):
    zk.create(root + "/x")
    with pytest.raises(NodeExistsError):
        zk.create(root + "/x")
    with pytest.raises(NoNodeError):
        zk.create(root + "/missing/child")


def test_create_makepath(zk, root):
    zk.create(root + "/a/b/c", b"deep", makepath=True)
    assert zk.get(root + "/a/b/c")[0] == b"deep"
    assert zk.get_children(root + "/a") == ["b"]


def test_sequential_numbering_follows_parent_cversion(zk, root):
    zk.create(root + "/plain")  # one create: the next sequence number is 1
    first = zk.create(root + "/s-", b"", sequence=True)
    second = zk.create(root + "/s-", b"", sequence=True)
    assert first == root + "/s-0000000001"
    assert second == root + "/s-0000000002"
    zk.delete(second)  # deletes do not bump the stored cversion used for numbering
    third = zk.create(root + "/other-", b"", sequence=True)
    assert third == root + "/other-0000000003"
    ephemeral = zk.create(root + "/e-", b"", sequence=True, ephemeral=True)
    assert ephemeral == root + "/e-0000000004"
    assert zk.exists(ephemeral).ephemeralOwner == zk.client_id[0]
    bare = zk.create(root + "/", b"", sequence=True)  # a sequential name may be the number alone
    assert bare == root + "/0000000005"
    assert sorted(zk.get_children(root)) == sorted(
        ["plain", "s-0000000001", "other-0000000003", "e-0000000004", "0000000005"])


def test_sequence_numbers_are_per_parent(zk, root):
    zk.create(root + "/p1")
    zk.create(root + "/p2")
    assert zk.create(root + "/p1/n", sequence=True) == root + "/p1/n0000000000"
    assert zk.create(root + "/p2/n", sequence=True) == root + "/p2/n0000000000"
    assert zk.create(root + "/p1/n", sequence=True) == root + "/p1/n0000000001"


def test_set_with_version(zk, root):
    path, created = zk.create(root + "/v", b"0", include_data=True)
    stat = zk.set(path, b"one")
    assert stat.version == 1
    assert stat.czxid == created.czxid
    assert stat.mzxid > created.mzxid
    assert stat.pzxid == created.pzxid  # data changes do not touch pzxid
    assert stat.dataLength == 3
    assert stat.mtime >= stat.ctime
    stat = zk.set(path, b"two", version=1)
    assert stat.version == 2
    with pytest.raises(BadVersionError):
        zk.set(path, b"three", version=1)
    assert zk.get(path) == (b"two", stat)
    with pytest.raises(NoNodeError):
        zk.set(root + "/missing", b"x")


def test_set_same_data_still_bumps_version(zk, root):
    path = zk.create(root + "/same", b"x")
    first = zk.set(path, b"x")
    second = zk.set(path, b"x")
    assert (first.version, second.version) == (1, 2)
    assert second.mzxid > first.mzxid


def test_delete_with_version(zk, root):
    path = zk.create(root + "/d", b"")
    zk.set(path, b"changed")
    with pytest.raises(BadVersionError):
        zk.delete(path, version=0)
    zk.delete(path, version=1)
    assert zk.exists(path) is None
    with pytest.raises(NoNodeError):
        zk.delete(path)


def test_delete_not_empty(zk, root):
    zk.create(root + "/parent")
    zk.create(root + "/parent/child")
    with pytest.raises(NotEmptyError):
        zk.delete(root + "/parent")
    zk.delete(root + "/parent", recursive=True)
    assert zk.exists(root + "/parent") is None


def test_exists(zk, root):
    assert zk.exists(root + "/nothing") is None
    path, stat = zk.create(root + "/thing", b"12", include_data=True)
    assert zk.exists(path) == stat


def test_get_missing(zk, root):
    with pytest.raises(NoNodeError):
        zk.get(root + "/missing")
    with pytest.raises(NoNodeError):
        zk.get_children(root + "/missing")


def test_children_and_parent_stat_rules(zk, root):
    _, before = zk.get(root)
    created = {}
    for name in ("c", "a", "b"):
        _, created[name] = zk.create(f"{root}/{name}", b"", include_data=True)
    children, stat = zk.get_children(root, include_data=True)  # getChildren2
    assert sorted(children) == ["a", "b", "c"]
    assert stat.numChildren == 3
    assert stat.cversion == before.cversion + 3
    assert stat.pzxid == created["b"].czxid  # the last child change
    assert stat.version == 0  # child changes do not touch the data version
    assert stat.mzxid == before.mzxid

    zk.set(f"{root}/a", b"data")  # a child's data change touches nothing on the parent
    assert zk.exists(root) == stat

    zk.delete(f"{root}/c")
    after_delete = zk.exists(root)
    assert after_delete.numChildren == 2
    assert after_delete.cversion == before.cversion + 4  # client cversion counts creates and deletes
    assert after_delete.pzxid > stat.pzxid
    marker = zk.create(root + "-marker", include_data=True)[1]
    assert after_delete.pzxid < marker.czxid
    zk.delete(root + "-marker")
    assert sorted(zk.get_children(root)) == ["a", "b"]


def test_get_children_of_leaf_is_empty(zk, root):
    zk.create(root + "/leaf")
    assert zk.get_children(root + "/leaf") == []
    children, stat = zk.get_children(root + "/leaf", include_data=True)
    assert children == [] and stat.numChildren == 0


def test_sync(zk, root):
    zk.create(root + "/s")
    assert zk.sync(root + "/s") == root + "/s"
    # Apache does not check that the node exists for sync.
    assert zk.sync(root + "/not-there") == root + "/not-there"


def test_large_data_round_trip(zk, root):
    payload = bytes(range(256)) * 4000  # 1,024,000 bytes: under jute.maxbuffer (1,048,575) with headers
    path = zk.create(root + "/large", payload)
    data, stat = zk.get(path)
    assert data == payload
    assert stat.dataLength == len(payload)


def test_unicode_names_and_data(zk, root):
    path = zk.create(root + "/ünïcødé-名前", "värde".encode())
    assert zk.get(path)[0] == "värde".encode()
    assert zk.get_children(root) == ["ünïcødé-名前"]
    # Path validation works on UTF-16 code units: a supplementary character is a surrogate pair,
    # inside the forbidden range \ud800-\uf8ff, and so is the private use area.
    with pytest.raises(BadArgumentsError):
        zk.create(root + "/smile-\U0001F642")
    with pytest.raises(BadArgumentsError):
        zk.create(root + "/private-\ue000")
    assert zk.get_children(root) == ["ünïcødé-名前"]


def test_root_and_zookeeper_subtree(zk):
    _, root_stat = zk.get("/")
    assert root_stat.czxid == 0 and root_stat.ctime == 0
    assert "zookeeper" in zk.get_children("/")
    assert sorted(zk.get_children("/zookeeper")) == ["config", "quota"]
    assert zk.get("/zookeeper/quota")[0] == b""
    config, config_stat = zk.get("/zookeeper/config")
    assert config == b""  # standalone, reconfig disabled
    assert config_stat.aversion == -1  # Apache creates it with setACL(version -1) semantics


def test_ensure_path_and_recursive_delete(zk, root):
    zk.ensure_path(root + "/x/y/z")
    zk.create(root + "/x/y/z/leaf", b"1")
    zk.delete(root + "/x", recursive=True)
    assert zk.get_children(root) == []
