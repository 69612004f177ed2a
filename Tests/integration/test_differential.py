"""Differential test: one deterministic raw-protocol script run against a fresh Apache ZooKeeper and a fresh server
under test; the normalized transcripts must be equal.

The transcript records every operation with its error code and decoded result, and the watch events each
connection received (drained after every step). Normalization:
  - zxids (stat czxid/mzxid/pzxid and reply-header zxids) become z1, z2, … in order of first appearance, so only
    their relations are compared (which are equal, which is newer);
  - ephemeralOwner becomes the name of the owning connection (A, B, …); session ids and passwords are dropped;
  - ctime/mtime are dropped; children and getEphemerals lists are compared in server order (we reproduce
    Java's HashSet iteration order).
On a mismatch the test prints a unified diff of the two transcripts.
"""

from __future__ import annotations

import base64
import difflib
import hashlib

import pytest

from conftest import server_params
from rawzk import (
    AddWatchMode,
    CreateFlags,
    MultiResult,
    Op,
    Perms,
    RawZK,
    Stat,
    WatcherType,
    create_request,
    path_version_request,
    path_watch_request,
    set_data_request,
)

# Reply-header zxids are part of the comparison: they show whether a failed write consumed a zxid, whether
# session creation/closing are transactions, and what a read reports as the last processed zxid.
COMPARE_HEADER_ZXIDS = True

DIGEST_ALICE = "alice:" + base64.b64encode(hashlib.sha1(b"alice:secret").digest()).decode()


class Transcript:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.zxids: dict[int, str] = {}
        self.owners: dict[int, str] = {}
        self.clients: dict[str, RawZK] = {}

    # normalization

    def zxid(self, value: int) -> str:
        if value <= 0:
            return str(value)
        if value not in self.zxids:
            self.zxids[value] = f"z{len(self.zxids) + 1}"
        return self.zxids[value]

    def owner(self, value: int) -> str:
        if value == 0:
            return "0"
        return self.owners.get(value, "other-session")

    def stat(self, stat: Stat) -> str:
        return (f"czxid={self.zxid(stat.czxid)} mzxid={self.zxid(stat.mzxid)} pzxid={self.zxid(stat.pzxid)} "
                f"version={stat.version} cversion={stat.cversion} aversion={stat.aversion} "
                f"owner={self.owner(stat.ephemeralOwner)} dataLength={stat.dataLength} "
                f"numChildren={stat.numChildren}")

    def value(self, value, sort: bool = False) -> str:
        if value is None:
            return "null"
        if isinstance(value, Stat):
            return "{" + self.stat(value) + "}"
        if isinstance(value, bytes):
            return repr(value)
        if isinstance(value, MultiResult):  # a getChildren result inside multiRead is unsorted too
            return f"<type={value.type} err={value.err} {self.value(value.value)}>"
        if isinstance(value, tuple):
            return "(" + ", ".join(self.value(item, sort) for item in value) + ")"
        if isinstance(value, list):
            items = sorted(value, key=repr) if sort else value
            return "[" + ", ".join(self.value(item) for item in items) + "]"
        return repr(value)

    # recording

    def connect(self, name: str, host: str, port: int, timeout_ms: int = 30000) -> RawZK:
        client = RawZK(host, port)
        response = client.connect(timeout_ms=timeout_ms)
        self.owners[response.session_id] = name
        self.clients[name] = client
        self.lines.append(f"{name} connect timeout={response.timeout_ms} readOnly={response.read_only}")
        return client

    def step(self, name: str, operation: str, *args, sort: bool = False, label: str | None = None, **kwargs):
        client = self.clients[name]
        reply = getattr(client, operation)(*args, **kwargs)
        shown = label if label is not None else ", ".join(
            [repr(arg) for arg in args] + [f"{key}={value!r}" for key, value in kwargs.items()])
        header = f" zxid={self.zxid(reply.zxid)}" if COMPARE_HEADER_ZXIDS else ""
        result = self.value(reply.value, sort) if reply.err == 0 else ""
        self.lines.append(f"{name} {operation}({shown}) -> err={reply.err}{header} {result}".rstrip())
        self.drain()
        return reply

    def drain(self) -> None:
        """Collect the watch events every open connection has received, in order (a sync per connection)."""
        for name, client in self.clients.items():
            if client.sock.fileno() < 0:
                continue
            reply = client.sync("/")
            assert reply.ok, f"drain sync on {name} failed: {reply.err}"
            for event in client.events:
                self.lines.append(f"  {name} event type={event.type} state={event.state} path={event.path}")
            client.events.clear()

    def close(self, name: str) -> None:
        client = self.clients.pop(name)
        reply = client.close_session()
        self.lines.append(f"{name} closeSession -> err={reply.err}")
        assert client.is_closed_by_peer()
        client.close()
        self.drain()

    def dump_tree(self, name: str, path: str = "/") -> None:
        client = self.clients[name]
        reply = client.get_children(path)
        if reply.err != 0:
            self.lines.append(f"tree {path} err={reply.err}")
            return
        data = client.get_data(path)
        acl = client.get_acl(path)
        self.lines.append(f"tree {path} data={self.value(data.value[0] if data.ok else None)} "
                          f"stat={self.value(data.value[1] if data.ok else None)} "
                          f"acl={self.value(acl.value[0] if acl.ok else acl.err)}")
        for child in sorted(reply.value):
            self.dump_tree(name, (path.rstrip("/") + "/" + child))


