"""Zab's wire formats against Apache ZooKeeper 3.8 itself: a three-server ensemble of one Apache server
and `zk-zab-probe` (our FastLeaderElection, ZabLeader and ZabLearner over real sockets, with an in-memory
log and no tree), the third server absent. Two servers are a quorum, so nothing commits unless both speak
each other's election and quorum protocols byte for byte.

- Apache leads (sid 3), the probe follows (sid 1): kazoo writes through Apache, which can only commit
  with the probe's ACKs; the probe sees every COMMIT; the first write's zxid is 0x100000002.
- The probe leads (sid 3), Apache follows (sid 1): Apache is synced by our DIFF and NEWLEADER, serves
  `srvr` as a follower, and a kazoo client on it creates its session through our leader (REQUEST,
  PROPOSAL, COMMIT) and reads the znode our leader proposed.
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from conftest import APACHE_JARS, free_port, log_tail, wait_until

PROBE = os.environ.get("ZK_ZAB_PROBE_BIN")


def _ports():
    return {sid: (free_port(), free_port()) for sid in (1, 2, 3)}


def _server_lines(ports):
    return {f"server.{sid}": f"127.0.0.1:{q}:{e}" for sid, (q, e) in ports.items()}


def _start_apache_peer(directory: Path, myid: int, ports) -> tuple[subprocess.Popen, int, Path]:
    if any(not os.path.exists(jar) for jar in APACHE_JARS):
        if os.environ.get("CI"):
            raise RuntimeError("Apache ZooKeeper is not installed")
        pytest.skip("Apache ZooKeeper is not installed")
    data = directory / "data"
    data.mkdir(parents=True)
    (data / "myid").write_text(f"{myid}\n")
    client_port = free_port()
    config = {"tickTime": "2000", "initLimit": "10", "syncLimit": "5", "dataDir": str(data),
              "clientPort": str(client_port), "clientPortAddress": "127.0.0.1", "admin.enableServer": "false",
              "4lw.commands.whitelist": "*", **_server_lines(ports)}
    (directory / "zoo.cfg").write_text("".join(f"{k}={v}\n" for k, v in config.items()))
    log_path = directory / "apache.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            ["java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Dzookeeper.admin.enableServer=false",
             "-cp", ":".join(APACHE_JARS), "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(directory / "zoo.cfg")],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=directory, start_new_session=True)
    return proc, client_port, log_path


def _start_probe(directory: Path, myid: int, ports, *extra: str) -> tuple[subprocess.Popen, Path]:
    if not PROBE:
        pytest.skip("ZK_ZAB_PROBE_BIN is not set")
    out = directory / "probe.out"
    args = [PROBE, "--myid", str(myid), *extra]
    for sid, (q, e) in ports.items():
        args += ["--server", f"{sid}=127.0.0.1:{q}:{e}"]
    with open(out, "wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    return proc, out


def _stop(*procs):
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _four_letter(port: int, word: str) -> str:
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(word.encode())
        chunks = []
        while chunk := s.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def _lines(path: Path) -> list[str]:
    return path.read_text(errors="replace").splitlines() if path.exists() else []


def _mode(port: int) -> str:
    try:
        return next((l.split(": ", 1)[1] for l in _four_letter(port, "srvr").splitlines() if l.startswith("Mode: ")), "")
    except OSError:
        return ""


def test_apache_leads_and_our_follower_acks(tmp_path):
    ports = _ports()
    (tmp_path / "probe").mkdir()
    probe, out = _start_probe(tmp_path / "probe", 1, ports)
    apache, client_port, log_path = _start_apache_peer(tmp_path / "apache", 3, ports)
    try:
        wait_until(lambda: "SERVING 1" in _lines(out), timeout=60,
                   message=f"the probe to follow Apache; probe:\n{out.read_text()}\napache:\n{log_tail(log_path)}")
        assert "ELECTED 3 FOLLOWING" in _lines(out)
        assert _mode(client_port) == "leader"
        zk = KazooClient(hosts=f"127.0.0.1:{client_port}", timeout=10)
        zk.start(timeout=30)
        try:
            zk.create("/through-apache", b"v1")
            data, stat = zk.get("/through-apache")
            assert data == b"v1" and stat.czxid == 0x100000002
            zk.set("/through-apache", b"v2")
        finally:
            zk.stop()
            zk.close()
        wait_until(lambda: "COMMIT 0x100000004" in _lines(out), timeout=30, message=f"commits at the probe:\n{out.read_text()}")
        commits = [l for l in _lines(out) if l.startswith("COMMIT ")]
        assert commits[:4] == ["COMMIT 0x100000001", "COMMIT 0x100000002", "COMMIT 0x100000003", "COMMIT 0x100000004"]
        assert probe.poll() is None, out.read_text()
    finally:
        _stop(probe, apache)


def test_our_leader_and_apache_follows(tmp_path):
    ports = _ports()
    (tmp_path / "probe").mkdir()
    probe, out = _start_probe(tmp_path / "probe", 3, ports, "--create", "/from-swift")
    apache, client_port, log_path = _start_apache_peer(tmp_path / "apache", 1, ports)
    try:
        wait_until(lambda: "COMMIT 0x100000001" in _lines(out), timeout=60,
                   message=f"Apache to follow the probe; probe:\n{out.read_text()}\napache:\n{log_tail(log_path)}")
        assert "ELECTED 3 LEADING" in _lines(out) and "ESTABLISHED 1" in _lines(out)
        wait_until(lambda: _mode(client_port) == "follower", timeout=30, message="Apache in follower mode")
        zk = KazooClient(hosts=f"127.0.0.1:{client_port}", timeout=10)
        zk.start(timeout=30)
        try:
            data, stat = zk.get("/from-swift")
            assert data == b"from the swift leader" and stat.czxid == 0x100000001
        finally:
            zk.stop()
            zk.close()
        # The session came through our leader: createSession then closeSession were proposed and committed.
        wait_until(lambda: "COMMIT 0x100000003" in _lines(out), timeout=30, message=f"session txns:\n{out.read_text()}")
        assert probe.poll() is None, out.read_text()
        assert "Exception" not in log_path.read_text().split("FOLLOWING - LEADER ELECTION TOOK")[-1].replace("ConnectException", "")
    finally:
        _stop(probe, apache)
