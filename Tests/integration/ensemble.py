"""Ensembles of real server processes on loopback, for the ensemble tests: our `zk-server`
($ZK_SERVER_BIN) and, as a member of mixed ensembles, Debian's Apache ZooKeeper 3.8
(QuorumPeerMain). Every port comes from binding port 0; every server gets its own data directory
with its `myid`; readiness is read from `srvr` (a server that is not in a quorum says it is not
serving). Nothing here sleeps to wait: everything polls a condition with a deadline.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from conftest import APACHE_JARS, SERVLET_API_JAR, ZK_SERVER_BIN, free_port, log_tail, wait_until

# Short ticks keep elections, failure detection and syncLimit quick on loopback.
TICK_MS = 500
INIT_LIMIT = 20
SYNC_LIMIT = 10


def tree_of(zk: KazooClient, path: str = "/") -> dict[str, tuple[bytes, int, int]]:
    """Every node under `path` (but /zookeeper) with its data, version and creation zxid."""
    zk.sync(path)
    nodes = {}
    stack = [path]
    while stack:
        current = stack.pop()
        data, stat = zk.get(current)
        nodes[current] = (data, stat.version, stat.czxid)
        for child in zk.get_children(current):
            child_path = ("" if current == "/" else current) + "/" + child
            if child_path != "/zookeeper":
                stack.append(child_path)
    return nodes


def four_letter(port: int, word: str, timeout: float = 5.0) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(word.encode())
        chunks = []
        while chunk := s.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def srvr_field(port: int, name: str) -> str | None:
    try:
        text = four_letter(port, "srvr")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(name + ": "):
            return line.split(": ", 1)[1]
    return None


@dataclass
class Member:
    sid: int
    kind: str  # "swift" or "apache"
    directory: Path
    client_port: int
    quorum_port: int
    election_port: int
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    starts: int = 0
    data_log_dir: Path | None = None

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def mode(self) -> str | None:
        return srvr_field(self.client_port, "Mode")

    def zxid(self) -> int | None:
        value = srvr_field(self.client_port, "Zxid")
        return int(value, 16) if value else None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Ensemble:
    root: Path
    members: dict[int, Member] = field(default_factory=dict)
    observers: set[int] = field(default_factory=set)
    # Set: every server's membership in a dynamic configuration file of this version.
    dynamic_version: int | None = None
    # Extra JVM flags for the Apache servers (system properties).
    apache_flags: list[str] = field(default_factory=list)
    # Extra zoo.cfg keys per server (AdminServer and metrics ports, say), applied by `configure`.
    member_config: dict[int, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def create(cls, root: Path, kinds: dict[int, str], observers: tuple[int, ...] = (),
               dynamic_version: int | None = None) -> "Ensemble":
        ensemble = cls(root)
        ensemble.observers = set(observers)
        ensemble.dynamic_version = dynamic_version
        for sid, kind in sorted(kinds.items()):
            if kind == "swift" and not ZK_SERVER_BIN:
                pytest.skip("ZK_SERVER_BIN is not set")
            if kind == "apache" and any(not os.path.exists(jar) for jar in APACHE_JARS):
                if os.environ.get("CI"):
                    raise RuntimeError("Apache ZooKeeper is not installed")
                pytest.skip("Apache ZooKeeper is not installed")
            directory = root / f"server{sid}"
            (directory / "data").mkdir(parents=True)
            (directory / "data" / "myid").write_text(f"{sid}\n")
            ensemble.members[sid] = Member(sid, kind, directory, free_port(), free_port(), free_port())
        for member in ensemble.members.values():
            ensemble._write_config(member)
        return ensemble

    def use_data_log_dir(self, member: Member):
        """Gives `member` a dataLogDir of its own (directory/datalog) beside its dataDir."""
        (member.directory / "datalog").mkdir(exist_ok=True)
        member.data_log_dir = member.directory / "datalog"
        self._write_config(member)

    def configure(self, sid: int, **keys: str):
        """Adds zoo.cfg keys for one server (dots spelled as `__`: `admin__serverPort="8081"`)."""
        self.member_config.setdefault(sid, {}).update({key.replace("__", "."): value for key, value in keys.items()})
        self._write_config(self.members[sid])

    def _write_config(self, member: Member):
        config = {
            "tickTime": str(TICK_MS), "initLimit": str(INIT_LIMIT), "syncLimit": str(SYNC_LIMIT),
            "dataDir": str(member.data), "clientPort": str(member.client_port), "clientPortAddress": "127.0.0.1",
            "4lw.commands.whitelist": "*", "admin.enableServer": "false", "maxSessionTimeout": "60000",
        }
        if member.data_log_dir is not None:
            config["dataLogDir"] = str(member.data_log_dir)
        config.update(self.member_config.get(member.sid, {}))
        if member.sid in self.observers:
            config["peerType"] = "observer"
        servers = {}
        for other in self.members.values():
            role = ":observer" if other.sid in self.observers else ""
            servers[f"server.{other.sid}"] = f"127.0.0.1:{other.quorum_port}:{other.election_port}{role}"
        if self.dynamic_version is not None:
            # The 3.5+ layout: the servers in zoo.cfg.dynamic.<version>, which zoo.cfg names.
            dynamic = member.directory / f"zoo.cfg.dynamic.{self.dynamic_version:x}"
            dynamic.write_text("".join(f"{k}={v};127.0.0.1:{self.members[int(k[7:])].client_port}\n"
                                       for k, v in servers.items()))
            config["dynamicConfigFile"] = str(dynamic)
        else:
            config.update(servers)
        (member.directory / "zoo.cfg").write_text("".join(f"{k}={v}\n" for k, v in config.items()))

    # MARK: processes

    def start(self, *sids: int):
        for sid in sids or sorted(self.members):
            member = self.members[sid]
            assert not member.running, f"server {sid} is already running"
            member.starts += 1
            member.log_path = member.directory / f"server.{member.starts}.log"
            if member.kind == "swift":
                args = [ZK_SERVER_BIN, str(member.directory / "zoo.cfg")]
            else:
                args = ["java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                        "-Dzookeeper.admin.enableServer=false", *self.apache_flags,
                        # Jetty (the AdminServer) needs the servlet API, which Debian's package leaves out.
                        "-cp", ":".join(APACHE_JARS + ([SERVLET_API_JAR] if os.path.exists(SERVLET_API_JAR) else [])),
                        "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(member.directory / "zoo.cfg")]
            with open(member.log_path, "wb") as log:
                member.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                               cwd=member.directory, start_new_session=True)

    def kill(self, sid: int, sig=signal.SIGKILL):
        member = self.members[sid]
        if member.running:
            member.proc.send_signal(sig)
            member.proc.wait(timeout=30)

    def pause(self, sid: int):
        self.members[sid].proc.send_signal(signal.SIGSTOP)

    def resume(self, sid: int):
        self.members[sid].proc.send_signal(signal.SIGCONT)

    def stop_all(self):
        for sid in sorted(self.members):
            member = self.members[sid]
            if member.running:
                member.proc.send_signal(signal.SIGCONT)
                member.proc.kill()
                member.proc.wait(timeout=30)

    # MARK: state

    def running(self) -> list[Member]:
        return [m for _, m in sorted(self.members.items()) if m.running]

    def describe(self) -> str:
        parts = []
        for member in self.members.values():
            parts.append(f"--- server {member.sid} ({member.kind}, mode {member.mode() if member.running else 'down'}) ---\n"
                         f"{log_tail(member.log_path) if member.log_path else ''}")
        return "\n".join(parts)

    def wait_for_quorum(self, sids=None, timeout: float = 60.0) -> Member:
        """Waits until every listed running server serves (one leader, the rest followers); returns the leader."""
        def settled():
            members = [self.members[s] for s in sids] if sids else self.running()
            modes = {m.sid: m.mode() for m in members}
            if any(mode not in ("leader", "follower", "observer") for mode in modes.values()):
                return None
            leaders = [sid for sid, mode in modes.items() if mode == "leader"]
            return self.members[leaders[0]] if len(leaders) == 1 else None
        return wait_until(settled, timeout=timeout, interval=0.05, message=f"a serving quorum\n{self.describe()}")

    def connect_string(self, sids=None) -> str:
        members = [self.members[s] for s in sids] if sids else list(self.members.values())
        return ",".join(f"127.0.0.1:{m.client_port}" for m in members)
