"""Ensembles of real `zk-server` processes on loopback (and, mixed, with Apache ZooKeeper 3.8): election,
writes through every server, global sessions and watches, failover under load, and the three ways a
returning server is synchronized (DIFF, SNAP, TRUNC). Trees are compared server by server afterwards.
"""
from __future__ import annotations

import threading

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException

import zkstorage
from conftest import session, wait_until
from ensemble import Ensemble, four_letter, tree_of

FIRST_WRITE_ZXID = 0x100000002  # createSession is 0x100000001, as the Kubernetes tutorial shows


@pytest.fixture
def ensembles(tmp_path):
    created: list[Ensemble] = []

    def make(kinds: dict[int, str]) -> Ensemble:
        ensemble = Ensemble.create(tmp_path / f"ensemble{len(created)}", kinds)
        created.append(ensemble)
        return ensemble

    yield make
    for ensemble in created:
        ensemble.stop_all()


def connected(ensemble: Ensemble, sids=None, **kwargs):
    """`with connected(ensemble, [sid]) as zk:` a client of those servers for the block."""
    return session(ensemble.connect_string(sids), **kwargs)


def client(ensemble: Ensemble, sids=None, **kwargs) -> KazooClient:
    zk = KazooClient(hosts=ensemble.connect_string(sids), timeout=20, **kwargs)
    zk.start(timeout=30)
    return zk


def assert_trees_equal(ensemble: Ensemble, sids):
    trees = {}
    for sid in sids:
        with connected(ensemble, [sid]) as zk:
            trees[sid] = tree_of(zk)
    first = trees[sids[0]]
    for sid in sids[1:]:
        assert trees[sid] == first, f"server {sid}'s tree differs from server {sids[0]}'s"
    return first


def followers(ensemble: Ensemble, leader) -> list[int]:
    return [sid for sid in sorted(ensemble.members) if sid != leader.sid and ensemble.members[sid].running]


def test_three_servers_elect_one_leader_and_serve_writes_through_every_server(ensembles):
    ensemble = ensembles({1: "swift", 2: "swift", 3: "swift"})
    ensemble.start()
    leader = ensemble.wait_for_quorum()
    modes = sorted(m.mode() for m in ensemble.running())
    assert modes == ["follower", "follower", "leader"]
    assert "LEADING" in leader.log() and all("FOLLOWING" in ensemble.members[s].log() for s in followers(ensemble, leader))

    with connected(ensemble) as zk:
        zk.create("/first", b"v")
        assert zk.exists("/first").czxid == FIRST_WRITE_ZXID
    for sid in sorted(ensemble.members):
        with connected(ensemble, [sid]) as zk:
            zk.create(f"/through-{sid}", f"from {sid}".encode())
            zk.set("/first", f"set through {sid}".encode())
    tree = assert_trees_equal(ensemble, sorted(ensemble.members))
    assert {f"/through-{sid}" for sid in ensemble.members} <= set(tree)
    assert tree["/first"][1] == 3

    conf = four_letter(leader.client_port, "conf")
    assert f"serverId={leader.sid}\n" in conf and "\nmembership: \n" in conf and conf.endswith("\nversion=0")
    for member in ensemble.members.values():
        assert f"server.{member.sid}=127.0.0.1:{member.quorum_port}:{member.election_port}:participant\n" in conf
    mntr = dict(line.split("\t", 1) for line in four_letter(leader.client_port, "mntr").splitlines() if "\t" in line)
    assert mntr["zk_server_state"] == "leader"
    assert mntr["zk_synced_followers"] == "2"
    assert mntr["zk_quorum_size"] == "3"


