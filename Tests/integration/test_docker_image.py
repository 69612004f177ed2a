"""The image started with no command behaves like the official `zookeeper` Docker image: ZOO_*
variables, /conf, /data, a mounted zoo.cfg taken as it is, root dropping to uid 1000, and the
three-server ensemble of docker/compose.yaml. Plus what every user of the image sees: SIGTERM ends
the server cleanly, and the scripts' command-line behaviour.
"""
from __future__ import annotations

import re
import uuid

import pytest

from conftest import wait_until
from containers import REPO, podman, require_image


@pytest.fixture
def containers():
    started: list[str] = []
    networks: list[str] = []

    def run(*args: str, name: str | None = None) -> str:
        name = name or f"zkimg-{uuid.uuid4().hex[:8]}"
        result = podman("run", "-d", "--name", name, *args)
        assert result.returncode == 0, result.stderr
        started.append(name)
        return name

    run.networks = networks
    yield run
    for name in started:
        podman("rm", "-f", "-t", "0", name)
    for network in networks:
        podman("network", "rm", "-f", network)


def exec_(name: str, *command: str, user: str | None = None) -> str:
    args = ["exec"] + (["--user", user] if user else []) + [name, *command]
    result = podman(*args)
    return result.stdout


def ruok(name: str, port: int = 2181) -> bool:
    return exec_(name, "sh", "-c", f"echo ruok | nc 127.0.0.1 {port}") == "imok"


def test_no_command_runs_a_standalone_server_configured_from_zoo_variables(containers):
    image = require_image()
    name = containers("-e", "ZOO_4LW_COMMANDS_WHITELIST=ruok,srvr,mntr,conf",
                      "-e", "ZOO_CFG_EXTRA=snapCount=5000 maxSessionTimeout=60000", "-e", "ZOO_TICK_TIME=3000", image)
    wait_until(lambda: ruok(name), timeout=60, message="the server to answer ruok")
    config = exec_(name, "cat", "/conf/zoo.cfg").splitlines()
    assert config[:10] == ["dataDir=/data", "dataLogDir=/datalog", "tickTime=3000", "initLimit=5", "syncLimit=2",
                           "autopurge.snapRetainCount=3", "autopurge.purgeInterval=0", "maxClientCnxns=60",
                           "standaloneEnabled=true", "admin.enableServer=true"]
    assert config[10:] == ["server.1=localhost:2888:3888;2181", "4lw.commands.whitelist=ruok,srvr,mntr,conf",
                           "snapCount=5000", "maxSessionTimeout=60000"]
    assert exec_(name, "cat", "/data/myid") == "1\n"
    # Started as root, the server runs as zookeeper (uid 1000) and owns /data.
    assert exec_(name, "stat", "-c", "%u", "/proc/1").strip() == "1000"
    assert exec_(name, "stat", "-c", "%U", "/data/version-2").strip() == "zookeeper"
    assert "Mode: standalone" in exec_(name, "sh", "-c", "echo srvr | nc 127.0.0.1 2181")
    assert "is not executed because it is not in the whitelist" in exec_(name, "sh", "-c", "echo cons | nc 127.0.0.1 2181")
    assert "Mode: standalone" in exec_(name, "zkServer.sh", "status")
    # Prometheus' /metrics on 7000 and the AdminServer on 8080 are on by default in this image.
    metrics = http_in(name, 7000, "/metrics")
    assert metrics.startswith("HTTP/1.1 200 OK") and "\n# TYPE znode_count gauge\nznode_count " in metrics
    assert '"command" : "ruok"' in http_in(name, 8080, "/commands/ruok")


def http_in(name: str, port: int, path: str) -> str:
    """A GET from inside the container (bash's /dev/tcp: the image has no curl)."""
    script = (f"exec 3<>/dev/tcp/127.0.0.1/{port}; printf 'GET {path} HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' >&3; "
              "cat <&3")
    return exec_(name, "bash", "-c", script).replace("\r\n", "\n")


def test_a_mounted_zoo_cfg_is_taken_as_it_is(containers, tmp_path):
    image = require_image()
    config = tmp_path / "zoo.cfg"
    config.write_text("tickTime=2000\ndataDir=/data\nclientPort=2191\n4lw.commands.whitelist=*\n")
    name = containers("-v", f"{config}:/conf/zoo.cfg:ro", image)
    wait_until(lambda: ruok(name, 2191), timeout=60, message="the server to answer ruok on 2191")
    assert exec_(name, "cat", "/conf/zoo.cfg") == config.read_text()


