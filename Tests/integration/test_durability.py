"""Durable storage: the transaction log and snapshots on disk (Apache ZooKeeper's format and file layout),
recovery after crashes and damage, purging, and a full disk. Each test uses private servers.

Tests parametrized over `kind` also run against Apache ZooKeeper 3.8 as the reference where Apache behaves the
same; where it does not (it refuses a log with a bad checksum or cut in its header, replays past a missing log,
purges only every hour, exits on a full disk) the Apache case is skipped with the behaviour observed in Debian's
3.8.0.
Restarts of a tree, of sessions and of counters are in test_restart.py; Apache interoperability is in
test_storage_interop.py.

Config keys (Apache's names): dataDir, dataLogDir, snapCount, preAllocSize (KiB), forceSync,
autopurge.snapRetainCount, autopurge.purgeInterval; plus `autopurge.purgeIntervalMs`, a test hook of our server
only (Apache purges at most hourly; it would just set an unused system property).
"""

from __future__ import annotations

import errno
import os
import random
import re
import signal
import subprocess
import threading
import time

import pytest
from kazoo.client import KazooClient

import rawzk
import tcpproxy
from conftest import ZK_SERVER_BIN, server_params
from rawzk import CreateFlags, Err, Op, create_request, set_data_request
from zkstorage import (
    FILE_HEADER_BYTES,
    SNAPSHOT_MAGIC,
    TXNLOG_MAGIC,
    LogMark,
    all_log_records,
    diff_dumps,
    dir_size,
    expected_after_purge,
    kazoo_client,
    log_files,
    log_lines,
    parse_txn_log,
    run_swift_until_exit,
    snapshot_files,
    snapshot_header,
    snapshot_is_sealed,
    tree_dump,
    version2,
    wait_for,
    zxid_of,
)

APACHE_REFUSES_BAD_CRC = ("Apache 3.8 does not start on a log whose last record fails its checksum "
                          "(java.io.IOException: CRC check failed, FileTxnLog.java:760)")
APACHE_IGNORES_GAPS = ("Apache 3.8 replays past a missing log and serves a tree without those txns "
                       "(only 'Digests are not matching' warnings)")
APACHE_SHORT_LOG_HEADER = ("Apache 3.8 does not start on a log file shorter than its 16-byte header (java.io.EOFException "
                           "in FileHeader.deserialize, FileTxnLog.java:707), which a kill while it creates a log leaves")
APACHE_HOURLY_PURGE = "Apache's autopurge.purgeInterval is in hours; autopurge.purgeIntervalMs is our test hook"
APACHE_EXITS_ON_ENOSPC = "Apache exits on an IOException in its SyncRequestProcessor"


def kinds(apache_skip: str | None = None) -> list:
    """The selected server kinds; Apache skipped (with the reason) for behaviour only our server has."""
    params = server_params()
    if apache_skip:
        params = [pytest.param(*p.values, marks=[*p.marks, pytest.mark.skip(reason=apache_skip)], id=p.id)
                  if p.values[0] == "apache" else p for p in params]
    return params


def data_dir(server):
    return server.directory / "data"


def dump(server) -> dict:
    """The whole tree (no ACLs in these tests, so an anonymous client reads everything)."""
    with kazoo_client(server) as client:
        return tree_dump(client)


def assert_same_tree(expected: dict, actual: dict, label: str = "") -> None:
    difference = diff_dumps(expected, actual)
    assert not difference, f"{label}\n{difference}"


def wait_snapshots_sealed(directory) -> list:
    return wait_for(lambda: all(snapshot_is_sealed(p) for p in snapshot_files(directory))
                    and snapshot_files(directory), message="complete snapshot files")


def write_nodes(server, parent: str, count: int, size: int = 100) -> list[int]:
    """Create `parent` and `count` children one at a time; returns the zxid of each create."""
    client = server.raw(timeout_ms=30000)
    try:
        zxids = [client.create(parent, b"parent").zxid]
        for index in range(count):
            reply = client.create(f"{parent}/n{index:03d}", bytes([index % 256]) * size)
            assert reply.ok, reply.err
            zxids.append(reply.zxid)
        return zxids
    finally:
        client.close()  # no closeSession: the session stays for its timeout


