"""Hostile clients (issue 14): the server stays up, other clients keep working and nothing is lost under
connection floods (per-IP `maxClientCnxns` and the process's descriptor limit), slowloris handshakes,
clients that never read their replies, bad frame lengths, watch storms and huge multis.

Every test ends by checking that the server process is alive and that a fresh kazoo client can create
and read a znode. Hostile sockets come from other loopback addresses (127.0.0.2, ...; Linux routes all of
127/8 to `lo`), so the per-IP limit hits the attacker and not the well-behaved clients on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import functools
import re
import resource
import socket
import struct
import subprocess
import time
import uuid

import pytest

import rawzk
from conftest import log_tail, session, wait_until
from rawzk import (
    CreateFlags,
    Err,
    EventType,
    Op,
    Reader,
    Writer,
    create_request,
    decode_multi_response,
    multi_request,
    path_watch_request,
    set_data_request,
)

JUTE_MAXBUFFER = 0xFFFFF
MULTI_OPS_MAX = 10_000  # Limits.multiOpsMax of our server
OUTPUT_BYTES_PER_CONNECTION_MAX = 8 << 20  # Limits.bufferedOutputBytesPerConnectionMax of our server
SHORT_SESSION = {"minSessionTimeout": "2000", "maxSessionTimeout": "4000"}
# Apache closes a connection that has not sent its ConnectRequest after zookeeper.nio.sessionlessCnxnTimeout
# (10 s by default; an unknown zoo.cfg key becomes a "zookeeper."-prefixed system property). Ours closes it
# after maxSessionTimeout and logs the key as unknown.
SESSIONLESS = {"nio.sessionlessCnxnTimeout": "4000"}


# --- helpers ---------------------------------------------------------------------------------------


def assert_healthy(server) -> None:
    """The server process is alive and a fresh client can create and read a znode."""
    assert server.proc.poll() is None, f"{server} died (exit {server.proc.returncode}):\n{log_tail(server.log_path)}"
    path = f"/healthy-{uuid.uuid4().hex[:12]}"
    with session(server.hosts, timeout=10, start_timeout=30) as client:
        client.create(path, b"still serving")
        assert client.get(path)[0] == b"still serving"
    assert server.proc.poll() is None


def rss_kib(pid: int) -> int:
    """Resident memory of a process (VmRSS, KiB)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def open_fds(pid: int) -> int:
    import os
    return len(os.listdir(f"/proc/{pid}/fd"))


def log_offset(server) -> int:
    return server.log_path.stat().st_size if server.log_path.exists() else 0


def log_since(server, offset: int) -> str:
    with open(server.log_path, "rb") as log:
        log.seek(offset)
        return log.read().decode("utf-8", errors="replace")


def wait_for_log(server, offset: int, predicate, timeout: float = 10.0, message: str = "log line") -> str:
    def find():
        for line in log_since(server, offset).splitlines():
            if predicate(line):
                return line
        return None
    try:
        return wait_until(find, timeout=timeout, interval=0.05, message=message)
    except TimeoutError as error:
        raise AssertionError(f"{error}; log since the test started:\n{log_since(server, offset)[-4000:]}") from None


