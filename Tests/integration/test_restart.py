"""Restarts on the same data directory: after SIGKILL (no clean shutdown) and after SIGTERM, the tree, its stats,
sequence counters, the zxid sequence and live sessions come back. Each test uses a private server."""

import hashlib

import pytest
from kazoo.client import KazooClient
from kazoo.security import make_digest_acl

from rawzk import CreateFlags, Err, EventType


def connect(server) -> KazooClient:
    client = KazooClient(hosts=server.hosts, timeout=10.0)
    client.start(timeout=15)
    return client


def snapshot(client: KazooClient, path: str = "/") -> dict:
    """Every node under `path` (except /zookeeper) with its data, stat and ACL."""
    nodes = {}
    for child in client.get_children(path):
        child_path = path.rstrip("/") + "/" + child
        if child_path == "/zookeeper":
            continue
        data, stat = client.get(child_path)
        shown = data if len(data) <= 64 else f"{len(data)} bytes, sha1 {hashlib.sha1(data).hexdigest()}"
        nodes[child_path] = (shown, stat, client.get_acls(child_path)[0])
        nodes.update(snapshot(client, child_path))
    return nodes


def build_tree(client: KazooClient) -> None:
    client.create("/p", b"persistent")
    client.set("/p", b"changed")
    client.create("/p/s-", b"", sequence=True)
    client.create("/p/s-", b"", sequence=True)
    client.delete("/p/s-0000000000")
    client.create("/acl", b"secret", acl=[make_digest_acl("alice", "pw", all=True)])
    client.create("/big", bytes(range(256)) * 1000)
    transaction = client.transaction()
    transaction.create("/m")
    transaction.create("/m/a", b"a")
    transaction.set_data("/p", b"in multi")
    transaction.commit()


@pytest.mark.parametrize("how", ["sigkill", "sigterm"])
def test_tree_survives_restart(server, server_factory, how):
    private = server_factory(server.kind)
    client = connect(private)
    try:
        build_tree(client)
        client.add_auth("digest", "alice:pw")
        before = snapshot(client)
    finally:
        client.stop()
        client.close()
    if how == "sigkill":
        private.kill()
    else:
        private.stop()
    private.restart()

    client = connect(private)
    try:
        client.add_auth("digest", "alice:pw")
        assert snapshot(client) == before
        # Counters continue: the next sequence number and a zxid above everything seen.
        assert client.create("/p/s-", sequence=True) == "/p/s-0000000002"
        newest = max(stat.mzxid for _, stat, _ in before.values())
        assert client.exists("/p/s-0000000002").czxid > newest
    finally:
        client.stop()
        client.close()


def test_session_survives_restart(server, server_factory):
    private = server_factory(server.kind)
    client = private.raw(timeout_ms=20000)
    assert client.create("/eph", b"", flags=CreateFlags.EPHEMERAL).ok
    session = client.session
    client.close()
    private.kill()
    private.restart()

    again = private.raw(timeout_ms=20000, session_id=session.session_id, passwd=session.passwd)
    try:
        assert again.session.session_id == session.session_id
        assert again.exists("/eph").value.ephemeralOwner == session.session_id
        assert again.get_ephemerals("/").value == ["/eph"]
    finally:
        again.close()


def test_dead_sessions_expire_after_restart(server, server_factory):
    private = server_factory(server.kind)
    client = private.raw(timeout_ms=4000)
    assert client.create("/eph", b"", flags=CreateFlags.EPHEMERAL).ok
    client.close()
    private.kill()
    private.restart()

    observer = private.raw()
    try:
        reply = observer.exists("/eph", watch=True)
        if reply.ok:  # restored with its session; the session was not renewed, so it expires
            assert observer.wait_event(timeout=20.0).type == EventType.NODE_DELETED
        assert observer.exists("/eph").err == Err.NONODE
    finally:
        observer.close()
