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


# MARK: ensembles

# Figures of Apache's leader that name its Java machinery per learner (LearnerHandler queues) or its
# JVM: none of it exists here.
APACHE_ONLY_ENSEMBLE_KEYS = ("_learner_handler_qp_size", "_learner_handler_qp_time_ms")


@pytest.fixture(scope="module")
def ensembles(tmp_path_factory):
    """An all-Apache and an all-zk-server ensemble (three voters and an observer), AdminServers on,
    the same writes through each, yielded as {kind: (ensemble, {role: sid})}."""
    from ensemble import Ensemble

    created = {}
    try:
        for kind in ("apache", "swift"):
            ensemble = Ensemble.create(tmp_path_factory.mktemp(f"admin-ensemble-{kind}"),
                                       {1: kind, 2: kind, 3: kind, 4: kind}, observers=(4,))
            for sid, member in ensemble.members.items():
                member.admin_port = free_port()
                ensemble.configure(sid, admin__enableServer="true", admin__serverAddress="127.0.0.1",
                                   admin__serverPort=str(member.admin_port))
            created[kind] = ensemble
            ensemble.start()
            leader = ensemble.wait_for_quorum()
            follower = next(sid for sid in (1, 2, 3) if sid != leader.sid)
            client = KazooClient(hosts=ensemble.connect_string([follower]), timeout=20)
            client.start(timeout=30)
            try:
                client.create("/ens/a", b"x" * 10, makepath=True)
                client.set("/ens/a", b"y")
                client.get("/ens/a", watch=lambda event: None)
            finally:
                client.stop()
                client.close()
        roles = {}
        for kind, ensemble in created.items():
            leader = ensemble.wait_for_quorum()
            follower = next(sid for sid in (1, 2, 3) if sid != leader.sid)
            roles[kind] = (ensemble, {"leader": leader.sid, "follower": follower, "observer": 4})
        yield roles
    finally:
        for ensemble in created.values():
            ensemble.stop_all()


def roles_of(ensembles, kind):
    return ensembles[kind][1]


@pytest.mark.parametrize("role", ["leader", "follower", "observer"])
def test_every_command_has_apaches_keys_and_types_in_an_ensemble(ensembles, role):
    answers = {}
    for kind, (ensemble, roles) in ensembles.items():
        port = ensemble.members[roles[role]].admin_port
        answers[kind] = {name: json.loads(get(port, f"/commands/{name}")[2]) for name in APACHE_COMMANDS}
    for name in APACHE_COMMANDS:
        apache, swift = answers["apache"][name], answers["swift"][name]
        assert swift.get("error") == apache.get("error"), (role, name, swift.get("error"), apache.get("error"))
        if name == "system_properties":
            continue
        if name == "environment":
            assert set(apache) <= set(swift) | {"os.memory.free", "os.memory.max", "os.memory.total"}
            continue
        if name == "monitor":
            missing = {key for key in set(apache) - set(swift) if not key.endswith(APACHE_ONLY_ENSEMBLE_KEYS)}
            assert not missing, f"{role}: Apache's monitor has {sorted(missing)}, ours does not"
            for key, value in swift.items():
                if key in OUR_OWN_MONITOR_KEYS:
                    continue
                assert key in apache, f"{role}: monitor's {key} is not one of Apache's names"
                assert shape(value) == shape(apache[key]), (role, key, value, apache[key])
            assert swift["server_state"] == apache["server_state"] and swift["peer_state"] == apache["peer_state"]
            continue
        if name == "initial_configuration":
            # Apache never hands its quorum servers the file it read (QuorumPeer keeps it), so they
            # answer null; ours answer with the file, as a standalone Apache server does.
            assert apache["initial_configuration"] is None and "server.1=" in swift["initial_configuration"]
            continue
        if name == "dump":
            # Apache's session expiry queue keeps emptied buckets until their time passes; ours drops them.
            assert set(swift) == set(apache), (role, set(swift) ^ set(apache))
            continue
        assert shape(swift) == shape(apache), f"{role} {name}:\nours   {shape(swift)}\nApache {shape(apache)}"
    # The ensemble's own views agree in value, not just in shape.
    for name in ("voting_view", "zabstate", "observers", "leader"):
        apache, swift = answers["apache"][name], answers["swift"][name]
        if name == "voting_view":
            assert sorted(swift["current_config"]) == sorted(apache["current_config"]) == ["1", "2", "3"]
            for sid, view in apache["current_config"].items():
                # The same addresses, with each ensemble's own ports.
                ports = {"apache": ensembles["apache"][0].members[int(sid)], "swift": ensembles["swift"][0].members[int(sid)]}
                expected = {key: value.replace(str(ports["apache"].quorum_port), str(ports["swift"].quorum_port))
                            .replace(str(ports["apache"].election_port), str(ports["swift"].election_port))
                            .replace(str(ports["apache"].client_port), str(ports["swift"].client_port))
                            if isinstance(value, str) else value for key, value in view.items()}
                expected["server_addresses"] = [a.replace(str(ports["apache"].quorum_port), str(ports["swift"].quorum_port))
                                                for a in view["server_addresses"]]
                expected["election_addresses"] = [a.replace(str(ports["apache"].election_port), str(ports["swift"].election_port))
                                                  for a in view["election_addresses"]]
                # Another server's client address: an Apache server knows it when that server once led
                # (the leader's configuration, with its own client address, travels in NEWLEADER), and
                # which one led first is a race. Ours knows only its own; other servers' are "".
                # So the client address is compared only for the server both ensembles' answers come from.
                queried = {kind: roles_of(ensembles, kind)[role] for kind in ("apache", "swift")}
                if int(sid) != queried["swift"] or int(sid) != queried["apache"]:
                    expected["client_address"] = swift["current_config"][sid]["client_address"]
                    assert swift["current_config"][sid]["client_address"] in ("", f"127.0.0.1:{ports['swift'].client_port}")
                assert swift["current_config"][sid] == expected, (role, sid, swift["current_config"][sid], view)
        elif name == "zabstate":
            # The same figures but each ensemble's own ports and ids; the same txns were written.
            member = {kind: ensembles[kind][0].members[ensembles[kind][1][role]] for kind in ("apache", "swift")}
            for key in ("is_leader", "voting", "last_zxid", "zab_epoch", "zab_counter", "zabstate"):
                assert swift[key] == apache[key], (role, key, swift[key], apache[key])
            assert swift["client_address"] == f"127.0.0.1:{member['swift'].client_port}"
            assert apache["client_address"] == f"127.0.0.1:{member['apache'].client_port}"
            assert swift["quorum_address"]["all_ports"] == [member["swift"].quorum_port]
            assert swift["election_address"]["one"] == f"127.0.0.1:{member['swift'].election_port}"
        elif name == "observers":
            assert swift["synced_observers"] == apache["synced_observers"] == (1 if role == "leader" else 0)
            assert [o["sid"] for o in swift["observers"]] == [o["sid"] for o in apache["observers"]]
        else:
            assert swift["is_leader"] == apache["is_leader"] == (role == "leader")