def scenario(server) -> list[str]:
    t = Transcript()
    host, port = server.host, server.port
    t.connect("A", host, port)
    t.connect("B", host, port)
    try:
        _fresh_tree(t)
        _creates(t)
        _watches_and_updates(t)
        _acls(t)
        _multi(t)
        _ephemerals_and_sessions(t, host, port)
        _persistent_watches(t)
        _misc(t, host, port)
        t.dump_tree("A")
    finally:
        for client in t.clients.values():
            client.close()
    return t.lines


def _fresh_tree(t: Transcript) -> None:
    t.step("A", "get_data", "/")
    t.step("A", "get_children", "/")
    t.step("A", "get_children2", "/zookeeper")
    t.step("A", "get_data", "/zookeeper/config")
    t.step("A", "get_acl", "/zookeeper/config")
    t.step("A", "get_data", "/zookeeper/quota")
    t.step("A", "get_acl", "/")


def _creates(t: Transcript) -> None:
    t.step("B", "exists", "/d", watch=True)
    t.step("A", "create", "/d", b"data")
    t.step("A", "create2", "/d/p2", b"two")
    t.step("A", "create_container", "/d/c", b"")
    t.step("A", "create_ttl", "/d/t", 60000, b"ttl")
    t.step("A", "create", "/d/e", b"eph", flags=CreateFlags.EPHEMERAL)
    for _ in range(3):
        t.step("A", "create", "/d/s-", b"", flags=CreateFlags.PERSISTENT_SEQUENTIAL)
    t.step("A", "create2", "/d/es-", b"", flags=CreateFlags.EPHEMERAL_SEQUENTIAL)
    t.step("A", "create_ttl", "/d/ts-", 60000, flags=CreateFlags.PERSISTENT_SEQUENTIAL_WITH_TTL)
    t.step("A", "create", "/d/", b"", flags=CreateFlags.PERSISTENT_SEQUENTIAL)
    t.step("A", "create", "/d", b"again")  # NODEEXISTS
    t.step("A", "create", "/nope/x")  # NONODE
    t.step("A", "create", "/d/e/x")  # NOCHILDRENFOREPHEMERALS
    t.step("A", "create", "/d/bad", flags=7)  # BADARGUMENTS
    t.step("A", "create", "/d/.")  # BADARGUMENTS
    t.step("A", "create", "/d//x")  # NONODE (parent "/d/" looked up first)
    t.step("A", "create_ttl", "/d/ttl0", 0)  # BADARGUMENTS
    t.step("A", "create", "/d/noacl", acl=[])  # INVALIDACL
    t.step("A", "create", "/d/badacl", acl=[(Perms.ALL, "world", "nobody")])  # INVALIDACL
    t.step("A", "create", "/d/null", None)
    t.step("A", "get_data", "/d/null")
    t.step("A", "get_children2", "/d")


def _watches_and_updates(t: Transcript) -> None:
    t.step("B", "get_data", "/d", watch=True)
    t.step("B", "get_children", "/d", watch=True)
    t.step("B", "exists", "/d/p2", watch=True)
    t.step("B", "exists", "/d/later", watch=True)
    t.step("A", "set_data", "/d", b"x", 0)
    t.step("A", "set_data", "/d", b"y", 0)  # BADVERSION
    t.step("A", "set_data", "/d", b"y", -1)
    t.step("A", "set_data", "/missing", b"y")
    t.step("A", "get_data", "/d")
    t.step("A", "delete", "/d/p2", 5)  # BADVERSION
    t.step("A", "delete", "/d/p2", 0)
    t.step("A", "delete", "/d")  # NOTEMPTY
    t.step("A", "delete", "/d/p2")  # NONODE
    t.step("A", "create", "/d/later", b"")
    t.step("A", "exists", "/d")
    t.step("A", "get_children2", "/d")
    t.step("B", "get_data", "/d", watch=True)
    t.step("B", "get_data", "/d", watch=True)  # the same watch twice fires once
    t.step("A", "set_data", "/d", b"z")
    t.step("A", "set_data", "/d", b"zz")  # the one-shot watch is gone


