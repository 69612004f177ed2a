"""One-shot watches through kazoo: data, exists and child watches and their one-shot nature."""

from conftest import EventLog, flush_kazoo_callbacks


def test_data_watch_fires_once_on_change(zk, kazoo_factory, root):
    other = kazoo_factory()
    path = zk.create(root + "/d", b"0")
    log = EventLog()
    zk.get(path, watch=log)
    other.set(path, b"1")
    assert log.wait(1)[0].type == "CHANGED"
    other.set(path, b"2")  # the watch was consumed
    zk.get(path)  # a round trip after the change: any event would have been delivered before this reply
    flush_kazoo_callbacks(zk)
    assert log.summary() == [("CHANGED", path)]
    assert log.events[0].state == "CONNECTED"


def test_data_watch_fires_on_delete(zk, kazoo_factory, root):
    other = kazoo_factory()
    path = zk.create(root + "/d", b"")
    log = EventLog()
    zk.get(path, watch=log)
    other.delete(path)
    assert [(e.type, e.path) for e in log.wait(1)] == [("DELETED", path)]


def test_exists_watch_on_missing_node_fires_created(zk, kazoo_factory, root):
    other = kazoo_factory()
    path = root + "/later"
    log = EventLog()
    assert zk.exists(path, watch=log) is None
    other.create(path, b"")
    assert [(e.type, e.path) for e in log.wait(1)] == [("CREATED", path)]


def test_exists_watch_on_existing_node(zk, kazoo_factory, root):
    other = kazoo_factory()
    path = zk.create(root + "/n", b"")
    changed, deleted = EventLog(), EventLog()
    zk.exists(path, watch=changed)
    other.set(path, b"x")
    assert changed.wait(1)[0].type == "CHANGED"
    zk.exists(path, watch=deleted)
    other.delete(path)
    assert deleted.wait(1)[0].type == "DELETED"


def test_child_watch(zk, kazoo_factory, root):
    other = kazoo_factory()
    created, deleted = EventLog(), EventLog()
    zk.get_children(root, watch=created)
    other.create(root + "/kid", b"")
    assert [(e.type, e.path) for e in created.wait(1)] == [("CHILD", root)]

    zk.get_children(root, watch=deleted)
    other.set(root + "/kid", b"data")  # a child's data change is not a child change
    other.set(root, b"data")  # nor is the parent's own data change
    zk.get_children(root)
    flush_kazoo_callbacks(zk)
    assert deleted.events == []
    other.delete(root + "/kid")
    assert [(e.type, e.path) for e in deleted.wait(1)] == [("CHILD", root)]


def test_child_watch_fires_deleted_when_the_node_goes(zk, kazoo_factory, root):
    other = kazoo_factory()
    path = zk.create(root + "/p", b"")
    log = EventLog()
    zk.get_children(path, watch=log)
    other.delete(path)
    assert [(e.type, e.path) for e in log.wait(1)] == [("DELETED", path)]


def test_getchildren2_sets_a_child_watch(zk, kazoo_factory, root):
    other = kazoo_factory()
    log = EventLog()
    zk.get_children(root, watch=log, include_data=True)
    other.create(root + "/x")
    assert log.wait(1)[0].type == "CHILD"


def test_own_change_fires_own_watch(zk, root):
    path = zk.create(root + "/self", b"")
    log = EventLog()
    zk.get(path, watch=log)
    zk.set(path, b"mine")
    assert log.wait(1)[0].type == "CHANGED"


def test_reconnect_keeps_the_session(server, proxy, kazoo_factory, state_recorder, root):
    """kazoo re-attaches to its session after a dropped connection: same id, ephemerals kept.

    (kazoo 2.11 does not replay watches with setWatches: on SUSPENDED it fires NONE events locally and
    forgets them. setWatches is covered by the raw-protocol tests in test_raw_watches.py.)
    """
    other = kazoo_factory()
    states = state_recorder()
    client = kazoo_factory(hosts=proxy.hosts, connection_retry={"max_tries": -1, "delay": 0.05, "max_delay": 0.2})
    client.add_listener(states)
    ephemeral = client.create(root + "/mine", b"", ephemeral=True)
    session = client.client_id
    log = EventLog()
    client.get(ephemeral, watch=log)

    proxy.drop()
    index = states.wait_for("SUSPENDED")
    states.wait_for("CONNECTED", start=index)
    assert client.client_id == session
    assert proxy.accepted == 2
    assert other.exists(ephemeral).ephemeralOwner == session[0]
    assert [(e.type, e.state) for e in log.wait(1)] == [("NONE", "CONNECTING")]  # kazoo-local
    client.set(ephemeral, b"still mine")
    assert other.get(ephemeral)[0] == b"still mine"
