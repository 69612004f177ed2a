"""Watches through the raw protocol: delivery order, one-shot semantics, persistent and persistent-recursive
watches (addWatch), checkWatches/removeWatches, and setWatches/setWatches2 replay with its relative-zxid rules.
Expected values are Apache ZooKeeper 3.8's."""

from rawzk import AddWatchMode, Err, EventType, KeeperState, Op, WatchEvent, WatcherType, Writer

CREATED, DELETED, CHANGED, CHILD = (EventType.NODE_CREATED, EventType.NODE_DELETED,
                                    EventType.NODE_DATA_CHANGED, EventType.NODE_CHILDREN_CHANGED)


def event(kind, path):
    return WatchEvent(kind, KeeperState.SYNC_CONNECTED, path)


def drain(client):
    """A round trip (sync) after which every event caused by earlier changes has been read; returns them."""
    assert client.sync("/").ok
    events, client.events[:] = list(client.events), []
    return events


def test_notification_header(raw, raw_factory, path_prefix):
    other = raw_factory()
    assert other.create(path_prefix).ok
    raw.get_data(path_prefix, watch=True)
    other.set_data(path_prefix, b"x")
    assert raw.wait_event() == event(CHANGED, path_prefix)
    assert raw.notification_headers == [(-1, 0)]  # ReplyHeader(xid=-1, zxid=-1, err=0)


def test_own_change_event_precedes_the_reply(raw, path_prefix):
    assert raw.create(path_prefix, b"").ok
    assert raw.get_data(path_prefix, watch=True).ok
    raw.log.clear()
    reply = raw.set_data(path_prefix, b"new")
    assert reply.ok
    assert raw.log == [("event", event(CHANGED, path_prefix)), ("reply", reply.xid)]


def test_event_precedes_the_new_data_for_the_watcher(raw, raw_factory, path_prefix):
    other = raw_factory()
    assert other.create(path_prefix, b"old").ok
    assert raw.get_data(path_prefix, watch=True).value[0] == b"old"
    assert other.set_data(path_prefix, b"new").ok
    raw.log.clear()
    reply = raw.get_data(path_prefix)
    assert reply.value[0] == b"new"
    assert raw.log == [("event", event(CHANGED, path_prefix)), ("reply", reply.xid)]


def test_one_shot_watches_fire_once(raw, raw_factory, path_prefix):
    other = raw_factory()
    assert other.create(path_prefix).ok
    raw.get_data(path_prefix, watch=True)
    raw.get_children(path_prefix, watch=True)
    raw.exists(path_prefix + "/c", watch=True)
    other.set_data(path_prefix, b"1")
    other.create(path_prefix + "/c")
    assert drain(raw) == [event(CHANGED, path_prefix), event(CREATED, path_prefix + "/c"),
                          event(CHILD, path_prefix)]
    other.set_data(path_prefix, b"2")
    other.create(path_prefix + "/d")
    other.set_data(path_prefix + "/c", b"3")
    assert drain(raw) == []


def test_same_watch_registered_twice_fires_once(raw, raw_factory, path_prefix):
    other = raw_factory()
    assert other.create(path_prefix).ok
    raw.get_data(path_prefix, watch=True)
    raw.get_data(path_prefix, watch=True)
    raw.exists(path_prefix, watch=True)
    other.set_data(path_prefix, b"1")
    assert drain(raw) == [event(CHANGED, path_prefix)]


def test_failed_write_fires_nothing(raw, raw_factory, path_prefix):
    other = raw_factory()
    assert other.create(path_prefix).ok
    raw.get_data(path_prefix, watch=True)
    raw.get_children(path_prefix, watch=True)
    assert other.set_data(path_prefix, b"x", version=7).err == Err.BADVERSION
    assert other.create(path_prefix).err == Err.NODEEXISTS
    assert other.delete(path_prefix + "/none").err == Err.NONODE
    assert drain(raw) == []


def test_watch_on_failed_read_of_missing_node(raw, raw_factory, path_prefix):
    """getData/getChildren on a missing node fail with NONODE and leave no watch; exists leaves one."""
    other = raw_factory()
    assert raw.get_data(path_prefix, watch=True).err == Err.NONODE
    assert raw.get_children(path_prefix, watch=True).err == Err.NONODE
    assert raw.check_watches(path_prefix, WatcherType.ANY).err == Err.NOWATCHER
    assert raw.exists(path_prefix, watch=True).err == Err.NONODE
    assert raw.check_watches(path_prefix, WatcherType.DATA).err == Err.OK
    assert raw.check_watches(path_prefix, WatcherType.CHILDREN).err == Err.NOWATCHER
    other.create(path_prefix)
    assert drain(raw) == [event(CREATED, path_prefix)]


