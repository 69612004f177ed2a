"""Mixed ensembles with Apache ZooKeeper 3.8, and migrating a running ensemble from one to the other:
each server in turn stopped and restarted as the other implementation on its own data directory
(followers first, the leader last) under a steady pipelined load from clients on every server, and the
whole way back. Afterwards every acknowledged write is present, the trees are identical, and clients
saw nothing worse than lost connections that a retry got past.
"""
from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass, field

import pytest
from kazoo.client import KazooClient
from kazoo.retry import KazooRetry

from conftest import session, wait_until
from ensemble import Ensemble, tree_of

# Errors a client may see while its server restarts: the operation's outcome is unknown, and it is retried.
EXPECTED_ERRORS = {"ConnectionLoss", "ConnectionLossException", "SessionExpiredError", "ConnectionClosedError"}


@pytest.fixture
def ensembles(tmp_path):
    created: list[Ensemble] = []

    def make(kinds: dict[int, str], observers: tuple[int, ...] = ()) -> Ensemble:
        ensemble = Ensemble.create(tmp_path / f"ensemble{len(created)}", kinds, observers=observers)
        created.append(ensemble)
        return ensemble

    yield make
    for ensemble in created:
        ensemble.stop_all()


@dataclass
class Load:
    """One client per server (its connect string starts with that server and lists the others), each
    keeping `window` creates in flight and reading back what it wrote; every outcome recorded."""

    ensemble: Ensemble
    prefix: str
    window: int = 8
    acknowledged: set[str] = field(default_factory=set)
    errors: dict[str, int] = field(default_factory=dict)
    success_times: list[float] = field(default_factory=list)
    bad_reads: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> list[threading.Thread]:
        setup = KazooClient(hosts=self.ensemble.connect_string(), timeout=20)
        setup.start(timeout=60)
        setup.ensure_path(self.prefix)
        setup.stop()
        setup.close()
        threads = []
        sids = sorted(self.ensemble.members)
        for index, sid in enumerate(sids):
            order = sids[index:] + sids[:index]
            thread = threading.Thread(target=self._client, args=(index, order), daemon=True)
            thread.start()
            threads.append(thread)
        self.threads = threads
        return threads

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)

    def _record_error(self, error: BaseException) -> None:
        with self.lock:
            kind = type(error).__name__
            self.errors[kind] = self.errors.get(kind, 0) + 1

    def _client(self, index: int, order: list[int]) -> None:
        hosts = ",".join(f"127.0.0.1:{self.ensemble.members[s].client_port}" for s in order)
        zk = KazooClient(hosts=hosts, timeout=15, randomize_hosts=False,
                         connection_retry=KazooRetry(max_tries=-1, delay=0.05, max_delay=0.5))
        zk.start(timeout=60)
        n = 0
        try:
            while not self.stop.is_set():
                batch = []
                for _ in range(self.window):
                    path = f"{self.prefix}/c{index}-{n:07d}"
                    n += 1
                    batch.append((path, zk.create_async(path, path.encode())))
                for path, result in batch:
                    try:
                        result.get(timeout=30)
                    except Exception as error:  # noqa: BLE001 — counted by kind
                        if type(error).__name__ == "NodeExistsError":
                            pass  # cannot happen: every path is new
                        self._record_error(error)
                        continue
                    with self.lock:
                        self.acknowledged.add(path)
                        self.success_times.append(time.monotonic())
                # Read back the last acknowledged write of this batch (our own session: read-your-writes).
                done = [p for p, _ in batch if p in self.acknowledged]
                if done:
                    try:
                        data, _ = zk.get(done[-1])
                        if data != done[-1].encode():
                            self.bad_reads.append(done[-1])
                    except Exception as error:  # noqa: BLE001
                        self._record_error(error)
        finally:
            zk.stop()
            zk.close()

    def longest_gap(self) -> float:
        times = sorted(self.success_times)
        return max((b - a for a, b in zip(times, times[1:])), default=0.0)

    def summary(self) -> str:
        return (f"{len(self.acknowledged)} writes acknowledged, errors {dict(sorted(self.errors.items()))}, "
                f"longest time without a successful write {self.longest_gap():.2f} s")


