"""The fault harness (issue 14): a real ensemble of zk-server processes, each in its own network
namespace, under a nemesis that partitions, pauses, kills and starves them, while kazoo clients
record a history that the checkers then judge.

Layout: a hub namespace holds a bridge; every server namespace has one veth to it, with address
SUBNET.N (N = server id). The driver (this module's `run`) re-executes itself inside the hub namespace,
so the clients and the four-letter-word probes reach every server directly, and a partition is an
`iptables` rule inside a server's namespace (client traffic from the hub, SUBNET.254, is only cut
when a fault says so). Ports are fixed (2181, 2888, 3888) because each server has a namespace of its
own; the subnet and the namespace names are unique per run.

Faults (`FAULTS`): one server isolated from its peers; the leader isolated from the others; the
leader cut off from a minority only; one-way drops (a server hears a peer but the peer does not hear
it); a flapping link (the veth up and down); SIGKILL and restart; SIGSTOP and SIGCONT of the leader;
the data disk of one server full (a small tmpfs filled up); and a whole server cut off, clients too.

Checkers (`check`): linearizability of every register's history (zk-lincheck: creates, setData with
a version, sync+getData, and the final reads of every server); per-session order (pipelined setData
replies in order, with increasing versions); reads never going back in time within a session;
sequential names unique and increasing in real-time order; ephemerals gone once their sessions end;
watches fired at most once; no acknowledged create lost after every heal and restart; and every
server's tree identical at the end.

Long runs: scripts/fault-run --minutes 60. In CI: test_faults.py with a time budget.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CLIENT_PORT, QUORUM_PORT, ELECTION_PORT = 2181, 2888, 3888
HUB_HOST = 254
SESSION_TIMEOUT_S = 4.0
OP_TIMEOUT_S = 6.0
REGISTERS = 16
# The linearizability search's budget per register: a register whose history is too concurrent to
# decide within it is reported as undecided (counted in the summary), not failed.
LINCHECK_STATES = 300_000

FAULTS = ["isolate-one", "isolate-leader", "leader-minority", "one-way", "flap", "kill", "pause-leader",
          "disk-full", "isolate-clients"]


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {result.stdout.strip()}")
    return result


def can_run() -> str | None:
    """Why the harness cannot run here (None: it can)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in ("ip", "iptables"):
        if sh("which", tool, check=False).returncode != 0:
            return f"needs {tool}"
    return None


# MARK: the network

@dataclass
class Network:
    tag: str
    subnet: str  # "10.77.N"
    sids: list[int]

    @property
    def hub(self) -> str:
        return f"{self.tag}-hub"

    def ns(self, sid: int) -> str:
        return f"{self.tag}-s{sid}"

    def address(self, sid: int) -> str:
        return f"{self.subnet}.{sid}"

    @classmethod
    def create(cls, sids: list[int]) -> "Network":
        net = cls(f"zkf{os.getpid() % 100000}", f"10.77.{random.randint(1, 250)}", sids)
        sh("ip", "netns", "add", net.hub)
        sh("ip", "-n", net.hub, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", net.hub, "link", "set", "br0", "up")
        sh("ip", "-n", net.hub, "addr", "add", f"{net.subnet}.{HUB_HOST}/24", "dev", "br0")
        sh("ip", "-n", net.hub, "link", "set", "lo", "up")
        for sid in sids:
            ns = net.ns(sid)
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "add", f"{net.tag}s{sid}", "netns", ns, "type", "veth", "peer", "name", f"{net.tag}h{sid}", "netns", net.hub)
            sh("ip", "-n", ns, "link", "set", f"{net.tag}s{sid}", "name", "eth0")
            sh("ip", "-n", ns, "addr", "add", f"{net.address(sid)}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", net.hub, "link", "set", f"{net.tag}h{sid}", "master", "br0")
            sh("ip", "-n", net.hub, "link", "set", f"{net.tag}h{sid}", "up")
        return net

    def destroy(self):
        for sid in self.sids:
            sh("ip", "netns", "del", self.ns(sid), check=False)
        sh("ip", "netns", "del", self.hub, check=False)

    def iptables(self, sid: int, *rule: str):
        sh("ip", "netns", "exec", self.ns(sid), "iptables", "-w", *rule)

    def drop(self, sid: int, peer: int, inbound=True, outbound=True):
        """In `sid`'s namespace: drop what comes from (and goes to) `peer` (a server id or HUB_HOST)."""
        if inbound:
            self.iptables(sid, "-A", "INPUT", "-s", f"{self.subnet}.{peer}", "-j", "DROP")
        if outbound:
            self.iptables(sid, "-A", "OUTPUT", "-d", f"{self.subnet}.{peer}", "-j", "DROP")

    def heal(self):
        for sid in self.sids:
            self.iptables(sid, "-F")
            self.link(sid, up=True)

    def link(self, sid: int, up: bool):
        sh("ip", "-n", self.hub, "link", "set", f"{self.tag}h{sid}", "up" if up else "down")


