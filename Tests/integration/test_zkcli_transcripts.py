"""Transcript tests for zk-cli: the same command sequences through Apache's zkCli.sh (Debian's 3.8) and through our
zk-cli, against the same server (both servers), must print the same lines on stdout and on stderr (times, zxids and
session ids aside) and exit with the same status.

Interactive sessions feed their commands on stdin (not a terminal: zkCli.sh says "JLine support is disabled" and
prints no prompt); one-command runs pass the command as arguments. Before each run the test's subtree is wiped, so
both clients see the same tree (sequence numbers included). Each interactive transcript starts with a command that
needs the server. zkCli.sh prints watch events from its event thread, racing with the main thread's output, so the
events are compared as a sequence of their own (see `split_events`), and transcripts never print to stdout right
after `close`, never switch `printwatches` while an event may be on its way, and do not depend on the Closed event
printed at `quit` (the JVM may exit first).

zk-cli: $ZK_CLI_BIN, else `swift build --show-bin-path`/zk-cli (tests skip if it has not been built).
"""

from __future__ import annotations

import difflib
import os
import pty
import re
import select
import socket
import subprocess
import time
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError, NoNodeError

ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"
REPO = Path(__file__).resolve().parents[2]
JVM_ENV = {"CLIENT_JVMFLAGS": "-XX:TieredStopAtLevel=1 -Xshare:auto"}
RUN_TIMEOUT_SECONDS = 120


def find_zk_cli() -> str | None:
    configured = os.environ.get("ZK_CLI_BIN")
    if configured:
        return configured
    try:
        bin_path = subprocess.run(["swift", "build", "--show-bin-path"], cwd=REPO, capture_output=True, text=True,
                                  timeout=120).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    candidate = Path(bin_path) / "zk-cli"
    return str(candidate) if candidate.exists() else None


ZK_CLI = find_zk_cli()

pytestmark = [
    pytest.mark.skipif(not os.path.exists(ZKCLI), reason="zkCli.sh is not installed"),
    pytest.mark.skipif(ZK_CLI is None or not os.path.exists(ZK_CLI), reason="zk-cli is not built (set ZK_CLI_BIN)"),
]


# --- running and normalizing -------------------------------------------------------------------------------------

class Run:
    """One client run: exit status, stderr, and stdout split into the main thread's lines and the watch events."""

    def __init__(self, returncode: int, raw_stdout: list[str], stderr: list[str], interactive: bool):
        self.returncode, self.raw_stdout, self.stderr, self.interactive = returncode, raw_stdout, stderr, interactive
        self.stdout, self.events = split_events(raw_stdout)

    def __repr__(self) -> str:
        return (f"<rc={self.returncode}\n--- stdout\n" + "\n".join(self.raw_stdout)
                + "\n--- stderr\n" + "\n".join(self.stderr) + ">")


STAT_ZXID = re.compile(r"^(cZxid|mZxid|pZxid) = 0x[0-9a-f]+$")
STAT_TIME = re.compile(r"^(ctime|mtime) = \w{3} \w{3} \d{2} \d{2}:\d{2}:\d{2} \w+ \d{4}$")
# A session id (an ephemeral node's owner); 0x0, TTL owners (0xff00…) and containers (0x8000…) are kept.
SESSION_OWNER = re.compile(r"^ephemeralOwner = 0x(?!0$|ff0000|8000000000000000$)[0-9a-f]+$")
VERSION_LINE = re.compile(r"^ZooKeeper CLI version: .*$")
CONNECTED_EVENT = "WatchedEvent state:SyncConnected type:None path:null"
CLOSED_EVENT = "WatchedEvent state:Closed type:None path:null"


def normalize(line: str) -> str:
    line = STAT_ZXID.sub(r"\1 = 0x<zxid>", line)
    line = STAT_TIME.sub(r"\1 = <date>", line)
    line = SESSION_OWNER.sub("ephemeralOwner = 0x<session>", line)
    return VERSION_LINE.sub("ZooKeeper CLI version: <version>", line)


