"""Helpers for the durable-storage tests: Apache ZooKeeper's on-disk formats, Apache's own readers, tree dumps.

On-disk layout (Apache ZooKeeper 3.8, checked against Debian's zookeeper 3.8.0):
  - `dataLogDir/version-2/log.<zxid in lowercase hex, no padding>` (dataDir when dataLogDir is unset): a 16-byte
    FileHeader (int magic "ZKLG", int version 2, long dbid 0), then records `long Adler32(bytes), int length,
    bytes[length] (TxnHeader + txn + optional TxnDigest), byte 'B'`, then zero padding (preallocation). A record
    whose length is 0 ends the log (that is how a reader recognises the padding).
  - `dataDir/version-2/snapshot.<zxid hex>`: int magic "ZKSN", int version 2, long dbid -1, sessions, ACL cache,
    the tree, then sealed with `long Adler32, ustring "/"`; the file always ends with 00 00 00 01 2f.

Apache's readers (run with `run_apache_tool`):
  - `org.apache.zookeeper.server.persistence.TxnLogToolkit <log>`: 3.8 has no LogFormatter any more. Prints
    `ZooKeeper Transactional Log File with dbid 0 txnlog format version 2`, one entry per txn
    `<date> session 0x<sid> cxid 0x<cxid> zxid 0x<zxid> <type> <details>` (details may span lines: ACL lists
    print a newline), then `EOF reached after N txns.`; a checksum mismatch prints `CRC ERROR - <entry>`, a record
    without its 'B' ends with `Last transaction was partial.` and exit code 1.
  - `org.apache.zookeeper.server.SnapshotFormatter -d <snapshot>`: `ZNode Details (count=N):`, per node `----`,
    the path, `  cZxid = 0x…`, `  ctime = <Date.toString()>`, `  mZxid`, `  mtime`, `  pZxid`, `  cversion` (the
    stored cversion: the number of creates), `  dataVersion`, `  aclVersion`, `  ephemeralOwner` (raw: containers
    0x8000000000000000, TTL nodes 0xff00000000000000|ttl), `  data = <base64>`; then
    `Session Details (sid, timeout, ephemeralCount):` with `0x<sid>, <timeout>, <count>` lines, `----` and
    `Last zxid: 0x<max(file name zxid, largest zxid in the tree)>`. It does not verify the checksum trailer.
  - `org.apache.zookeeper.server.PurgeTxnLog <dataLogDir> <dataDir> -n <count>` (what zkCleanup.sh runs).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import signal
import struct
import subprocess
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from kazoo.client import KazooClient

from conftest import APACHE_JARS, BASE_CONFIG, BINDING_RE, ZK_SERVER_BIN, finish_server, session, start_server, write_config

TXNLOG_MAGIC = 0x5A4B4C47  # "ZKLG"
SNAPSHOT_MAGIC = 0x5A4B534E  # "ZKSN"
FILE_HEADER_BYTES = 16
RECORD_HEADER_BYTES = 12  # long crc + int length
SNAPSHOT_SEAL = b"\x00\x00\x00\x01/"

# TxnHeader.type values (ZooDefs.OpCode) and the names TxnLogToolkit prints for them (TraceFormatter.op2String).
TXN_TYPE_NAMES = {
    -10: "createSession", -11: "closeSession", -1: "error", 1: "create", 2: "delete", 5: "setData", 7: "setACL",
    13: "check", 14: "multi", 15: "create2", 16: "reconfig", 19: "createContainer", 20: "deleteContainer",
    21: "createTtl",
}

# --- files in a data directory -----------------------------------------------------------------------


def version2(directory: Path) -> Path:
    """`<dir>/version-2`, accepting either the configured directory or its version-2 subdirectory."""
    directory = Path(directory)
    return directory if directory.name == "version-2" else directory / "version-2"


def zxid_of(path: Path) -> int:
    return int(Path(path).name.split(".", 1)[1], 16)


def _files(directory: Path, prefix: str) -> list[Path]:
    folder = version2(directory)
    if not folder.is_dir():
        return []
    pattern = re.compile(re.escape(prefix) + r"\.[0-9a-f]+")
    return sorted((p for p in folder.iterdir() if pattern.fullmatch(p.name)), key=zxid_of)


def log_files(directory: Path) -> list[Path]:
    """`log.<hex>` files of a dataLogDir (or dataDir), oldest first."""
    return _files(directory, "log")


def snapshot_files(directory: Path) -> list[Path]:
    """`snapshot.<hex>` files of a dataDir, oldest first."""
    return _files(directory, "snapshot")


def dir_size(directory: Path) -> int:
    """What Apache's `dirs`/`conf` report for a directory: the sum of its files' lengths (recursively)."""
    return sum(p.stat().st_size for p in Path(directory).rglob("*") if p.is_file())


def snapshot_is_sealed(path: Path) -> bool:
    """Apache's SnapStream.isValidSnapshot for uncompressed snapshots: the file ends with the "/" seal."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return False
    return len(data) >= 10 and data.endswith(SNAPSHOT_SEAL)