def children_on(ensemble: Ensemble, sid: int, path: str) -> set[str]:
    with session(f"127.0.0.1:{ensemble.members[sid].client_port}") as zk:
        zk.sync(path)
        return set(zk.get_children(path))


def tree_on(ensemble: Ensemble, sid: int) -> dict[str, tuple[bytes, int]]:
    """Server `sid`'s tree (but /zookeeper): each node's data and version."""
    with session(f"127.0.0.1:{ensemble.members[sid].client_port}") as zk:
        return {path: (data, version) for path, (data, version, _) in tree_of(zk).items()}


def start_with_server_3_leading(ensemble: Ensemble) -> None:
    """Servers 2 and 3 first (the larger id leads), then server 1; returns once all three serve."""
    ensemble.start(2, 3)
    assert ensemble.wait_for_quorum([2, 3], timeout=120).sid == 3
    ensemble.start(1)
    ensemble.wait_for_quorum(timeout=120)


def leader_of(ensemble: Ensemble):
    return ensemble.wait_for_quorum(timeout=120)


def restart_as(ensemble: Ensemble, sid: int, kind: str) -> None:
    """Stops server `sid` as an operator would (SIGTERM), and starts it as `kind` on the same directories."""
    ensemble.kill(sid, signal.SIGTERM)
    ensemble.members[sid].kind = kind
    ensemble.start(sid)
    ensemble.wait_for_quorum(timeout=120)


def rolling(ensemble: Ensemble, kind: str) -> list[tuple[int, str]]:
    """Every server restarted as `kind`, followers first and the leader last; returns (sid, role) in order."""
    leader = leader_of(ensemble)
    order = [sid for sid in sorted(ensemble.members) if sid != leader.sid] + [leader.sid]
    done = []
    for sid in order:
        role = "leader" if sid == leader.sid else "follower"
        restart_as(ensemble, sid, kind)
        done.append((sid, role))
    return done


def check_after(ensemble: Ensemble, load: Load) -> None:
    assert not load.bad_reads, f"reads that did not see the client's own write: {load.bad_reads[:5]}"
    unexpected = {k: v for k, v in load.errors.items() if k not in EXPECTED_ERRORS}
    assert not unexpected, f"errors other than lost connections: {unexpected}"
    expected = {p.rsplit("/", 1)[1] for p in load.acknowledged}
    trees = {sid: tree_on(ensemble, sid) for sid in sorted(ensemble.members)}
    first = next(iter(trees.values()))
    for sid, tree in trees.items():
        assert tree == first, f"server {sid}'s tree differs"
        present = {p.rsplit("/", 1)[1] for p in tree if p.startswith(load.prefix + "/")}
        missing = expected - present
        assert not missing, f"server {sid} lacks {len(missing)} acknowledged writes, e.g. {sorted(missing)[:3]}"


def apache_ensemble_under_load(ensembles, prefix: str) -> tuple[Ensemble, Load]:
    """Three Apache servers serving, and the load running on them."""
    ensemble = ensembles({1: "apache", 2: "apache", 3: "apache"})
    ensemble.start()
    leader_of(ensemble)
    load = Load(ensemble, prefix)
    load.start()
    wait_for_more_writes(load, 200, "the load to get going")
    return ensemble, load


def wait_for_more_writes(load: Load, count: int, what: str) -> None:
    target = len(load.acknowledged) + count
    wait_until(lambda: len(load.acknowledged) >= target, timeout=120, message=what)


def test_a_running_apache_ensemble_migrates_to_zk_server_and_back_under_load(ensembles):
    ensemble, load = apache_ensemble_under_load(ensembles, "/migration")
    forward = rolling(ensemble, "swift")
    assert all(m.kind == "swift" for m in ensemble.members.values())
    wait_for_more_writes(load, 200, "writes on the migrated ensemble")
    print("to zk-server:", forward, load.summary())
    back = rolling(ensemble, "apache")
    wait_for_more_writes(load, 200, "writes after migrating back")
    load.finish()
    print("and back to Apache:", back, load.summary())
    check_after(ensemble, load)
    # The data directories carry Apache's epoch files, which both implementations kept up to date.
    for member in ensemble.members.values():
        current = int((member.data / "version-2" / "currentEpoch").read_text())
        accepted = int((member.data / "version-2" / "acceptedEpoch").read_text())
        assert current == accepted and current >= 3, (member.sid, current, accepted)


