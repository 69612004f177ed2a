"""Everyday commands through the real command-line clients shipped by Debian: the Java `zkCli.sh` (one JVM per
server, commands piped on stdin) and the C client's `cli_mt` (batch mode, one command per process)."""

import os
import re
import subprocess

import pytest

ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"
CLI_MT = "/usr/lib/zookeeper/bin/cli_mt"

STAT_KEYS = ["cZxid", "ctime", "mZxid", "mtime", "pZxid", "cversion", "dataVersion", "aclVersion",
             "ephemeralOwner", "dataLength", "numChildren"]


def parse_stat_blocks(lines):
    """Collect zkCli stat blocks (11 `key = value` lines) from stdout lines; return (blocks, other lines)."""
    blocks, others, index = [], [], 0
    while index < len(lines):
        if lines[index].startswith("cZxid = "):
            block = dict(line.split(" = ", 1) for line in lines[index:index + len(STAT_KEYS)])
            assert list(block) == STAT_KEYS, lines[index:index + len(STAT_KEYS)]
            blocks.append(block)
            index += len(STAT_KEYS)
        else:
            others.append(lines[index])
            index += 1
    return blocks, others


@pytest.mark.skipif(not os.path.exists(ZKCLI), reason="zkCli.sh is not installed")
def test_zkcli_session(server, path_prefix, tmp_path):
    p = path_prefix
    commands = [
        f"create {p} data",
        f"create {p} data",
        f"get {p}",
        f"set {p} newdata",
        f"get -s {p}",
        f"create {p}/y",
        f"create -e {p}/e eph",
        f"create -s {p}/s- seq",
        f"ls {p}",
        f"stat {p}",
        f"delete {p}/y",
        "get /nope",
        "stat /nope",
        f"delete {p}",
        f"delete -v 7 {p}/e",
        f"ls {p}",
        "quit",
    ]
    result = subprocess.run([ZKCLI, "-server", server.hosts], input="\n".join(commands) + "\n", text=True,
                            capture_output=True, timeout=120, cwd=tmp_path,
                            env={**os.environ, "CLIENT_JVMFLAGS": "-XX:TieredStopAtLevel=1 -Xshare:auto"})
    out_lines = result.stdout.splitlines()
    assert out_lines[0] == f"Connecting to {server.hosts}"
    start = out_lines.index("WatchedEvent state:SyncConnected type:None path:null") + 1
    blocks, others = parse_stat_blocks(out_lines[start:])
    assert others == ["data", "newdata", "[e, s-0000000002, y]", "[e, s-0000000002]", "",
                      "WATCHER::", "", "WatchedEvent state:Closed type:None path:null"], result.stdout
    assert len(blocks) == 2
    get_stat, dir_stat = blocks
    assert (get_stat["dataVersion"], get_stat["dataLength"], get_stat["numChildren"]) == ("1", "7", "0")
    assert (get_stat["cversion"], get_stat["aclVersion"], get_stat["ephemeralOwner"]) == ("0", "0", "0x0")
    assert get_stat["pZxid"] == get_stat["cZxid"]
    assert int(get_stat["mZxid"], 16) > int(get_stat["cZxid"], 16)
    assert re.fullmatch(r"\w{3} \w{3} \d{2} \d{2}:\d{2}:\d{2} \w+ \d{4}", get_stat["ctime"])
    assert (dir_stat["numChildren"], dir_stat["cversion"], dir_stat["dataVersion"]) == ("3", "3", "1")
    assert dir_stat["cZxid"] == get_stat["cZxid"]
    assert int(dir_stat["pZxid"], 16) > int(dir_stat["mZxid"], 16)

    err_lines = [line for line in result.stderr.splitlines() if not line.startswith("SLF4J:")]
    assert err_lines == [
        f"Created {p}",
        f"Node already exists: {p}",
        f"Created {p}/y",
        f"Created {p}/e",
        f"Created {p}/s-0000000002",
        "Node does not exist: /nope",
        "Node does not exist: /nope",
        f"Node not empty: {p}",
        f"version No is not valid : {p}/e",
    ], result.stderr
    assert result.returncode == 0