def split_events(lines: list[str]) -> tuple[list[str], list[str]]:
    """zkCli.sh prints watch events from the session's event thread (`printMessage`: "\\nWATCHER::" then
    "\\nWatchedEvent …", each println atomic) while the main thread goes on with the next command, so where the
    events land among the commands' lines is a race in zkCli.sh (under load an event comes after the next command's
    output, the first SyncConnected between "Welcome to ZooKeeper!" and "JLine support is disabled"). Compare the
    main thread's lines and the events, each in order, separately."""
    main, events = [], []
    for line in lines:
        if line == "WATCHER::" or line.startswith("WatchedEvent "):
            if main and main[-1] == "":
                main.pop()  # the println's leading newline
            if line != "WATCHER::":
                events.append(line)
        else:
            main.append(line)
    return main, events


def run_client(command: list[str], stdin: str | None, cwd: Path, env: dict | None = None) -> Run:
    result = subprocess.run(command, input=stdin if stdin is not None else "", text=True, capture_output=True,
                            timeout=RUN_TIMEOUT_SECONDS, cwd=cwd, env={**os.environ, **JVM_ENV, **(env or {})})
    stdout = [normalize(line) for line in result.stdout.split("\n")]
    # The Java client's SLF4J warnings and the stack trace of an uncaught exception are not part of the contract
    # (its first line, "Exception in thread "main" …", is).
    stderr = [normalize(line) for line in result.stderr.split("\n")
              if not line.startswith("SLF4J:") and not line.startswith("\tat ")]
    return Run(result.returncode, stdout, stderr, interactive=stdin is not None)


def java(args: list[str], stdin: str | None, cwd: Path) -> Run:
    return run_client([ZKCLI, *args], stdin, cwd)


def swift(args: list[str], stdin: str | None, cwd: Path, env: dict | None = None) -> Run:
    return run_client([ZK_CLI, *args], stdin, cwd, {"ZKCLI_COMPAT": "", **(env or {})})


def diff(name: str, want: list[str], got: list[str]) -> str:
    return f"{name} differs:\n" + "\n".join(difflib.unified_diff(want, got, "zkCli.sh", "zk-cli", lineterm=""))


def assert_same(expected: Run, actual: Run) -> None:
    """Same stdout (main thread), stderr and exit status; in a session also the same watch events. With one command
    zkCli.sh exits right after it, often before its event thread printed anything, and after `quit` it may exit
    before printing the Closed event: there the events are not compared (zk-cli's are checked by the tests)."""
    problems = []
    if expected.stdout != actual.stdout:
        problems.append(diff("stdout", expected.stdout, actual.stdout))
    if expected.stderr != actual.stderr:
        problems.append(diff("stderr", expected.stderr, actual.stderr))
    if expected.interactive:
        want, got = expected.events, actual.events
        if got[-1:] == [CLOSED_EVENT] and want[-1:] != [CLOSED_EVENT]:
            got = got[:-1]
        if want != got:
            problems.append(diff("watch events", want, got))
    if expected.returncode != actual.returncode:
        problems.append(f"exit status: zkCli.sh {expected.returncode}, zk-cli {actual.returncode}")
    assert not problems, "\n\n".join(problems) + f"\n\nzkCli.sh: {expected!r}\nzk-cli: {actual!r}"


class Wiper:
    """Deletes a test's subtree between the two runs (also nodes whose ACL hides their children, by deleting them
    blind, and digest-protected ones, with the digest the transcripts use)."""

    def __init__(self, hosts: str):
        self.client = KazooClient(hosts=hosts, timeout=15, auth_data=[("digest", "user:pass")])
        self.client.start(timeout=15)

    def wipe(self, path: str) -> None:
        try:
            children = self.client.get_children(path)
        except NoAuthError:
            children = []
        except NoNodeError:
            return
        for child in children:
            self.wipe(path.rstrip("/") + "/" + child)
        try:
            self.client.delete(path)
        except NoNodeError:
            pass

    def close(self) -> None:
        self.client.stop()
        self.client.close()


@pytest.fixture
def wiper(server):
    instance = Wiper(server.hosts)
    yield instance
    instance.close()