# --- files and reports ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", kinds())
def test_file_layout_and_format(kind, server_factory, tmp_path):
    """Logs in dataLogDir/version-2, snapshots in dataDir/version-2, Apache's headers, checksummed records with
    consecutive zxids, a file named after its first zxid, a new file within snapCount txns, zero-padded
    preallocation; snapshot.0 at the first start."""
    log_dir = tmp_path / "txnlog"
    log_dir.mkdir()
    server = server_factory(kind, {"dataLogDir": str(log_dir), "snapCount": "10", "preAllocSize": "16"})
    assert [p.name for p in wait_snapshots_sealed(data_dir(server))] == ["snapshot.0"]
    assert log_files(log_dir) == []  # nothing logged yet

    zxids = write_nodes(server, "/layout", 45)
    wait_snapshots_sealed(data_dir(server))
    server.stop()

    assert {p.name for p in version2(data_dir(server)).iterdir()} == {p.name for p in snapshot_files(data_dir(server))}
    assert {p.name for p in version2(log_dir).iterdir()} == {p.name for p in log_files(log_dir)}
    logs = log_files(log_dir)
    records = []
    for path in logs:
        log = parse_txn_log(path)
        assert (log.magic, log.version, log.dbid) == (TXNLOG_MAGIC, 2, 0), path.name
        assert log.tail == "zeros", f"{path.name}: {log.tail} after {len(log.records)} records"
        assert log.records and log.records[0].zxid == zxid_of(path), f"{path.name} starts at 0x{log.records[0].zxid:x}"
        assert len(log.records) <= 10, f"{path.name} holds {len(log.records)} txns with snapCount=10"
        assert log.size >= 16 * 1024 and log.size > log.valid_end, f"{path.name} is not preallocated"
        assert not any(path.read_bytes()[log.valid_end:])
        records += log.records
    assert [r.zxid for r in records] == list(range(1, zxids[-1] + 1))
    assert records[0].type == -10 and all(r.type == 1 for r in records[1:])  # createSession, then the creates
    assert len(logs) >= 5

    snapshots = snapshot_files(data_dir(server))
    assert len(snapshots) >= 1 + len(records) // 10
    for path in snapshots:
        assert snapshot_header(path) == (SNAPSHOT_MAGIC, 2, -1), path.name
        assert snapshot_is_sealed(path), path.name


@pytest.mark.parametrize("kind", kinds())
def test_conf_and_dirs_report_directories_and_sizes(kind, server_factory, tmp_path):
    """Like Apache: dataDir/dataLogDir are the version-2 directories; the sizes are the sums of the file lengths,
    and Apache reports the txn-log directory's size as dataDirSize/datadir_size and the snapshot directory's as
    dataLogSize/logdir_size (ZooKeeperServer.getDataDirSize uses FileTxnSnapLog.getDataDir, the log directory)."""
    log_dir = tmp_path / "txnlog"
    log_dir.mkdir()
    server = server_factory(kind, {"dataLogDir": str(log_dir), "snapCount": "10", "preAllocSize": "16"})
    write_nodes(server, "/sizes", 25)
    wait_snapshots_sealed(data_dir(server))

    def conf() -> dict:
        return dict(line.split("=", 1) for line in server.four_letter("conf").splitlines())

    def reported_sizes_match():
        logs, snapshots = dir_size(version2(log_dir)), dir_size(version2(data_dir(server)))
        values = conf()
        return (values["dataDirSize"] == str(logs) and values["dataLogSize"] == str(snapshots)
                and server.four_letter("dirs") == f"datadir_size: {logs}\nlogdir_size: {snapshots}\n")

    wait_for(reported_sizes_match, message=f"conf/dirs sizes to match the files: {conf()}")
    values = conf()
    assert values["dataDir"] == str(data_dir(server).resolve() / "version-2")
    assert values["dataLogDir"] == str(log_dir.resolve() / "version-2")
    assert int(values["dataDirSize"]) > 16 * 1024  # preallocated logs


@pytest.mark.parametrize("force_sync", ["yes", "no"])
@pytest.mark.parametrize("kind", kinds())
def test_mntr_fsync_and_snapshot_figures(kind, force_sync, server_factory):
    """mntr's fsynctime family counts log syncs (none with forceSync=no), snapshottime counts every snapshot
    taken, the one at the first start included."""
    server = server_factory(kind, {"forceSync": force_sync, "snapCount": "10"})
    write_nodes(server, "/metrics", 25)
    snapshots = wait_snapshots_sealed(data_dir(server))

    def metrics() -> dict:
        return dict(line.split("\t", 1) for line in server.four_letter("mntr").splitlines())

    values = metrics()
    for family in ("fsynctime", "snapshottime"):
        for stat in ("avg", "min", "max", "cnt", "sum"):
            float(values[f"zk_{stat}_{family}"])
    wait_for(lambda: int(metrics()["zk_cnt_snapshottime"]) == len(snapshot_files(data_dir(server))),
             message=f"zk_cnt_snapshottime == {len(snapshots)} snapshot files: {metrics()['zk_cnt_snapshottime']}")
    txns = len(all_log_records(data_dir(server)))
    fsyncs = int(metrics()["zk_cnt_fsynctime"])
    if force_sync == "yes":
        assert 1 <= fsyncs <= txns + 5, fsyncs
    else:
        assert fsyncs == 0