def test_watches_set_on_a_follower_fire_for_writes_through_another_server(ensembles):
    ensemble = ensembles({1: "swift", 2: "swift", 3: "swift"})
    ensemble.start()
    leader = ensemble.wait_for_quorum()
    watcher_sid, writer_sid = followers(ensemble, leader)
    watcher = client(ensemble, [watcher_sid])
    writer = client(ensemble, [writer_sid])
    try:
        writer.create("/watched", b"0")
        watcher.sync("/watched")
        events = []
        fired = threading.Event()
        watcher.get("/watched", watch=lambda e: (events.append(e), fired.set()))
        children = []
        watcher.get_children("/", watch=lambda e: children.append(e))
        writer.set("/watched", b"1")
        writer.create("/new-child")
        assert fired.wait(20), "the data watch did not fire"
        wait_until(lambda: children, timeout=20, message="the child watch")
        assert events[0].type == "CHANGED" and events[0].path == "/watched"
        assert children[0].type == "CHILD"
        assert watcher.get("/watched")[0] == b"1"
    finally:
        for zk in (watcher, writer):
            zk.stop()
            zk.close()


def test_a_session_moves_between_servers_and_its_ephemerals_go_with_it_everywhere(ensembles):
    ensemble = ensembles({1: "swift", 2: "swift", 3: "swift"})
    ensemble.start()
    leader = ensemble.wait_for_quorum()
    first, second = followers(ensemble, leader)
    a = client(ensemble, [first])
    a.create("/owned", b"", ephemeral=True)
    session_id, password = a.client_id
    # The same session on another server (a client that lost its server reconnects like this).
    b = KazooClient(hosts=ensemble.connect_string([second]), client_id=(session_id, password), timeout=20)
    b.start(timeout=30)
    try:
        assert b.client_id[0] == session_id
        stat = b.exists("/owned")
        assert stat is not None and stat.ephemeralOwner == session_id
        b.create("/owned-too", b"", ephemeral=True)
    finally:
        b.stop()  # closes the session: every server removes both ephemerals
        b.close()
    for sid in sorted(ensemble.members):
        with connected(ensemble, [sid]) as zk:
            zk.sync("/")
            assert zk.exists("/owned") is None and zk.exists("/owned-too") is None, f"ephemerals left on server {sid}"
    try:
        a.stop()
        a.close()
    except KazooException:
        pass


def test_kill_9_of_the_leader_under_pipelined_writes_loses_no_acknowledged_write(ensembles):
    ensemble = ensembles({1: "swift", 2: "swift", 3: "swift"})
    ensemble.start()
    old_leader = ensemble.wait_for_quorum()
    zk = client(ensemble, followers(ensemble, old_leader))  # survives the leader
    acknowledged = []
    try:
        zk.create("/load")
        pending = [(i, zk.create_async(f"/load/n{i:04d}", b"x" * 100)) for i in range(400)]
        killed = False
        for i, result in pending:
            if not killed and len(acknowledged) >= 100:
                ensemble.kill(old_leader.sid)
                killed = True
            try:
                result.get(timeout=60)
                acknowledged.append(i)
            except KazooException:
                pass
        assert killed
        new_leader = ensemble.wait_for_quorum()
        assert new_leader.sid != old_leader.sid
        zk.sync("/load")
        present = set(zk.get_children("/load"))
        lost = [i for i in acknowledged if f"n{i:04d}" not in present]
        assert not lost, f"acknowledged creates lost after the failover: {lost[:10]}"
        zk.create("/after-failover", b"")
    finally:
        zk.stop()
        zk.close()
    assert "LEADING" in new_leader.log()
    ensemble.start(old_leader.sid)
    ensemble.wait_for_quorum()
    tree = assert_trees_equal(ensemble, sorted(ensemble.members))
    assert "/after-failover" in tree


def _write(ensemble: Ensemble, sids, count: int, prefix: str):
    with connected(ensemble, sids) as zk:
        zk.ensure_path(prefix)
        results = [zk.create_async(f"{prefix}/n{i:05d}", b"y" * 20) for i in range(count)]
        for result in results:
            result.get(timeout=60)


