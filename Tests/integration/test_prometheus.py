"""Prometheus metrics (`metricsProvider.className=...PrometheusMetricsProvider`): a real Prometheus server
(Debian's) scrapes a standalone zk-server and a three-server ensemble, and its own HTTP query API must
show the series under Apache's names, types and labels; `promtool check metrics` reads our `/metrics`.

Apache's own names break two of promtool's naming lints (counters without `_total`, gauges ending in
`_count`), and dashboards query those names, so they are kept: promtool must parse everything and may
report only those two lints, only for names of Apache's registry.
"""
from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import urllib.parse

import pytest
from kazoo.client import KazooClient

from conftest import ZK_SERVER_BIN, free_port, finish_server, start_server, wait_until
from ensemble import Ensemble

PROVIDER = "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider"
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
APACHE_NAMING_LINTS = ('counter metrics should have "_total" suffix',
                       'non-histogram and non-summary metrics should not have "_count" suffix',
                       'metric names should not contain abbreviated units')

pytestmark = pytest.mark.skipif(not PROMETHEUS and not os.environ.get("CI"), reason="Debian's prometheus is not installed")


def http_get(port: int, path: str) -> tuple[int, dict, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        connection.close()


def families(text: str) -> dict[str, str]:
    """{family: type} from the text format's # TYPE lines."""
    return {line.split()[2]: line.split()[3] for line in text.splitlines() if line.startswith("# TYPE ")}


def samples(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    port = free_port()
    server = start_server("swift", tmp_path_factory.mktemp("prom-standalone"), {
        "metricsProvider.className": PROVIDER, "metricsProvider.httpHost": "127.0.0.1",
        "metricsProvider.httpPort": str(port)})
    server.metrics_port = port
    client = KazooClient(hosts=server.hosts, timeout=10)
    client.start(timeout=30)
    client.create("/app/a", b"12345", makepath=True)
    client.get("/app/a")
    client.set("/app/a", b"x")
    client.stop()
    client.close()
    yield server
    finish_server(server)


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory):
    created = Ensemble.create(tmp_path_factory.mktemp("prom-ensemble"), {1: "swift", 2: "swift", 3: "swift"})
    for sid, member in created.members.items():
        member.metrics_port = free_port()
        created.configure(sid, metricsProvider__className=PROVIDER, metricsProvider__httpHost="127.0.0.1",
                          metricsProvider__httpPort=str(member.metrics_port))
    created.start()
    try:
        created.wait_for_quorum()
        client = KazooClient(hosts=created.connect_string(), timeout=20)
        client.start(timeout=30)
        for i in range(20):
            client.create(f"/ens/n{i}", b"v", makepath=True)
        client.stop()
        client.close()
        yield created
    finally:
        created.stop_all()


def test_metrics_endpoint_speaks_the_text_format_with_apaches_names(standalone):
    status, headers, text = http_get(standalone.metrics_port, "/metrics")
    assert status == 200 and headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    types = families(text)
    values = samples(text)
    for name, kind in {"znode_count": "gauge", "packets_received": "gauge", "avg_latency": "gauge",
                       "commit_count": "counter", "bytes_received_count": "counter", "readlatency": "summary",
                       "updatelatency": "summary", "fsynctime": "summary", "snapshottime": "summary",
                       "write_per_namespace": "summary", "process_cpu_seconds_total": "counter",
                       "process_resident_memory_bytes": "gauge", "process_open_fds": "gauge"}.items():
        assert types.get(name) == kind, (name, types.get(name))
    assert values["znode_count"] == 7  # /, /zookeeper, /zookeeper/quota, /zookeeper/config, /app, /app/a ... and /app's parent
    assert values["updatelatency_count"] >= 3 and values["readlatency_count"] >= 1
    for q in ("0.5", "0.9", "0.99"):
        assert f'readlatency{{quantile="{q}",}}' in values  # ADVANCED: three quantiles, as Apache's client writes them
    assert 'fsynctime{quantile="0.5",}' in values and 'fsynctime{quantile="0.9",}' not in values  # BASIC: the median
    assert values['write_per_namespace_count{key="app",}'] == 3  # create /app, create /app/a, set /app/a
    assert values["process_resident_memory_bytes"] > 1_000_000, [l for l in text.splitlines() if "memory" in l or "fds" in l]
    # Elsewhere: Apache's servlet lives at /metrics only.
    assert http_get(standalone.metrics_port, "/nothing")[0] == 404


def test_stat_reset_does_not_make_prometheus_counters_go_down(standalone):
    before = samples(http_get(standalone.metrics_port, "/metrics")[2])
    standalone.four_letter("srst")
    after = samples(http_get(standalone.metrics_port, "/metrics")[2])
    assert after["bytes_received_count"] >= before["bytes_received_count"] > 0
    assert after["updatelatency_count"] >= before["updatelatency_count"]
    mntr = dict(line.split("\t", 1) for line in standalone.four_letter("mntr").splitlines())
    assert mntr["zk_cnt_updatelatency"] == "0", "mntr's figures start over, as Apache's default provider's do"


@pytest.mark.skipif(not PROMTOOL, reason="promtool is not installed")
def test_promtool_parses_our_metrics_and_finds_only_apaches_naming(standalone, ensemble):
    ports = [standalone.metrics_port] + [m.metrics_port for m in ensemble.members.values()]
    for port in ports:
        text = http_get(port, "/metrics")[2]
        result = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
        # 0: clean; 3: lint findings only; 1 would be a format error.
        assert result.returncode in (0, 3), result.stdout + result.stderr
        types = families(text)
        for line in (result.stdout + result.stderr).splitlines():
            name, _, problem = line.partition(" ")
            assert problem in APACHE_NAMING_LINTS and name in types, f"promtool: {line}"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory, standalone, ensemble):
    """Debian's Prometheus scraping every 200 ms: job zk-standalone (one target), job zk-ensemble (three)."""
    if not PROMETHEUS:
        pytest.fail("prometheus is not installed")
    root = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    ensemble_targets = ", ".join(f"'127.0.0.1:{m.metrics_port}'" for m in ensemble.members.values())
    (root / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 200ms\n  scrape_timeout: 150ms\n"
        "scrape_configs:\n"
        f"  - job_name: zk-standalone\n    static_configs:\n      - targets: ['127.0.0.1:{standalone.metrics_port}']\n"
        f"  - job_name: zk-ensemble\n    static_configs:\n      - targets: [{ensemble_targets}]\n")
    log = open(root / "prometheus.log", "wb")
    proc = subprocess.Popen([PROMETHEUS, f"--config.file={root / 'prometheus.yml'}", f"--storage.tsdb.path={root / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: _ready(port), timeout=60, message=f"prometheus ready\n{(root / 'prometheus.log').read_text()[-3000:]}")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _ready(port: int) -> bool:
    try:
        return http_get(port, "/-/ready")[0] == 200
    except OSError:
        return False


def query(port: int, promql: str) -> list[dict]:
    status, _, body = http_get(port, "/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
    answer = json.loads(body)
    assert status == 200 and answer["status"] == "success", body
    return answer["data"]["result"]


def series_by_instance(port: int, promql: str, count: int) -> dict[str, dict]:
    """Waits until `promql` has `count` series; returns them by instance."""
    result = wait_until(lambda: (lambda r: r if len(r) == count else None)(query(port, promql)), timeout=60,
                        interval=0.1, message=f"{count} series of {promql}: {query(port, promql)}")
    return {series["metric"]["instance"]: series for series in result}


def test_prometheus_scrapes_every_server_with_apaches_names_and_labels(prometheus, standalone, ensemble):
    instances = {f"127.0.0.1:{standalone.metrics_port}": "zk-standalone"}
    instances.update({f"127.0.0.1:{m.metrics_port}": "zk-ensemble" for m in ensemble.members.values()})
    up = series_by_instance(prometheus, "up == 1", 4)
    assert {instance: s["metric"]["job"] for instance, s in up.items()} == instances
    znodes = series_by_instance(prometheus, "znode_count", 4)
    assert all(s["metric"]["__name__"] == "znode_count" for s in znodes.values())
    assert float(znodes[f"127.0.0.1:{standalone.metrics_port}"]["value"][1]) >= 6
    # The ensemble: every member has the writes; exactly one reports leader-only gauges.
    ensemble_znodes = {float(s["value"][1]) for i, s in znodes.items() if instances[i] == "zk-ensemble"}
    assert ensemble_znodes == {4 + 1 + 20 + 1}, ensemble_znodes  # /, /zookeeper(+quota, config), /ens, 20 nodes
    assert len(series_by_instance(prometheus, "quorum_size == 3", 3)) == 3
    assert len(series_by_instance(prometheus, 'learners == 2', 1)) == 1
    # Summaries arrive as Apache's client writes them: quantile labels, _count and _sum series.
    quantiles = query(prometheus, 'readlatency{job="zk-ensemble"}')
    assert {s["metric"]["quantile"] for s in quantiles} == {"0.5", "0.9", "0.99"}
    assert len(series_by_instance(prometheus, 'updatelatency_count{job="zk-ensemble"} > 0', 1)) >= 1
    assert len(series_by_instance(prometheus, "proposal_count > 0", 1)) == 1  # the leader proposed the writes
    assert len(series_by_instance(prometheus, "learner_commit_received_count > 0", 2)) == 2
    # Metadata: Prometheus learned the types from our # TYPE lines.
    status, _, body = http_get(prometheus, "/api/v1/metadata?" + urllib.parse.urlencode({"metric": "commit_count"}))
    assert json.loads(body)["data"]["commit_count"][0]["type"] == "counter"
    status, _, body = http_get(prometheus, "/api/v1/metadata?" + urllib.parse.urlencode({"metric": "readlatency"}))
    assert json.loads(body)["data"]["readlatency"][0]["type"] == "summary"
    # A rate over a counter works (what an alert on connection rejections would use).
    assert len(series_by_instance(prometheus, 'rate(bytes_received_count{job="zk-standalone"}[5s])', 1)) == 1


def test_a_metrics_port_in_use_stops_startup_with_a_clear_error(tmp_path):
    import socket
    if not ZK_SERVER_BIN:
        pytest.skip("ZK_SERVER_BIN is not set")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "zoo.cfg"
        config.write_text(f"dataDir={tmp_path / 'data'}\nclientPort=0\nadmin.enableServer=false\n"
                          f"metricsProvider.className={PROVIDER}\nmetricsProvider.httpHost=127.0.0.1\n"
                          f"metricsProvider.httpPort={port}\n")
        result = subprocess.run([ZK_SERVER_BIN, str(config)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert f"Cannot start the /metrics endpoint on 127.0.0.1:{port}" in result.stdout + result.stderr


REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.skipif(not PROMTOOL, reason="promtool is not installed")
def test_the_alert_rules_in_the_operations_guide_are_valid(tmp_path):
    text = open(os.path.join(REPO_ROOT, "docs", "operations.md")).read()
    block = next(b for b in text.split("```yaml\n")[1:] if b.startswith("groups:"))
    rules = tmp_path / "rules.yml"
    rules.write_text(block.split("```")[0])
    result = subprocess.run([PROMTOOL, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_grafana_panel_query_runs_and_names_our_series(prometheus, standalone, ensemble):
    dashboard = json.load(open(os.path.join(REPO_ROOT, "docs", "grafana-dashboard.json")))
    ours = {"up"}
    for port in [standalone.metrics_port] + [m.metrics_port for m in ensemble.members.values()]:
        ours |= set(families(http_get(port, "/metrics")[2]))
    # Summaries' series: name_count and name_sum.
    ours |= {f"{name}_{suffix}" for name in ours for suffix in ("count", "sum")}
    import re
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = target["expr"].replace("$job", ".*").replace("$instance", ".*")
            names = set(re.findall(r"[a-z_]+(?=\{|\[| |\)|$)", expr)) - {
                "rate", "increase", "count", "max", "or", "vector", "sum", "scalar", "by", "on"}
            assert names <= ours, f"{panel['title']}: {names - ours} are not among our series"
            query(prometheus, expr)  # evaluates (an error fails inside `query`)
    # With the servers scraped, the overview's stat panels have data.
    assert query(prometheus, 'up{job=~".*"}') and query(prometheus, 'count(learners{job=~".*"}) or vector(0)')
