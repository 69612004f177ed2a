"""A small raw ZooKeeper client-protocol speaker for tests.

It implements just enough of the wire protocol (jute encoding, framing, handshake, every opcode) to
exercise what kazoo cannot reach: containers, TTL nodes, addWatch, checkWatches/removeWatches,
getEphemerals, getAllChildrenNumber, whoAmI, setWatches2, sasl, reconfig, and malformed input.

Every call returns a `Reply` carrying the header fields and the decoded body; nothing is raised for a
non-zero error code, so tests can assert exact codes. Watch notifications (xid -1) that arrive while
waiting for a reply are collected in `RawZK.events`, and `RawZK.log` records the order in which
notifications and replies arrived.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass
from typing import Any

# --- constants (ZooDefs.OpCode, KeeperException.Code, Watcher.Event) -------------------------------

class Op:
    NOTIFICATION = 0
    CREATE = 1
    DELETE = 2
    EXISTS = 3
    GET_DATA = 4
    SET_DATA = 5
    GET_ACL = 6
    SET_ACL = 7
    GET_CHILDREN = 8
    SYNC = 9
    PING = 11
    GET_CHILDREN2 = 12
    CHECK = 13
    MULTI = 14
    CREATE2 = 15
    RECONFIG = 16
    CHECK_WATCHES = 17
    REMOVE_WATCHES = 18
    CREATE_CONTAINER = 19
    DELETE_CONTAINER = 20
    CREATE_TTL = 21
    MULTI_READ = 22
    AUTH = 100
    SET_WATCHES = 101
    SASL = 102
    GET_EPHEMERALS = 103
    GET_ALL_CHILDREN_NUMBER = 104
    SET_WATCHES2 = 105
    ADD_WATCH = 106
    WHO_AM_I = 107
    CREATE_SESSION = -10
    CLOSE_SESSION = -11
    ERROR = -1


class Err:
    OK = 0
    SYSTEMERROR = -1
    RUNTIMEINCONSISTENCY = -2
    DATAINCONSISTENCY = -3
    CONNECTIONLOSS = -4
    MARSHALLINGERROR = -5
    UNIMPLEMENTED = -6
    OPERATIONTIMEOUT = -7
    BADARGUMENTS = -8
    UNKNOWNSESSION = -12
    NEWCONFIGNOQUORUM = -13
    RECONFIGINPROGRESS = -14
    APIERROR = -100
    NONODE = -101
    NOAUTH = -102
    BADVERSION = -103
    NOCHILDRENFOREPHEMERALS = -108
    NODEEXISTS = -110
    NOTEMPTY = -111
    SESSIONEXPIRED = -112
    INVALIDCALLBACK = -113
    INVALIDACL = -114
    AUTHFAILED = -115
    SESSIONMOVED = -118
    NOTREADONLY = -119
    EPHEMERALONLOCALSESSION = -120
    NOWATCHER = -121
    REQUESTTIMEOUT = -122
    RECONFIGDISABLED = -123
    SESSIONCLOSEDREQUIRESASLAUTH = -124
    QUOTAEXCEEDED = -125
    THROTTLEDOP = -127


class EventType:
    NONE = -1
    NODE_CREATED = 1
    NODE_DELETED = 2
    NODE_DATA_CHANGED = 3
    NODE_CHILDREN_CHANGED = 4


class KeeperState:
    SYNC_CONNECTED = 3


class CreateFlags:
    PERSISTENT = 0
    EPHEMERAL = 1
    PERSISTENT_SEQUENTIAL = 2
    EPHEMERAL_SEQUENTIAL = 3
    CONTAINER = 4
    PERSISTENT_WITH_TTL = 5
    PERSISTENT_SEQUENTIAL_WITH_TTL = 6


class WatcherType:
    CHILDREN = 1
    DATA = 2
    ANY = 3


class AddWatchMode:
    PERSISTENT = 0
    PERSISTENT_RECURSIVE = 1


class Perms:
    READ = 1
    WRITE = 2
    CREATE = 4
    DELETE = 8
    ADMIN = 16
    ALL = 31


NOTIFICATION_XID = -1
PING_XID = -2
AUTH_XID = -4
SET_WATCHES_XID = -8

OPEN_ACL_UNSAFE = [(Perms.ALL, "world", "anyone")]

# --- jute ------------------------------------------------------------------------------------------


class Writer:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def int(self, value: int) -> "Writer":
        self.parts.append(struct.pack(">i", value))
        return self

    def long(self, value: int) -> "Writer":
        self.parts.append(struct.pack(">q", value))
        return self

    def bool(self, value: bool) -> "Writer":
        self.parts.append(b"\x01" if value else b"\x00")
        return self

    def buffer(self, value: bytes | None) -> "Writer":
        if value is None:
            return self.int(-1)
        self.int(len(value))
        self.parts.append(bytes(value))
        return self

    def ustring(self, value: str | None) -> "Writer":
        return self.buffer(None if value is None else value.encode("utf-8"))

    def strings(self, values: list[str] | None) -> "Writer":
        if values is None:
            return self.int(-1)
        self.int(len(values))
        for value in values:
            self.ustring(value)
        return self

    def acls(self, acls: list[tuple[int, str, str]] | None) -> "Writer":
        if acls is None:
            return self.int(-1)
        self.int(len(acls))
        for perms, scheme, ident in acls:
            self.int(perms).ustring(scheme).ustring(ident)
        return self

    def raw(self, data: bytes) -> "Writer":
        self.parts.append(data)
        return self

    def bytes(self) -> bytes:
        return b"".join(self.parts)


class Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def remaining(self) -> int:
        return len(self.data) - self.offset

    def _take(self, count: int) -> bytes:
        if self.offset + count > len(self.data):
            raise ValueError(f"short record: need {count} bytes at {self.offset}, have {len(self.data)}")
        chunk = self.data[self.offset:self.offset + count]
        self.offset += count
        return chunk

    def int(self) -> int:
        return struct.unpack(">i", self._take(4))[0]

    def long(self) -> int:
        return struct.unpack(">q", self._take(8))[0]

    def bool(self) -> bool:
        return self._take(1) != b"\x00"

    def buffer(self) -> bytes | None:
        length = self.int()
        if length < 0:
            return None
        return self._take(length)

    def ustring(self) -> str | None:
        value = self.buffer()
        return None if value is None else value.decode("utf-8")

    def strings(self) -> list[str] | None:
        count = self.int()
        if count < 0:
            return None
        return [self.ustring() for _ in range(count)]

    def acls(self) -> list[tuple[int, str, str]] | None:
        count = self.int()
        if count < 0:
            return None
        return [(self.int(), self.ustring(), self.ustring()) for _ in range(count)]

    def stat(self) -> "Stat":
        return Stat(
            czxid=self.long(), mzxid=self.long(), ctime=self.long(), mtime=self.long(),
            version=self.int(), cversion=self.int(), aversion=self.int(),
            ephemeralOwner=self.long(), dataLength=self.int(), numChildren=self.int(),
            pzxid=self.long(),
        )


@dataclass(frozen=True)
class Stat:
    czxid: int
    mzxid: int
    ctime: int
    mtime: int
    version: int
    cversion: int
    aversion: int
    ephemeralOwner: int
    dataLength: int
    numChildren: int
    pzxid: int


@dataclass
class Reply:
    xid: int
    zxid: int
    err: int
    body: bytes
    value: Any = None  # decoded response record (when err == 0)

    @property
    def ok(self) -> bool:
        return self.err == 0


@dataclass(frozen=True)
class WatchEvent:
    type: int
    state: int
    path: str


@dataclass
class MultiResult:
    type: int
    err: int
    value: Any = None


# --- request records -------------------------------------------------------------------------------


def create_request(path: str, data: bytes | None = b"", acl=None, flags: int = 0, ttl: int | None = None) -> bytes:
    writer = Writer().ustring(path).buffer(data).acls(OPEN_ACL_UNSAFE if acl is None else acl).int(flags)
    if ttl is not None:
        writer.long(ttl)
    return writer.bytes()


def path_watch_request(path: str, watch: bool = False) -> bytes:
    return Writer().ustring(path).bool(watch).bytes()


def path_version_request(path: str, version: int = -1) -> bytes:
    return Writer().ustring(path).int(version).bytes()


def set_data_request(path: str, data: bytes | None, version: int = -1) -> bytes:
    return Writer().ustring(path).buffer(data).int(version).bytes()


def path_request(path: str) -> bytes:
    return Writer().ustring(path).bytes()


def multi_request(ops: list[tuple[int, bytes]]) -> bytes:
    """ops: list of (opcode, request record bytes)."""
    writer = Writer()
    for opcode, record in ops:
        writer.int(opcode).bool(False).int(-1).raw(record)
    writer.int(-1).bool(True).int(-1)
    return writer.bytes()


def decode_multi_response(reader: Reader) -> list[MultiResult]:
    results = []
    while True:
        kind, done, err = reader.int(), reader.bool(), reader.int()
        if done:
            return results
        if kind == Op.CREATE:
            results.append(MultiResult(kind, err, reader.ustring()))
        elif kind == Op.CREATE2:
            results.append(MultiResult(kind, err, (reader.ustring(), reader.stat())))
        elif kind in (Op.DELETE, Op.CHECK):
            results.append(MultiResult(kind, err))
        elif kind == Op.SET_DATA:
            results.append(MultiResult(kind, err, reader.stat()))
        elif kind == Op.GET_CHILDREN:
            results.append(MultiResult(kind, err, reader.strings()))
        elif kind == Op.GET_DATA:
            results.append(MultiResult(kind, err, (reader.buffer(), reader.stat())))
        elif kind == Op.ERROR:
            results.append(MultiResult(kind, err, reader.int()))
        else:
            raise ValueError(f"unknown multi result type {kind}")


# --- the connection --------------------------------------------------------------------------------


class ConnectionClosed(Exception):
    pass


@dataclass
class ConnectResponse:
    protocol_version: int
    timeout_ms: int
    session_id: int
    passwd: bytes
    read_only: bool | None


class RawZK:
    """One TCP connection speaking the client protocol synchronously."""

    def __init__(self, host: str, port: int, io_timeout: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.sock = socket.create_connection((host, port), timeout=io_timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.next_xid = 1
        self.events: list[WatchEvent] = []
        self.notification_headers: list[tuple[int, int]] = []  # (zxid, err) of each notification's ReplyHeader
        self.log: list[tuple[str, Any]] = []  # ("event", WatchEvent) / ("reply", xid) in arrival order
        self.last_zxid = 0
        self.session: ConnectResponse | None = None
        self._buffer = b""

    # framing

    def send_frame(self, payload: bytes) -> None:
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _read_exact(self, count: int) -> bytes:
        while len(self._buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionClosed(f"connection closed by server (wanted {count} bytes, have {len(self._buffer)})")
            self._buffer += chunk
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def read_frame(self) -> bytes:
        (length,) = struct.unpack(">i", self._read_exact(4))
        if length < 0 or length > 64 * 1024 * 1024:
            raise ValueError(f"bad frame length {length}")
        return self._read_exact(length)

    def is_closed_by_peer(self, timeout: float = 5.0) -> bool:
        """True when the server closes the connection (EOF or reset) within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self.sock.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self._buffer += chunk
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        return False

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    # handshake

    def connect(self, timeout_ms: int = 10000, session_id: int = 0, passwd: bytes = bytes(16),
                last_zxid: int = 0, read_only: bool | None = False) -> ConnectResponse:
        writer = Writer().int(0).long(last_zxid).int(timeout_ms).long(session_id).buffer(passwd)
        if read_only is not None:
            writer.bool(read_only)
        self.send_frame(writer.bytes())
        reader = Reader(self.read_frame())
        response = ConnectResponse(
            protocol_version=reader.int(), timeout_ms=reader.int(), session_id=reader.long(),
            passwd=reader.buffer() or b"",
            read_only=reader.bool() if reader.remaining() > 0 else None,
        )
        self.session = response
        return response

    # requests

    def _allocate_xid(self) -> int:
        xid = self.next_xid
        self.next_xid += 1
        return xid

    def send_request(self, opcode: int, body: bytes = b"", xid: int | None = None) -> int:
        if xid is None:
            xid = self._allocate_xid()
        self.send_frame(Writer().int(xid).int(opcode).raw(body).bytes())
        return xid

    def read_message(self) -> tuple[str, Any]:
        """Read one frame; a notification becomes ("event", WatchEvent), anything else ("reply", Reply)."""
        frame = self.read_frame()
        reader = Reader(frame)
        xid, zxid, err = reader.int(), reader.long(), reader.int()
        if xid == NOTIFICATION_XID:
            self.notification_headers.append((zxid, err))
            event = WatchEvent(reader.int(), reader.int(), reader.ustring())
            self.events.append(event)
            self.log.append(("event", event))
            return "event", event
        if zxid > 0:
            self.last_zxid = max(self.last_zxid, zxid)
        self.log.append(("reply", xid))
        return "reply", Reply(xid, zxid, err, frame[reader.offset:])

    def wait_reply(self, xid: int) -> Reply:
        while True:
            kind, message = self.read_message()
            if kind == "reply":
                if message.xid != xid:
                    raise AssertionError(f"reply out of order: expected xid {xid}, got {message.xid}")
                return message

    def wait_event(self, timeout: float = 10.0) -> WatchEvent:
        """Return the oldest not-yet-consumed notification, reading from the socket if needed."""
        deadline = time.monotonic() + timeout
        while not self.events:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no watch event")
            self.sock.settimeout(remaining)
            try:
                kind, message = self.read_message()
            except socket.timeout as error:
                raise TimeoutError("no watch event") from error
            if kind == "reply":
                raise AssertionError(f"unexpected reply {message}")
        return self.events.pop(0)

    def no_event_within(self, seconds: float) -> bool:
        """Bounded check that nothing is pushed (used only where the test is about absence)."""
        if self.events:
            return False
        self.sock.settimeout(seconds)
        try:
            self.read_message()
        except socket.timeout:
            return True
        finally:
            self.sock.settimeout(10.0)
        return False

    def call(self, opcode: int, body: bytes = b"", xid: int | None = None, decode=None) -> Reply:
        xid = self.send_request(opcode, body, xid)
        reply = self.wait_reply(xid)
        if reply.err == 0 and decode is not None:
            reply.value = decode(Reader(reply.body))
        return reply

    # operations

    def create(self, path, data=b"", acl=None, flags=0, ttl=None, opcode=None) -> Reply:
        if opcode is None:
            opcode = Op.CREATE_TTL if ttl is not None else Op.CREATE
        decode = (lambda r: r.ustring()) if opcode == Op.CREATE else (lambda r: (r.ustring(), r.stat()))
        return self.call(opcode, create_request(path, data, acl, flags, ttl), decode=decode)

    def create2(self, path, data=b"", acl=None, flags=0) -> Reply:
        return self.create(path, data, acl, flags, opcode=Op.CREATE2)

    def create_container(self, path, data=b"", acl=None) -> Reply:
        return self.create(path, data, acl, CreateFlags.CONTAINER, opcode=Op.CREATE_CONTAINER)

    def create_ttl(self, path, ttl, data=b"", acl=None, flags=CreateFlags.PERSISTENT_WITH_TTL) -> Reply:
        return self.create(path, data, acl, flags, ttl=ttl, opcode=Op.CREATE_TTL)

    def delete(self, path, version=-1) -> Reply:
        return self.call(Op.DELETE, path_version_request(path, version))

    def exists(self, path, watch=False) -> Reply:
        return self.call(Op.EXISTS, path_watch_request(path, watch), decode=lambda r: r.stat())

    def get_data(self, path, watch=False) -> Reply:
        return self.call(Op.GET_DATA, path_watch_request(path, watch), decode=lambda r: (r.buffer(), r.stat()))

    def set_data(self, path, data, version=-1) -> Reply:
        return self.call(Op.SET_DATA, set_data_request(path, data, version), decode=lambda r: r.stat())

    def get_acl(self, path) -> Reply:
        return self.call(Op.GET_ACL, path_request(path), decode=lambda r: (r.acls(), r.stat()))

    def set_acl(self, path, acl, version=-1) -> Reply:
        return self.call(Op.SET_ACL, Writer().ustring(path).acls(acl).int(version).bytes(), decode=lambda r: r.stat())

    def get_children(self, path, watch=False) -> Reply:
        return self.call(Op.GET_CHILDREN, path_watch_request(path, watch), decode=lambda r: r.strings())

    def get_children2(self, path, watch=False) -> Reply:
        return self.call(Op.GET_CHILDREN2, path_watch_request(path, watch), decode=lambda r: (r.strings(), r.stat()))

    def sync(self, path) -> Reply:
        return self.call(Op.SYNC, path_request(path), decode=lambda r: r.ustring())

    def check(self, path, version) -> Reply:
        return self.call(Op.CHECK, path_version_request(path, version), decode=lambda r: r.stat() if r.remaining() else None)

    def multi(self, ops: list[tuple[int, bytes]], opcode=Op.MULTI) -> Reply:
        return self.call(opcode, multi_request(ops), decode=decode_multi_response)

    def add_watch(self, path, mode) -> Reply:
        return self.call(Op.ADD_WATCH, Writer().ustring(path).int(mode).bytes(),
                         decode=lambda r: r.int() if r.remaining() else None)

    def check_watches(self, path, watcher_type) -> Reply:
        return self.call(Op.CHECK_WATCHES, Writer().ustring(path).int(watcher_type).bytes())

    def remove_watches(self, path, watcher_type) -> Reply:
        return self.call(Op.REMOVE_WATCHES, Writer().ustring(path).int(watcher_type).bytes())

    def get_ephemerals(self, prefix="/") -> Reply:
        return self.call(Op.GET_EPHEMERALS, path_request(prefix), decode=lambda r: r.strings())

    def get_all_children_number(self, path) -> Reply:
        return self.call(Op.GET_ALL_CHILDREN_NUMBER, path_request(path), decode=lambda r: r.int())

    def who_am_i(self) -> Reply:
        return self.call(Op.WHO_AM_I, b"", decode=lambda r: [(r.ustring(), r.ustring()) for _ in range(r.int())])

    def auth(self, scheme: str, credential: bytes) -> Reply:
        return self.call(Op.AUTH, Writer().int(0).ustring(scheme).buffer(credential).bytes(), xid=AUTH_XID)

    def set_watches(self, relative_zxid, data=(), exist=(), child=()) -> Reply:
        body = Writer().long(relative_zxid).strings(list(data)).strings(list(exist)).strings(list(child)).bytes()
        return self.call(Op.SET_WATCHES, body, xid=SET_WATCHES_XID)

    def set_watches2(self, relative_zxid, data=(), exist=(), child=(), persistent=(), recursive=()) -> Reply:
        body = (Writer().long(relative_zxid).strings(list(data)).strings(list(exist)).strings(list(child))
                .strings(list(persistent)).strings(list(recursive)).bytes())
        return self.call(Op.SET_WATCHES2, body, xid=SET_WATCHES_XID)

    def ping(self) -> Reply:
        return self.call(Op.PING, b"", xid=PING_XID)

    def sasl(self, token: bytes) -> Reply:
        return self.call(Op.SASL, Writer().buffer(token).bytes(), decode=lambda r: r.buffer())

    def reconfig(self, joining=None, leaving=None, new_members=None, config_id=-1) -> Reply:
        body = Writer().ustring(joining).ustring(leaving).ustring(new_members).long(config_id).bytes()
        return self.call(Op.RECONFIG, body, decode=lambda r: (r.buffer(), r.stat()))

    def close_session(self) -> Reply:
        return self.call(Op.CLOSE_SESSION, b"")


def connect(host: str, port: int, timeout_ms: int = 10000, **kwargs) -> RawZK:
    client = RawZK(host, port)
    response = client.connect(timeout_ms=timeout_ms, **kwargs)
    if response.timeout_ms == 0:
        client.close()
        raise ConnectionError("session refused")
    return client


def four_letter(host: str, port: int, word: str, extra: bytes = b"", timeout: float = 10.0) -> str:
    """Send a four-letter word on a fresh connection and return everything the server writes before closing."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(word.encode("ascii") + extra)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", errors="replace")


def session_password(session_id: int) -> bytes:
    """Apache's session password: java.util.Random(sessionId ^ 0xB3415C00).nextBytes(16)."""
    mask = (1 << 48) - 1
    seed = ((session_id ^ 0xB3415C00) ^ 0x5DEECE66D) & mask
    out = bytearray()
    while len(out) < 16:
        seed = (seed * 0x5DEECE66D + 0xB) & mask
        value = seed >> 16
        for _ in range(min(4, 16 - len(out))):
            out.append(value & 0xFF)
            value >>= 8
    return bytes(out)
