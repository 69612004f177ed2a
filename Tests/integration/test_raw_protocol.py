"""The client protocol byte by byte (rawzk): handshake, every opcode kazoo cannot reach, and malformed input.
Expected values are what Apache ZooKeeper 3.8 really does (verified against Debian's 3.8.0)."""

import struct

import pytest

from rawzk import (
    CreateFlags,
    Err,
    EventType,
    Op,
    Perms,
    RawZK,
    Writer,
    create_request,
    path_request,
    path_version_request,
    path_watch_request,
    session_password,
    set_data_request,
)

JUTE_MAXBUFFER = 0xFFFFF
CONTAINER_OWNER = -0x8000000000000000


# --- handshake and sessions ------------------------------------------------------------------------


def test_handshake_new_session(server):
    client = RawZK(server.host, server.port)
    try:
        response = client.connect(timeout_ms=10000)
        assert response.protocol_version == 0
        assert response.timeout_ms == 10000
        assert response.session_id != 0
        assert response.session_id >> 56 == 1  # a standalone server puts server id 1 in the top byte
        assert response.passwd == session_password(response.session_id)
        assert response.read_only is False
        assert client.ping().ok
    finally:
        client.close()


@pytest.mark.parametrize("requested, negotiated", [(1, 4000), (4000, 4000), (12345, 12345), (40000, 40000),
                                                   (10 ** 9, 40000), (-5, 4000)])
def test_session_timeout_is_clamped(server, raw_factory, requested, negotiated):
    client = raw_factory(connect=False)
    assert client.connect(timeout_ms=requested).timeout_ms == negotiated


def test_sessions_are_distinct(raw_factory):
    ids = {raw_factory().session.session_id for _ in range(5)}
    assert len(ids) == 5


def test_old_client_without_read_only_byte(raw_factory):
    client = raw_factory(connect=False)
    response = client.connect(read_only=None)
    assert response.read_only is None  # no trailing byte in the response either
    assert response.timeout_ms == 10000
    assert client.ping().ok


def test_reattach_with_wrong_password_is_refused(raw, raw_factory):
    client = raw_factory(connect=False)
    response = client.connect(session_id=raw.session.session_id, passwd=b"x" * 16)
    assert (response.timeout_ms, response.session_id, response.passwd) == (0, 0, bytes(16))
    assert client.is_closed_by_peer()
    # Apache 3.8 closes the owner's connection before it checks the password (not asserted either way);
    # the session itself survives and the owner can re-attach.
    owner = raw_factory(connect=False)
    response = owner.connect(session_id=raw.session.session_id, passwd=raw.session.passwd)
    assert response.session_id == raw.session.session_id
    assert owner.ping().ok


def test_reattach_moves_the_session(raw, raw_factory, path_prefix):
    assert raw.create(path_prefix, flags=CreateFlags.EPHEMERAL).ok
    session = raw.session
    client = raw_factory(connect=False)
    response = client.connect(session_id=session.session_id, passwd=session.passwd)
    assert (response.session_id, response.passwd, response.timeout_ms) == (
        session.session_id, session.passwd, session.timeout_ms)
    assert raw.is_closed_by_peer()  # the old connection is closed when the session moves
    assert client.get_ephemerals("/").value == [path_prefix]


def test_client_ahead_of_server_is_refused(raw_factory):
    client = raw_factory(connect=False)
    client.send_frame(Writer().int(0).long(1 << 40).int(10000).long(0).buffer(bytes(16)).bool(False).bytes())
    assert client.is_closed_by_peer()
    assert client._buffer == b""  # no ConnectResponse at all


def test_close_session(server, raw_factory, path_prefix):
    observer = raw_factory()
    client = raw_factory()
    assert client.create(path_prefix, flags=CreateFlags.EPHEMERAL).ok
    assert observer.exists(path_prefix, watch=True).ok
    session = client.session
    reply = client.close_session()
    assert reply.ok and reply.body == b""
    assert client.is_closed_by_peer()
    assert observer.wait_event().type == EventType.NODE_DELETED
    assert observer.exists(path_prefix).err == Err.NONODE
    again = raw_factory(connect=False)
    assert again.connect(session_id=session.session_id, passwd=session.passwd).timeout_ms == 0


def test_ping(raw, path_prefix):
    assert raw.create(path_prefix).ok
    reply = raw.ping()
    assert (reply.xid, reply.err, reply.body) == (-2, 0, b"")
    assert reply.zxid >= raw.last_zxid