def enter_namespace(name: str):
    """setns(2) into a named network namespace (this thread and the processes it starts)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
            raise OSError(ctypes.get_errno(), f"setns {name}")
    finally:
        os.close(fd)


# MARK: the servers

@dataclass
class Server:
    sid: int
    directory: Path
    proc: subprocess.Popen | None = None
    starts: int = 0
    disk: Path | None = None  # a small tmpfs holding the data directory, for the disk-full fault

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Cluster:
    def __init__(self, net: Network, root: Path, binary: str, small_disk_sid: int | None):
        self.net, self.root, self.binary = net, root, binary
        self.servers: dict[int, Server] = {}
        for sid in net.sids:
            directory = root / f"server{sid}"
            directory.mkdir(parents=True)
            server = Server(sid, directory)
            data = directory / "data"
            data.mkdir()
            if sid == small_disk_sid:
                # fill_disk fills whatever is free, so the size only has to hold a long round's own
                # snapshots and logs between purges (48 MiB filled up in a 300 s round).
                sh("mount", "-t", "tmpfs", "-o", "size=128m", "tmpfs", str(data))
                server.disk = data
            (data / "myid").write_text(f"{sid}\n")
            lines = ["tickTime=500", "initLimit=10", "syncLimit=5", f"dataDir={data}",
                     f"clientPort={CLIENT_PORT}", "4lw.commands.whitelist=*", "admin.enableServer=false",
                     "maxSessionTimeout=20000", "snapCount=2000",
                     # Purge every 10 s (our key; Apache's autopurge.purgeInterval is in hours), so a
                     # long run's old snapshots and logs do not fill the small data disk by themselves.
                     "autopurge.snapRetainCount=3", "autopurge.purgeIntervalMs=10000"]
            lines += [f"server.{s}={net.address(s)}:{QUORUM_PORT}:{ELECTION_PORT}" for s in net.sids]
            (directory / "zoo.cfg").write_text("\n".join(lines) + "\n")
            self.servers[sid] = server

    def start(self, sid: int):
        server = self.servers[sid]
        server.starts += 1
        log = open(server.directory / f"server.{server.starts}.log", "wb")
        server.proc = subprocess.Popen(["ip", "netns", "exec", self.net.ns(sid), self.binary, str(server.directory / "zoo.cfg")],
                                       stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def signal(self, sid: int, sig: int):
        server = self.servers[sid]
        if server.running:
            os.killpg(server.proc.pid, sig)

    def kill(self, sid: int):
        server = self.servers[sid]
        if server.running:
            os.killpg(server.proc.pid, signal.SIGCONT)
            os.killpg(server.proc.pid, signal.SIGKILL)
            server.proc.wait(timeout=30)

    def stop_all(self):
        for sid in self.servers:
            self.kill(sid)
        for server in self.servers.values():
            if server.disk:
                sh("umount", "-l", str(server.disk), check=False)

    def mode(self, sid: int) -> str | None:
        reply = four_letter(self.net.address(sid), "srvr")
        return next((line.split(": ", 1)[1] for line in reply.splitlines() if line.startswith("Mode: ")), None)

    def leader(self) -> int | None:
        leaders = [sid for sid in self.servers if self.servers[sid].running and self.mode(sid) == "leader"]
        return leaders[0] if len(leaders) == 1 else None

    def wait_for_quorum(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            modes = [self.mode(sid) for sid in self.servers]
            if modes.count("leader") == 1 and all(m in ("leader", "follower") for m in modes):
                return True
            time.sleep(0.1)
        return False

    def log_tails(self, lines: int = 30) -> str:
        out = []
        for server in self.servers.values():
            path = server.directory / f"server.{server.starts}.log"
            text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []
            out.append(f"--- server {server.sid} (start {server.starts}) ---\n" + "\n".join(text))
        return "\n".join(out)


def fill_disk(directory: Path) -> Path:
    """Writes a file into `directory` until its filesystem is full; removing the file heals."""
    filler = directory / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * (1 << 20))
                f.flush()
        except OSError:
            pass
    return filler


def four_letter(host: str, word: str, timeout: float = 2.0) -> str:
    try:
        with socket.create_connection((host, CLIENT_PORT), timeout=timeout) as s:
            s.sendall(word.encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            return data.decode(errors="replace")
    except OSError:
        return ""


# MARK: the nemesis

class Nemesis:
    def __init__(self, cluster: Cluster, faults: list[str], rng: random.Random, log):
        self.cluster, self.faults, self.rng, self.log = cluster, faults, rng, log
        self.counts: dict[str, int] = defaultdict(int)
        self.unexpected_exits: list[str] = []

    def run(self, deadline: float, stop: threading.Event):
        while time.monotonic() < deadline and not stop.is_set():
            fault = self.rng.choice(self.faults)
            held = self.rng.uniform(1.5, 5.0)
            try:
                heal = self.inject(fault)
            except Exception as error:  # a fault that cannot be set up now (no leader): try another
                self.log(f"nemesis: {fault} not injected: {error}")
                stop.wait(0.5)
                continue
            if heal is None:
                continue
            self.counts[fault] += 1
            self.log(f"nemesis: {fault} for {held:.1f} s")
            stop.wait(held)
            heal()
            self.cluster.net.heal()
            self.restart_dead()
            stop.wait(self.rng.uniform(1.0, 3.0))

    def restart_dead(self, expected=()):
        for sid, server in self.cluster.servers.items():
            if not server.running and sid not in expected:
                if server.proc is not None and server.proc.returncode not in (-signal.SIGKILL, None):
                    self.unexpected_exits.append(f"server {sid} exited with {server.proc.returncode} (start {server.starts})")
                self.cluster.start(sid)

    def inject(self, fault: str):
        c, net, sids = self.cluster, self.cluster.net, list(self.cluster.servers)
        pick = self.rng.choice(sids)
        others = lambda sid: [s for s in sids if s != sid]
        if fault == "isolate-one":
            for peer in others(pick):
                net.drop(pick, peer)
            return lambda: None
        if fault in ("isolate-leader", "leader-minority", "pause-leader"):
            leader = c.leader()
            if leader is None:
                raise RuntimeError("no leader")
            if fault == "pause-leader":
                c.signal(leader, signal.SIGSTOP)
                return lambda: c.signal(leader, signal.SIGCONT)
            cut = others(leader) if fault == "isolate-leader" else others(leader)[:max(1, (len(sids) - 1) // 2)]
            for peer in cut:
                net.drop(leader, peer)
            return lambda: None
        if fault == "one-way":
            peer = self.rng.choice(others(pick))
            net.drop(pick, peer, inbound=True, outbound=False)
            return lambda: None
        if fault == "flap":
            stop = threading.Event()

            def flapper():
                up = False
                while not stop.is_set():
                    net.link(pick, up)
                    up = not up
                    stop.wait(self.rng.uniform(0.1, 0.7))
                net.link(pick, True)
            thread = threading.Thread(target=flapper, daemon=True)
            thread.start()
            return lambda: (stop.set(), thread.join())
        if fault == "kill":
            c.kill(pick)
            return lambda: c.start(pick)
        if fault == "disk-full":
            small = next((s for s in c.servers.values() if s.disk), None)
            if small is None:
                raise RuntimeError("no small disk")
            filler = fill_disk(small.disk)
            return lambda: filler.unlink(missing_ok=True)
        if fault == "isolate-clients":
            for peer in others(pick) + [HUB_HOST]:
                net.drop(pick, peer)
            return lambda: None
        raise ValueError(fault)


# MARK: the workload and its history

class History:
    """Every operation, as zk-lincheck reads it (registers), and the other checkers' records."""

    def __init__(self):
        self.lock = threading.Lock()
        self.lines: list[str] = []
        self.ops = 0
        self.outcomes: dict[str, int] = defaultdict(int)
        self.sequential: list[tuple[int, int, int, str]] = []  # (client, invoked, completed, name)
        self.sequential_unknown = 0
        self.ephemerals: list[str] = []
        self.creates_acknowledged: list[str] = []
        self.fifo_violations: list[str] = []
        self.read_violations: list[str] = []
        self.watch_violations: list[str] = []
        self.watches_registered = 0
        self.watches_fired = 0
        self.lincheck_summary = ""

    def register(self, path: str, client: int, invoked: int, completed: int | None, op: str, outcome: str):
        with self.lock:
            self.ops += 1
            self.outcomes[outcome.split()[0]] += 1
            self.lines.append(f"{path} {client} {invoked} {completed if completed is not None else '-'} {op} {outcome}")