def compare(server, wiper, tmp_path, args: list[str], stdin: str | None = None, wipe: tuple[str, ...] = ()) -> Run:
    """Runs zkCli.sh and zk-cli with the same arguments and input on a freshly wiped subtree; returns zk-cli's run."""
    runs = []
    for client in (java, swift):
        for path in wipe:
            wiper.wipe(path)
        runs.append(client(["-server", server.hosts, *args], stdin, tmp_path))
    assert_same(*runs)
    return runs[1]


def script(*lines: str) -> str:
    return "".join(line + "\n" for line in lines)


# --- interactive transcripts -------------------------------------------------------------------------------------

def test_nodes_transcript(server, wiper, path_prefix, tmp_path):
    p = path_prefix
    commands = script(
        "ls /zookeeper",
        f"create {p}",
        f"create {p} again",
        f"create {p}/a hello",
        f"create {p}/b",
        f"create -e {p}/e eph",
        f"create -s {p}/s- one",
        f"create -s {p}/s- two",
        f"create -s -e {p}/es-",
        f"ls {p}",
        f"ls -s {p}",
        f"get {p}/a",
        f"get -s {p}/a",
        f"get {p}/b",
        f"set {p}/a world",
        f"set -s {p}/a again",
        f"set -v 99 {p}/a nope",
        f"stat {p}/a",
        f"stat {p}/e",
        f"stat {p}/missing",
        f"get {p}/missing",
        f"create {p}/missing/child x",
        f"create {p}/e/child",
        f"getAllChildrenNumber {p}",
        f"getEphemerals {p}",
        "getEphemerals",
        f"sync {p}",
        f"delete {p}",
        f"delete -v 7 {p}/b",
        f"delete {p}/b",
        f"create -c {p}/container",
        f"create -t 60000 {p}/ttl x",
        f"create -s -t 60000 {p}/ttls- x",
        f"stat {p}/ttl",
        f"create \"{p}/with space\" \"two words\"",
        f"get '{p}/with space'",
        f"create {p}/tree",
        f"create {p}/tree/x",
        f"create {p}/tree/x/y",
        f"create {p}/tree/z",
        f"ls -R {p}",
        f"deleteall -b 1 {p}/tree",
        f"deleteall {p}/tree",
        f"ls {p}",
        "history",
        "redo 10",
        "redo 999",
        f"get {p}/a",
        "history",
        "quit",
        "ls /",
    )
    run = compare(server, wiper, tmp_path, [], commands, wipe=(p,))
    assert run.returncode == 0
    assert "JLine support is disabled" in run.stdout and "Welcome to ZooKeeper!" in run.stdout
    assert f"Created {p}/es-0000000005" in run.stderr  # the sequence numbers really are compared


def test_errors_transcript(server, wiper, path_prefix, tmp_path):
    p = path_prefix
    commands = script(
        f"create {p} x",
        "create",
        f"create -x {p}",
        "get",
        "get -s",
        f"set {p}",
        "delete -v",
        "ls",
        f"setAcl {p}",
        "addWatch",
        f"addWatch -m bogus {p}",
        "stat",
        "getAcl",
        "sync",
        "listquota",
        f"setquota {p}",
        f"setquota -n 1 -b 2 {p}",
        "delquota",
        "addauth",
        "getAllChildrenNumber",
        "redo 99",
        "redo",
        "version x",
        "version",
        "printwatches",
        "printwatches off",
        "printwatches",
        "printwatches on",
        "printwatches",
        "foo bar",
        "help",
        "   ",
        f"create -c -s {p}/c",
        f"create -t abc {p}/t",
        f"create -t 100 -e {p}/t",
        f"create -t 100 -c {p}/t",
        f"create -t 0 {p}/t",
        "create -t",
        "create noslash",
        "create -s noslash",
        f"get {p}/",
        f"ls {p}//x",
        f"stat {p}/./x",
        "sync noslash",
        "getEphemerals noslash",
        "get -- -s",
        "get - /",
        f"get {p} watch",
        f"ls {p} watch",
        f"stat {p} watch",
        f"ls -? {p}",
        f"get -sw {p}",
        f"set -v5 {p} x",
        f"set -v=1 {p} y",
        f"set -v -1 {p} z",
        f"create {p}/child",
        f"delete {p}/child 0",
        f"create {p}/q x",
        f"get {p}/q",
        "history",
        "quit",
    )
    run = compare(server, wiper, tmp_path, [], commands, wipe=(p,))
    assert "org.apache.commons.cli.MissingArgumentException: Missing argument for option: v" in run.stderr
    assert run.returncode == 0