def test_for_comparison_a_rolling_restart_of_an_all_apache_ensemble(ensembles):
    ensemble, load = apache_ensemble_under_load(ensembles, "/restart")
    order = rolling(ensemble, "apache")
    wait_for_more_writes(load, 200, "writes after the restart")
    load.finish()
    print("all-Apache rolling restart:", order, load.summary())
    check_after(ensemble, load)


@pytest.mark.parametrize("leader_kind", ["apache", "swift"])
def test_observers_of_either_kind_follow_a_leader_of_either_kind(ensembles, leader_kind):
    other = "swift" if leader_kind == "apache" else "apache"
    # Server 3 (the largest voter) leads once 2 and 3 are up; 4 and 5 observe, one of each kind.
    ensemble = ensembles({1: other, 2: other, 3: leader_kind, 4: "apache", 5: "swift"}, observers=(4, 5))
    ensemble.start(2, 3)
    leader = ensemble.wait_for_quorum([2, 3], timeout=120)
    assert leader.sid == 3 and leader.kind == leader_kind
    ensemble.start(1, 4, 5)
    ensemble.wait_for_quorum(timeout=120)
    assert ensemble.members[4].mode() == "observer" and ensemble.members[5].mode() == "observer"
    for sid in (4, 5):
        with session(f"127.0.0.1:{ensemble.members[sid].client_port}") as zk:
            zk.create(f"/through-observer-{sid}", b"x")
    trees = {sid: tree_on(ensemble, sid) for sid in (1, 2, 3, 4, 5)}
    assert all(tree == trees[3] for tree in trees.values())
    assert {"/through-observer-4", "/through-observer-5"} <= set(trees[3])


@pytest.mark.parametrize("leader_kind", ["apache", "swift"])
def test_a_returning_server_of_the_other_kind_is_synced_by_diff_and_by_snap(ensembles, leader_kind):
    other = "swift" if leader_kind == "apache" else "apache"
    ensemble = ensembles({1: other, 2: other, 3: leader_kind})
    # Apache's leader would DIFF from its txn log when that is small next to a snapshot; a negative
    # factor turns that off, so it SNAPs beyond its 500 committed proposals, as zk-server does.
    ensemble.apache_flags.append("-Dzookeeper.snapshotSizeFactor=-1")
    start_with_server_3_leading(ensemble)
    with session(f"127.0.0.1:{ensemble.members[3].client_port}") as writer:
        writer.ensure_path("/sync")
        # DIFF: a few writes missed.
        ensemble.kill(1)
        for i in range(20):
            writer.create(f"/sync/diff-{i}", b"d")
        ensemble.start(1)
        ensemble.wait_for_quorum(timeout=120)
        assert len([c for c in children_on(ensemble, 1, "/sync") if c.startswith("diff-")]) == 20
        # SNAP: more writes missed than the leader keeps proposals for (500 in both implementations).
        ensemble.kill(1)
        for start in range(0, 1500, 100):
            results = [writer.create_async(f"/sync/snap-{i}", b"s") for i in range(start, start + 100)]
            for result in results:
                result.get(timeout=30)
        ensemble.start(1)
        ensemble.wait_for_quorum(timeout=120)
        assert len([c for c in children_on(ensemble, 1, "/sync") if c.startswith("snap-")]) == 1500
    # How server 1 was synced each time, from its logs (both implementations log Apache's lines).
    logs = [path.read_text(errors="replace") for path in sorted(ensemble.members[1].directory.glob("server.*.log"))]
    assert "Getting a diff from the leader" in logs[1], logs[1][-3000:]
    assert "Getting a snapshot from leader" in logs[2], logs[2][-3000:]
    trees = {sid: tree_on(ensemble, sid) for sid in (1, 2, 3)}
    assert trees[1] == trees[2] == trees[3]