def snapshot_header(path: Path) -> tuple[int, int, int]:
    """(magic, version, dbid) of a snapshot file."""
    return struct.unpack(">iiq", Path(path).read_bytes()[:16])


@dataclass
class TxnRecord:
    offset: int
    crc: int
    body: bytes

    @property
    def client_id(self) -> int:
        return struct.unpack(">q", self.body[0:8])[0]

    @property
    def cxid(self) -> int:
        return struct.unpack(">i", self.body[8:12])[0]

    @property
    def zxid(self) -> int:
        return struct.unpack(">q", self.body[12:20])[0]

    @property
    def time_ms(self) -> int:
        return struct.unpack(">q", self.body[20:28])[0]

    @property
    def type(self) -> int:
        return struct.unpack(">i", self.body[28:32])[0]

    @property
    def end(self) -> int:
        """Offset just after this record's end-of-record byte."""
        return self.offset + RECORD_HEADER_BYTES + len(self.body) + 1


@dataclass
class TxnLog:
    path: Path
    magic: int
    version: int
    dbid: int
    records: list[TxnRecord]
    valid_end: int  # offset after the last good record
    size: int
    tail: str  # what follows the good records: "zeros", "torn", "bad-crc", "bad-eor", "garbage"
    tail_record: TxnRecord | None = None  # the damaged record for "bad-crc"/"bad-eor"
    notes: list[str] = field(default_factory=list)

    @property
    def zxids(self) -> list[int]:
        return [record.zxid for record in self.records]


def parse_txn_log(path: Path) -> TxnLog:
    """Read a txn log the way Apache's FileTxnIterator does, stopping at the first record it would not accept."""
    data = Path(path).read_bytes()
    if len(data) < FILE_HEADER_BYTES:
        return TxnLog(Path(path), 0, 0, 0, [], 0, len(data), "torn")
    magic, version, dbid = struct.unpack(">iiq", data[:FILE_HEADER_BYTES])
    records: list[TxnRecord] = []
    offset = FILE_HEADER_BYTES
    tail, tail_record = "zeros", None
    while True:
        rest = data[offset:]
        if len(rest) < RECORD_HEADER_BYTES:
            tail = "zeros" if not any(rest) else "torn"
            break
        crc, length = struct.unpack(">qi", rest[:RECORD_HEADER_BYTES])
        if length == 0:  # end of the log: preallocated zeros
            tail = "zeros" if not any(rest) else "garbage"
            break
        if length < 0 or RECORD_HEADER_BYTES + length + 1 > len(rest):
            tail = "torn"
            break
        body = rest[RECORD_HEADER_BYTES:RECORD_HEADER_BYTES + length]
        record = TxnRecord(offset, crc, body)
        if zlib.adler32(body) != crc:
            tail, tail_record = "bad-crc", record
            break
        if rest[RECORD_HEADER_BYTES + length] != ord("B"):
            tail, tail_record = "bad-eor", record
            break
        records.append(record)
        offset = record.end
    return TxnLog(Path(path), magic, version, dbid, records, offset, len(data), tail, tail_record)


def all_log_records(directory: Path) -> list[TxnRecord]:
    return [record for path in log_files(directory) for record in parse_txn_log(path).records]