def _acls(t: Transcript) -> None:
    t.step("A", "create", "/acl", b"secret", acl=[(Perms.READ, "world", "anyone"), (Perms.ALL, "digest", DIGEST_ALICE)])
    t.step("A", "get_acl", "/acl")  # digest masked without ADMIN
    t.step("A", "set_data", "/acl", b"nope")  # NOAUTH
    t.step("A", "auth", "digest", b"alice:secret")
    t.step("A", "create", "/acl/mine", b"", acl=[(Perms.ALL, "auth", "")])
    t.step("A", "get_acl", "/acl/mine")
    t.step("B", "get_data", "/acl/mine")  # NOAUTH
    t.step("A", "set_acl", "/acl/mine", [(Perms.READ | Perms.ADMIN, "world", "anyone")], 3)  # BADVERSION
    t.step("A", "set_acl", "/acl/mine", [(Perms.READ | Perms.ADMIN, "world", "anyone")], 0)
    t.step("B", "get_data", "/acl/mine")
    t.step("B", "set_data", "/acl/mine", b"w")  # NOAUTH
    t.step("A", "create", "/acl/ip", b"", acl=[(Perms.ALL, "ip", "127.0.0.1")])
    t.step("B", "get_data", "/acl/ip")
    t.step("A", "create", "/acl/ip-other", b"", acl=[(Perms.ALL, "ip", "10.0.0.0/8")])
    t.step("B", "get_data", "/acl/ip-other")  # NOAUTH
    t.step("B", "get_acl", "/acl/ip-other")  # NOAUTH (needs READ or ADMIN)
    t.step("B", "delete", "/acl/ip-other")  # the parent's DELETE permission decides: NOAUTH (world has READ only)
    t.step("B", "who_am_i")


def _multi(t: Transcript) -> None:
    t.step("A", "multi", label="create /m, create2 /m/a, createContainer /m/c, createTTL /m/t, create /m/s- seq, "
                               "setData /m/a v0, check /m/a v1, delete /m/t v0", ops=[
        (Op.CREATE, create_request("/m")),
        (Op.CREATE2, create_request("/m/a", b"a")),
        (Op.CREATE_CONTAINER, create_request("/m/c", flags=CreateFlags.CONTAINER)),
        (Op.CREATE_TTL, create_request("/m/t", flags=CreateFlags.PERSISTENT_WITH_TTL, ttl=60000)),
        (Op.CREATE, create_request("/m/s-", flags=CreateFlags.PERSISTENT_SEQUENTIAL)),
        (Op.SET_DATA, set_data_request("/m/a", b"b", 0)),
        (Op.CHECK, path_version_request("/m/a", 1)),
        (Op.DELETE, path_version_request("/m/t", 0)),
    ])
    t.step("A", "multi", label="create /m/x, check /m/a v0, delete /m", ops=[
        (Op.CREATE, create_request("/m/x")),
        (Op.CHECK, path_version_request("/m/a", 0)),  # BADVERSION
        (Op.DELETE, path_version_request("/m")),
    ])
    t.step("A", "multi", label="delete /m/nothing, create /m/y",
           ops=[(Op.DELETE, path_version_request("/m/nothing")), (Op.CREATE, create_request("/m/y"))])
    t.step("A", "multi", label="(empty)", ops=[])
    t.step("A", "multi", label="multiRead: getData /m/a, getChildren /m, getData /m/none", opcode=Op.MULTI_READ,
           ops=[(Op.GET_DATA, path_watch_request("/m/a")), (Op.GET_CHILDREN, path_watch_request("/m")),
                (Op.GET_DATA, path_watch_request("/m/none"))])
    t.step("A", "multi", label="getData /m/a in a write multi", ops=[(Op.GET_DATA, path_watch_request("/m/a"))])
    t.step("A", "get_children2", "/m")