# --- restarts ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", kinds())
def test_repeated_restarts_with_snapshots_and_logs(kind, server_factory, tmp_path):
    """Several rounds of writes and restarts (SIGKILL, SIGTERM) with a separate dataLogDir and many snapshots and
    logs: each restart serves the same tree, and the logs stay one consecutive run of zxids."""
    log_dir = tmp_path / "txnlog"
    log_dir.mkdir()
    server = server_factory(kind, {"dataLogDir": str(log_dir), "snapCount": "10", "preAllocSize": "16"})
    for round_number in range(4):
        with kazoo_client(server) as client:
            client.create(f"/round{round_number}", b"r")
            for index in range(12):
                client.create(f"/round{round_number}/c{index}", str(index).encode() * index)
            client.set(f"/round{round_number}/c3", b"changed")
            client.delete(f"/round{round_number}/c5")
            if round_number:
                client.delete(f"/round{round_number - 1}/c7")
        before = dump(server)
        if round_number % 2 == 0:
            server.kill()
        else:
            server.stop()
        server.restart()
        assert_same_tree(before, dump(server), f"after restart {round_number + 1}")
    zxids = [record.zxid for record in all_log_records(log_dir)]
    assert zxids == list(range(1, zxids[-1] + 1))
    assert not log_files(data_dir(server)) and not snapshot_files(log_dir)


@pytest.mark.parametrize("kind", kinds())
def test_kazoo_client_keeps_its_session_across_a_restart(kind, server_factory, state_recorder):
    """A kazoo client reconnects to its old session after the server is killed and restarted: same session id,
    never LOST, its ephemeral still there. (kazoo drops its one-shot watches on a disconnection, so watches
    are not checked here.)"""
    server = server_factory(kind)
    proxy = tcpproxy.Proxy(server.host, server.port)  # clients keep one address while the server's port changes
    client = KazooClient(hosts=proxy.hosts, timeout=30.0,
                         connection_retry={"max_tries": -1, "delay": 0.05, "backoff": 1.5, "max_delay": 0.5})
    recorder = state_recorder()
    client.add_listener(recorder)
    try:
        client.start(timeout=15)
        session_id = client.client_id[0]
        client.create("/eph", b"mine", ephemeral=True)
        server.kill()
        suspended = recorder.wait_for("SUSPENDED")
        server.restart()
        proxy.target = (server.host, server.port)  # new connections go to the restarted server
        recorder.wait_for("CONNECTED", start=suspended)
        assert "LOST" not in recorder.states, recorder.states
        assert client.client_id[0] == session_id
        assert client.exists("/eph").ephemeralOwner == session_id
        client.set("/eph", b"still mine")  # and it writes on its old session
        assert client.get("/eph")[1].ephemeralOwner == session_id
    finally:
        client.stop()
        client.close()
        proxy.close()


# --- the crash test ------------------------------------------------------------------------------------------

CRASH_CONFIG = {"snapCount": "300", "preAllocSize": "64"}
CRASH_WINDOW = 200  # requests in flight per client
CRASH_BUDGET_SECONDS = 45.0  # later kills are skipped (after at least 10) once this much time has passed
DATA_SIZES = (0, 0, 10, 100, 700, 3000)


class Epoch:
    """The writes of one client session between two restarts, in the order they were sent."""

    def __init__(self, number: int, counter_version: int, counter_data: bytes) -> None:
        self.number = number
        self.parent = f"/crash/e{number:03d}"
        self.counter_version = counter_version  # /crash/counter before this epoch
        self.counter_data = counter_data
        self.ops: list[tuple[str, int, bytes]] = []  # ("create", k, b"") or ("set", i, payload)
        self.acked = 0  # replies received: always a prefix of `ops`
        self.errors: list[str] = []
        self.verified_creates: int | None = None

    def counts(self, prefix: int) -> tuple[int, int]:
        creates = sum(1 for kind, _, _ in self.ops[:prefix] if kind == "create")
        return creates, prefix - creates

    def sets(self) -> list[bytes]:
        return [payload for kind, _, payload in self.ops if kind == "set"]