def test_reply_zxid_is_the_write_zxid(raw, path_prefix):
    reply = raw.create2(path_prefix, b"")
    assert reply.zxid == reply.value[1].czxid
    reply = raw.set_data(path_prefix, b"x")
    assert reply.zxid == reply.value.mzxid
    read = raw.get_data(path_prefix)
    assert read.zxid >= reply.zxid


def test_xids_are_echoed_and_pipelined_replies_come_in_order(raw, path_prefix):
    assert raw.create(path_prefix).ok
    xids = [raw.send_request(Op.EXISTS, path_watch_request(path_prefix), xid=1000 + n) for n in range(20)]
    xids.append(raw.send_request(Op.CREATE, create_request(path_prefix + "/c"), xid=5))
    xids.append(raw.send_request(Op.GET_DATA, path_watch_request(path_prefix + "/c"), xid=7))
    replies = [raw.read_message()[1] for _ in xids]
    assert [reply.xid for reply in replies] == xids
    assert all(reply.ok for reply in replies)


# --- opcodes kazoo does not have -------------------------------------------------------------------


def test_create_container(raw, path_prefix):
    reply = raw.create_container(path_prefix, b"c")
    assert reply.ok
    path, stat = reply.value  # Create2Response
    assert path == path_prefix
    assert stat.ephemeralOwner == 0  # the container marker is not shown to clients
    assert stat.czxid == stat.mzxid == stat.pzxid
    assert raw.exists(path_prefix).value == stat
    assert raw.create(path_prefix + "/child").ok


def test_create_ttl(raw, path_prefix):
    assert raw.create(path_prefix).ok
    reply = raw.create_ttl(path_prefix + "/t", ttl=60000, data=b"ttl")
    assert reply.ok
    path, stat = reply.value
    assert path == path_prefix + "/t"
    assert stat.ephemeralOwner == 0  # the TTL marker is not shown to clients
    assert stat.dataLength == 3
    reply = raw.create_ttl(path_prefix + "/s-", ttl=60000, flags=CreateFlags.PERSISTENT_SEQUENTIAL_WITH_TTL)
    assert reply.ok and reply.value[0] == path_prefix + "/s-0000000001"


@pytest.mark.parametrize("opcode, flags, ttl", [
    (Op.CREATE_TTL, CreateFlags.PERSISTENT_WITH_TTL, 0),  # ttl must be > 0
    (Op.CREATE_TTL, CreateFlags.PERSISTENT_WITH_TTL, -1),
    (Op.CREATE_TTL, CreateFlags.PERSISTENT_WITH_TTL, 1 << 40),  # more than 40 bits
    (Op.CREATE_TTL, CreateFlags.PERSISTENT, 1000),  # createTTL needs a TTL mode
    (Op.CREATE_TTL, CreateFlags.EPHEMERAL, 1000),
    (Op.CREATE, CreateFlags.PERSISTENT_WITH_TTL, None),  # a TTL mode needs createTTL
    (Op.CREATE2, CreateFlags.PERSISTENT_SEQUENTIAL_WITH_TTL, None),
    (Op.CREATE, 7, None),  # no such mode
    (Op.CREATE, -1, None),
])
def test_create_bad_mode_or_ttl(raw, path_prefix, opcode, flags, ttl):
    assert raw.create(path_prefix, flags=flags, ttl=ttl, opcode=opcode).err == Err.BADARGUMENTS
    assert raw.exists(path_prefix).err == Err.NONODE


def test_ttl_needs_extended_types(server, server_factory):
    plain = server_factory(server.kind, extendedTypesEnabled="false")
    client = plain.raw()
    try:
        assert client.create_ttl("/t", ttl=1000).err == Err.UNIMPLEMENTED
        assert client.create_container("/c").ok
    finally:
        client.close()


def test_create_with_null_data(raw, path_prefix):
    assert raw.create(path_prefix, None).ok
    data, stat = raw.get_data(path_prefix).value
    assert data is None  # null stays null (length -1 on the wire)
    assert stat.dataLength == 0
    assert raw.set_data(path_prefix, None).ok
    assert raw.get_data(path_prefix).value[0] is None


def test_get_ephemerals(raw, raw_factory, path_prefix):
    other = raw_factory()
    assert other.create(path_prefix).ok
    mine = [path_prefix + "/e1", path_prefix + "/e2", path_prefix + "/x/e3"]
    assert raw.create(path_prefix + "/x").ok
    for path in mine:
        assert raw.create(path, flags=CreateFlags.EPHEMERAL).ok
    assert other.create(path_prefix + "/theirs", flags=CreateFlags.EPHEMERAL).ok
    assert sorted(raw.get_ephemerals("/").value) == sorted(mine)
    assert sorted(raw.get_ephemerals("").value) == sorted(mine)
    assert sorted(raw.get_ephemerals(path_prefix + "/e").value) == mine[:2]  # a string prefix, not a path
    assert raw.get_ephemerals(path_prefix + "/x").value == [path_prefix + "/x/e3"]
    assert raw.get_ephemerals("/nothing-here").value == []
    assert other.get_ephemerals("/").value == [path_prefix + "/theirs"]