def expected_after_purge(snapshots: list[Path], logs: list[Path], retain: int) -> tuple[set[str], set[str]]:
    """The file names Apache's PurgeTxnLog keeps: the `retain` newest complete snapshots (and any newer file that is
    not complete), every log with a start zxid above the oldest kept snapshot, and the newest log starting at or
    below it (it holds that snapshot's txns)."""
    valid = [p for p in sorted(snapshots, key=zxid_of) if snapshot_is_sealed(p)][-retain:]
    if not valid:
        return {p.name for p in snapshots}, {p.name for p in logs}
    oldest = zxid_of(valid[0])
    ordered = sorted(logs, key=zxid_of)
    kept_logs = [p for p in ordered if zxid_of(p) > oldest]
    at_or_below = [p for p in ordered if zxid_of(p) <= oldest]
    if at_or_below:
        kept_logs.append(at_or_below[-1])
    return {p.name for p in snapshots if zxid_of(p) >= oldest}, {p.name for p in kept_logs}


# --- Apache's tools -------------------------------------------------------------------------------------------


def run_apache_tool(main_class: str, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
    """Run one of Apache ZooKeeper's command-line classes (Debian's jar pulls its dependencies through its
    manifest Class-Path); dates in UTC, slf4j-simple logging at WARN on stderr."""
    command = [
        "java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
        "-Duser.timezone=UTC", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
        "-cp", ":".join(APACHE_JARS), main_class, *args,
    ]
    return subprocess.run(command, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)


@dataclass
class LogEntry:
    crc_error: bool
    session: int
    cxid: int
    zxid: int
    type: str
    details: str


@dataclass
class LogDump:
    returncode: int
    stdout: str
    stderr: str
    dbid: int | None
    version: int | None
    entries: list[LogEntry]
    eof_count: int | None  # N of "EOF reached after N txns."


LOG_HEADER_RE = re.compile(r"^ZooKeeper Transactional Log File with dbid (-?\d+) txnlog format version (\d+)$", re.M)
LOG_ENTRY_RE = re.compile(r"^(CRC ERROR - )?.*? session 0x([0-9a-f]+) cxid 0x([0-9a-f]+) zxid 0x([0-9a-f]+) (\w+)(?: (.*))?$",
                          re.M)
LOG_EOF_RE = re.compile(r"^EOF reached after (\d+) txns\.$", re.M)


def txn_log_toolkit(path: Path) -> LogDump:
    """Apache's TxnLogToolkit (dump mode) on one log file, parsed."""
    result = run_apache_tool("org.apache.zookeeper.server.persistence.TxnLogToolkit", str(path))
    stdout = result.stdout.decode("utf-8", errors="replace")
    header = LOG_HEADER_RE.search(stdout)
    eof = LOG_EOF_RE.search(stdout)
    entries = [LogEntry(bool(m.group(1)), int(m.group(2), 16), int(m.group(3), 16), int(m.group(4), 16), m.group(5),
                        m.group(6) or "") for m in LOG_ENTRY_RE.finditer(stdout)]
    return LogDump(result.returncode, stdout, result.stderr.decode("utf-8", errors="replace"),
                   int(header.group(1)) if header else None, int(header.group(2)) if header else None, entries,
                   int(eof.group(1)) if eof else None)


@dataclass
class SnapshotDump:
    returncode: int
    stdout: str
    stderr: str
    count: int | None  # "ZNode Details (count=N)": Apache's DataTree counts the root twice ("" and "/"), so N+1
    nodes: dict[str, dict]  # path -> {"cZxid": int, ..., "data": bytes}
    sessions: dict[int, tuple[int, int]]  # sid -> (timeout, ephemeral count)
    last_zxid: int | None


def snapshot_formatter(path: Path) -> SnapshotDump:
    """Apache's SnapshotFormatter -d on one snapshot, parsed."""
    result = run_apache_tool("org.apache.zookeeper.server.SnapshotFormatter", "-d", str(path))
    stdout = result.stdout.decode("utf-8", errors="replace")
    count = None
    nodes: dict[str, dict] = {}
    sessions: dict[int, tuple[int, int]] = {}
    last_zxid = None
    section = None
    current: dict | None = None
    for line in stdout.splitlines():
        match = re.fullmatch(r"ZNode Details \(count=(\d+)\):", line)
        if match:
            count, section = int(match.group(1)), "nodes"
            continue
        if line.startswith("Session Details"):
            section, current = "sessions", None
            continue
        match = re.fullmatch(r"Last zxid: 0x([0-9a-f]+)", line)
        if match:
            last_zxid = int(match.group(1), 16)
            continue
        if line == "----":
            current = None
            continue
        if section == "nodes":
            field_match = re.fullmatch(r"  (\w+) = ?(.*)", line)
            if field_match and current is not None:
                key, value = field_match.groups()
                if key in ("cZxid", "mZxid", "pZxid", "ephemeralOwner"):
                    current[key] = int(value, 16)
                elif key in ("cversion", "dataVersion", "aclVersion", "dataLength"):
                    current[key] = int(value)
                elif key == "data":
                    current[key] = base64.b64decode(value)
                else:
                    current[key] = value
            elif line.startswith("/"):
                current = nodes[line] = {}
        elif section == "sessions":
            match = re.fullmatch(r"0x([0-9a-f]+), (-?\d+), (\d+)", line)
            if match:
                sessions[int(match.group(1), 16)] = (int(match.group(2)), int(match.group(3)))
    return SnapshotDump(result.returncode, stdout, result.stderr.decode("utf-8", errors="replace"), count, nodes,
                        sessions, last_zxid)


def apache_purge(data_log_dir: Path, data_dir: Path, retain: int) -> subprocess.CompletedProcess:
    """Apache's PurgeTxnLog (zkCleanup.sh) on a data directory (the directories that contain version-2)."""
    return run_apache_tool("org.apache.zookeeper.server.PurgeTxnLog", str(data_log_dir), str(data_dir),
                           "-n", str(retain))


# --- trees ---------------------------------------------------------------------------------------------------


def tree_dump(client: KazooClient, path: str = "/", skip: tuple[str, ...] = ()) -> dict[str, tuple]:
    """Every node from `path` down (sorted by path), as path -> (data, stat, acl list), `/zookeeper` included.
    Nodes in `skip` (and their subtrees) are left out. The client must be allowed to read everything (super)."""
    nodes: dict[str, tuple] = {}

    def visit(node: str) -> None:
        if node in skip:
            return
        data, stat = client.get(node)
        acls, _ = client.get_acls(node)
        nodes[node] = (data, stat, sorted((acl.perms, acl.id.scheme, acl.id.id) for acl in acls))
        for child in sorted(client.get_children(node)):
            visit(node.rstrip("/") + "/" + child)

    visit(path)
    return dict(sorted(nodes.items()))


def diff_dumps(expected: dict, actual: dict, limit: int = 40) -> str:
    """A readable description of how two tree dumps differ ("" when equal)."""
    lines = []
    for path in sorted(set(expected) | set(actual)):
        if path not in actual:
            lines.append(f"missing {path}")
        elif path not in expected:
            lines.append(f"unexpected {path}")
        elif expected[path] != actual[path]:
            (d1, s1, a1), (d2, s2, a2) = expected[path], actual[path]
            if d1 != d2:
                lines.append(f"{path}: data {d1[:60]!r} != {d2[:60]!r}")
            if s1 != s2:
                fields = [f"{name} {getattr(s1, name)} != {getattr(s2, name)}" for name in s1._fields
                          if getattr(s1, name) != getattr(s2, name)]
                lines.append(f"{path}: stat " + ", ".join(fields))
            if a1 != a2:
                lines.append(f"{path}: acl {a1} != {a2}")
    if len(lines) > limit:
        lines = lines[:limit] + [f"... {len(lines) - limit} more"]
    return "\n".join(lines)


def stored_cversion(stat) -> int:
    """The cversion a snapshot stores (creates only) from the one clients see (`2 × stored − numChildren`)."""
    assert (stat.cversion + stat.numChildren) % 2 == 0, stat
    return (stat.cversion + stat.numChildren) // 2


# --- servers ------------------------------------------------------------------------------------------------


def digest(user: str, password: str) -> str:
    """A digest ACL id / superDigest value: `user:base64(sha1("user:password"))`."""
    return f"{user}:" + base64.b64encode(hashlib.sha1(f"{user}:{password}".encode()).digest()).decode()


SUPER_AUTH = ("digest", "super:root-pw")
SUPER_CONFIG = {"DigestAuthenticationProvider.superDigest": digest("super", "root-pw")}


def kazoo_client(server, super_user: bool = False, **kwargs):
    """A started kazoo client on `server` (as the super user if asked, which may read everything), then closed."""
    if super_user:
        kwargs.setdefault("auth_data", [SUPER_AUTH])
    return session(server.hosts, timeout=kwargs.pop("timeout", 10.0), start_timeout=15, **kwargs)


def dump_server(server, **kwargs) -> dict:
    """The whole tree of `server`, read by the super user (the server needs SUPER_CONFIG)."""
    with kazoo_client(server, super_user=True) as client:
        return tree_dump(client, **kwargs)


@contextlib.contextmanager
def server_on(kind: str, directory: Path, config: dict | None = None):
    """Start a server of `kind` whose dataDir is `directory/data` (which may already hold files); SIGTERM after."""
    server = start_server(kind, Path(directory), config)
    try:
        yield server
    finally:
        finish_server(server)


class LogMark:
    """Where a server's log stood before a restart, so a test reads only what the next run printed.
    Ours appends to one `zk-server.log`; Apache gets a new log file per start."""

    def __init__(self, server) -> None:
        self.path = server.log_path
        self.offset = server.log_path.stat().st_size if server.log_path.exists() else 0

    def text_since(self, server) -> str:
        if server.log_path != self.path:
            return server.log_path.read_text(errors="replace")
        with open(self.path, "rb") as log:
            log.seek(self.offset)
            return log.read().decode("utf-8", errors="replace")


def log_lines(text: str, *, level: str | tuple[str, ...] | None = None, pattern: str | None = None) -> list[str]:
    """Lines of a server log at a level (" WARN", " ERROR" … as a word) that match a regex (case-insensitive)."""
    levels = (level,) if isinstance(level, str) else level
    found = []
    for line in text.splitlines():
        if levels and not any(re.search(rf"\b{lvl}\b", line) for lvl in levels):
            continue
        if pattern and not re.search(pattern, line, re.IGNORECASE):
            continue
        found.append(line)
    return found


@dataclass
class Exited:
    returncode: int | None  # None: still running at the deadline (then killed)
    output: str
    served: bool


def run_swift_until_exit(directory: Path, config: dict | None = None, timeout: float = 30.0) -> Exited:
    """Run our zk-server on `directory/data` (same zoo.cfg as conftest.start_swift) and wait for it to exit on
    its own, for start-up failures. If it is still running at the deadline, it is killed (returncode None)."""
    directory = Path(directory)
    (directory / "data").mkdir(parents=True, exist_ok=True)
    full = dict(BASE_CONFIG)
    full.update({"dataDir": str(directory / "data"), "clientPort": "0", "clientPortAddress": "127.0.0.1"})
    full.update(config or {})
    config_path = directory / "zoo.cfg"
    write_config(config_path, full)
    log_path = directory / "zk-server-run.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([ZK_SERVER_BIN, str(config_path)], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=directory, start_new_session=True)
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        code = None
    output = log_path.read_text(errors="replace")
    served = False
    if code is None:
        match = BINDING_RE.search(output)
        if match:
            from rawzk import four_letter
            try:
                served = four_letter("127.0.0.1", int(match.group(1)), "srvr", timeout=2.0).startswith("Zookeeper")
            except OSError:
                served = False
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return Exited(code, output, served)


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.02, message: str = "condition"):
    """conftest.wait_until with a longer default, failing the test with an AssertionError."""
    from conftest import wait_until
    try:
        return wait_until(predicate, timeout=timeout, interval=interval, message=message)
    except TimeoutError as error:
        raise AssertionError(str(error)) from None