class Flood:
    """Many raw sockets to a server, from given source addresses, connected without blocking."""

    def __init__(self, host: str, port: int, count: int, sources: list[str], blocking: bool = False) -> None:
        """`blocking`: each connect waits for its TCP handshake before the next (Apache's listen backlog is 50,
        and a SYN dropped on a full backlog is only retried after 1 s); otherwise all are started at once."""
        self.sockets: list[socket.socket] = []
        self.closed: set[int] = set()
        for index in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((sources[index % len(sources)], 0))
            if blocking:
                sock.settimeout(15)
                try:
                    sock.connect((host, port))
                except (ConnectionResetError, BrokenPipeError, ConnectionRefusedError):
                    # Apache may reset a connection it refuses before our side saw the handshake finish.
                    self.closed.add(index)
                sock.setblocking(False)
            else:
                sock.setblocking(False)
                sock.connect_ex((host, port))
            self.sockets.append(sock)

    def connected(self) -> int:
        """How many finished their TCP handshake (closed ones included)."""
        count = 0
        for sock in self.sockets:
            if sock.fileno() < 0:
                continue
            try:
                sock.getpeername()
                count += 1
            except OSError:
                pass
        return count

    def poll_closed(self) -> int:
        """How many the server has closed (EOF or reset seen) so far."""
        for index, sock in enumerate(self.sockets):
            if index in self.closed:
                continue
            try:
                if sock.recv(65536) == b"":
                    self.closed.add(index)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as error:
                if error.errno in (104, 32):  # ECONNRESET, EPIPE
                    self.closed.add(index)
        return len(self.closed)

    def open_indexes(self) -> list[int]:
        return [index for index in range(len(self.sockets)) if index not in self.closed]

    def close(self) -> None:
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()


def connect_request(timeout_ms: int = 4000) -> bytes:
    payload = Writer().int(0).long(0).int(timeout_ms).long(0).buffer(bytes(16)).bool(False).bytes()
    return struct.pack(">i", len(payload)) + payload


def request_frame(xid: int, opcode: int, body: bytes) -> bytes:
    payload = struct.pack(">ii", xid, opcode) + body
    return struct.pack(">i", len(payload)) + payload


def read_frame(sock: socket.socket, buffer: bytearray) -> bytes:
    while True:
        if len(buffer) >= 4:
            (length,) = struct.unpack(">i", buffer[:4])
            if len(buffer) >= 4 + length:
                frame = bytes(buffer[4:4 + length])
                del buffer[:4 + length]
                return frame
        chunk = sock.recv(65536)
        if not chunk:
            raise rawzk.ConnectionClosed("closed by the server")
        buffer += chunk


def tiny_window_session(server, receive_buffer: int = 4096) -> socket.socket:
    """A session on a socket with a tiny receive buffer (so the server's replies back up in the server)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(10)
    sock.connect((server.host, server.port))
    sock.sendall(connect_request())
    reader = Reader(read_frame(sock, bytearray()))
    reader.int()
    assert reader.int() > 0, "session refused"
    return sock


def closed_by_peer(sock: socket.socket) -> bool:
    """Non-blocking: has the server closed this socket? Drains what it has sent so far."""
    sock.setblocking(False)
    try:
        while True:
            if sock.recv(1 << 20) == b"":
                return True
    except (BlockingIOError, InterruptedError):
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True


def in_cons(server, sock: socket.socket) -> bool:
    """Whether the server still lists this client's connection in `cons`."""
    return f":{sock.getsockname()[1]}[" in server.four_letter("cons")


def lowered_nofile(monkeypatch, limit: int):
    """Children started inside this context get RLIMIT_NOFILE `limit` (soft and hard)."""
    def preexec():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    real_popen = subprocess.Popen
    context = monkeypatch.context()
    patch = context.__enter__()
    patch.setattr(subprocess, "Popen", functools.partial(real_popen, preexec_fn=preexec))
    return context


# --- 1. connection floods --------------------------------------------------------------------------