def test_get_all_children_number(raw, path_prefix):
    assert raw.create(path_prefix).ok
    for path in ("/a", "/b", "/a/c", "/a/c/d", "/a/e"):
        assert raw.create(path_prefix + path).ok
    assert raw.get_all_children_number(path_prefix).value == 5
    assert raw.get_all_children_number(path_prefix + "/a").value == 3
    assert raw.get_all_children_number(path_prefix + "/b").value == 0
    assert raw.get_all_children_number(path_prefix + "/missing").err == Err.NONODE


def test_who_am_i(raw, raw_factory):
    reply = raw.who_am_i()
    assert reply.ok and reply.value == [("ip", "127.0.0.1")]
    assert raw.auth("digest", b"alice:secret").ok
    assert sorted(raw.who_am_i().value) == [("digest", "alice"), ("ip", "127.0.0.1")]
    assert raw.auth("digest", b"bob:other").ok
    assert sorted(raw.who_am_i().value) == [("digest", "alice"), ("digest", "bob"), ("ip", "127.0.0.1")]
    assert raw_factory().who_am_i().value == [("ip", "127.0.0.1")]


def test_sasl_without_sasl_configured(raw, path_prefix):
    """Apache without a SASL server: the reply is OK with a null token, and the connection stays usable."""
    reply = raw.sasl(b"token")
    assert reply.ok
    assert reply.body == b"\xff\xff\xff\xff"  # SetSASLResponse{token=null}
    assert reply.value is None
    assert raw.create(path_prefix).ok


def test_reconfig_is_disabled(raw):
    assert raw.reconfig().err == Err.RECONFIGDISABLED
    assert raw.reconfig(joining="server.2=127.0.0.1:2888:3888;2181").err == Err.RECONFIGDISABLED
    assert raw.reconfig(new_members="server.1=127.0.0.1:2888:3888;2181", config_id=5).err == Err.RECONFIGDISABLED
    assert raw.ping().ok


def test_unknown_opcode_is_unimplemented_then_closed(raw):
    reply = raw.call(99, b"")
    assert (reply.err, reply.body) == (Err.UNIMPLEMENTED, b"")
    assert raw.is_closed_by_peer()


def test_server_internal_opcodes_are_rejected(raw):
    assert raw.call(Op.DELETE_CONTAINER, path_version_request("/")).err == Err.BADARGUMENTS
    assert raw.call(Op.CREATE_SESSION, b"").err == Err.MARSHALLINGERROR
    assert raw.ping().ok


# --- paths, data sizes, malformed frames -----------------------------------------------------------


@pytest.mark.parametrize("suffix", ["/", "/.", "/..", "//x", "/x/", "/a\u0000b", "/\u0001", "/\u007f",
                                    "/\u009f", "/\ud7ff\ue000", "/\uffff"])
def test_invalid_paths_with_an_existing_parent(raw, path_prefix, suffix):
    assert raw.create(path_prefix).ok
    path = path_prefix + suffix
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        pytest.skip("not encodable")
    err = raw.create(path).err
    if suffix in ("//x", "/x/"):
        assert err == Err.NONODE  # the parent ("…/" or "…/x") is looked up before the path is validated
    else:
        assert err == Err.BADARGUMENTS


def test_invalid_path_reads(raw):
    assert raw.get_data("no-slash").err == Err.NONODE  # reads only look the path up
    # "" is an alias of the root in Apache's DataTree.
    assert raw.exists("").value.numChildren == raw.exists("/").value.numChildren
    assert raw.create("no-slash").err == Err.BADARGUMENTS
    assert raw.create("/").err == Err.NODEEXISTS
    assert raw.delete("/").err == Err.BADARGUMENTS
    assert raw.delete("/zookeeper").err == Err.BADARGUMENTS


def test_data_limit(raw, path_prefix):
    assert raw.create(path_prefix, b"x" * (JUTE_MAXBUFFER - 200)).ok
    assert raw.get_data(path_prefix).value[1].dataLength == JUTE_MAXBUFFER - 200
    # A frame above jute.maxbuffer closes the connection.
    try:
        raw.send_request(Op.SET_DATA, set_data_request(path_prefix, b"y" * (JUTE_MAXBUFFER + 1)))
    except (ConnectionResetError, BrokenPipeError):
        return  # the server may close as soon as it has read the length, while we are still sending
    assert raw.is_closed_by_peer()