def test_crash_transcript(server, wiper, path_prefix, tmp_path):
    """zkCli.sh dies on an uncaught NumberFormatException (exit 1, the rest of the input unread)."""
    p = path_prefix
    commands = script(f"create {p} x", f"set -v abc {p} y", f"get {p}")
    run = compare(server, wiper, tmp_path, [], commands, wipe=(p,))
    assert run.returncode == 1
    assert 'Exception in thread "main" java.lang.NumberFormatException: For input string: "abc"' in run.stderr


def test_acl_transcript(server, wiper, path_prefix, tmp_path):
    p = path_prefix
    commands = script(
        f"create {p}",
        f"create {p}/bogus x bogus",
        f"create {p}/noperm x world:anyone:xyz",
        f"create {p}/digestbad x digest:foo",
        f"getAcl {p}/noperm",
        f"get {p}/noperm",
        f"create {p}/multi x ip:1.2.3.4:r,world:anyone:cdrwa",
        f"getAcl -s {p}/multi",
        f"create {p}/auth x auth::crwda",
        "addauth digest user:pass",
        f"create {p}/auth x auth::crwda",
        f"getAcl {p}/auth",
        "whoami",
        f"create {p}/ro x world:anyone:r",
        f"set {p}/ro y",
        f"create {p}/ro/child",
        f"setAcl {p}/multi world:anyone:r",
        f"setAcl -s {p}/auth digest:user:smGaoVKd/cQkjm7b88GyorAUz20=:cdrwa",
        f"setAcl {p}/multi digest:u:p:rw,bogus",
        f"getAcl {p}/multi",
        f"setAcl {p}/multi ,,,",
        f"setAcl -v 99 {p} world:anyone:cdrwa",
        f"setAcl -R {p} world:anyone:cdrwa",
        f"ls -R {p}",
        f"getAcl {p}/multi",
        "quit",
    )
    run = compare(server, wiper, tmp_path, [], commands, wipe=(p,))
    assert "'world,'anyone" in run.stdout and ": cdrwa" in run.stdout


def test_watches_transcript(server, wiper, path_prefix, tmp_path):
    p = path_prefix
    commands = script(
        f"create {p}",
        f"create {p}/x 1",
        f"create {p}/y 2",
        f"ls -w {p}",
        f"get -w {p}/x",
        f"stat -w {p}/y",
        f"stat -w {p}/new",
        f"set {p}/x newx",
        f"create {p}/q",
        f"set -s {p}/y yy",
        f"create {p}/new",
        f"removewatches {p}",
        f"removewatches {p}/y -d",
        f"get -w {p}/x",
        f"removewatches {p}/x -d",
        f"addWatch {p}",
        f"create {p}/n",
        f"set {p}/n d",
        f"delete {p}/n",
        f"addWatch -m persistent {p}/y",
        f"set {p}/y 1",
        f"removewatches {p} -a",
        f"removewatches {p}/y",
        f"addWatch {p}/x",  # the mode of the last -m sticks (zkCli keeps one AddWatchCommand)
        f"create {p}/x/sub",
        f"removewatches {p}/x",
        f"ls -R -w {p}",
        f"create {p}/x/deep",
        f"delete {p}/q",
        "config",
        "quit",
    )
    run = compare(server, wiper, tmp_path, [], commands, wipe=(p,))
    assert run.events == [
        CONNECTED_EVENT,
        f"WatchedEvent state:SyncConnected type:NodeDataChanged path:{p}/x",
        f"WatchedEvent state:SyncConnected type:NodeChildrenChanged path:{p}",
        f"WatchedEvent state:SyncConnected type:NodeDataChanged path:{p}/y",
        f"WatchedEvent state:SyncConnected type:NodeCreated path:{p}/new",
        f"WatchedEvent state:SyncConnected type:DataWatchRemoved path:{p}/x",
        f"WatchedEvent state:SyncConnected type:NodeCreated path:{p}/n",
        f"WatchedEvent state:SyncConnected type:NodeDataChanged path:{p}/n",
        f"WatchedEvent state:SyncConnected type:NodeDeleted path:{p}/n",
        f"WatchedEvent state:SyncConnected type:NodeDataChanged path:{p}/y",
        f"WatchedEvent state:SyncConnected type:PersistentWatchRemoved path:{p}",
        f"WatchedEvent state:SyncConnected type:PersistentWatchRemoved path:{p}/y",
        f"WatchedEvent state:SyncConnected type:NodeChildrenChanged path:{p}/x",  # persistent: the sticky mode
        f"WatchedEvent state:SyncConnected type:PersistentWatchRemoved path:{p}/x",
        f"WatchedEvent state:SyncConnected type:NodeChildrenChanged path:{p}/x",
        f"WatchedEvent state:SyncConnected type:NodeDeleted path:{p}/q",
        f"WatchedEvent state:SyncConnected type:NodeChildrenChanged path:{p}",
        CLOSED_EVENT,
    ], run


