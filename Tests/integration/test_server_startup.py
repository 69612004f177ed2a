"""How zk-server starts where containers and Kubernetes put it: the client port on IPv4 and IPv6
(`localhost` is `::1` too inside a pod), JVM flags from `zkServer.sh`-style scripts, and an election
port whose host name does not resolve yet (a StatefulSet pod's DNS record appears when it is Ready).
"""
from __future__ import annotations

import socket
import subprocess

import pytest
from kazoo.client import KazooClient

import rawzk
from conftest import ZK_SERVER_BIN, free_port, log_tail, start_swift, finish_server, wait_until, write_config


def _ipv6_loopback_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_the_default_client_port_listens_on_ipv4_and_ipv6(tmp_path):
    if not _ipv6_loopback_available():
        pytest.skip("this machine has no IPv6 loopback")
    server = start_swift(tmp_path / "dual", {"clientPortAddress": None})
    try:
        assert "binding to port 0.0.0.0/0.0.0.0:" in server.log_path.read_text()
        for host in ("127.0.0.1", "::1"):
            assert rawzk.four_letter(host, server.port, "ruok") == "imok"
        client = KazooClient(hosts=f"[::1]:{server.port}", timeout=10)
        client.start(timeout=10)
        try:
            client.create("/over-ipv6", b"v6")
            assert client.get("/over-ipv6")[0] == b"v6"
            # The connection is listed by its IPv6 address in `cons`.
            assert "/[0:0:0:0:0:0:0:1]:" in rawzk.four_letter("127.0.0.1", server.port, "cons")
        finally:
            client.stop()
            client.close()
    finally:
        finish_server(server)


def test_jvm_flags_are_accepted_and_system_properties_apply(tmp_path):
    if not ZK_SERVER_BIN:
        pytest.skip("ZK_SERVER_BIN is not set")
    port = free_port()
    config = tmp_path / "zoo.cfg"
    write_config(config, {"dataDir": str(tmp_path / "data"), "clientPort": str(port), "clientPortAddress": "127.0.0.1"})
    proc = subprocess.Popen([ZK_SERVER_BIN, "-Xmx512M", "-Xms512M", "-Dzookeeper.4lw.commands.whitelist=ruok,srvr",
                             "-Dzookeeper.root.logger=INFO,CONSOLE", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: _answers(port, "ruok") == "imok", timeout=30, message="the server to answer ruok")
        assert "is not executed because it is not in the whitelist" in _answers(port, "conf")
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, output
    assert "ignoring the JVM option -Xmx512M: zk-server is not a JVM" in output
    bad = subprocess.run([ZK_SERVER_BIN, "-Dzookeeper.snapCount=lots", str(config)], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2
    assert "command line:1: invalid value for zookeeper.snapCount: 'lots'" in bad.stderr


def _answers(port: int, word: str) -> str:
    try:
        return rawzk.four_letter("127.0.0.1", port, word, timeout=2.0)
    except OSError:
        return ""


def test_an_election_host_that_does_not_resolve_yet_is_retried_not_fatal(tmp_path):
    """Apache retries too; failing startup would crash-loop the first pod of a StatefulSet."""
    if not ZK_SERVER_BIN:
        pytest.skip("ZK_SERVER_BIN is not set")
    data = tmp_path / "data"
    data.mkdir()
    (data / "myid").write_text("1\n")
    port = free_port()
    config = tmp_path / "zoo.cfg"
    write_config(config, {"dataDir": str(data), "clientPort": str(port), "clientPortAddress": "127.0.0.1",
                          "tickTime": "200", "initLimit": "10", "syncLimit": "5",
                          "server.1": f"zk-0.does-not-resolve.invalid:{free_port()}:{free_port()}",
                          "server.2": f"127.0.0.1:{free_port()}:{free_port()}"})
    log_path = tmp_path / "zk-server.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([ZK_SERVER_BIN, str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        retried = lambda: log_path.read_text().count("Cannot bind the election port zk-0.does-not-resolve.invalid") >= 2
        wait_until(lambda: retried() or proc.poll() is not None, timeout=30, message="two bind attempts")
        assert proc.poll() is None, log_tail(log_path)
        # Alive and probed as Kubernetes probes it: imok, while not serving.
        assert _answers(port, "ruok") == "imok"
        assert "not currently serving" in _answers(port, "srvr")
        assert "[myid:1]" in log_path.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert proc.returncode == 0, log_tail(log_path)