def compose_servers() -> str:
    """ZOO_SERVERS as docker/compose.yaml gives it (the same for every service)."""
    values = set(re.findall(r"^\s+ZOO_SERVERS: (.+)$", (REPO / "docker" / "compose.yaml").read_text(), re.MULTILINE))
    assert len(values) == 1, values
    return values.pop()


def test_the_compose_files_three_servers_form_an_ensemble(containers):
    image = require_image()
    network = f"zkimg-net-{uuid.uuid4().hex[:6]}"
    assert podman("network", "create", network).returncode == 0
    containers.networks.append(network)
    suffix = uuid.uuid4().hex[:6]
    names = {}
    for sid in (1, 2, 3):
        names[sid] = containers("--network", network, "--hostname", f"zoo{sid}", "--network-alias", f"zoo{sid}",
                                "-e", f"ZOO_MY_ID={sid}", "-e", f"ZOO_SERVERS={compose_servers()}",
                                "-e", "ZOO_4LW_COMMANDS_WHITELIST=*", image, name=f"zoo{sid}-{suffix}")

    def modes():
        return sorted(re.sub(r".*Mode: (\w+).*", r"\1", exec_(n, "sh", "-c", "echo srvr | nc 127.0.0.1 2181"), flags=re.S)
                      for n in names.values())
    wait_until(lambda: modes() == ["follower", "follower", "leader"], timeout=120, message="one leader and two followers")
    created = podman("exec", names[1], "zkCli.sh", "create", "/compose", "yes")
    assert "Created /compose" in created.stdout + created.stderr  # stderr, as zkCli 3.4 prints it
    wait_until(lambda: "yes" in exec_(names[3], "zkCli.sh", "get", "/compose").splitlines(), timeout=30,
               message="the write to reach zoo3")


def test_sigterm_stops_the_kubernetes_style_pod_cleanly(containers):
    image = require_image()
    command = '["sh","-c","start-zookeeper --servers=1 --heap=512M"]'
    name = containers("--hostname", "zk-0", "--user", "1000:1000", "--entrypoint", command, image)
    wait_until(lambda: ruok(name), timeout=60, message="the server to answer ruok")
    # sh -c execs the lone command (bash is /bin/sh here): the server is PID 1.
    assert exec_(name, "cat", "/proc/1/comm").strip() == "zk-server"
    assert podman("stop", "-t", "10", name).returncode == 0
    assert podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip() == "0"
    logs = podman("logs", name)
    output = logs.stdout + logs.stderr
    assert "Received signal SIGTERM, shutting down" in output
    assert "ignoring the JVM option -Xmx512M: zk-server is not a JVM" in output


def test_start_zookeeper_flags_usage_and_errors(containers):
    image = require_image()

    def run(*args: str, hostname: str = "zk-0"):
        return podman("run", "--rm", "--hostname", hostname, "--entrypoint", "start-zookeeper", image, *args)
    usage = run("-h")
    assert usage.returncode == 0 and usage.stdout.startswith("Usage: start-zookeeper [OPTIONS]")
    unknown = run("--bogus=1")
    assert unknown.returncode == 1 and unknown.stderr.strip() == "Unknown option --bogus=1"
    bad_host = run("--servers=3", hostname="zookeeper")
    assert bad_host.returncode == 1 and bad_host.stdout.strip() == "Fialed to parse name and ordinal of Pod"
    # --conf_dir is honoured: the server reads the zoo.cfg written there.
    result = podman("run", "--rm", "--hostname", "zk-0", "--entrypoint", "bash", image, "-c",
                    "start-zookeeper --conf_dir=/tmp/conf --client_port=2195 & "
                    "for i in {1..100}; do [ \"$(echo ruok | nc 127.0.0.1 2195)\" = imok ] && break; sleep 0.1; done; "
                    "echo srvr | nc 127.0.0.1 2195 | grep Mode; ls /tmp/conf; kill %1; wait")
    assert "Mode: standalone" in result.stdout, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert {"java.env", "log4j.properties", "zoo.cfg"} <= set(lines), result.stdout
    assert "Using config: /tmp/conf/zoo.cfg" in result.stderr
