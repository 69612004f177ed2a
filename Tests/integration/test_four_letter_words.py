"""Four-letter words: every command's response shape (regexes derived from Apache ZooKeeper 3.8.0's real output),
exact values where they are meaningful, and the whitelist."""

import re
import struct

import pytest

from rawzk import CreateFlags, Err

VERSION = r"\d+\.\d+\.\d+[^\n]*, built on [^\n]+"
CONNECTION = (r" /127\.0\.0\.1:\d+\[[0-9a-f]+\]\(queued=\d+,recved=\d+,sent=\d+"
              r"(,sid=0x[0-9a-f]+,lop=[A-Z]+,est=\d+,to=\d+,(lcxid=0x[0-9a-f]+,)?lzxid=0x[0-9a-f]+,"
              r"lresp=-?\d+,llat=\d+,minlat=\d+,avglat=\d+,maxlat=\d+)?\)\n")
SERVER_STATS = (r"Latency min/avg/max: \d+/\d+\.\d+/\d+\n"
                r"Received: \d+\nSent: \d+\nConnections: \d+\nOutstanding: \d+\n"
                r"Zxid: 0x[0-9a-f]+\nMode: standalone\nNode count: \d+\n")

SHAPES = {
    "ruok": r"imok",
    "isro": r"rw",
    "srvr": rf"Zookeeper version: {VERSION}\n{SERVER_STATS}",
    "stat": rf"Zookeeper version: {VERSION}\nClients:\n({CONNECTION})+\n{SERVER_STATS}",
    "conf": r"(\w+=[^\n]*\n)+",
    "cons": rf"({CONNECTION})+\n",
    "crst": r"Connection stats reset\.\n",
    "srst": r"Server stats reset\.\n",
    "dump": (r"SessionTracker dump:\nSession Sets \(\d+\)/\(\d+\):\n(\d+ expire at [^\n]+:\n(\t0x[0-9a-f]+\n)*)*"
             r"ephemeral nodes dump:\nSessions with Ephemerals \(\d+\):\n(0x[0-9a-f]+:\n(\t/[^\n]*\n)+)*"
             r"Connections dump:\nConnections Sets \(\d+\)/\(\d+\):\n"
             r"(\d+ expire at [^\n]+:\n(\tip: /127\.0\.0\.1:\d+ sessionId: 0x[0-9a-f]+\n)*)*"),
    "envi": r"Environment:\nzookeeper\.version=" + VERSION + r"\n([\w.]+=[^\n]*\n)*",
    # Metric names may contain any character of a top-level znode name (per-namespace metrics).
    "mntr": r"zk_version\t" + VERSION + r"\nzk_server_state\tstandalone\n(zk_[^\t\n]+\t[^\n]*\n)+",
    "wchs": r"\d+ connections watching \d+ paths\nTotal watches:\d+\n",
    "wchc": r"(0x[0-9a-f]+\n(\t/[^\n]*\n)*)*\n",
    "wchp": r"(/[^\n]*\n(\t0x[0-9a-f]+\n)*)*\n",
    "dirs": r"datadir_size: \d+\nlogdir_size: \d+\n",
    "gtmk": r"\d+",
    "hash": r"([0-9a-f]+: -?\d+\n)*",
}

# The metrics every monitoring script of the 3.4 era reads (zookeeper-metrics, Prometheus exporters).
MNTR_NUMERIC_KEYS = [
    "zk_avg_latency", "zk_max_latency", "zk_min_latency", "zk_packets_received", "zk_packets_sent",
    "zk_num_alive_connections", "zk_outstanding_requests", "zk_znode_count", "zk_watch_count",
    "zk_ephemerals_count", "zk_approximate_data_size", "zk_open_file_descriptor_count",
    "zk_max_file_descriptor_count",
]