def test_connection_flood_beyond_max_client_cnxns(server, server_factory):
    # Apache would close the ten admitted (sessionless) connections after 10 s: longer, to check them below.
    private = server_factory(server.kind, {"maxClientCnxns": "10", "nio.sessionlessCnxnTimeout": "40000"})
    offset = log_offset(private)
    with session(private.hosts, timeout=10) as before:
        before.create("/before", b"b")
        flood = Flood(private.host, private.port, 300, ["127.0.0.2"], blocking=True)
        try:
            # Every connection above the limit is closed by the server; ours keeps exactly the limit open. Apache
            # counts a connection against its IP only once a selector thread has registered it, so a burst gets
            # a few dozen more in (they live until its sessionless-connection timeout).
            admitted_max = 10 if server.kind == "swift" else 60
            wait_until(lambda: flood.poll_closed() >= 300 - admitted_max, timeout=60,
                       message=f"{300 - admitted_max} of 300 flood sockets closed")
            with session(private.hosts, timeout=10) as during:
                during.create("/during", b"d")
                assert during.get("/before")[0] == b"b"
                assert before.get("/during")[0] == b"d"
                before.set("/before", b"b2")
                assert during.get("/before")[0] == b"b2"
            # The ten admitted flood connections are real connections: each can still start a session.
            flood.poll_closed()
            survivors = flood.open_indexes()
            assert 10 <= len(survivors) <= admitted_max, f"{len(survivors)} flood sockets left open"
            for index in survivors:
                sock = flood.sockets[index]
                sock.setblocking(True)
                sock.settimeout(10)
                sock.sendall(connect_request())
                reader = Reader(read_frame(sock, bytearray()))
                reader.int()
                assert reader.int() > 0
        finally:
            flood.close()
        wait_for_log(private, offset, lambda line: "WARN" in line and re.search(r"Too many connections from /127\.0\.0\.2(:\d+)? - max is 10", line),
                     message="the per-IP limit's WARN")
        assert before.get("/before")[0] == b"b2"
    assert_healthy(private)


def test_connection_flood_at_the_descriptor_limit(server, server_factory, monkeypatch):
    context = lowered_nofile(monkeypatch, 128)
    try:
        private = server_factory(server.kind, {"maxClientCnxns": "0", **SHORT_SESSION})
    finally:
        context.__exit__(None, None, None)
    with open(f"/proc/{private.proc.pid}/limits") as limits:
        assert any(line.startswith("Max open files") and line.split()[3] == "128" for line in limits), "limit not applied"
    offset = log_offset(private)
    with session(private.hosts, timeout=10) as before:
        before.create("/before", b"b")
        flood = Flood(private.host, private.port, 300, [f"127.0.1.{n}" for n in range(1, 11)])
        try:
            wait_for_log(private, offset, lambda line: "Too many open files" in line, timeout=30,
                         message="the server running out of descriptors")
            assert private.proc.poll() is None
            # The client that was connected before keeps working while the server has no descriptors left.
            for n in range(20):
                before.set("/before", b"%d" % n)
                assert before.get("/before")[0] == b"%d" % n
        finally:
            flood.close()
        # Once the flood is gone, new clients get in again (within a deadline, no fixed wait).
        def fresh_client_works():
            try:
                with session(private.hosts, timeout=4, start_timeout=3) as after:
                    after.create("/after", b"a")
                    return after.get("/before")[0] == b"19"
            except Exception:
                return False
        wait_until(fresh_client_works, timeout=60, interval=0.2, message="a new client after the flood")
        assert before.get("/after")[0] == b"a"
    assert_healthy(private)


# --- 2. slowloris ----------------------------------------------------------------------------------


def test_slowloris_partial_connect_requests(server, server_factory):
    private = server_factory(server.kind, {**SHORT_SESSION, **SESSIONLESS})
    sources = [f"127.0.2.{n}" for n in range(1, 5)]  # 50 from each: under the default maxClientCnxns (60)
    sockets = []
    try:
        for index in range(200):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((sources[index % len(sources)], 0))
            sock.settimeout(10)
            sock.connect((private.host, private.port))
            full = connect_request()
            sock.sendall(full[:2] if index % 2 else full[:7])  # half a length prefix, or a length and 3 bytes
            sock.setblocking(False)
            sockets.append(sock)
        started = time.monotonic()
        with session(private.hosts, timeout=10) as good:
            good.create("/good", b"")
            for n in range(50):
                good.set("/good", b"%d" % n)
            assert good.get("/good")[0] == b"49"
            # The half-open handshakes are closed by the server (handshake / sessionless-connection timeout).
            closed = set()

            def all_closed():
                for index, sock in enumerate(sockets):
                    if index not in closed and closed_by_peer(sock):
                        closed.add(index)
                return len(closed) == len(sockets)
            wait_until(all_closed, timeout=60, interval=0.1, message="the server closing 200 slowloris connections")
            elapsed = time.monotonic() - started
            assert good.get("/good")[0] == b"49"
        assert elapsed < 30, f"slowloris connections held for {elapsed:.1f}s"
    finally:
        for sock in sockets:
            sock.close()
    assert_healthy(private)