def test_persistent_watch(raw, raw_factory, path_prefix):
    other = raw_factory()
    p = path_prefix
    assert other.create(p).ok
    reply = raw.add_watch(p, AddWatchMode.PERSISTENT)
    assert reply.ok and reply.value == 0  # ErrorResponse(err=0)
    steps = [
        (lambda: other.set_data(p, b"1"), [event(CHANGED, p)]),
        (lambda: other.set_data(p, b"2"), [event(CHANGED, p)]),  # not one-shot
        (lambda: other.create(p + "/c"), [event(CHILD, p)]),
        (lambda: other.create(p + "/c/g"), []),  # not recursive
        (lambda: other.set_data(p + "/c", b"x"), []),
        (lambda: other.delete(p + "/c/g"), []),
        (lambda: other.delete(p + "/c"), [event(CHILD, p)]),
        (lambda: other.delete(p), [event(DELETED, p)]),
        (lambda: other.create(p), [event(CREATED, p)]),  # survives the node's deletion
    ]
    for number, (action, expected) in enumerate(steps):
        assert action().ok
        assert drain(raw) == expected, f"step {number}"
    assert raw.check_watches(p, WatcherType.ANY).ok
    assert raw.check_watches(p, WatcherType.DATA).ok
    assert raw.check_watches(p, WatcherType.CHILDREN).ok


def test_persistent_recursive_watch(raw, raw_factory, path_prefix):
    other = raw_factory()
    r = path_prefix
    assert raw.add_watch(r, AddWatchMode.PERSISTENT_RECURSIVE).ok  # the node need not exist
    steps = [
        (lambda: other.create(r), [event(CREATED, r)]),
        (lambda: other.set_data(r, b"1"), [event(CHANGED, r)]),
        (lambda: other.create(r + "/c"), [event(CREATED, r + "/c")]),  # no NodeChildrenChanged
        (lambda: other.create(r + "/c/g"), [event(CREATED, r + "/c/g")]),
        (lambda: other.set_data(r + "/c/g", b"1"), [event(CHANGED, r + "/c/g")]),
        (lambda: other.delete(r + "/c/g"), [event(DELETED, r + "/c/g")]),
        (lambda: other.delete(r + "/c"), [event(DELETED, r + "/c")]),
        (lambda: other.create(r + "-sibling"), []),  # a prefix of the name is not a descendant
        (lambda: other.delete(r), [event(DELETED, r)]),
        (lambda: other.create(r), [event(CREATED, r)]),
        (lambda: other.create(r + "/e", flags=1), [event(CREATED, r + "/e")]),
    ]
    for number, (action, expected) in enumerate(steps):
        assert action().ok
        assert drain(raw) == expected, f"step {number}"
    other.close_session()  # the ephemeral goes with the session
    assert raw.wait_event() == event(DELETED, r + "/e")


def test_add_watch_bad_mode(raw, path_prefix):
    assert raw.add_watch(path_prefix, 5).err == Err.MARSHALLINGERROR


def test_check_and_remove_one_shot_watches(raw, path_prefix):
    p = path_prefix
    assert raw.create(p).ok
    assert raw.check_watches(p, WatcherType.ANY).err == Err.NOWATCHER
    raw.get_data(p, watch=True)
    raw.get_children(p, watch=True)
    assert raw.check_watches(p, WatcherType.DATA).ok
    assert raw.check_watches(p, WatcherType.CHILDREN).ok
    assert raw.remove_watches(p, WatcherType.DATA).ok
    assert raw.remove_watches(p, WatcherType.DATA).err == Err.NOWATCHER
    assert raw.check_watches(p, WatcherType.DATA).err == Err.NOWATCHER
    assert raw.check_watches(p, WatcherType.CHILDREN).ok
    assert raw.remove_watches(p, WatcherType.ANY).ok
    assert raw.check_watches(p, WatcherType.ANY).err == Err.NOWATCHER
    assert raw.remove_watches(p, WatcherType.ANY).err == Err.NOWATCHER
    assert raw.remove_watches(p + "/missing", WatcherType.ANY).err == Err.NOWATCHER
    # Removed watches do not fire (the server sends nothing; DataWatchRemoved events are client-local).
    assert raw.set_data(p, b"x").ok
    assert raw.create(p + "/c").ok
    assert drain(raw) == []


def test_check_and_remove_watches_bad_type(raw, path_prefix):
    assert raw.create(path_prefix).ok
    raw.get_data(path_prefix, watch=True)
    assert raw.check_watches(path_prefix, 0).err == Err.MARSHALLINGERROR
    assert raw.remove_watches(path_prefix, 7).err == Err.MARSHALLINGERROR