def test_event_positions(server, path_prefix, tmp_path):
    """zk-cli prints an event before the output of the command that caused it and before the next command's, and
    `printwatches off` keeps them quiet (zk-cli only: in zkCli.sh both are races with its event thread)."""
    p = path_prefix
    run = swift(["-server", server.hosts], script(
        f"create {p} a", f"get -w {p}", f"set -s {p} b", "printwatches off", f"get -w {p}", f"set {p} c",
        "printwatches", f"get {p}", "quit"), tmp_path)
    out = run.raw_stdout
    assert out[:7] == [f"Connecting to {server.hosts}", "Welcome to ZooKeeper!", "JLine support is disabled",
                       "", "WATCHER::", "", CONNECTED_EVENT], run
    assert out[7:12] == ["a", "", "WATCHER::", "", f"WatchedEvent state:SyncConnected type:NodeDataChanged path:{p}"]
    assert out[12] == "cZxid = 0x<zxid>"
    assert out[23:] == ["b", "printwatches is off", "c", ""], run


def test_quota_transcript(server, wiper, path_prefix, tmp_path):
    p = path_prefix
    q = f"/zookeeper/quota{p}"
    commands = script(
        f"create {p}",
        f"create {p}/q",
        f"create {p}/q/a",
        f"setquota -n 5 {p}/q",
        f"ls -R {q}",
        f"get {q}/q/zookeeper_limits",
        f"listquota {p}/q",
        f"setquota -b 100 {p}/q",
        f"listquota {p}/q",
        f"setquota -N 1 {p}/q",
        f"listquota {p}/q",
        f"setquota -B 1 {p}/q",
        f"setquota -n 2 {p}/q/a",
        f"setquota -n 2 {p}",
        "setquota -n 2 /",
        f"setquota -n 0 {p}/q",
        f"setquota -n abc {p}/q",
        f"setquota -b -1 {p}/q",
        "setquota -n 2 /zookeeper/quota/x",
        f"setquota -n 2 {p}/nope",
        f"create {p}/q/b",
        f"delquota -n {p}/q",
        f"listquota {p}/q",
        f"delquota {p}/q",
        f"listquota {p}/q",
        f"delquota {p}/q",
        f"listquota {p}/nope",
        f"ls {q}",
        "quit",
    )
    run = compare(server, wiper, tmp_path, [], commands, wipe=(p, q))
    assert f"absolute path is {q}/q/zookeeper_limits" in run.stderr


def test_reconnect_transcript(server, wiper, path_prefix, tmp_path):
    p = path_prefix
    commands = script(
        "ls /zookeeper",
        f"get {p}/nope",
        "close",
        "connect",
        "ls /zookeeper",
        f"create -e {p}",
        "close",
        f"connect {server.hosts}",
        f"stat {p}",
        f"get {p}/nope",
        "quit",
    )
    run = compare(server, wiper, tmp_path, [], commands, wipe=(p,))
    assert run.returncode == 1  # quit exits with the status of the command before it


