"""Durable storage, interoperability with Apache ZooKeeper 3.8 (Debian's zookeeper package):

  - a data directory written by one server loads in the other, which then serves the same tree (paths, data, ACLs,
    every stat field) and the same sessions (the writer's ephemeral owner re-attaches with its password);
    pairs apache→swift and swift→apache, plus apache→apache as the reference;
  - Apache's own readers accept the files: TxnLogToolkit prints every log (3.8 has no LogFormatter) and
    SnapshotFormatter every snapshot, without errors and with the content the server was given;
  - Apache's PurgeTxnLog (zkCleanup.sh) on the directory keeps exactly the files it should, and the writer restarts
    on what is left.

Every test also runs with Apache as the writer, which checks the test itself against the reference.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass, field

import pytest

import rawzk
from conftest import ZK_SERVER_BIN, selected_server_kinds, server_params
from rawzk import CreateFlags, Err, Op, Perms, create_request, path_version_request, set_data_request
from zkstorage import (
    SUPER_CONFIG,
    TXN_TYPE_NAMES,
    apache_purge,
    diff_dumps,
    digest,
    dump_server,
    expected_after_purge,
    log_files,
    parse_txn_log,
    server_on,
    snapshot_files,
    snapshot_formatter,
    snapshot_is_sealed,
    stored_cversion,
    txn_log_toolkit,
    version2,
    wait_for,
    zxid_of,
)

# Small snapCount and preallocation: several snapshots and logs from a few dozen txns.
STORAGE_CONFIG = {**SUPER_CONFIG, "snapCount": "10", "preAllocSize": "16"}
ALICE = (Perms.ALL, "digest", digest("alice", "pw"))
CONTAINER_OWNER = 0x8000000000000000
TTL_OWNER_BASE = 0xFF00000000000000


def pair_params() -> list:
    """(writer, reader) pairs: apache→apache (the reference) when apache is selected, apache→swift and
    swift→apache when swift is (they need Apache in any case)."""
    selected = selected_server_kinds()
    pairs = []
    if "apache" in selected:
        pairs.append(("apache", "apache"))
    pairs += [("apache", "swift"), ("swift", "apache")]
    params = []
    for writer, reader in pairs:
        marks = []
        if "swift" in (writer, reader):
            if not ZK_SERVER_BIN:
                marks.append(pytest.mark.skip(reason="ZK_SERVER_BIN is not set"))
            elif "swift" not in selected:
                marks.append(pytest.mark.skip(reason="swift is not in ZK_TEST_SERVERS"))
        params.append(pytest.param(writer, reader, marks=marks, id=f"{writer}-to-{reader}"))
    return params


# --- the scenario every writer runs ----------------------------------------------------------------------


@dataclass
class Scenario:
    owner: rawzk.RawZK  # a session left open when the server stops; it owns the ephemerals
    writer: rawzk.RawZK
    txns: list[tuple[int, str, str | None]] = field(default_factory=list)  # (zxid, TxnLogToolkit type, path)
    raw_owners: dict[str, int] = field(default_factory=dict)  # path -> ephemeralOwner as stored (containers, TTL)
    ephemerals: list[str] = field(default_factory=list)  # the owner's

    @property
    def last_zxid(self) -> int:
        return max(zxid for zxid, _, _ in self.txns)

    def close(self) -> None:
        self.owner.close()
        self.writer.close()


def build_scenario(server) -> Scenario:
    """Every kind of node and txn: persistent, ephemeral (left open), sequential, container, TTL, digest/ip/world
    ACLs, setACL, sets with versions, deletes, a multi, a failed multi, a failed create (an error txn), a closed
    session, binary, large and unicode data, and enough txns for several snapshots and logs."""
    owner = server.raw(timeout_ms=40000)
    writer = server.raw(timeout_ms=40000)
    scenario = Scenario(owner, writer)
    assert writer.auth("digest", b"alice:pw").ok

    def ok(reply, kind, path):
        assert reply.ok, (kind, path, reply.err)
        assert reply.zxid > 0
        scenario.txns.append((reply.zxid, kind, path))
        return reply

    ok(writer.create("/app", b"root of the scenario"), "create", "/app")
    ok(writer.create2("/app/persist", b"v0"), "create2", "/app/persist")
    ok(writer.set_data("/app/persist", b"v1"), "setData", "/app/persist")
    ok(writer.set_data("/app/persist", b"v2", version=1), "setData", "/app/persist")
    sequentials = []
    for index in range(3):
        reply = writer.create("/app/seq-", str(index).encode(), flags=CreateFlags.PERSISTENT_SEQUENTIAL)
        sequentials.append(ok(reply, "create", reply.value).value)
    ok(writer.delete(sequentials[1]), "delete", sequentials[1])
    ok(owner.create("/app/eph", b"ephemeral", flags=CreateFlags.EPHEMERAL), "create", "/app/eph")
    reply = owner.create("/app/eseq-", b"", flags=CreateFlags.EPHEMERAL_SEQUENTIAL)
    scenario.ephemerals = ["/app/eph", ok(reply, "create", reply.value).value]
    ok(writer.create_container("/app/cont", b"container"), "createContainer", "/app/cont")
    ok(writer.create("/app/cont/child", b"keeps the container"), "create", "/app/cont/child")
    ok(writer.create_container("/app/cont-unused"), "createContainer", "/app/cont-unused")
    ok(writer.create_ttl("/app/ttl", 3_600_000, b"ttl"), "createTtl", "/app/ttl")
    reply = writer.create_ttl("/app/ttl-seq-", 7_200_000, flags=CreateFlags.PERSISTENT_SEQUENTIAL_WITH_TTL)
    ttl_sequential = ok(reply, "createTtl", reply.value and reply.value[0]).value[0]
    scenario.raw_owners.update({"/app/cont": CONTAINER_OWNER, "/app/cont-unused": CONTAINER_OWNER,
                                "/app/ttl": TTL_OWNER_BASE | 3_600_000,
                                ttl_sequential: TTL_OWNER_BASE | 7_200_000})
    ok(writer.create("/app/acl", b"secret", acl=[ALICE, (Perms.READ, "world", "anyone")]), "create", "/app/acl")
    ok(writer.create("/app/acl/inner", b"alice only", acl=[ALICE]), "create", "/app/acl/inner")
    ok(writer.create("/app/ip", b"", acl=[(Perms.ALL, "ip", "127.0.0.1")]), "create", "/app/ip")
    ok(writer.set_acl("/app/persist", [(Perms.READ | Perms.WRITE | Perms.ADMIN, "world", "anyone")]), "setACL",
       "/app/persist")
    ok(writer.create("/app/binary", bytes(range(256)) * 4), "create", "/app/binary")
    ok(writer.create("/app/big", b"0123456789" * 20_000), "create", "/app/big")
    ok(writer.create("/app/ünïcödé", "данные ✓".encode()), "create", "/app/ünïcödé")
    ok(writer.create("/app/empty", None), "create", "/app/empty")
    ok(writer.multi([
        (Op.CREATE, create_request("/app/m", b"m")),
        (Op.CREATE, create_request("/app/m/a", b"a")),
        (Op.SET_DATA, set_data_request("/app/persist", b"in a multi")),
        (Op.DELETE, path_version_request(sequentials[0])),
        (Op.CHECK, path_version_request("/app/m", 0)),
    ]), "multi", "/app/m/a")
    failed_multi = writer.multi([(Op.CREATE, create_request("/app/never")),
                                 (Op.CHECK, path_version_request("/app/persist", 99))])
    assert failed_multi.ok and [result.err for result in failed_multi.value] == [0, Err.BADVERSION]
    scenario.txns.append((failed_multi.zxid, "multi", None))
    failed_create = writer.create("/app/persist")
    assert failed_create.err == Err.NODEEXISTS
    scenario.txns.append((failed_create.zxid, "error", None))
    temporary = server.raw()
    ok(temporary.create("/app/temp-eph", b"", flags=CreateFlags.EPHEMERAL), "create", "/app/temp-eph")
    ok(temporary.close_session(), "closeSession", "/app/temp-eph")  # CloseSessionTxn lists the paths to delete
    temporary.close()
    ok(writer.create("/app/many", b""), "create", "/app/many")
    for index in range(40):
        path = f"/app/many/n{index:02d}"
        ok(writer.create(path, f"node {index}".encode() * (index % 7)), "create", path)
        if index % 3 == 0:
            ok(writer.set_data(path, f"changed {index}".encode()), "setData", path)
        if index % 10 == 9:
            ok(writer.delete(f"/app/many/n{index - 4:02d}"), "delete", f"/app/many/n{index - 4:02d}")
    ok(writer.set_data("/app", b"done"), "setData", "/app")
    return scenario


def data_dir(server):
    return server.directory / "data"


def wait_snapshots_sealed(server) -> list:
    """Background snapshots may still be being written: wait until every snapshot file is complete."""
    return wait_for(lambda: all(snapshot_is_sealed(p) for p in snapshot_files(data_dir(server)))
                    and snapshot_files(data_dir(server)), message="complete snapshot files")


def stop(server, how: str) -> None:
    if how == "sigkill":
        server.kill()
    else:
        server.stop()


# --- a data directory moves between servers ----------------------------------------------------------------


@pytest.mark.parametrize("how", ["sigkill", "sigterm"])
@pytest.mark.parametrize("writer_kind,reader_kind", pair_params())
def test_data_directory_loads_in_the_other_server(writer_kind, reader_kind, how, server_factory, tmp_path):
    source = server_factory(writer_kind, STORAGE_CONFIG)
    scenario = build_scenario(source)
    wait_snapshots_sealed(source)
    before = dump_server(source)
    owner_id, owner_passwd = scenario.owner.session.session_id, scenario.owner.session.passwd
    assert len(snapshot_files(data_dir(source))) >= 4 and len(log_files(data_dir(source))) >= 4, \
        "the scenario should leave several snapshots and logs"
    stop(source, how)  # the owner's session is still open
    scenario.close()

    shutil.copytree(data_dir(source), tmp_path / "moved" / "data")
    newest_snapshot = apache_newest_snapshot(tmp_path / "moved" / "data")
    with server_on(reader_kind, tmp_path / "moved", STORAGE_CONFIG) as target:
        after = dump_server(target)
        assert not diff_dumps(before, after), f"{writer_kind} → {reader_kind}:\n" + diff_dumps(before, after)

        again = target.raw(timeout_ms=40000, session_id=owner_id, passwd=owner_passwd)
        try:
            assert again.session.session_id == owner_id, "the writer's session did not survive the move"
            assert again.exists("/app/eph").value.ephemeralOwner == owner_id
            assert sorted(again.get_ephemerals("/app").value) == sorted(scenario.ephemerals)
            created = again.create("/app/after-the-move", b"")
            assert created.ok and created.zxid > scenario.last_zxid
        finally:
            again.close()

        if reader_kind == "apache":
            assert_apache_loaded_cleanly(target.log_path.read_text(errors="replace"), newest_snapshot)


def apache_newest_snapshot(directory):
    """The snapshot Apache 3.8 starts from: FileSnap.findNValidSnapshots takes every file whose name splits on "."
    into "snapshot", a hex zxid and possibly more (Util.getZxidFromName, so "snapshot.5d.tmp" counts as 0x5d), newest
    zxid first, and skips those that do not end with the seal (a snapshot cut short by the stop)."""
    candidates = []
    for path in version2(directory).iterdir():
        parts = path.name.split(".")
        if len(parts) >= 2 and parts[0] == "snapshot" and re.fullmatch(r"[0-9a-fA-F]+", parts[1]):
            if snapshot_is_sealed(path):
                candidates.append((int(parts[1], 16), path))
    return max(candidates)[1]


def assert_apache_loaded_cleanly(log: str, newest_snapshot) -> None:
    """Apache read the newest snapshot (not an older one after a failure), replayed the logs without an I/O
    error, and every digest (snapshot and txn) matched what it computed. (Not every exception counts: Apache logs a
    NullPointerException when a `srvr` probe arrives before its database is loaded.)"""
    loading = log.split("Snapshot taken in", 1)[0]  # up to the snapshot Apache takes once the database is loaded
    assert "Snapshot taken in" in log, f"Apache did not finish loading:\n{log[-4000:]}"
    for bad in ("problem reading snap file", "CRC corruption", "CRC check failed", "Digests are not matching",
                "digest mismatch", "IOException", "Last transaction was partial", "Unexpected exception"):
        assert bad.lower() not in loading.lower(), f"Apache logged {bad!r} while loading:\n{loading[-4000:]}"
    assert "Digests are not matching" not in log and "digest mismatch" not in log.lower(), log[-4000:]
    assert f"Reading snapshot {newest_snapshot}" in log, \
        f"Apache did not start from {newest_snapshot.name}:\n" + "\n".join(
            line for line in log.splitlines() if "snapshot" in line.lower())


# --- Apache's readers on the files -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", server_params())
def test_txn_log_toolkit_reads_every_log(kind, server_factory):
    server = server_factory(kind, STORAGE_CONFIG)
    scenario = build_scenario(server)
    owner_id = scenario.owner.session.session_id
    scenario.close()
    server.stop()

    logs = log_files(data_dir(server))
    assert len(logs) >= 4
    entries = []
    for path in logs:
        dump = txn_log_toolkit(path)
        context = f"{path.name}:\n{dump.stdout[-3000:]}\n{dump.stderr[-3000:]}"
        assert dump.returncode == 0, context
        assert "Exception" not in dump.stdout + dump.stderr and "partial" not in dump.stdout + dump.stderr, context
        assert (dump.dbid, dump.version) == (0, 2), context
        assert not [entry for entry in dump.entries if entry.crc_error], context
        assert dump.eof_count == len(dump.entries) > 0, context
        assert dump.entries[0].zxid == zxid_of(path), f"{path.name} does not start with its own zxid"
        ours = parse_txn_log(path)
        assert [(entry.zxid, entry.type) for entry in dump.entries] == \
               [(record.zxid, TXN_TYPE_NAMES.get(record.type, str(record.type))) for record in ours.records], context
        entries += dump.entries

    zxids = [entry.zxid for entry in entries]
    assert zxids == list(range(1, zxids[-1] + 1)), "the logs do not hold every zxid exactly once, in order"
    by_zxid = {entry.zxid: entry for entry in entries}
    for zxid, kind_name, path in scenario.txns:
        entry = by_zxid.get(zxid)
        assert entry is not None, f"txn 0x{zxid:x} ({kind_name} {path}) is missing from the logs"
        assert entry.type == kind_name, f"0x{zxid:x}: {entry.type} {entry.details!r}, expected {kind_name} {path}"
        if path is not None:
            assert path in entry.details, f"0x{zxid:x}: {entry.details!r} does not name {path}"
    assert any(entry.type == "createSession" and entry.session == owner_id for entry in entries)


def java_date(ms: int) -> str:
    """java.util.Date.toString() in UTC (run_apache_tool sets -Duser.timezone=UTC)."""
    return time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(ms // 1000))


@pytest.mark.parametrize("kind", server_params())
def test_snapshot_formatter_reads_every_snapshot(kind, server_factory):
    server = server_factory(kind, STORAGE_CONFIG)
    scenario = build_scenario(server)
    owner = scenario.owner.session

    # Make the server take one more snapshot after the scenario: set /filler until a new snapshot file appears.
    filler = server.raw()
    created = filler.create("/filler", b"")
    assert created.ok
    for _ in range(100):
        if any(zxid_of(p) >= created.zxid for p in snapshot_files(data_dir(server))):
            break
        assert filler.set_data("/filler", b"x").ok
    else:
        pytest.fail("no snapshot after 100 txns with snapCount=10")
    filler.close()
    snapshots = wait_snapshots_sealed(server)
    newest = snapshots[-1]
    live = dump_server(server)
    scenario.close()
    server.stop()

    for path in snapshot_files(data_dir(server)):
        if path not in snapshots and not snapshot_is_sealed(path):
            continue  # a background snapshot the stop cut short (Apache writes them in place)
        dump = snapshot_formatter(path)
        context = f"{path.name}:\n{dump.stdout[-3000:]}\n{dump.stderr[-3000:]}"
        assert dump.returncode == 0, context
        assert "Exception" not in dump.stdout + dump.stderr, context
        # Apache's DataTree holds the root under both "" and "/", so its count is one more than the nodes listed.
        assert dump.count == len(dump.nodes) + 1 and "/" in dump.nodes and "/zookeeper" in dump.nodes, context
        assert dump.last_zxid is not None and dump.last_zxid >= zxid_of(path), context
        for node, fields in dump.nodes.items():
            assert set(fields) >= {"cZxid", "ctime", "mZxid", "mtime", "pZxid", "cversion", "dataVersion",
                                   "aclVersion", "ephemeralOwner", "data"}, (path.name, node, fields)

    dump = snapshot_formatter(newest)
    assert set(dump.nodes) == set(live), diff_sets(set(live), set(dump.nodes))
    for node, (data, stat, _) in live.items():
        if node == "/filler":
            continue  # still being changed while the snapshot was taken
        fields = dump.nodes[node]
        expected = {
            "cZxid": stat.czxid, "mZxid": stat.mzxid, "pZxid": stat.pzxid, "cversion": stored_cversion(stat),
            "dataVersion": stat.version, "aclVersion": stat.aversion, "data": data or b"",  # null prints as ""
            "ephemeralOwner": scenario.raw_owners.get(node, stat.ephemeralOwner),
            "ctime": java_date(stat.ctime), "mtime": java_date(stat.mtime),
        }
        actual = {key: fields[key] for key in expected}
        assert actual == expected, f"{newest.name} {node}"
    assert dump.sessions.get(owner.session_id) == (owner.timeout_ms, 2), dump.sessions


def diff_sets(expected: set, actual: set) -> str:
    return f"missing {sorted(expected - actual)}, unexpected {sorted(actual - expected)}"


# --- Apache's purge tool -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", server_params())
def test_apache_purge_tool_keeps_what_recovery_needs(kind, server_factory, tmp_path):
    server = server_factory(kind, STORAGE_CONFIG)
    scenario = build_scenario(server)
    wait_snapshots_sealed(server)
    before = dump_server(server)
    scenario.close()
    server.stop()

    copy = tmp_path / "purged" / "data"
    shutil.copytree(data_dir(server), copy)
    snapshots, logs = snapshot_files(copy), log_files(copy)
    assert len([p for p in snapshots if snapshot_is_sealed(p)]) > 3
    keep_snapshots, keep_logs = expected_after_purge(snapshots, logs, 3)
    result = apache_purge(copy, copy, 3)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert {p.name for p in snapshot_files(copy)} == keep_snapshots
    assert {p.name for p in log_files(copy)} == keep_logs
    assert "snapshot.0" not in keep_snapshots and "log.1" not in keep_logs

    with server_on(kind, tmp_path / "purged", STORAGE_CONFIG) as again:
        after = dump_server(again)
    assert not diff_dumps(before, after), diff_dumps(before, after)