@pytest.mark.parametrize("first_kind", ["apache", "swift"])
def test_a_session_moves_between_kinds_with_its_ephemerals(ensembles, first_kind):
    second = "swift" if first_kind == "apache" else "apache"
    ensemble = ensembles({1: first_kind, 2: second, 3: second})
    ensemble.start()
    ensemble.wait_for_quorum(timeout=120)
    m1, m2 = ensemble.members[1], ensemble.members[2]
    zk = KazooClient(hosts=f"127.0.0.1:{m1.client_port},127.0.0.1:{m2.client_port}", timeout=20,
                     randomize_hosts=False)
    zk.start(timeout=60)
    try:
        session_id = zk.client_id[0]
        zk.create("/moving", b"", ephemeral=True)
        fired = threading.Event()
        zk.exists("/watched-across", watch=lambda event: fired.set())
        ensemble.kill(1)  # the client's server goes: it resumes its session on server 2, of the other kind
        def resumed() -> bool:
            try:
                return zk.connected and zk.client_id[0] == session_id and zk.exists("/moving") is not None
            except Exception:  # noqa: BLE001 — still reconnecting
                return False
        wait_until(resumed, timeout=60, message="the session to resume on server 2")
        with session(f"127.0.0.1:{ensemble.members[3].client_port}") as other:
            other.create("/watched-across", b"")
            assert fired.wait(30), "the watch set through server 1 did not fire after the move"
            assert other.exists("/moving").ephemeralOwner == session_id
            zk.sync("/")
    finally:
        zk.stop()
        zk.close()
    ensemble.start(1)
    ensemble.wait_for_quorum(timeout=120)
    # Closed: its ephemeral is gone on every server, whichever kind.
    for sid in (1, 2, 3):
        assert "moving" not in children_on(ensemble, sid, "/")


@pytest.mark.parametrize("diverged_kind", ["apache", "swift"])
def test_a_diverged_server_of_either_kind_is_truncated_by_the_other_kind(ensembles, diverged_kind):
    """The leader (one kind) logs a txn its followers (the other kind) never read, and dies; they elect
    a leader of their kind, which must TRUNC the old leader's extra txn when it returns."""
    import zkstorage

    other = "swift" if diverged_kind == "apache" else "apache"
    ensemble = ensembles({1: other, 2: other, 3: diverged_kind})
    start_with_server_3_leading(ensemble)
    leader = ensemble.members[3]
    zk = KazooClient(hosts=f"127.0.0.1:{leader.client_port}", timeout=20)
    zk.start(timeout=60)
    zk.create("/committed", b"")
    committed_zxid = zk.exists("/committed").czxid
    for sid in (1, 2):
        ensemble.pause(sid)  # the PROPOSAL stays unread in their sockets
    zk.create_async("/never-committed", b"")
    wait_until(lambda: zkstorage.all_log_records(leader.data)[-1].zxid > committed_zxid, timeout=30,
               message="the leader to log the create")
    for sid in (1, 2, 3):
        ensemble.kill(sid)
    zk.stop()
    zk.close()
    ensemble.start(1, 2)
    ensemble.wait_for_quorum([1, 2], timeout=120)
    ensemble.start(3)
    ensemble.wait_for_quorum(timeout=120)
    assert f"Truncating log to get in sync with the leader 0x{committed_zxid:x}" in leader.log(), leader.log()[-3000:]
    trees = {sid: tree_on(ensemble, sid) for sid in (1, 2, 3)}
    assert trees[1] == trees[2] == trees[3]
    assert "/committed" in trees[3] and "/never-committed" not in trees[3]