def test_a_restarted_follower_is_synced_by_diff_and_a_long_gone_one_by_snap(ensembles):
    ensemble = ensembles({1: "swift", 2: "swift", 3: "swift"})
    ensemble.start()
    leader = ensemble.wait_for_quorum()
    follower = followers(ensemble, leader)[0]
    _write(ensemble, [leader.sid], 10, "/before")
    ensemble.kill(follower)
    _write(ensemble, [leader.sid], 20, "/while-down")
    ensemble.start(follower)
    ensemble.wait_for_quorum()
    assert "Getting a diff from the leader" in ensemble.members[follower].log()
    assert_trees_equal(ensemble, sorted(ensemble.members))

    # More txns than the leader keeps for DIFF (500): the follower gets a snapshot.
    ensemble.kill(follower)
    _write(ensemble, [leader.sid], 700, "/long-gone")
    ensemble.start(follower)
    ensemble.wait_for_quorum()
    assert "Getting a snapshot from leader" in ensemble.members[follower].log()
    tree = assert_trees_equal(ensemble, sorted(ensemble.members))
    assert len([p for p in tree if p.startswith("/long-gone/")]) == 700
    # The snapshot it got is on its disk: it restarts from it.
    ensemble.kill(follower)
    ensemble.start(follower)
    ensemble.wait_for_quorum()
    assert_trees_equal(ensemble, sorted(ensemble.members))


def test_a_diverged_server_is_truncated(ensembles):
    """The leader logs a txn no follower logs, then dies. The others elect a new leader; when the old
    one returns it must drop that txn (TRUNC), not serve it. The followers are paused while the txn
    is proposed and then killed, so the PROPOSAL in their socket buffers is never read."""
    ensemble = ensembles({1: "swift", 2: "swift", 3: "swift"})
    ensemble.start()
    leader = ensemble.wait_for_quorum()
    zk = client(ensemble, [leader.sid])
    zk.create("/committed", b"")
    committed_zxid = zk.exists("/committed").czxid
    others = followers(ensemble, leader)
    for sid in others:
        ensemble.pause(sid)
    zk.create_async("/never-committed", b"")
    wait_until(lambda: zkstorage.all_log_records(leader.data)[-1].zxid > committed_zxid, timeout=20,
               message="the leader to log the create")
    for sid in others:
        ensemble.kill(sid)
    ensemble.kill(leader.sid)
    zk.stop()
    zk.close()
    ensemble.start(*others)
    ensemble.wait_for_quorum(others)
    # Nothing new is written yet: the new leader's history ends before the old leader's last txn.
    ensemble.start(leader.sid)
    ensemble.wait_for_quorum()
    assert f"Truncating log to get in sync with the leader 0x{committed_zxid:x}" in leader.log(), leader.log()
    tree = assert_trees_equal(ensemble, sorted(ensemble.members))
    assert "/committed" in tree and "/never-committed" not in tree
    _write(ensemble, [leader.sid], 5, "/new-epoch")
    # And it restarts from the truncated log.
    ensemble.kill(leader.sid)
    ensemble.start(leader.sid)
    ensemble.wait_for_quorum()
    tree = assert_trees_equal(ensemble, sorted(ensemble.members))
    assert "/never-committed" not in tree and "/new-epoch/n00004" in tree


def test_five_servers_keep_serving_after_two_die(ensembles):
    ensemble = ensembles({sid: "swift" for sid in range(1, 6)})
    ensemble.start()
    leader = ensemble.wait_for_quorum()
    _write(ensemble, None, 50, "/five")
    victims = [leader.sid, followers(ensemble, leader)[0]]
    for sid in victims:
        ensemble.kill(sid)
    survivors = [sid for sid in sorted(ensemble.members) if sid not in victims]
    ensemble.wait_for_quorum(survivors)
    _write(ensemble, survivors, 50, "/five-after")
    ensemble.start(*victims)
    ensemble.wait_for_quorum()
    tree = assert_trees_equal(ensemble, sorted(ensemble.members))
    assert len([p for p in tree if p.startswith("/five-after/")]) == 50


def test_garbage_on_the_election_and_quorum_ports_closes_only_that_connection(ensembles):
    import socket
    ensemble = ensembles({1: "swift", 2: "swift", 3: "swift"})
    ensemble.start()
    leader = ensemble.wait_for_quorum()
    follower = ensemble.members[followers(ensemble, leader)[0]]
    garbage = [
        b"\xff" * 64,                                             # not a handshake
        (-65536).to_bytes(8, "big", signed=True) + (2).to_bytes(8, "big") + (10**6).to_bytes(4, "big"),  # address too long
        (5).to_bytes(8, "big") + (0x7fffffff).to_bytes(4, "big"),  # unknown sid, then a huge frame
    ]
    for port in (follower.election_port, leader.election_port, leader.quorum_port):
        for payload in garbage:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(payload)
                s.settimeout(5)
                try:
                    while s.recv(4096):
                        pass  # the server closes it (or it is reset)
                except (ConnectionResetError, socket.timeout):
                    pass
    assert all(m.running for m in ensemble.members.values())
    assert ensemble.wait_for_quorum().sid == leader.sid, "the ensemble was disturbed"
    _write(ensemble, None, 10, "/after-garbage")
    assert "WARN" in leader.log() and "Closing the connection" in leader.log()