def parse_indented(text: str) -> dict[str, set[str]]:
    """wchc/wchp: a header line, then tab-indented lines belonging to it; a final empty line."""
    assert text.endswith("\n\n") or text == "\n"
    groups: dict[str, set[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("\t"):
            groups[current].add(line[1:])
        elif line:
            current = line
            groups[current] = set()
    return groups


@pytest.mark.parametrize("word", sorted(SHAPES))
def test_shape(server, raw, path_prefix, word):
    # Something to report: a session with an ephemeral node and a data watch.
    assert raw.create(path_prefix, flags=CreateFlags.EPHEMERAL).ok
    assert raw.exists(path_prefix + "-watched", watch=True).err == Err.NONODE
    response = server.four_letter(word)
    assert re.fullmatch(SHAPES[word], response), f"{word} response does not match:\n{response!r}"


def test_ruok_ignores_trailing_bytes(server):
    assert server.four_letter("ruok", b"\n") == "imok"


def test_stmk_sets_and_gtmk_reads_the_trace_mask(server):
    original = int(server.four_letter("gtmk"))
    try:
        assert server.four_letter("stmk", struct.pack(">q", 42)) == "42"
        assert server.four_letter("gtmk") == "42"
    finally:
        server.four_letter("stmk", struct.pack(">q", original))
    assert server.four_letter("gtmk") == str(original)


def test_conf_values(server):
    lines = server.four_letter("conf").splitlines()
    conf = dict(line.split("=", 1) for line in lines)
    assert [line.split("=", 1)[0] for line in lines] == [
        "clientPort", "secureClientPort", "dataDir", "dataDirSize", "dataLogDir", "dataLogSize", "tickTime",
        "maxClientCnxns", "minSessionTimeout", "maxSessionTimeout", "clientPortListenBacklog", "serverId"]
    assert conf["clientPort"] == str(server.port)
    assert conf["secureClientPort"] == "-1"
    data_dir = str((server.directory / "data").resolve())
    assert conf["dataDir"] == data_dir + "/version-2"
    assert conf["dataLogDir"] == data_dir + "/version-2"
    assert conf["tickTime"] == "2000"
    assert conf["maxClientCnxns"] == "60"
    assert (conf["minSessionTimeout"], conf["maxSessionTimeout"]) == ("4000", "40000")
    assert conf["clientPortListenBacklog"] == "-1"
    assert conf["serverId"] == "0"
    assert int(conf["dataDirSize"]) >= 0 and int(conf["dataLogSize"]) >= 0


def test_envi_mentions_the_version(server):
    response = server.four_letter("envi")
    assert response.startswith("Environment:\n")
    assert re.search(r"^zookeeper\.version=\S", response, re.MULTILINE)


def test_mntr_keys(server):
    metrics = dict(line.split("\t", 1) for line in server.four_letter("mntr").splitlines())
    assert metrics["zk_server_state"] == "standalone"
    for key in MNTR_NUMERIC_KEYS:
        assert key in metrics, key
        float(metrics[key])


def test_values_on_a_fresh_server(server, server_factory):
    """Exact counts on a private server: sessions, ephemerals, watches, connections, node count, zxid."""
    private = server_factory(server.kind)
    srvr = private.four_letter("srvr")
    assert "Zxid: 0x0\n" in srvr
    nodes_before = int(re.search(r"Node count: (\d+)", srvr).group(1))
    assert private.four_letter("wchs") == "0 connections watching 0 paths\nTotal watches:0\n"
    assert private.four_letter("wchc") == "\n"
    assert private.four_letter("wchp") == "\n"

    client = private.raw()
    try:
        sid = f"0x{client.session.session_id:x}"
        assert client.create("/e", flags=CreateFlags.EPHEMERAL).ok
        assert client.exists("/x", watch=True).err == Err.NONODE
        assert client.get_data("/e", watch=True).ok

        srvr = private.four_letter("srvr")
        assert int(re.search(r"Node count: (\d+)", srvr).group(1)) == nodes_before + 1
        assert re.search(r"Zxid: 0x([0-9a-f]+)", srvr).group(1) == f"{client.last_zxid:x}"
        assert private.four_letter("wchs") == "1 connections watching 2 paths\nTotal watches:2\n"
        assert parse_indented(private.four_letter("wchc")) == {sid: {"/x", "/e"}}
        assert parse_indented(private.four_letter("wchp")) == {"/x": {sid}, "/e": {sid}}
        dump = private.four_letter("dump")
        assert f"Sessions with Ephemerals (1):\n{sid}:\n\t/e\n" in dump
        assert f"\t{sid}\n" in dump
        cons = private.four_letter("cons")
        mine = [line for line in cons.splitlines() if f"sid={sid}," in line]
        assert len(mine) == 1 and ",to=10000," in mine[0]
        assert cons.count("\n /") + 1 == 2  # our session and the cons connection itself
        metrics = dict(line.split("\t", 1) for line in private.four_letter("mntr").splitlines())
        assert metrics["zk_ephemerals_count"] == "1"
        assert metrics["zk_watch_count"] == "2"
        assert metrics["zk_znode_count"] == str(nodes_before + 1)
        assert metrics["zk_num_alive_connections"] == "2"  # our session and the mntr connection
    finally:
        client.close()


def test_four_letter_words_are_counted_as_packets(server, server_factory):
    """Apache counts each four-letter word as one packet received (before it answers, so `stat` shows
    its own connection as `[0](queued=0,recved=1,sent=0)`) and one sent (after); `zktop` reads these."""
    private = server_factory(server.kind)

    def counts(text):
        return (int(re.search(r"Received: (\d+)", text).group(1)), int(re.search(r"Sent: (\d+)", text).group(1)))
    first = private.four_letter("stat")
    assert re.search(r"^ /127\.0\.0\.1:\d+\[0\]\(queued=0,recved=1,sent=0\)$", first, re.MULTILINE), first
    private.four_letter("ruok")
    private.four_letter("srvr")
    second = private.four_letter("stat")
    received, sent = counts(first)
    # ruok, srvr and this stat received since; the first stat, ruok and srvr answered.
    assert counts(second) == (received + 3, sent + 3), (first, second)
    metrics = dict(line.split("\t", 1) for line in private.four_letter("mntr").splitlines())
    assert (int(metrics["zk_packets_received"]), int(metrics["zk_packets_sent"])) == (received + 4, sent + 4)


def test_whitelist(server, server_factory):
    restricted = server_factory(server.kind, {"4lw.commands.whitelist": "ruok, conf"})
    assert restricted.four_letter("ruok") == "imok"
    assert restricted.four_letter("conf").startswith("clientPort=")
    assert restricted.four_letter("srvr").startswith("Zookeeper version: ")  # srvr is always enabled
    for word in ("stat", "mntr", "envi", "isro", "cons", "wchs", "dump", "stmk"):
        assert restricted.four_letter(word) == f"{word} is not executed because it is not in the whitelist.\n"