@pytest.mark.parametrize("name, payload", [
    ("length above jute.maxbuffer", struct.pack(">i", JUTE_MAXBUFFER + 1) + bytes(64)),
    ("negative length", struct.pack(">i", -5)),
    ("four-letter word after the handshake", b"ruok"),
    ("truncated request header", struct.pack(">i", 2) + b"\x00\x00"),
])
def test_bad_frames_in_a_session_close_the_connection(raw, name, payload):
    try:
        raw.send_raw(payload)
    except (ConnectionResetError, BrokenPipeError):
        return
    assert raw.is_closed_by_peer()
    assert raw._buffer == b""


@pytest.mark.parametrize("name, payload", [
    ("length above jute.maxbuffer", struct.pack(">i", JUTE_MAXBUFFER + 1) + bytes(64)),
    ("garbage connect request", struct.pack(">i", 5) + b"hello"),
    ("empty connect request", struct.pack(">i", 0)),
    ("unknown four-letter word", b"xxxx"),
])
def test_bad_handshakes_close_the_connection(raw_factory, name, payload):
    client = raw_factory(connect=False)
    try:
        client.send_raw(payload)
    except (ConnectionResetError, BrokenPipeError):
        return
    assert client.is_closed_by_peer()
    assert client._buffer == b""


def test_truncated_request_body_is_a_marshalling_error(raw):
    # getData whose path claims 4 bytes but carries 2: the server answers MARSHALLINGERROR and keeps going.
    reply = raw.call(Op.GET_DATA, struct.pack(">i", 4) + b"/a")
    assert (reply.err, reply.body) == (Err.MARSHALLINGERROR, b"")
    assert raw.ping().ok


# --- multi -----------------------------------------------------------------------------------------


def test_multi_result_types(raw, path_prefix):
    p = path_prefix
    assert raw.create(p).ok
    reply = raw.multi([
        (Op.CHECK, path_version_request(p, 0)),
        (Op.CREATE, create_request(p + "/a")),
        (Op.CREATE2, create_request(p + "/b")),
        (Op.CREATE_CONTAINER, create_request(p + "/c", flags=CreateFlags.CONTAINER)),
        (Op.CREATE_TTL, create_request(p + "/d", flags=CreateFlags.PERSISTENT_WITH_TTL, ttl=60000)),
        (Op.DELETE, path_version_request(p + "/a")),
        (Op.SET_DATA, set_data_request(p, b"y", 0)),
    ])
    assert reply.ok
    results = reply.value
    # create → create (path only); create2, createContainer and createTTL → create2 (path and stat).
    assert [(r.type, r.err) for r in results] == [(Op.CHECK, 0), (Op.CREATE, 0), (Op.CREATE, 0),
                                                   (Op.CREATE2, 0), (Op.CREATE2, 0), (Op.DELETE, 0),
                                                   (Op.SET_DATA, 0)]
    assert results[1].value == p + "/a" and results[2].value == p + "/b"
    container_stat, ttl_stat = results[3].value[1], results[4].value[1]
    assert container_stat.czxid == ttl_stat.czxid == reply.zxid  # one zxid for the whole multi
    assert results[6].value.mzxid == reply.zxid and results[6].value.version == 1
    assert results[6].value.numChildren == 3


def test_multi_failure_results(raw, path_prefix):
    p = path_prefix
    assert raw.create(p).ok
    before = raw.last_zxid
    reply = raw.multi([
        (Op.CREATE, create_request(p + "/new")),
        (Op.CHECK, path_version_request(p, 0)),
        (Op.SET_DATA, set_data_request(p, b"x", 5)),
        (Op.DELETE, path_version_request(p + "/none")),
    ])
    assert reply.err == 0  # the header says OK; the results carry the errors
    assert [(r.type, r.err, r.value) for r in reply.value] == [
        (Op.ERROR, 0, 0), (Op.ERROR, 0, 0), (Op.ERROR, Err.BADVERSION, Err.BADVERSION),
        (Op.ERROR, Err.RUNTIMEINCONSISTENCY, Err.RUNTIMEINCONSISTENCY)]
    assert raw.exists(p + "/new").err == Err.NONODE
    assert raw.get_data(p).value[1].version == 0
    assert reply.zxid > before  # a failed multi still consumes a zxid (an error txn)


def test_multi_empty(raw):
    reply = raw.multi([])
    assert reply.ok and reply.value == []