def test_an_observer_serves_reads_and_writes_but_does_not_vote(tmp_path):
    ensemble = Ensemble.create(tmp_path / "observed", {1: "swift", 2: "swift", 3: "swift", 4: "swift"}, observers=(4,))
    try:
        ensemble.start()
        leader = ensemble.wait_for_quorum()
        assert leader.sid != 4 and ensemble.members[4].mode() == "observer"
        _write(ensemble, [4], 20, "/through-observer")
        with connected(ensemble, [4]) as watcher:
            fired = threading.Event()
            watcher.exists("/from-a-voter", watch=lambda e: fired.set())
            writer = client(ensemble, [leader.sid])
            writer.create("/from-a-voter", b"")
            writer.stop()
            writer.close()
            assert fired.wait(20), "the observer's watch did not fire"
        assert_trees_equal(ensemble, [1, 2, 3, 4])
        # Two voters down: no quorum, whatever the observer says. The observer stops serving.
        others = [sid for sid in (1, 2, 3) if sid != leader.sid]
        ensemble.kill(others[0])
        ensemble.kill(others[1])
        wait_until(lambda: ensemble.members[4].mode() is None or "not currently serving" in four_letter(ensemble.members[4].client_port, "srvr"),
                   timeout=60, message="the observer to stop serving without a quorum")
        ensemble.start(*others)
        ensemble.wait_for_quorum()
        tree = assert_trees_equal(ensemble, [1, 2, 3, 4])
        assert len([p for p in tree if p.startswith("/through-observer/")]) == 20
    finally:
        ensemble.stop_all()


@pytest.mark.parametrize("apache_sid,first_two", [(3, (3, 1)), (1, (1, 3))], ids=["apache-leads", "swift-leads"])
def test_a_mixed_ensemble_with_apache_elects_serves_and_stays_consistent(ensembles, apache_sid, first_two):
    kinds = {sid: ("apache" if sid == apache_sid else "swift") for sid in (1, 2, 3)}
    ensemble = ensembles(kinds)
    # The first two servers up form the quorum and the larger id leads: server 3.
    ensemble.start(*first_two)
    leader = ensemble.wait_for_quorum(first_two, timeout=120)
    assert leader.sid == 3 and leader.kind == kinds[3]
    third = next(sid for sid in (1, 2, 3) if sid not in first_two)
    ensemble.start(third)
    ensemble.wait_for_quorum(timeout=120)
    for sid in (1, 2, 3):
        with connected(ensemble, [sid]) as zk:
            zk.create(f"/mixed-{sid}", f"{kinds[sid]}".encode())
            zk.create(f"/mixed-{sid}/eph", b"", ephemeral=True)
            zk.set("/mixed-1" if sid != 1 else f"/mixed-{sid}", b"touched")
    tree = assert_trees_equal(ensemble, [1, 2, 3])
    assert {"/mixed-1", "/mixed-2", "/mixed-3"} <= set(tree)
    assert not any(p.endswith("/eph") for p in tree), "ephemerals outlived their sessions"
    # The leader fails: the other two (one of each kind) elect a new one and go on.
    ensemble.kill(leader.sid)
    survivors = [sid for sid in (1, 2, 3) if sid != leader.sid]
    ensemble.wait_for_quorum(survivors, timeout=120)
    _write(ensemble, survivors, 20, "/mixed-after")
    ensemble.start(leader.sid)
    ensemble.wait_for_quorum(timeout=120)
    tree = assert_trees_equal(ensemble, [1, 2, 3])
    assert len([p for p in tree if p.startswith("/mixed-after/")]) == 20
