"""Sessions: keep-alive by pings across several timeouts, expiry (ephemerals deleted, watches fired, the client
told its session expired), re-attaching, and closing. Tests here are about time passing, so they wait for the
server's session timeout, never on fixed sleeps for synchronisation."""

import threading

from kazoo.client import KazooState

from conftest import EventLog
from rawzk import CreateFlags

SHORT_TIMEOUT_S = 4.0  # == minSessionTimeout in the test config
EXPIRY_DEADLINE_S = 20.0  # timeout + tick slack + CI slowness


def test_pings_keep_the_session_alive(kazoo_factory, root, state_recorder):
    client = kazoo_factory(timeout=SHORT_TIMEOUT_S)
    states = state_recorder()
    client.add_listener(states)
    session = client.client_id
    path = client.create(root + "/alive", ephemeral=True)
    changed = threading.Event()
    client.add_listener(lambda state: changed.set())
    # The test is about time passing: three session timeouts without requests, only kazoo's pings.
    assert not changed.wait(3 * SHORT_TIMEOUT_S)
    assert states.states == []
    assert client.client_id == session
    assert client.exists(path).ephemeralOwner == session[0]


def test_raw_pings_keep_the_session_alive(server, raw_factory, path_prefix):
    client = raw_factory(timeout_ms=4000)
    assert client.create(path_prefix, flags=CreateFlags.EPHEMERAL).ok
    observer = raw_factory()
    assert observer.exists(path_prefix, watch=True).ok
    for _ in range(8):  # 8 pings, one per second: 2 timeouts
        assert client.ping().ok
        assert observer.no_event_within(1.0)
    assert observer.exists(path_prefix).value.ephemeralOwner == client.session.session_id


def test_silent_session_expires(server, raw_factory, kazoo_factory, path_prefix):
    watcher = kazoo_factory()
    watcher.create(path_prefix)
    victim = raw_factory(timeout_ms=4000)
    assert victim.create(path_prefix + "/eph", flags=CreateFlags.EPHEMERAL).ok
    assert victim.create(path_prefix + "/eph-seq-", flags=CreateFlags.EPHEMERAL_SEQUENTIAL).ok
    assert victim.get_data(path_prefix, watch=True).ok
    data_log, child_log = EventLog(), EventLog()
    watcher.get(path_prefix + "/eph", watch=data_log)
    watcher.get_children(path_prefix, watch=child_log)
    session = victim.session

    # The victim sends nothing from now on; the server expires its session after ~4 s.
    assert [(e.type, e.path) for e in data_log.wait(1, timeout=EXPIRY_DEADLINE_S)] == [("DELETED", path_prefix + "/eph")]
    assert [e.type for e in child_log.wait(1, timeout=EXPIRY_DEADLINE_S)] == ["CHILD"]
    assert watcher.get_children(path_prefix) == []
    assert victim.is_closed_by_peer(timeout=EXPIRY_DEADLINE_S)  # the server drops the expired session's connection
    assert victim.events == []  # and sends it no notifications

    retry = raw_factory(connect=False)
    response = retry.connect(session_id=session.session_id, passwd=session.passwd)
    assert (response.timeout_ms, response.session_id, response.passwd) == (0, 0, bytes(16))


def test_kazoo_sees_expiry_after_a_partition(server, proxy, kazoo_factory, state_recorder, path_prefix):
    watcher = kazoo_factory()
    watcher.create(path_prefix)
    states = state_recorder()
    client = kazoo_factory(hosts=proxy.hosts, timeout=SHORT_TIMEOUT_S,
                           connection_retry={"max_tries": -1, "delay": 0.05, "max_delay": 0.5})
    client.add_listener(states)
    old_session = client.client_id
    path = client.create(path_prefix + "/eph", ephemeral=True)
    gone = EventLog()
    watcher.exists(path, watch=gone)

    proxy.freeze()  # a partition: the server hears nothing from the client
    states.wait_for(KazooState.SUSPENDED)
    assert gone.wait(1, timeout=EXPIRY_DEADLINE_S)[0].type == "DELETED"
    proxy.thaw()
    lost = states.wait_for(KazooState.LOST, timeout=EXPIRY_DEADLINE_S)  # the server says: session expired
    states.wait_for(KazooState.CONNECTED, start=lost, timeout=EXPIRY_DEADLINE_S)  # kazoo starts a new one
    assert client.client_id[0] != old_session[0]
    assert client.exists(path) is None


def test_close_deletes_ephemerals_at_once(kazoo_factory, root):
    watcher = kazoo_factory()
    client = kazoo_factory(timeout=30.0)  # a long timeout: only the explicit close can explain the deletion
    path = client.create(root + "/eph", ephemeral=True)
    client.create(root + "/persistent")
    log = EventLog()
    watcher.exists(path, watch=log)
    client.stop()
    client.close()
    assert log.wait(1, timeout=5.0)[0].type == "DELETED"
    assert watcher.get_children(root) == ["persistent"]


def test_reattach_from_another_client(kazoo_factory, root):
    first = kazoo_factory(timeout=10.0)
    path = first.create(root + "/eph", ephemeral=True)
    session_id, password = first.client_id
    second = kazoo_factory(start=False, client_id=(session_id, password))
    second.start(timeout=15)
    assert second.client_id[0] == session_id
    assert second.exists(path).ephemeralOwner == session_id
    second.set(path, b"via second")
    assert second.get(path)[0] == b"via second"
