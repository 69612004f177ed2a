"""The AdminServer: the same HTTP requests to Apache ZooKeeper 3.8's AdminServer and to ours, with the
same client activity, compared command by command: the same keys, nested the same way, with values of
the same JSON types; standalone, and on the leader, a follower and an observer of an ensemble of each kind.
"""
from __future__ import annotations

import http.client
import json
import socket

import pytest
from kazoo.client import KazooClient

from conftest import free_port, start_server, finish_server

# Every primary name Apache 3.8 lists at /commands, and the aliases it accepts.
APACHE_COMMANDS = {
    "configuration": ["conf", "config"], "connection_stat_reset": ["crst"], "connections": ["cons"], "dirs": [],
    "dump": [], "environment": ["env", "envi"], "get_trace_mask": ["gtmk"], "hash": [],
    "initial_configuration": ["icfg"], "is_read_only": ["isro"], "last_snapshot": ["lsnp"], "leader": ["lead"],
    "monitor": ["mntr"], "observer_connection_stat_reset": ["orst"], "observers": ["obsr"], "ruok": [],
    "server_stats": ["srvr"], "set_trace_mask": ["stmk"], "stat_reset": ["srst"], "stats": ["stat"],
    "system_properties": ["sysp"], "voting_view": [], "watch_summary": ["wchs"], "watches": ["wchc"],
    "watches_by_path": ["wchp"], "zabstate": [],
}
NOT_YET: set[str] = set()
# `monitor`: every one of Apache's figures under its name and type, and this one of our own.
OUR_OWN_MONITOR_KEYS = {"resident_memory_bytes"}