# --- 3. clients that never read --------------------------------------------------------------------


def _pipeline_get_data(sock: socket.socket, path: str, count: int) -> None:
    body = path_watch_request(path)
    sock.settimeout(30)
    sock.sendall(b"".join(request_frame(xid, Op.GET_DATA, body) for xid in range(1, count + 1)))


def test_never_reading_client_memory_stays_bounded(server, server_factory):
    """1000 getData of a 500 KiB znode pipelined on a socket that never reads: 500 MB of replies. Ours must
    hold at most about bufferedOutputBytesPerConnectionMax (8 MiB) of them (or close the connection)."""
    private = server_factory(server.kind, SHORT_SESSION)
    path = "/big"
    with session(private.hosts, timeout=10) as good:
        good.create(path, b"x" * (500 << 10))
        baseline = rss_kib(private.proc.pid)
        hostile = tiny_window_session(private)
        try:
            _pipeline_get_data(hostile, path, 1000)
            peak = baseline
            deadline = time.monotonic() + 12
            # Until the server drops it (its session expires after 4 s) or the deadline: others keep working.
            while time.monotonic() < deadline and in_cons(private, hostile):
                peak = max(peak, rss_kib(private.proc.pid))
                assert len(good.get(path)[0]) == 500 << 10
                good.set("/probe", b"p") if good.exists("/probe") else good.create("/probe", b"p")
                peak = max(peak, rss_kib(private.proc.pid))
            growth_mib = (peak - baseline) / 1024
            if server.kind == "swift":
                assert growth_mib < 64, (f"RSS grew by {growth_mib:.0f} MiB for one never-reading connection "
                                         f"(limit per connection {OUTPUT_BYTES_PER_CONNECTION_MAX >> 20} MiB)")
        finally:
            hostile.close()
    assert_healthy(private)


def test_never_reading_client_is_closed_when_its_session_expires(server, server_factory):
    """A client that stops reading and sends nothing: its session expires (4 s), and the server must close
    the connection then even though replies are still queued for it (the client never drains them)."""
    private = server_factory(server.kind, SHORT_SESSION)
    path = "/big"
    with session(private.hosts, timeout=10) as good:
        good.create(path, b"x" * (500 << 10))
        hostile = tiny_window_session(private)
        try:
            _pipeline_get_data(hostile, path, 40)  # 20 MB of replies: more than the kernel's buffers hold
            # The client sees nothing (the FIN waits behind the replies its closed window holds back): the
            # connection leaving `cons` is the server having dropped it.
            wait_until(lambda: not in_cons(private, hostile), timeout=20, interval=0.1,
                       message="the server dropping the never-reading connection after its session expired")
            assert len(good.get(path)[0]) == 500 << 10
        finally:
            hostile.close()
    assert_healthy(private)


# --- 4. bad frame lengths --------------------------------------------------------------------------


BAD_LENGTHS = [("int32-max", 0x7FFFFFFF), ("minus-one", -1), ("above-jute-maxbuffer", JUTE_MAXBUFFER + 1)]