def hexed(data: bytes | None) -> str:
    return data.hex() if data else "-"


class Client(threading.Thread):
    def __init__(self, number: int, host: str, history: History, deadline: float, seed: int):
        super().__init__(daemon=True)
        self.number, self.host, self.history, self.deadline = number, host, history, deadline
        self.rng = random.Random(seed)
        self.zk = None
        self.counter = 0
        self.last_seen: dict[str, int] = {}  # register -> highest version this session has read

    def connect(self):
        from kazoo.client import KazooClient
        from kazoo.retry import KazooRetry
        if self.zk is not None:
            self.close()
        self.zk = KazooClient(hosts=f"{self.host}:{CLIENT_PORT}", timeout=SESSION_TIMEOUT_S,
                              connection_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=0.5))
        self.zk.start(timeout=30)
        self.last_seen = {}

    def run(self):
        try:
            self.connect()
        except Exception:
            return
        while time.monotonic() < self.deadline:
            try:
                self.step()
            except Exception:  # a step whose calls failed outright (kazoo's errors, a closed handler): the next one
                pass
            if self.zk.client_state == "EXPIRED_SESSION" or self.zk.state == "LOST":
                try:
                    self.connect()
                except Exception:
                    time.sleep(0.2)  # back-off before trying a new session (not a synchronization)
        self.close()

    def close(self):
        try:
            self.zk.stop()
            self.zk.close()
        except Exception:
            pass

    def call(self, fn, *args, **kwargs):
        """Runs an async kazoo call: ("ok", value) | ("error", exception name) | ("unknown", None)."""
        from kazoo.exceptions import (BadVersionError, NodeExistsError, NoNodeError)
        result = fn(*args, **kwargs)
        try:
            return "ok", result.get(timeout=OP_TIMEOUT_S)
        except NoNodeError:
            return "error", "nonode"
        except NodeExistsError:
            return "error", "nodeexists"
        except BadVersionError:
            return "error", "badversion"
        except Exception:
            return "unknown", None

    def step(self):
        zk, rng, h = self.zk, self.rng, self.history
        self.counter += 1
        value = f"c{self.number}-{self.counter}".encode()
        key = f"/r/{rng.randrange(REGISTERS)}"
        roll = rng.random()
        if roll < 0.35:  # compare-and-set: read, then setData with the version read
            kind, got = self.call(zk.get_async, key)
            if kind != "ok":
                return
            self.saw(key, got[1].version)
            t0 = time.monotonic_ns()
            kind, got2 = self.call(zk.set_async, key, value, version=got[1].version)
            t1 = time.monotonic_ns()
            outcome = f"set {got2.version}" if kind == "ok" else got2 if kind == "error" else "unknown"
            if kind == "ok":
                self.saw(key, got2.version)
            h.register(key, self.number, t0, t1, f"set {hexed(value)} {got[1].version}", outcome)
        elif roll < 0.55:  # sync, then read: linearizable
            t0 = time.monotonic_ns()
            kind, _ = self.call(zk.sync_async, key)
            if kind != "ok":
                return
            kind, got = self.call(zk.get_async, key)
            t1 = time.monotonic_ns()
            if kind == "ok":
                self.saw(key, got[1].version)
                h.register(key, self.number, t0, t1, "get", f"read {hexed(got[0])} {got[1].version}")
            elif kind == "error":
                h.register(key, self.number, t0, t1, "get", got)
        elif roll < 0.65:  # a plain read: may be stale, never older than what this session saw
            kind, got = self.call(zk.get_async, key)
            if kind == "ok":
                self.saw(key, got[1].version)
        elif roll < 0.75:  # sequential create
            t0 = time.monotonic_ns()
            kind, name = self.call(zk.create_async, "/seq/s-", value, sequence=True)
            t1 = time.monotonic_ns()
            with h.lock:
                if kind == "ok":
                    h.sequential.append((self.number, t0, t1, name))
                    h.creates_acknowledged.append(name)
                elif kind == "unknown":
                    h.sequential_unknown += 1
        elif roll < 0.83:  # ephemeral
            path = f"/eph/c{self.number}-{self.counter}"
            kind, _ = self.call(zk.create_async, path, value, ephemeral=True)
            if kind == "ok":
                with h.lock:
                    h.ephemerals.append(path)
        elif roll < 0.91:  # a watch: must fire at most once
            fired = []

            def watcher(event, fired=fired):
                with h.lock:
                    fired.append(event)
                    h.watches_fired += 1
                    if len(fired) > 1:
                        h.watch_violations.append(f"client {self.number}: a watch on {key} fired {len(fired)} times")
            kind, _ = self.call(zk.exists_async, key, watch=watcher)
            if kind == "ok":
                with h.lock:
                    h.watches_registered += 1
        else:  # pipelined setData on this client's own node: replies in order, versions increasing
            path = f"/fifo/c{self.number}"
            if self.counter < 3 or zk.exists(path) is None:
                self.call(zk.create_async, path, b"", makepath=True)
            asyncs = [zk.set_async(path, f"{self.counter}-{i}".encode()) for i in range(5)]
            versions = []
            for result in asyncs:
                try:
                    versions.append(result.get(timeout=OP_TIMEOUT_S).version)
                except Exception:
                    versions.append(None)
            known = [v for v in versions if v is not None]
            if known != sorted(known) or len(set(known)) != len(known):
                with h.lock:
                    h.fifo_violations.append(f"client {self.number}: pipelined setData versions {versions}")

    def saw(self, key: str, version: int):
        previous = self.last_seen.get(key, -1)
        if version < previous:
            with self.history.lock:
                self.history.read_violations.append(
                    f"client {self.number} read {key} at version {version} after version {previous} in one session")
        self.last_seen[key] = max(previous, version)