def test_eof_exit_status(server, wiper, path_prefix, tmp_path):
    """At the end of the input zkCli.sh exits, without closing the session, with the last command's status."""
    p = path_prefix
    run = compare(server, wiper, tmp_path, [], script("ls /zookeeper", f"get {p}"), wipe=(p,))
    assert run.returncode == 1


# --- one command per run ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, status", [
    (["ls", "/zookeeper"], 0),
    (["get", "/no/such/node"], 1),
    (["stat", "/zookeeper"], 0),
    (["create"], 1),
    (["frobnicate", "x"], 127),
    (["close"], 0),
    (["get", "relative"], 1),
    (["create", "/zkcli-bad-acl", "x", "world:anyone"], 1),
], ids=["ls", "get-missing", "stat", "missing-argument", "unknown-command", "close", "bad-path", "bad-acl"])
def test_one_command(server, wiper, tmp_path, args, status):
    run = compare(server, wiper, tmp_path, args)
    assert run.returncode == status
    # zk-cli prints the connection event exactly when the command went to the server, before its output.
    reached_server = args[0] in ("ls", "stat", "close") or args == ["get", "/no/such/node"]
    assert (run.raw_stdout[1:5] == ["", "WATCHER::", "", CONNECTED_EVENT]) == reached_server, run.raw_stdout


def test_one_command_create_and_get(server, wiper, path_prefix, tmp_path):
    p = path_prefix
    compare(server, wiper, tmp_path, ["create", p, "hello world"], wipe=(p,))
    run = compare(server, wiper, tmp_path, ["get", "-s", p])
    assert "hello world" in run.stdout


def test_compat_34_get_prints_the_stat(server, wiper, path_prefix, tmp_path):
    """zkCli 3.4's `get path` (the Kubernetes tutorial's `zkCli.sh get /hello`) = zkCli 3.8's `get -s path`."""
    p = path_prefix
    wiper.client.create(p, b"world")
    expected = java(["-server", server.hosts, "get", "-s", p], None, tmp_path)
    compat = swift(["-server", server.hosts, "-compat", "3.4", "get", p], None, tmp_path)
    assert_same(expected, compat)
    wrapper = run_client([str(REPO / "scripts" / "zkCli.sh"), "-server", server.hosts, "get", p], None, tmp_path,
                         {"ZK_CLI_BIN": ZK_CLI, "ZKCLI_COMPAT": "3.4"})
    assert_same(expected, wrapper)
    assert "world" in expected.stdout and any(line.startswith("cZxid = ") for line in expected.stdout)
    # Without the variable (or under another name), 3.8's behaviour: the data only.
    plain = run_client([str(REPO / "scripts" / "zkCli.sh"), "-server", server.hosts, "get", p], None, tmp_path,
                       {"ZK_CLI_BIN": ZK_CLI, "ZKCLI_COMPAT": ""})
    assert_same(java(["-server", server.hosts, "get", p], None, tmp_path), plain)
    direct = swift(["-server", server.hosts, "get", p], None, tmp_path, {"ZKCLI_COMPAT": "3.4"})
    assert not any(line.startswith("cZxid = ") for line in direct.stdout)


def test_compat_34_set_takes_a_positional_version_and_prints_the_stat(server, wiper, path_prefix, tmp_path):
    """zkCli 3.4's `set path data [version]` = zkCli 3.8's `set -s -v version path data`."""
    p = path_prefix
    wiper.client.create(p, b"v0")
    expected = java(["-server", server.hosts, "set", "-s", "-v", "0", p, "v1"], None, tmp_path)
    compat = swift(["-server", server.hosts, "-compat", "3.4", "set", p, "v2", "1"], None, tmp_path)
    assert any(line == "dataVersion = 1" for line in expected.stdout), expected
    assert any(line == "dataVersion = 2" for line in compat.stdout), compat
    assert [line.split(" = ")[0] for line in compat.stdout if " = " in line] == \
        [line.split(" = ")[0] for line in expected.stdout if " = " in line]
    stale = swift(["-server", server.hosts, "-compat", "3.4", "set", p, "v3", "0"], None, tmp_path)
    assert f"version No is not valid : {p}" in stale.stderr