@pytest.mark.parametrize("when", ["fresh", "in-session"])
@pytest.mark.parametrize("name, length", BAD_LENGTHS, ids=[name for name, _ in BAD_LENGTHS])
def test_bad_frame_length_closes_only_that_connection(server, raw_factory, zk, when, name, length):
    offset = log_offset(server)
    zk.create(f"/bad-length-{name}-{when}-{uuid.uuid4().hex[:8]}", b"")
    client = raw_factory(connect=(when == "in-session"))
    port = client.sock.getsockname()[1]
    try:
        client.send_raw(struct.pack(">i", length) + bytes(64))
        assert client.is_closed_by_peer(timeout=10)
    except (ConnectionResetError, BrokenPipeError):
        pass  # closed while we were still sending
    # Ours: "WARN ... Closing connection to /127.0.0.1:PORT: Len error N (jute.maxbuffer is 1048575)".
    # Apache: "WARN ... Close of session 0x..." and on the next line "java.io.IOException: Len error. A message
    # from /127.0.0.1:PORT with advertised length of N is either a malformed message or too large ...".
    number = re.compile(rf"(?<![\d-]){length}(?!\d)")
    lines = []

    def warned():
        lines[:] = log_since(server, offset).splitlines()
        for index, line in enumerate(lines):
            text = " ".join(lines[index:index + 2])
            if "WARN" in line and "Len error" in text and number.search(text) and f":{port}" in text:
                return True
        return False
    try:
        wait_until(warned, timeout=10, interval=0.05, message=f"a WARN naming the bad length {length}")
    except TimeoutError as error:
        raise AssertionError(f"{error}; log since the test started:\n" + "\n".join(lines[-40:])) from None
    assert zk.exists("/") is not None
    assert_healthy(server)


# --- 5. watch storms -------------------------------------------------------------------------------


def _pipeline(client: rawzk.RawZK, frames: list[bytes]) -> list[rawzk.Reply]:
    first = client.next_xid
    client.send_raw(b"".join(request_frame(first + i, opcode, body) for i, (opcode, body) in enumerate(frames)))
    client.next_xid += len(frames)
    return [client.wait_reply(first + i) for i in range(len(frames))]


def test_watch_storm_ten_thousand_watches_fired_by_one_txn(server, raw_factory, zk, path_prefix):
    """10 sessions × 1000 data watches (10,000 registrations) on 1000 znodes; one multi of 1000 setData (one
    txn) fires all of them; every session gets exactly its 1000 notifications, and others are served meanwhile."""
    nodes = [f"{path_prefix}/n{i:04d}" for i in range(1000)]
    writer = raw_factory()
    assert writer.create(path_prefix).ok
    created = writer.multi([(Op.CREATE, create_request(path, b"0")) for path in nodes])
    assert created.ok and all(result.err == 0 for result in created.value)
    watchers = [raw_factory() for _ in range(10)]
    for watcher in watchers:
        replies = _pipeline(watcher, [(Op.GET_DATA, path_watch_request(path, watch=True)) for path in nodes])
        assert all(reply.err == 0 for reply in replies)
    wchs = server.four_letter("wchs")
    total = re.search(r"Total watches:(\d+)", wchs)
    assert total and int(total.group(1)) >= 10_000, wchs

    fired = writer.multi([(Op.SET_DATA, set_data_request(path, b"1")) for path in nodes])
    assert fired.ok and all(result.err == 0 for result in fired.value)
    started = time.monotonic()
    assert zk.get(nodes[-1])[0] == b"1"  # another client is served while 10,000 notifications go out
    served_during_storm = time.monotonic() - started
    for watcher in watchers:
        events = [watcher.wait_event(timeout=20) for _ in range(len(nodes))]
        assert sorted(event.path for event in events) == nodes
        assert {event.type for event in events} == {EventType.NODE_DATA_CHANGED}
        assert watcher.ping().ok and watcher.events == []  # nothing more than its own 1000
    assert served_during_storm < 5, f"a read took {served_during_storm:.2f}s during the storm"
    # One-shot: a second change fires nothing.
    assert writer.set_data(nodes[0], b"2").ok
    for watcher in watchers:
        assert watcher.ping().ok and watcher.events == []
    assert_healthy(server)


# --- 6. huge multis --------------------------------------------------------------------------------


def _children_count(client: rawzk.RawZK, path: str) -> int:
    reply = client.get_all_children_number(path)
    assert reply.ok, reply
    return reply.value