def get(port: int, path: str) -> tuple[int, str, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read().decode()
    finally:
        connection.close()


def shape(value):
    """The JSON value with every leaf replaced by its type, lists by the shape of their first element."""
    if isinstance(value, dict):
        # A map keyed by data (session ids, expiry times, paths) has the shape of its values.
        if value and all(key.isdigit() or key.startswith("/") for key in value):
            return {"<key>": shape(next(iter(value.values())))}
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if value is None:
        return "null"
    return "string"


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Apache and zk-server standalone, AdminServers on, each with one session holding an ephemeral."""
    servers, clients = {}, []
    try:
        for kind in ("apache", "swift"):
            admin_port = free_port()
            server = start_server(kind, tmp_path_factory.mktemp(f"admin-{kind}"), {
                "admin.enableServer": "true", "admin.serverAddress": "127.0.0.1", "admin.serverPort": str(admin_port)})
            server.admin_port = admin_port
            servers[kind] = server
            client = KazooClient(hosts=server.hosts, timeout=10)
            client.start(timeout=30)
            client.create("/admin-e", b"x", ephemeral=True)
            client.exists("/admin-w", watch=lambda event: None)
            clients.append(client)
        yield servers
    finally:
        for client in clients:
            client.stop()
            client.close()
        for server in servers.values():
            finish_server(server)


def test_the_command_list_is_a_page_of_links(pair):
    for kind, server in pair.items():
        status, content_type, body = get(server.admin_port, "/commands")
        # Apache's Jetty sends this page without a Content-Type; ours says what it is.
        assert status == 200 and (kind == "apache" or content_type.startswith("text/html")), (kind, status, content_type)
        listed = {line.split('"')[1].rsplit("/", 1)[1] for line in body.splitlines() if line.startswith("<a href=")}
        expected = set(APACHE_COMMANDS) - (NOT_YET if kind == "swift" else set())
        assert listed == expected, (kind, listed ^ expected)


@pytest.mark.parametrize("name", sorted(set(APACHE_COMMANDS) - NOT_YET))
def test_a_command_and_its_aliases_answer_with_apaches_keys_and_types(pair, name):
    for alias in [name] + APACHE_COMMANDS[name]:
        answers = {}
        for kind, server in pair.items():
            status, content_type, body = get(server.admin_port, f"/commands/{alias}")
            assert status == 200 and content_type.startswith("application/json"), (kind, alias, status)
            answers[kind] = json.loads(body)
        apache, swift = answers["apache"], answers["swift"]
        assert swift["command"] == apache["command"] == name
        assert swift.get("error") == apache.get("error"), (alias, swift.get("error"), apache.get("error"))
        if name == "system_properties":
            # Java's own properties have no counterpart here; ours is a map of strings like Apache's.
            assert all(isinstance(v, str) for k, v in swift.items() if k not in ("command", "error"))
            continue
        if name == "monitor":
            for key, value in swift.items():
                if key in OUR_OWN_MONITOR_KEYS:
                    continue
                assert key in apache, f"monitor: {key} is not one of Apache's names"
                assert shape(value) == shape(apache[key]), (key, value, apache[key])
            missing = set(apache) - set(swift)
            assert not missing, f"monitor: Apache's {sorted(missing)} are missing"
            # The same figures as our `mntr`.
            mntr_keys = {line.split("\t")[0][3:] for line in pair["swift"].four_letter("mntr").splitlines()}
            assert mntr_keys <= set(swift), f"mntr figures missing from monitor: {mntr_keys - set(swift)}"
            continue
        if name in ("environment",):
            # Apache lists JVM facts; the keys it always has must be here too.
            assert set(apache) <= set(swift) | {"os.memory.free", "os.memory.max", "os.memory.total"}
            continue
        assert shape(swift) == shape(apache), f"{alias}:\nours   {shape(swift)}\nApache {shape(apache)}"


def test_set_trace_mask_takes_its_argument_as_apache_does(pair):
    for server in pair.values():
        status, _, body = get(server.admin_port, "/commands/set_trace_mask?traceMask=42")
        assert status == 200 and json.loads(body)["tracemask"] == 42
        assert json.loads(get(server.admin_port, "/commands/gtmk")[2])["tracemask"] == 42
        missing = json.loads(get(server.admin_port, "/commands/stmk")[2])
        assert missing["error"] == "setTraceMask requires long traceMask argument"


def test_unknown_commands_and_paths(pair):
    answers = {kind: get(server.admin_port, "/commands/no_such_command") for kind, server in pair.items()}
    assert json.loads(answers["swift"][2]) == json.loads(answers["apache"][2]) == {
        "command": "no_such_command", "error": "Unknown command: no_such_command"}
    for name in NOT_YET:
        assert json.loads(get(pair["swift"].admin_port, f"/commands/{name}")[2])["error"] == f"Unknown command: {name}"
    for server in pair.values():
        assert get(server.admin_port, "/no/such/path")[0] == 404


def test_bad_requests_get_a_4xx_and_do_not_disturb_clients(pair):
    server = pair["swift"]
    for request in [b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"GET /commands HTTP/1.1\r\nX: " + b"a" * 20000]:
        with socket.create_connection(("127.0.0.1", server.admin_port), timeout=10) as s:
            s.sendall(request)
            reply = s.recv(4096)
        assert reply.startswith(b"HTTP/1.1 4") or reply.startswith(b"HTTP/1.1 505"), reply
    # Keep-alive: two requests on one connection.
    connection = http.client.HTTPConnection("127.0.0.1", server.admin_port, timeout=10)
    try:
        for _ in range(2):
            connection.request("GET", "/commands/ruok")
            assert json.loads(connection.getresponse().read())["command"] == "ruok"
    finally:
        connection.close()
    assert server.four_letter("ruok") == "imok"


def test_last_snapshot_and_initial_configuration_report_this_server(pair):
    for kind, server in pair.items():
        snapshot = json.loads(get(server.admin_port, "/commands/last_snapshot")[2])
        names = sorted((server.directory / "data" / "version-2").glob("snapshot.*"))
        assert names and snapshot["zxid"] in {name.name.split(".", 1)[1] for name in names}, (kind, snapshot, names)
        assert snapshot["timestamp"] > 1_600_000_000  # seconds, as Apache reports it
        initial = json.loads(get(server.admin_port, "/commands/icfg")[2])
        assert initial["initial_configuration"] == (server.directory / "zoo.cfg").read_text(), kind