def test_not_connected_after_close(server, tmp_path):
    """After `close` every command says "Not connected", also after a local command like history (zk-cli only:
    zkCli.sh prints the Closed event from another thread, racing with these lines)."""
    run = swift(["-server", server.hosts], script("ls /zookeeper", "close", "ls /", "history"), tmp_path)
    assert run.raw_stdout[-11:] == ["", "WATCHER::", "", CLOSED_EVENT, "Not connected",
                                "0 - ls /zookeeper", "1 - close", "2 - ls /", "3 - history", "Not connected", ""], run
    assert run.returncode == 0


# --- without a server -------------------------------------------------------------------------------------------

def dead_address() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize("args", [
    ["-server", "DEAD", "ls", "/"],
    ["-server", "DEAD", "-timeout", "3000", "get", "/a"],
    ["-server", "DEAD", "sync", "/"],
    ["-server", "DEAD", "create"],
    ["-server", "nosuchhost.invalid:2181", "ls", "/"],
    ["-server", "foo:bar", "ls", "/"],
    ["-server", "127.0.0.1:2181/chroot/", "ls", "/"],
    ["-server", ",", "ls", "/"],
    ["-server", "DEAD", "-timeout", "abc", "ls", "/"],
    ["-server", "DEAD", "history"],
    ["-server"],
], ids=["connection-loss", "timeout", "sync", "usage", "unknown-host", "bad-port", "bad-chroot", "no-hosts",
        "bad-timeout", "history", "missing-server"])
def test_without_server(tmp_path, args):
    address = dead_address()
    args = [address if arg == "DEAD" else arg for arg in args]
    stdin = script("ls /", "get /a") if args == ["-server"] else None
    if args == ["-server"]:
        # That is localhost:2181, where nothing listens in the test environment; if something does, skip.
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", 2181)) == 0:
                pytest.skip("something listens on localhost:2181")
    assert_same(java(args, stdin, tmp_path), swift(args, stdin, tmp_path))


def test_interactive_without_server(tmp_path):
    commands = script("ls /", "get /a", "history", "printwatches", "redo 0")
    address = dead_address()
    assert_same(java(["-server", address], commands, tmp_path), swift(["-server", address], commands, tmp_path))


# --- the terminal ------------------------------------------------------------------------------------------------

def test_terminal_prompt_and_editing(server, path_prefix):
    """On a terminal: JLine's banner, the prompt with the state and the command number, line editing, history."""
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execv(ZK_CLI, [ZK_CLI, "-server", server.hosts])
        finally:
            os._exit(127)
    output = b""

    def read_until(needle: bytes, timeout: float = 15.0) -> bytes:
        nonlocal output
        deadline = time.monotonic() + timeout
        while needle not in output:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{needle!r} not seen; output so far: {output!r}")
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"{needle!r} not seen before EOF; output: {output!r}")
                output += chunk
        return output

    try:
        prompt = f"[zk: {server.hosts}(CONNECTED) 0] ".encode()
        read_until(b"JLine support is enabled")
        read_until(prompt)
        # Type "crate", go left 3, insert "e" → "create"; ctrl-E, then the path.
        os.write(fd, b"crate\x1b[D\x1b[D\x1b[De\x05 " + path_prefix.encode() + b" data\r")
        read_until(f"Created {path_prefix}".encode())
        read_until(f"[zk: {server.hosts}(CONNECTED) 1] ".encode())
        # Up arrow recalls the line; ctrl-A + ctrl-K clear it; type a get; backspace fixes a typo.
        os.write(fd, b"\x1b[A\x01\x0bget " + path_prefix.encode() + b"x\x7f\r")
        read_until(b"\r\ndata\r\n")
        os.write(fd, b"history\r")
        read_until(b"2 - history")
        os.write(fd, b"quit\r")
        read_until(b"WatchedEvent state:Closed type:None path:null")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