# MARK: the run

def setup_tree(hosts: str, history: History):
    from kazoo.client import KazooClient
    zk = KazooClient(hosts=hosts, timeout=10)
    zk.start(timeout=60)
    for path in ("/seq", "/eph", "/fifo", "/r"):
        zk.ensure_path(path)
    for i in range(REGISTERS):
        t0 = time.monotonic_ns()
        zk.create(f"/r/{i}", b"init")
        history.register(f"/r/{i}", 0, t0, time.monotonic_ns(), f"create {hexed(b'init')}", "created")
    zk.stop()
    zk.close()


def dump_tree(host: str) -> dict[str, tuple[str, int, int]]:
    from kazoo.client import KazooClient
    zk = KazooClient(hosts=f"{host}:{CLIENT_PORT}", timeout=10)
    zk.start(timeout=60)
    zk.sync("/")
    tree = {}
    stack = ["/"]
    while stack:
        path = stack.pop()
        if path == "/zookeeper" or path.startswith("/zookeeper/"):
            continue
        data, stat = zk.get(path)
        tree[path] = (hexed(data), stat.version, stat.ephemeralOwner)
        stack += [(path.rstrip("/") + "/" + child) for child in zk.get_children(path)]
    zk.stop()
    zk.close()
    return tree


def check(history: History, trees: dict[int, dict], workdir: Path, lincheck: str, final_reads: list[str]) -> list[str]:
    failures = []
    history_path = workdir / "history.txt"
    history_path.write_text("\n".join(history.lines + final_reads) + "\n")
    result = subprocess.run([lincheck, str(history_path), "--states-max", str(LINCHECK_STATES)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    (workdir / "lincheck.txt").write_text(result.stdout)
    lines = result.stdout.strip().splitlines()
    history.lincheck_summary = lines[-1] if lines else f"zk-lincheck exited {result.returncode}"
    if result.returncode != 0:
        failures.append(f"linearizability: {result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.returncode}\n{result.stdout}")
    failures += history.fifo_violations + history.read_violations + history.watch_violations
    names = [name for _, _, _, name in history.sequential]
    if len(set(names)) != len(names):
        failures.append("sequential names: the same name acknowledged twice")
    # In invocation order, each create's number must exceed that of every create completed before it
    # was invoked: one sweep with the largest such number so far.
    by_completion = sorted(history.sequential, key=lambda e: e[2])
    done, largest = 0, None
    for b in sorted(history.sequential, key=lambda e: e[1]):
        while done < len(by_completion) and by_completion[done][2] < b[1]:
            a = by_completion[done]
            largest = a if largest is None or int(a[3][-10:]) > int(largest[3][-10:]) else largest
            done += 1
        if largest is not None and int(largest[3][-10:]) >= int(b[3][-10:]):
            failures.append(f"sequential names: {largest[3]} completed before {b[3]} was asked for, yet is not smaller")
    reference_sid, reference = next(iter(trees.items()))
    for sid, tree in trees.items():
        if tree != reference:
            diff = sorted(set(tree.items()) ^ set(reference.items()))[:10]
            failures.append(f"trees: server {sid}'s tree differs from server {reference_sid}'s: {diff}")
    for name in history.creates_acknowledged:
        if name not in reference:
            failures.append(f"lost write: the acknowledged create of {name} is gone")
    leftover = [p for p in reference if p.startswith("/eph/")]
    if leftover:
        failures.append(f"ephemerals: {len(leftover)} still there after their sessions ended: {leftover[:5]}")
    return failures


def disk_full_scenario(args) -> int:
    """Server 1's data disk fills up while the others take writes; once room is made, server 1 must
    take part again without a restart, and end with the same tree as the others."""
    sids = list(range(1, args.servers + 1))
    net = Network(args.tag, args.subnet, sids)
    cluster = Cluster(net, Path(args.workdir), args.binary, small_disk_sid=1)
    from kazoo.client import KazooClient
    from kazoo.retry import KazooRetry
    try:
        for sid in sids:
            cluster.start(sid)
        if not cluster.wait_for_quorum(60):
            print(f"no quorum at the start\n{cluster.log_tails()}")
            return 1
        others = ",".join(f"{net.address(s)}:{CLIENT_PORT}" for s in sids if s != 1)
        zk = KazooClient(hosts=others, timeout=10, command_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=1))
        zk.start(timeout=60)
        zk.ensure_path("/disk")
        filler = fill_disk(cluster.servers[1].disk)
        log = cluster.servers[1].directory / "server.1.log"
        deadline = time.monotonic() + 60
        i = 0
        while "Transaction log failure" not in log.read_text(errors="replace"):
            if time.monotonic() > deadline:
                print(f"server 1 never failed to write its log\n{cluster.log_tails()}")
                return 1
            zk.create(f"/disk/n{i}", b"x" * 512)
            i += 1
        for j in range(50):
            zk.create(f"/disk/during-{j}", b"y")
        filler.unlink()
        for j in range(50):
            zk.create(f"/disk/after-{j}", b"z")
        zk.stop()
        zk.close()
        deadline = time.monotonic() + 90
        while True:
            if cluster.wait_for_quorum(5):
                trees = {sid: dump_tree(net.address(sid)) for sid in sids}
                if all(t == trees[2] for t in trees.values()) and cluster.servers[1].running:
                    break
            if time.monotonic() > deadline or not cluster.servers[1].running:
                print(f"server 1 did not rejoin with the others' tree after its disk had room again\n{cluster.log_tails()}")
                return 1
        print(f"disk-full scenario: {i} creates until the log failed, 100 after; server 1 rejoined with the same tree")
        return 0
    finally:
        cluster.stop_all()


def run_inside(args) -> int:
    """The driver, inside the hub namespace."""
    rng = random.Random(args.seed)
    sids = list(range(1, args.servers + 1))
    net = Network(args.tag, args.subnet, sids)
    workdir = Path(args.workdir)
    log_lines: list[str] = []

    def log(line: str):
        stamped = f"{time.strftime('%H:%M:%S')} {line}"
        log_lines.append(stamped)
        print(stamped, flush=True)

    faults = args.faults.split(",")
    cluster = Cluster(net, workdir, args.binary, small_disk_sid=rng.choice(sids) if "disk-full" in faults else None)
    history = History()
    failures: list[str] = []
    nemesis = Nemesis(cluster, faults, rng, log)
    try:
        for sid in sids:
            cluster.start(sid)
        if not cluster.wait_for_quorum(60):
            raise RuntimeError(f"no quorum at the start\n{cluster.log_tails()}")
        hosts = ",".join(f"{net.address(s)}:{CLIENT_PORT}" for s in sids)
        setup_tree(hosts, history)
        deadline = time.monotonic() + args.seconds
        clients = [Client(i + 1, net.address(sids[i % len(sids)]), history, deadline, rng.randrange(1 << 30))
                   for i in range(args.clients)]
        for client in clients:
            client.start()
        stop = threading.Event()
        nemesis.run(deadline, stop)
        for client in clients:
            client.join(timeout=OP_TIMEOUT_S * 4 + 60)
        net.heal()
        for sid in sids:
            cluster.signal(sid, signal.SIGCONT)
        nemesis.restart_dead()
        if not cluster.wait_for_quorum(90):
            failures.append(f"no quorum 90 s after the last heal\n{cluster.log_tails()}")
        else:
            # The clients' sessions are closed; those closed while partitioned expire within their timeout.
            trees: dict[int, dict] = {}
            expiry_deadline = time.monotonic() + 20 * SESSION_TIMEOUT_S
            while True:
                trees = {sid: dump_tree(net.address(sid)) for sid in sids}
                settled = all(not any(p.startswith("/eph/") for p in t) for t in trees.values())
                identical = all(t == trees[sids[0]] for t in trees.values())
                if (settled and identical) or time.monotonic() > expiry_deadline:
                    break
                time.sleep(0.5)
            final_reads = []
            for sid, tree in trees.items():
                t = time.monotonic_ns()
                for i in range(REGISTERS):
                    data, version, _ = tree.get(f"/r/{i}", ("-", -1, 0))
                    outcome = f"read {data} {version}" if version >= 0 else "nonode"
                    final_reads.append(f"/r/{i} {1000 + sid} {t} {t + 1} get {outcome}")
            failures += check(history, trees, workdir, args.lincheck, final_reads)
        failures += nemesis.unexpected_exits
    finally:
        cluster.stop_all()
    summary = {
        "seed": args.seed, "seconds": args.seconds, "servers": args.servers, "clients": args.clients,
        "operations_checked": history.ops, "outcomes": dict(history.outcomes),
        "sequential_creates": len(history.sequential), "sequential_unknown": history.sequential_unknown,
        "ephemerals": len(history.ephemerals), "watches_registered": history.watches_registered,
        "watches_fired": history.watches_fired, "linearizability": history.lincheck_summary,
        "faults": dict(nemesis.counts), "failures": failures,
    }
    (workdir / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    if failures:
        print(f"FAULT RUN FAILED (seed {args.seed}; work dir {workdir}):\n" + "\n".join(failures))
        print(cluster.log_tails())
    return 1 if failures else 0


def run(binary: str, lincheck: str, seconds: float, seed: int, servers: int = 3, clients: int = 5,
        faults: list[str] | None = None, workdir: Path | None = None, scenario: str = "nemesis") -> tuple[int, dict, str]:
    """Sets up the network, runs the driver inside the hub namespace, tears the network down.
    Returns (exit status, summary, output)."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="zk-faults."))
    net = Network.create(list(range(1, servers + 1)))
    try:
        proc = subprocess.run(["ip", "netns", "exec", net.hub, sys.executable, __file__, "--inside",
                               "--tag", net.tag, "--subnet", net.subnet, "--binary", binary, "--lincheck", lincheck,
                               "--seconds", str(seconds), "--seed", str(seed), "--servers", str(servers),
                               "--clients", str(clients), "--faults", ",".join(faults or FAULTS), "--workdir", str(workdir),
                               "--scenario", scenario],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=seconds + 600)
    finally:
        net.destroy()
    summary_path = workdir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return proc.returncode, summary, proc.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tag")
    parser.add_argument("--subnet")
    parser.add_argument("--binary", default=os.environ.get("ZK_SERVER_BIN", str(ROOT / ".build/debug/zk-server")))
    parser.add_argument("--lincheck", default=os.environ.get("ZK_LINCHECK_BIN", str(ROOT / ".build/debug/zk-lincheck")))
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--servers", type=int, default=3)
    parser.add_argument("--clients", type=int, default=5)
    parser.add_argument("--faults", default=",".join(FAULTS))
    parser.add_argument("--workdir")
    parser.add_argument("--scenario", default="nemesis", choices=["nemesis", "disk-full"])
    args = parser.parse_args()
    if args.seed is None:
        args.seed = random.randrange(1 << 31)
    if args.inside:
        sys.exit(disk_full_scenario(args) if args.scenario == "disk-full" else run_inside(args))
    why = can_run()
    if why:
        sys.exit(f"faults.py: {why}")
    status, _, output = run(args.binary, args.lincheck, args.seconds, args.seed, args.servers, args.clients,
                            args.faults.split(","), Path(args.workdir) if args.workdir else None, args.scenario)
    print(output)
    sys.exit(status)


if __name__ == "__main__":
    main()