def child_name(index: int) -> str:
    # Each epoch has its own parent, so the sequence number of the k-th create is k.
    return f"n{index:07d}-{index:010d}"


def run_epoch(server, epoch: Epoch, op_random: random.Random, kill_after: float) -> None:
    """Pipeline creates (sequential nodes) and sets (of /crash/counter) from one session as fast as the server
    takes them, and SIGKILL the server after `kill_after` seconds."""
    client = server.raw(timeout_ms=6000)
    assert client.create(epoch.parent).ok
    window = threading.Semaphore(CRASH_WINDOW)
    done = threading.Event()

    def send() -> None:
        creates = sets = 0
        while not done.is_set():
            if not window.acquire(timeout=0.2) or done.is_set():
                continue
            data = b"d" * op_random.choice(DATA_SIZES)
            if op_random.random() < 0.7:
                op = ("create", creates, b"")
                body = create_request(f"{epoch.parent}/n{creates:07d}-", data, flags=CreateFlags.PERSISTENT_SEQUENTIAL)
                opcode, creates = Op.CREATE, creates + 1
            else:
                payload = f"e{epoch.number}:s{sets}:v{epoch.counter_version + sets + 1}:".encode() + data
                op = ("set", sets, payload)
                body = set_data_request("/crash/counter", payload)
                opcode, sets = Op.SET_DATA, sets + 1
            epoch.ops.append(op)  # counted as sent before the bytes leave: it may be durable without a reply
            try:
                client.send_request(opcode, body)
            except OSError:
                return

    def receive() -> None:
        try:
            while True:
                kind, message = client.read_message()
                if kind != "reply":
                    continue
                if message.err != 0:
                    epoch.errors.append(f"op {epoch.acked} {epoch.ops[epoch.acked][:2]}: err {message.err}")
                epoch.acked += 1
                window.release()
        except (rawzk.ConnectionClosed, OSError, ValueError):
            pass
        finally:
            done.set()

    threads = [threading.Thread(target=send, daemon=True), threading.Thread(target=receive, daemon=True)]
    for thread in threads:
        thread.start()
    time.sleep(kill_after)  # the workload: the kill lands wherever the server is at this moment
    server.kill()
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive(), "the workload did not notice the kill"
    client.close()


def verify_epochs(server, epochs: list[Epoch], seed: int) -> tuple[int, bytes]:
    """After a restart: every acknowledged write is there, the durable writes of the last epoch are one prefix of
    what it sent (creates and sets alike), earlier epochs are unchanged, and nothing that was never sent exists."""
    client = server.raw(timeout_ms=10000)
    try:
        label = f"(seed {seed}, after epoch {epochs[-1].number})"
        assert set(client.get_children("/").value) == {"crash", "zookeeper"}, label
        assert set(client.get_children("/crash").value) == {"counter"} | {e.parent[7:] for e in epochs}, label
        for epoch in epochs:
            names = client.get_children(epoch.parent).value
            count = len(names)
            assert sorted(names) == [child_name(k) for k in range(count)], \
                f"{epoch.parent}: durable creates are not the first {count} sent, in order {label}"
            if epoch.verified_creates is not None:
                assert count == epoch.verified_creates, f"{epoch.parent} changed after a later crash {label}"
            epoch.verified_creates = count

        epoch = epochs[-1]
        assert not epoch.errors, f"error replies during the workload {label}: {epoch.errors[:5]}"
        data, stat = client.get_data("/crash/counter").value
        creates, sets = epoch.verified_creates, stat.version - epoch.counter_version
        acked_creates, acked_sets = epoch.counts(epoch.acked)
        sent_creates, sent_sets = epoch.counts(len(epoch.ops))
        assert acked_creates <= creates <= sent_creates, \
            f"{epoch.parent}: {creates} creates durable, {acked_creates} acknowledged, {sent_creates} sent {label}"
        assert acked_sets <= sets <= sent_sets, \
            f"/crash/counter: {sets} sets durable, {acked_sets} acknowledged, {sent_sets} sent {label}"
        assert data == (epoch.sets()[sets - 1] if sets else epoch.counter_data), \
            f"/crash/counter holds {data[:40]!r}, not the {sets}th set of epoch {epoch.number} {label}"
        assert any(epoch.counts(prefix) == (creates, sets) for prefix in range(epoch.acked, len(epoch.ops) + 1)), \
            f"{creates} creates and {sets} sets durable: not a prefix of the {len(epoch.ops)} ops sent {label}"
        return stat.version, data
    finally:
        client.close()