def test_remove_persistent_watch(raw, raw_factory, path_prefix):
    other = raw_factory()
    p = path_prefix
    assert other.create(p).ok
    assert raw.add_watch(p, AddWatchMode.PERSISTENT_RECURSIVE).ok
    assert raw.remove_watches(p, WatcherType.ANY).ok
    assert raw.check_watches(p, WatcherType.ANY).err == Err.NOWATCHER
    other.set_data(p, b"1")
    other.create(p + "/c")
    assert drain(raw) == []


def test_watches_are_per_session_not_shared(raw, raw_factory, path_prefix):
    other, third = raw_factory(), raw_factory()
    assert other.create(path_prefix).ok
    raw.get_data(path_prefix, watch=True)
    # Not asserted: Apache 3.8.0 answers checkWatches OK for *any* session's watch on the path (a quirk);
    # removeWatches is per session.
    assert third.remove_watches(path_prefix, WatcherType.DATA).err == Err.NOWATCHER
    assert raw.check_watches(path_prefix, WatcherType.DATA).ok
    other.set_data(path_prefix, b"1")
    assert drain(raw) == [event(CHANGED, path_prefix)]
    assert drain(third) == []


def test_set_watches_relative_zxid_rules(raw, raw_factory, path_prefix):
    p = path_prefix
    writer = raw_factory()
    assert writer.create(p).ok
    assert writer.create(p + "/a").ok
    seen = writer.last_zxid
    reply = raw.set_watches(seen, data=[p, p + "/gone-d"], exist=[p + "/a", p + "/later"],
                            child=[p, p + "/gone-c"])
    assert reply.ok and reply.xid == -8 and reply.body == b""
    # Missing data/child-watched nodes fire NodeDeleted; an existing exists-watched node fires NodeCreated;
    # the rest (nothing changed after `seen`) are registered. Data watches are processed first, then exists,
    # then child watches.
    assert drain(raw) == [event(DELETED, p + "/gone-d"), event(CREATED, p + "/a"), event(DELETED, p + "/gone-c")]
    assert writer.set_data(p, b"x").ok
    assert writer.create(p + "/later").ok
    assert drain(raw) == [event(CHANGED, p), event(CREATED, p + "/later"), event(CHILD, p)]


def test_set_watches_fires_for_changes_after_the_relative_zxid(raw, raw_factory, path_prefix):
    p = path_prefix
    writer = raw_factory()
    assert writer.create(p).ok
    seen = writer.last_zxid
    assert writer.set_data(p, b"changed").ok
    assert writer.create(p + "/kid").ok
    assert raw.set_watches(seen, data=[p], child=[p]).ok
    assert drain(raw) == [event(CHANGED, p), event(CHILD, p)]
    # Those watches fired and are gone.
    assert writer.set_data(p, b"again").ok
    assert drain(raw) == []


def test_set_watches2_persistent(raw, raw_factory, path_prefix):
    p = path_prefix
    writer = raw_factory()
    assert writer.create(p).ok
    assert raw.set_watches2(0, persistent=[p], recursive=[p + "-tree"]).ok
    assert drain(raw) == []  # persistent watches are registered, never fired by the replay itself
    assert writer.create(p + "-tree").ok
    assert writer.create(p + "-tree/u").ok
    assert writer.set_data(p, b"y").ok
    assert writer.create(p + "/b").ok
    assert drain(raw) == [event(CREATED, p + "-tree"), event(CREATED, p + "-tree/u"),
                          event(CHANGED, p), event(CHILD, p)]


def test_watch_replay_on_a_reattached_session(server, raw_factory, path_prefix):
    """The client side of setWatches: reconnect with session id + password, replay, see missed changes."""
    p = path_prefix
    writer = raw_factory()
    first = raw_factory(timeout_ms=10000)
    assert first.create(p, b"v0").ok
    assert first.create(p + "/eph", flags=1).ok
    assert first.get_data(p, watch=True).ok
    seen = first.last_zxid
    session = first.session
    first.close()  # the connection drops; the session lives on

    assert writer.set_data(p, b"v1").ok
    second = raw_factory(connect=False)
    response = second.connect(timeout_ms=10000, session_id=session.session_id, passwd=session.passwd,
                              last_zxid=seen)
    assert (response.session_id, response.passwd) == (session.session_id, session.passwd)
    assert response.timeout_ms == session.timeout_ms
    assert second.set_watches(seen, data=[p]).ok
    assert drain(second) == [event(CHANGED, p)]
    assert writer.exists(p + "/eph").value.ephemeralOwner == session.session_id
    assert second.get_ephemerals("/").value == [p + "/eph"]


def test_set_watches_with_an_ordinary_xid(raw, path_prefix):
    assert raw.create(path_prefix).ok
    reply = raw.call(Op.SET_WATCHES, Writer().long(0).strings([path_prefix]).strings([]).strings([]).bytes())
    assert reply.ok
    assert drain(raw) == [event(CHANGED, path_prefix)]