def _ephemerals_and_sessions(t: Transcript, host: str, port: int) -> None:
    t.connect("C", host, port)
    t.step("B", "get_children", "/d", watch=True)
    t.step("C", "create", "/d/c-eph", b"", flags=CreateFlags.EPHEMERAL)
    t.step("C", "create", "/d/c-seq-", b"", flags=CreateFlags.EPHEMERAL_SEQUENTIAL)
    t.step("C", "get_ephemerals", "/")
    t.step("A", "get_ephemerals", "/d/e")
    t.step("A", "get_ephemerals", "")
    t.step("B", "exists", "/d/c-eph", watch=True)
    t.close("C")
    t.step("A", "get_children", "/d")
    t.step("A", "get_all_children_number", "/d")
    t.step("A", "get_all_children_number", "/")
    t.step("A", "get_all_children_number", "/missing")


def _persistent_watches(t: Transcript) -> None:
    t.step("B", "add_watch", "/pw", AddWatchMode.PERSISTENT)
    t.step("B", "add_watch", "/rw", AddWatchMode.PERSISTENT_RECURSIVE)
    t.step("A", "create", "/pw", b"")
    t.step("A", "create", "/pw/kid", b"")
    t.step("A", "set_data", "/pw/kid", b"k")
    t.step("A", "set_data", "/pw", b"p")
    t.step("A", "create", "/rw", b"")
    t.step("A", "create", "/rw/a", b"")
    t.step("A", "create", "/rw/a/b", b"")
    t.step("A", "set_data", "/rw/a/b", b"")
    t.step("A", "delete", "/rw/a/b")
    t.step("B", "check_watches", "/pw", WatcherType.ANY)
    t.step("B", "check_watches", "/rw", WatcherType.DATA)
    t.step("B", "check_watches", "/nowatch", WatcherType.ANY)
    t.step("B", "remove_watches", "/pw", WatcherType.ANY)
    t.step("B", "remove_watches", "/pw", WatcherType.ANY)
    t.step("A", "set_data", "/pw", b"q")
    t.step("B", "get_data", "/pw", watch=True)
    t.step("B", "get_children", "/pw", watch=True)
    t.step("B", "remove_watches", "/pw", WatcherType.DATA)
    t.step("B", "check_watches", "/pw", WatcherType.CHILDREN)
    t.step("A", "set_data", "/pw", b"r")
    t.step("A", "delete", "/pw/kid")


def _misc(t: Transcript, host: str, port: int) -> None:
    t.step("A", "sync", "/d")
    t.step("A", "sync", "/missing")
    t.step("A", "sasl", b"token")
    t.step("A", "reconfig")
    t.step("A", "ping")
    t.step("A", "exists", "")
    # A new connection replays watches relative to a zxid A observed just now.
    t.connect("D", host, port)
    seen = t.clients["A"].last_zxid
    t.step("A", "set_data", "/d", b"after")
    t.step("D", "set_watches", seen, label=f"relativeZxid={t.zxid(seen)} data=/d,/gone exist=/d/later,/not-yet "
                                            "child=/d,/gone", data=["/d", "/gone"], exist=["/d/later", "/not-yet"], child=["/d", "/gone"])
    t.step("A", "create", "/not-yet", b"")
    t.step("D", "set_watches2", 0, persistent=["/d"], recursive=["/m"])
    t.step("A", "set_data", "/m/a", b"rec")
    t.step("A", "create", "/d/pers", b"")


@pytest.fixture(scope="module")
def apache_transcript(tmp_path_factory):
    from conftest import finish_server, start_apache

    server = start_apache(tmp_path_factory.mktemp("apache-differential"))
    try:
        return scenario(server)
    finally:
        finish_server(server)


def test_scenario_is_deterministic_on_apache(apache_transcript, server_factory):
    again = scenario(server_factory("apache"))
    assert_same(apache_transcript, again, "apache (second run)")


@pytest.mark.parametrize("kind", [param for param in server_params() if param.values[0] != "apache"]
                         or [pytest.param("swift", marks=pytest.mark.skip(reason="only apache selected"))])
def test_matches_apache(apache_transcript, server_factory, kind):
    assert_same(apache_transcript, scenario(server_factory(kind)), kind)


def assert_same(expected: list[str], actual: list[str], label: str) -> None:
    if expected == actual:
        return
    diff = "\n".join(difflib.unified_diff(expected, actual, fromfile="apache", tofile=label, lineterm="", n=3))
    pytest.fail(f"transcripts differ ({len(expected)} vs {len(actual)} lines):\n{diff}", pytrace=False)