def test_multi_read(raw, path_prefix):
    p = path_prefix
    assert raw.create(p, b"data").ok
    assert raw.create(p + "/kid").ok
    reply = raw.multi([(Op.GET_DATA, path_watch_request(p)), (Op.GET_CHILDREN, path_watch_request(p)),
                       (Op.GET_DATA, path_watch_request(p + "/none"))], opcode=Op.MULTI_READ)
    assert reply.ok
    first, second, third = reply.value
    assert (first.type, first.err, first.value[0]) == (Op.GET_DATA, 0, b"data")
    assert (second.type, second.err, second.value) == (Op.GET_CHILDREN, 0, ["kid"])
    assert (third.type, third.err, third.value) == (Op.ERROR, Err.NONODE, Err.NONODE)  # no abort for reads


@pytest.mark.parametrize("opcode, ops", [
    (Op.MULTI, [(Op.GET_DATA, path_watch_request("/"))]),
    (Op.MULTI, [(Op.SET_DATA, set_data_request("/", b"")), (Op.GET_DATA, path_watch_request("/"))]),
    (Op.MULTI_READ, [(Op.SET_DATA, set_data_request("/", b""))]),
    (Op.MULTI, [(Op.SYNC, path_request("/"))]),
])
def test_multi_bad_op_kinds(raw, opcode, ops):
    assert raw.multi(ops, opcode=opcode).err == Err.MARSHALLINGERROR
    assert raw.ping().ok


# --- ACL validation and auth through the raw protocol ----------------------------------------------


@pytest.mark.parametrize("acl, err", [
    ([], Err.INVALIDACL),
    ([(Perms.ALL, "nosuchscheme", "x")], Err.INVALIDACL),
    ([(Perms.ALL, "auth", "")], Err.INVALIDACL),  # no authenticated identity to expand
    ([(Perms.ALL, "digest", "no-colon")], Err.INVALIDACL),
    ([(Perms.ALL, "ip", "not-an-ip")], Err.INVALIDACL),
    ([(Perms.ALL, "world", "someone")], Err.INVALIDACL),
    ([(Perms.ALL, "ip", "127.0.0.0/8")], Err.OK),
    ([(0, "world", "anyone")], Err.OK),
    ([(Perms.READ, "digest", "u:hash"), (Perms.ALL, "world", "anyone")], Err.OK),
])
def test_acl_validation(raw, path_prefix, acl, err):
    assert raw.create(path_prefix, acl=acl).err == err


def test_invalid_acl_wins_over_missing_parent(raw, path_prefix):
    assert raw.create(path_prefix + "/missing/x", acl=[]).err == Err.INVALIDACL


@pytest.mark.parametrize("scheme, credential, err, closed", [
    ("nosuchscheme", b"x", Err.AUTHFAILED, True),
    ("world", b"anyone", Err.AUTHFAILED, True),
    ("digest", b"user:password", Err.OK, False),
    ("digest", b"no-colon", Err.OK, False),
    ("ip", b"127.0.0.1", Err.OK, False),
])
def test_auth_packet(raw, scheme, credential, err, closed):
    reply = raw.auth(scheme, credential)
    assert (reply.xid, reply.err, reply.body) == (-4, err, b"")
    if closed:
        assert raw.is_closed_by_peer()
    else:
        assert raw.ping().ok


# --- time-driven deletions (containers, TTL) -------------------------------------------------------


def test_container_and_ttl_reaping(server, server_factory):
    """Containers go once their last child is deleted; TTL nodes go after their TTL when childless."""
    fast = server_factory(server.kind, {"znode.container.checkIntervalMs": "100"})
    client = fast.raw()
    try:
        assert client.create_container("/box").ok
        assert client.create("/box/item").ok
        assert client.create_container("/never-used").ok
        assert client.create_ttl("/ttl", ttl=300).ok
        assert client.create_ttl("/ttl-parent", ttl=300).ok
        assert client.create("/ttl-parent/kid").ok
        assert client.exists("/box", watch=True).ok
        assert client.exists("/ttl", watch=True).ok
        assert client.delete("/box/item").ok
        deleted = {client.wait_event(timeout=15).path, client.wait_event(timeout=15).path}
        assert deleted == {"/box", "/ttl"}
        assert client.exists("/box").err == Err.NONODE
        assert client.exists("/ttl").err == Err.NONODE
        # A container that never had a child stays (maxNeverUsedIntervalMs defaults to 0 = never);
        # a TTL node with children stays.
        assert client.exists("/never-used").ok
        assert client.exists("/ttl-parent").ok
    finally:
        client.close()