def test_data_directories_with_a_separate_txn_log_directory_move_both_ways(ensembles):
    """dataDir (snapshots, myid, epochs) and dataLogDir (txn logs) apart, as the tutorial's image has
    them, each taken over by the other implementation on restart, twice."""
    ensemble = ensembles({1: "apache", 2: "apache", 3: "swift"})
    for member in ensemble.members.values():
        ensemble.use_data_log_dir(member)
    ensemble.start()
    ensemble.wait_for_quorum(timeout=120)
    with session(ensemble.connect_string()) as zk:
        zk.ensure_path("/moves")
        for round_, kinds in enumerate([{1: "swift", 2: "swift", 3: "apache"}, {1: "apache", 2: "apache", 3: "swift"}]):
            for sid, kind in kinds.items():
                zk.create(f"/moves/r{round_}-s{sid}-", b"", sequence=True)
                restart_as(ensemble, sid, kind)
        for member in ensemble.members.values():
            assert list((member.directory / "datalog" / "version-2").glob("log.*")), f"no txn log in {member.sid}'s dataLogDir"
            assert not list((member.data / "version-2").glob("log.*")), f"a txn log in {member.sid}'s dataDir"
            assert (member.data / "version-2" / "currentEpoch").exists()
    trees = {sid: tree_on(ensemble, sid) for sid in (1, 2, 3)}
    assert trees[1] == trees[2] == trees[3]
    assert len([p for p in trees[1] if p.startswith("/moves/")]) == 6


@pytest.mark.parametrize("leader_kind", ["apache", "swift"])
def test_a_session_created_on_one_kind_is_expired_by_a_leader_of_the_other(ensembles, leader_kind):
    """A client creates an ephemeral through a follower of one kind and vanishes without closing;
    the leader, of the other kind, expires the session, and the ephemeral goes on every server."""
    import rawzk

    other = "swift" if leader_kind == "apache" else "apache"
    ensemble = ensembles({1: other, 2: other, 3: leader_kind})
    start_with_server_3_leading(ensemble)
    raw = rawzk.RawZK("127.0.0.1", ensemble.members[1].client_port)
    raw.connect(timeout_ms=2000)  # at least 2 ticks of 500 ms: negotiated as asked
    assert raw.call(rawzk.Op.CREATE, rawzk.create_request("/short-lived", b"", flags=rawzk.CreateFlags.EPHEMERAL)).ok
    with session(f"127.0.0.1:{ensemble.members[2].client_port}") as watcher:
        assert watcher.exists("/short-lived") is not None
        gone = threading.Event()
        watcher.exists("/short-lived", watch=lambda event: gone.set())
        raw.close()  # no closeSession: only expiry can remove it
        assert gone.wait(60), "the session was never expired"
        for sid in (1, 2, 3):
            assert "short-lived" not in children_on(ensemble, sid, "/")


@pytest.mark.parametrize("leader_kind", ["apache", "swift"])
def test_the_dynamic_configuration_layout_and_its_version_work_across_kinds(tmp_path, leader_kind):
    """Apache 3.5+ keeps the servers in zoo.cfg.dynamic.<version> and compares that version in
    notifications and NEWLEADER: both kinds read the layout, carry the same version, and serve."""
    other = "swift" if leader_kind == "apache" else "apache"
    ensemble = Ensemble.create(tmp_path / "dynamic", {1: other, 2: other, 3: leader_kind}, dynamic_version=0x100000000)
    try:
        start_with_server_3_leading(ensemble)
        with session(ensemble.connect_string()) as zk:
            zk.create("/dynamic", b"")
            config, _ = zk.get("/zookeeper/config")
        assert config.decode().strip().endswith("version=100000000"), config
        # Every server, of either kind, publishes the same configuration the way Apache does.
        for sid in (1, 2, 3):
            with session(f"127.0.0.1:{ensemble.members[sid].client_port}") as zk:
                data, stat = zk.get("/zookeeper/config")
            assert data == config and stat.mzxid == 0x100000000 and stat.version == -1, (sid, data, stat)
        ensemble.kill(3)
        ensemble.wait_for_quorum([1, 2], timeout=120)
        ensemble.start(3)
        ensemble.wait_for_quorum(timeout=120)
        trees = {sid: tree_on(ensemble, sid) for sid in (1, 2, 3)}
        assert trees[1] == trees[2] == trees[3] and "/dynamic" in trees[1]
        for member in ensemble.members.values():
            files = sorted(p.name for p in member.directory.glob("zoo.cfg.dynamic*"))
            assert files == ["zoo.cfg.dynamic.100000000"], (member.sid, member.kind, files)
    finally:
        ensemble.stop_all()