@pytest.mark.skipif(not os.path.exists(ZKCLI), reason="zkCli.sh is not installed")
def test_zkcli_single_command(server, zk, path_prefix, tmp_path):
    zk.create(path_prefix, b"hello world")
    result = subprocess.run([ZKCLI, "-server", server.hosts, "get", path_prefix], text=True, capture_output=True,
                            timeout=120, cwd=tmp_path, stdin=subprocess.DEVNULL,
                            env={**os.environ, "CLIENT_JVMFLAGS": "-XX:TieredStopAtLevel=1 -Xshare:auto"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "hello world"


def cli_mt(server, command: str) -> str:
    result = subprocess.run([CLI_MT, "-h", server.hosts, "-c", command], capture_output=True, text=True,
                            timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == f"Batch mode: {command}"
    assert "Watcher SESSION_EVENT state = CONNECTED_STATE" in lines
    assert any(re.fullmatch(r"Got a new session id: 0x[0-9a-f]+", line) for line in lines)
    return result.stderr


def stat_fields(text: str) -> dict:
    """The C client's stat dump: czxid/mzxid in hex without 0x, versions in decimal."""
    fields = dict(re.findall(r"\t(czxid|mzxid|version|aversion)=([0-9a-f]+)", text))
    owner = re.search(r"\tephemeralOwner = ([0-9a-f]+)", text)
    fields["ephemeralOwner"] = owner.group(1) if owner else None
    return fields


@pytest.mark.skipif(not os.path.exists(CLI_MT), reason="cli_mt is not installed")
def test_cli_mt_everyday_commands(server, zk, path_prefix):
    p = path_prefix
    out = cli_mt(server, f"create {p}")
    assert f"[{p}]: rc = 0\n\tname = {p}\n" in out
    assert "rc = -110" in cli_mt(server, f"create {p}")
    assert zk.get(p)[0] == b"new"  # cli_mt's create always stores "new"

    out = cli_mt(server, f"get {p}")
    assert f"{p}: rc = 0\n value_len = 3\nnew\nStat:\n" in out
    created = stat_fields(out)
    assert created["version"] == "0" and created["czxid"] == created["mzxid"] and created["ephemeralOwner"] == "0"

    out = cli_mt(server, f"set {p} newdata")
    assert f"{p}: rc = 0 Stat:\n" in out
    changed = stat_fields(out)
    assert changed["version"] == "1" and changed["czxid"] == created["czxid"]
    assert int(changed["mzxid"], 16) > int(created["mzxid"], 16)
    assert "value_len = 7\nnewdata\n" in cli_mt(server, f"get {p}")

    assert f"[{p}/y]: rc = 0\n\tname = {p}/y\n" in cli_mt(server, f"create {p}/y")
    assert f"\tname = {p}/s0000000001\n" in cli_mt(server, f"create +s {p}/s")
    out = cli_mt(server, f"create2 {p}/z")
    assert f"\tname = {p}/z\n" in out and stat_fields(out)["version"] == "0"
    assert f"[{p}/e]: rc = 0" in cli_mt(server, f"create +e {p}/e")

    out = cli_mt(server, f"ls {p}")
    assert f"{p}: rc = 0\n" in out
    assert sorted(re.findall(r"^\t(\S+)$", out, re.MULTILINE)) == ["s0000000001", "y", "z"]  # e went with its session
    out = cli_mt(server, f"ls2 {p}")
    assert sorted(re.findall(r"^\t([a-z0-9]+)$", out, re.MULTILINE)) == ["s0000000001", "y", "z"]
    assert stat_fields(out)["version"] == "1"

    assert f"{p}/y: rc = 0\n" in cli_mt(server, f"delete {p}/y")
    assert f"{p}: rc = -111\n" in cli_mt(server, f"delete {p}")
    assert f"{p}/missing: rc = -101\n" in cli_mt(server, f"get {p}/missing")
    assert f"{p}/missing: rc = -101\n" in cli_mt(server, f"delete {p}/missing")
    assert f"{p}/missing: rc = -101 Stat:\nnull\n" in cli_mt(server, f"set {p}/missing x")
    assert "rc = 0" in cli_mt(server, f"create +c {p}/container")
    assert "rc = 0" in cli_mt(server, f"create +t=60000 {p}/ttl")
    assert sorted(zk.get_children(p)) == ["container", "s0000000001", "ttl", "z"]