def start_and_kill_early(server, delay: float) -> None:
    """Start our server on its data directory and SIGKILL it after `delay` seconds, whatever it is doing
    (recovering, truncating a torn tail, taking its first snapshot)."""
    with open(server.directory / "early-kills.log", "ab") as log:
        proc = subprocess.Popen([ZK_SERVER_BIN, str(server.directory / "zoo.cfg")], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=server.directory,
                                start_new_session=True)
    time.sleep(delay)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def restart_after_crash(server) -> None:
    try:
        server.restart()
    except RuntimeError:
        # Apache 3.8 itself cannot start when it was killed while creating a log file (APACHE_SHORT_LOG_HEADER);
        # help the reference server past its own bug. Our server must cope (test_log_file_cut_in_its_header).
        logs = log_files(data_dir(server))
        if server.kind != "apache" or not logs or logs[-1].stat().st_size >= FILE_HEADER_BYTES:
            raise
        logs[-1].unlink()
        server.restart()


@pytest.mark.parametrize("kind", kinds())
def test_sigkill_at_random_moments_loses_no_acknowledged_write(kind, server_factory):
    """A pipelined client writes as fast as it can while the server is SIGKILLed at random moments, many times;
    after every restart each acknowledged write is present, in order, and nothing never sent appears.
    Set ZK_CRASH_SEED to replay a run (the seed is printed), ZK_CRASH_KILLS to change the number of kills."""
    seed = int(os.environ.get("ZK_CRASH_SEED") or random.SystemRandom().randrange(2**32))
    kills = int(os.environ.get("ZK_CRASH_KILLS") or (20 if kind == "swift" else 8))
    print(f"crash test seed {seed} ({kills} kills, ZK_CRASH_SEED={seed} to replay)")
    rng = random.Random(seed)
    server = server_factory(kind, CRASH_CONFIG)
    setup = server.raw()
    assert setup.create("/crash").ok and setup.create("/crash/counter", b"initial").ok
    setup.close()

    epochs: list[Epoch] = []
    counter_version, counter_data = 0, b"initial"
    total_ops = 0
    started = time.monotonic()
    for number in range(kills):
        if number >= 10 and time.monotonic() - started > CRASH_BUDGET_SECONDS:
            print(f"stopping after {number} kills: the {CRASH_BUDGET_SECONDS}s budget is spent")
            break
        epoch = Epoch(number, counter_version, counter_data)
        epochs.append(epoch)
        run_epoch(server, epoch, random.Random(rng.random()), kill_after=rng.uniform(0.02, 0.4))
        total_ops += len(epoch.ops)
        if kind == "swift" and rng.random() < 0.3:
            start_and_kill_early(server, rng.uniform(0.0, 0.05))
        restart_after_crash(server)
        counter_version, counter_data = verify_epochs(server, epochs, seed)
    print(f"{total_ops} writes sent, {sum(e.acked for e in epochs)} acknowledged, "
          f"{sum(e.verified_creates for e in epochs)} creates durable")
    assert sum(e.acked for e in epochs) > kills, "the workload hardly ran"


# --- damaged logs --------------------------------------------------------------------------------------------


def build_then_crash(server, size: int = 300):
    """Ten nodes and a final `/last` (the last txn in the log), then SIGKILL. Returns (tree before /last,
    /last's zxid, the log that holds it)."""
    write_nodes(server, "/t", 10)
    before = dump(server)
    client = server.raw(timeout_ms=30000)
    last = client.create("/last", b"L" * size)
    assert last.ok
    client.close()
    server.kill()
    path = log_files(data_dir(server))[-1]
    record = parse_txn_log(path).records[-1]
    assert (record.zxid, record.type) == (last.zxid, Op.CREATE), "the create of /last should end the log"
    return before, record, path