def _send_multi(client: rawzk.RawZK, ops: list[tuple[int, bytes]]):
    """A multi's reply, or None when the server closed the connection instead."""
    body = multi_request(ops)
    try:
        xid = client.send_request(Op.MULTI, body)
        reply = client.wait_reply(xid)
    except (rawzk.ConnectionClosed, ConnectionResetError, BrokenPipeError):
        return None
    if reply.err == 0:
        reply.value = decode_multi_response(Reader(reply.body))
    return reply


def short_parent() -> str:
    """A short top-level path, so that 10,000 creates under it fit in one jute.maxbuffer frame."""
    return f"/m{uuid.uuid4().hex[:8]}"


def test_multi_of_ten_thousand_creates_is_atomic(raw):
    parent = short_parent()
    assert raw.create(parent).ok
    ok = raw.multi([(Op.CREATE, create_request(f"{parent}/{i:05d}")) for i in range(MULTI_OPS_MAX)])
    assert ok.ok and len(ok.value) == MULTI_OPS_MAX
    assert all(result.type == Op.CREATE and result.err == 0 for result in ok.value)
    assert ok.value[-1].value == f"{parent}/{MULTI_OPS_MAX - 1:05d}"
    assert _children_count(raw, parent) == MULTI_OPS_MAX

    # The same size failing at its last op: ZooKeeper's per-op errors, nothing applied.
    failing_parent = parent + "-fails"
    assert raw.create(failing_parent).ok
    ops = [(Op.CREATE, create_request(f"{failing_parent}/{i:05d}")) for i in range(MULTI_OPS_MAX - 1)]
    ops.append((Op.CREATE, create_request(f"{failing_parent}/00000")))  # already created by op 0
    failed = raw.multi(ops)
    assert failed.err == 0 and len(failed.value) == MULTI_OPS_MAX
    assert all((result.type, result.err) == (Op.ERROR, 0) for result in failed.value[:-1])
    assert (failed.value[-1].type, failed.value[-1].err) == (Op.ERROR, Err.NODEEXISTS)
    assert _children_count(raw, failing_parent) == 0
    assert raw.ping().ok


@pytest.mark.parametrize("kind", ["over-ops-limit", "over-jute-maxbuffer"])
def test_multi_above_the_limits_is_all_or_nothing(server, raw, raw_factory, kind):
    parent = short_parent()
    assert raw.create(parent).ok
    if kind == "over-ops-limit":
        count, data = MULTI_OPS_MAX + 1, b""  # a frame well under jute.maxbuffer
    else:
        count, data = MULTI_OPS_MAX, b"d" * 100  # about 1.7 MB: over jute.maxbuffer
    ops = [(Op.CREATE, create_request(f"{parent}/{i:05d}", data)) for i in range(count)]
    frame_bytes = len(multi_request(ops)) + 8
    assert (frame_bytes > JUTE_MAXBUFFER) == (kind == "over-jute-maxbuffer")
    hostile = raw_factory()
    reply = _send_multi(hostile, ops)
    if reply is not None and reply.err == 0 and all(result.err == 0 for result in reply.value):
        outcome = "applied"
    else:
        outcome = "refused"
    expected = count if outcome == "applied" else 0
    assert _children_count(raw, parent) == expected, f"{kind}: {outcome} but the tree has a partial multi"
    if kind == "over-jute-maxbuffer":
        assert outcome == "refused" and reply is None  # the connection is closed ("Len error")
    elif server.kind == "swift":
        # Our Limits.multiOpsMax: the multi fails to decode, answered MARSHALLINGERROR; the connection stays.
        assert outcome == "refused" and reply is not None and reply.err == Err.MARSHALLINGERROR, reply
        assert hostile.ping().ok
    else:
        assert outcome == "applied"  # Apache 3.8 has no limit on a multi's ops below jute.maxbuffer
    assert raw.ping().ok
    assert_healthy(server)