def damage(path, record, how: str) -> None:
    body_start = record.offset + 12
    if how == "torn-header":
        os.truncate(path, record.offset + 7)
    elif how == "torn-body":
        os.truncate(path, body_start + len(record.body) // 2)
    elif how == "torn-before-end-byte":
        os.truncate(path, record.end - 1)
    else:
        with open(path, "r+b") as file:
            if how == "bad-end-byte":
                file.seek(record.end - 1)
                file.write(b"X")
            elif how == "bad-checksum":
                file.seek(body_start + len(record.body) - 3)
                byte = file.read(1)
                file.seek(-1, os.SEEK_CUR)
                file.write(bytes([byte[0] ^ 0x5A]))
            elif how == "zeroed-body":
                file.seek(body_start)
                file.write(bytes(len(record.body)))
            else:
                raise ValueError(how)


DAMAGES = [
    pytest.param("torn-header", id="torn-header"),
    pytest.param("torn-body", id="torn-body"),
    pytest.param("torn-before-end-byte", id="torn-before-end-byte"),
    pytest.param("bad-end-byte", id="bad-end-byte"),
    pytest.param("bad-checksum", id="bad-checksum"),
    pytest.param("zeroed-body", id="zeroed-body"),
]


@pytest.mark.parametrize("how", DAMAGES)
@pytest.mark.parametrize("kind", kinds())
def test_damaged_log_tail_is_truncated(kind, how, server_factory):
    """A torn or corrupt last record (a crash mid-append) is dropped with a WARN line about truncating, every
    complete record before it is replayed, and the log goes on cleanly after it (checked by a second restart)."""
    if kind == "apache" and how in ("bad-checksum", "zeroed-body"):
        pytest.skip(APACHE_REFUSES_BAD_CRC)
    server = server_factory(kind, {"preAllocSize": "16"})
    before, last, path = build_then_crash(server)
    damage(path, last, how)

    mark = LogMark(server)
    server.restart()
    assert_same_tree(before, dump(server), f"after the {how} tail")
    if kind == "swift":
        log = mark.text_since(server)
        assert log_lines(log, level="WARN", pattern="truncat"), f"no WARN line about truncating:\n{log[-3000:]}"
        repaired = parse_txn_log(path)
        assert repaired.tail == "zeros" and repaired.records[-1].zxid == last.zxid - 1, \
            f"{path.name} still ends with {repaired.tail} after recovery"

    client = server.raw(timeout_ms=30000)
    after = client.create("/after", b"A")
    assert after.ok and after.zxid >= last.zxid
    client.close()
    server.kill()
    server.restart()
    tree = dump(server)
    assert "/last" not in tree and tree["/after"][0] == b"A"
    assert_same_tree({p: v for p, v in before.items() if p != "/"}, {p: v for p, v in tree.items()
                                                                     if p in before and p != "/"})
    zxids = [record.zxid for record in all_log_records(data_dir(server))]
    assert zxids == list(range(1, zxids[-1] + 1)) and after.zxid in zxids


@pytest.mark.parametrize("kind", kinds())
def test_zero_padding_after_the_last_record_is_normal(kind, server_factory):
    """Preallocated zeros after the last record end the log; recovery does not report them as damage."""
    server = server_factory(kind, {"preAllocSize": "16"})
    write_nodes(server, "/padded", 20)
    before = dump(server)
    server.kill()
    log = parse_txn_log(log_files(data_dir(server))[-1])
    assert log.tail == "zeros" and log.size >= 16 * 1024 and log.size - log.valid_end >= 1024

    mark = LogMark(server)
    server.restart()
    assert_same_tree(before, dump(server))
    if kind == "swift":
        text = mark.text_since(server)
        assert not log_lines(text, pattern="truncat"), "zero padding was reported as damage:\n" + "\n".join(
            log_lines(text, pattern="truncat"))


@pytest.mark.parametrize("length", [0, 9])
@pytest.mark.parametrize("kind", kinds(apache_skip=APACHE_SHORT_LOG_HEADER))
def test_log_file_cut_in_its_header(kind, length, server_factory):
    """A crash right after a new log file was created leaves it empty or with part of its header: recovery keeps
    every txn of the earlier logs, says so in a WARN line naming the file, and leaves no log shorter than a header
    behind (Apache 3.8 could not start on such a directory)."""
    server = server_factory(kind, {"preAllocSize": "16"})
    write_nodes(server, "/header", 10)
    before = dump(server)
    server.kill()
    last = all_log_records(data_dir(server))[-1].zxid
    cut = version2(data_dir(server)) / f"log.{last + 1:x}"
    cut.write_bytes(parse_txn_log(log_files(data_dir(server))[-1]).path.read_bytes()[:length])

    mark = LogMark(server)
    server.restart()
    assert_same_tree(before, dump(server))
    if kind == "swift":
        text = mark.text_since(server)
        assert log_lines(text, level="WARN", pattern=re.escape(cut.name)), f"no WARN line naming {cut.name}:\n" \
                                                                           + text[-3000:]
    client = server.raw()
    assert client.create("/header/after", b"a").ok
    client.close()
    server.kill()
    server.restart()
    assert dump(server)["/header/after"][0] == b"a"
    for path in log_files(data_dir(server)):
        assert path.stat().st_size >= FILE_HEADER_BYTES and parse_txn_log(path).magic == TXNLOG_MAGIC, path.name
    zxids = [record.zxid for record in all_log_records(data_dir(server))]
    assert zxids == list(range(1, zxids[-1] + 1))


@pytest.mark.parametrize("kind", kinds(apache_skip=APACHE_IGNORES_GAPS))
def test_missing_middle_log_stops_startup(kind, server_factory):
    """With only snapshot.0 left, recovery needs every log; one missing in the middle is a gap: startup fails with
    a non-zero exit and a line that says so (gap/missing, naming the file or the zxids), and touches no file."""
    server = server_factory(kind, {"snapCount": "10", "preAllocSize": "16"})
    write_nodes(server, "/gap", 40)
    server.stop()
    for path in snapshot_files(data_dir(server))[1:]:
        path.unlink()
    logs = log_files(data_dir(server))
    assert len(logs) >= 4
    missing = logs[len(logs) // 2]
    previous_last = parse_txn_log(logs[len(logs) // 2 - 1]).records[-1].zxid
    missing.unlink()
    files_before = {p.name: p.stat().st_size for p in version2(data_dir(server)).iterdir()}

    result = run_swift_until_exit(server.directory, {"snapCount": "10", "preAllocSize": "16"})
    assert result.returncode is not None, f"still running {'and serving ' if result.served else ''}after the " \
                                          f"deadline with {missing.name} missing:\n{result.output[-3000:]}"
    assert result.returncode != 0, result.output[-3000:]
    named = (missing.name, f"0x{zxid_of(missing):x}", f"0x{previous_last:x}")
    lines = [line for line in result.output.splitlines()
             if re.search(r"\b(gap|missing)\b", line, re.IGNORECASE) and any(token in line for token in named)]
    assert lines, f"no line about the gap naming one of {named}:\n{result.output[-3000:]}"
    assert {p.name: p.stat().st_size for p in version2(data_dir(server)).iterdir()} == files_before


# --- damaged snapshots ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["flipped", "truncated"])
@pytest.mark.parametrize("kind", kinds())
def test_corrupt_newest_snapshot_falls_back_to_the_previous_one(kind, how, server_factory):
    """A snapshot with a bad checksum (flipped bytes) or cut short (a crash while writing it) is passed over:
    recovery starts from the previous snapshot and replays the logs after it; a bad checksum is logged (WARN or
    ERROR) with the file's name, as Apache's "problem reading snap file <path>"."""
    server = server_factory(kind, {"snapCount": "10", "preAllocSize": "16"})
    write_nodes(server, "/snap", 40)
    wait_snapshots_sealed(data_dir(server))
    before = dump(server)
    server.stop()
    snapshots = [p for p in snapshot_files(data_dir(server)) if snapshot_is_sealed(p)]
    assert len(snapshots) >= 3
    newest = snapshots[-1]  # the newest complete one (the stop may cut a background snapshot short)
    size = newest.stat().st_size
    if how == "flipped":
        with open(newest, "r+b") as file:
            file.seek(size // 2)
            chunk = file.read(8)
            file.seek(size // 2)
            file.write(bytes(byte ^ 0xA5 for byte in chunk))
    else:
        os.truncate(newest, size // 2)

    mark = LogMark(server)
    server.restart()
    assert_same_tree(before, dump(server), f"after a {how} {newest.name}")
    if how == "flipped":
        text = mark.text_since(server)
        assert log_lines(text, level=("WARN", "ERROR"), pattern=re.escape(newest.name)), \
            f"no WARN/ERROR line naming {newest.name}:\n{text[-3000:]}"

    client = server.raw()
    assert client.create("/more", b"m").ok
    client.close()
    server.kill()
    server.restart()
    tree = dump(server)
    assert tree["/more"][0] == b"m" and "/snap/n039" in tree


# --- purge ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", kinds(apache_skip=APACHE_HOURLY_PURGE))
def test_autopurge_keeps_the_newest_snapshots_and_their_logs(kind, server_factory):
    """autopurge.snapRetainCount=3: the 3 newest snapshots stay, with every log from the one holding the oldest
    of them (Apache's PurgeTxnLog rule); older files go; a restart serves the same tree."""
    config = {"snapCount": "10", "preAllocSize": "16", "autopurge.snapRetainCount": "3",
              "autopurge.purgeInterval": "1", "autopurge.purgeIntervalMs": "200"}
    server = server_factory(kind, config)
    write_nodes(server, "/purge", 60)

    def purged():
        snapshots, logs = snapshot_files(data_dir(server)), log_files(data_dir(server))
        if len(snapshots) != 3 or not all(snapshot_is_sealed(p) for p in snapshots):
            return False
        return ({p.name for p in snapshots}, {p.name for p in logs}) == expected_after_purge(snapshots, logs, 3)

    try:
        wait_for(purged, timeout=30, message="autopurge to leave 3 snapshots and the logs they need")
    except AssertionError as error:
        raise AssertionError(f"{error}; files: {sorted(p.name for p in version2(data_dir(server)).iterdir())}")
    names = {p.name for p in version2(data_dir(server)).iterdir()}
    assert "snapshot.0" not in names and "log.1" not in names
    before = dump(server)
    server.stop()
    server.restart()
    assert_same_tree(before, dump(server), "after purging and restarting")


# --- a full disk ---------------------------------------------------------------------------------------------


@pytest.fixture
def tiny_filesystem(tmp_path):
    """A 1 MiB tmpfs (needs root and permission to mount), unmounted after the test's servers stopped."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs for the full-disk test needs root")
    mount_point = tmp_path / "tinyfs"
    mount_point.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(mount_point)],
                            capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {result.stderr.decode(errors='replace').strip()}")
    yield mount_point
    if subprocess.run(["umount", str(mount_point)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def fill(directory) -> os.PathLike:
    """Fill a filesystem with one file until writes fail with ENOSPC; returns the file."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as file:
        for chunk in (65536, 4096, 512, 1):
            while True:
                try:
                    file.write(b"\xff" * chunk)
                except OSError as error:
                    assert error.errno == errno.ENOSPC, error
                    break
    return filler


@pytest.mark.parametrize("kind", kinds(apache_skip=APACHE_EXITS_ON_ENOSPC))
def test_full_disk_stops_writes_and_a_restart_recovers(kind, tiny_filesystem, server_factory):
    """ENOSPC while appending: the write gets an error reply and later writes too, an ERROR line is logged, reads
    still work, nothing that failed is applied; after space is freed a restart serves every acknowledged write."""
    server = server_factory(kind, {"dataLogDir": str(tiny_filesystem), "preAllocSize": "16"})
    client = server.raw(timeout_ms=30000)
    acknowledged = {}
    try:
        assert client.create("/disk", b"").ok
        for index in range(20):
            path = f"/disk/a{index:02d}"
            assert client.create(path, bytes([index]) * 500).ok
            acknowledged[path] = bytes([index]) * 500
        filler = fill(tiny_filesystem)

        failed = None
        for index in range(300):
            path = f"/disk/b{index:03d}"
            reply = client.create(path, b"b" * 2000)
            if not reply.ok:
                failed = (path, reply.err)
                break
            acknowledged[path] = b"b" * 2000
        assert failed is not None, "no write failed on a full filesystem"
        assert failed[1] != Err.OK
        again = client.create("/disk/again", b"a" * 2000)
        assert again.err != Err.OK, "writes go on after a failed append"

        assert client.get_data("/disk/a00").value[0] == acknowledged["/disk/a00"], "reads should still work"
        assert client.exists(failed[0]).err == Err.NONODE, "a write that got an error reply was applied"
        assert client.exists("/disk/again").err == Err.NONODE
        wait_for(lambda: log_lines(server.log_path.read_text(errors="replace"), level="ERROR",
                                   pattern=r"ENOSPC|No space left on device"),
                 message="an ERROR line about the full disk")
    finally:
        client.close()

    filler.unlink()
    server.stop()
    server.restart()
    with kazoo_client(server) as reader:
        for path, data in acknowledged.items():
            assert reader.get(path)[0] == data, path
        assert not reader.exists(failed[0]) and not reader.exists("/disk/again")
        assert sorted(reader.get_children("/disk")) == sorted(p.rsplit("/", 1)[1] for p in acknowledged)
        reader.create("/disk/after-recovery", b"ok")
    zxids = [record.zxid for record in all_log_records(tiny_filesystem)]
    assert zxids == list(range(1, zxids[-1] + 1))
