"""Helpers for the container tests: the image under test ($ZK_IMAGE, built by scripts/build-image in
scripts/test), podman, and scripts/local-statefulset driven as a user drives kubectl.

Container tests are skipped when ZK_IMAGE is not set (a developer running pytest by hand without an
image); scripts/test always builds the image and sets it, so CI runs them.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.retry import KazooRetry

from conftest import wait_until

REPO = Path(__file__).resolve().parents[2]
LOCAL_STATEFULSET = REPO / "scripts" / "local-statefulset"
IMAGE = os.environ.get("ZK_IMAGE") or None


def require_image() -> str:
    if not IMAGE:
        pytest.skip("ZK_IMAGE is not set (scripts/test builds the image and sets it)")
    return IMAGE


def podman(*args: str, timeout: float = 120, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, check=check)


class StatefulSet:
    """One local StatefulSet (`scripts/local-statefulset`), with its controller running in the background."""

    def __init__(self, state_dir: Path, prefix: str, subnet: str, image: str):
        self.state_dir, self.prefix, self.subnet, self.image = state_dir, prefix, subnet, image
        # Probes as the manifest has them, but every 0.2 s from the start: the tests wait for
        # conditions, and a 10 s period would only make them slow.
        self.globals = ["--image", image, "--prefix", prefix, "--subnet", subnet, "--state-dir", str(state_dir),
                        "--probe-delay", "0", "--probe-period", "0.2", "--restart-backoff", "0.5",
                        "--timeout", "180"]
        self.controller: subprocess.Popen | None = None
        self.controller_log = state_dir / "controller.log"

    def cli(self, *args: str, timeout: float = 240, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, str(LOCAL_STATEFULSET), *self.globals, *args],
                                capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"local-statefulset {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}\ncontroller log:\n{self.log_tail()}")
        return result

    def up(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.controller_log, "a")
        self.controller = subprocess.Popen([sys.executable, str(LOCAL_STATEFULSET), *self.globals, "up"],
                                           stdout=log, stderr=subprocess.STDOUT)
        wait_until(lambda: (self.state_dir / "controller.pid").exists() or self.controller.poll() is not None,
                   timeout=60, message="the controller to start")
        assert self.controller.poll() is None, self.log_tail()
        self.cli("wait-ready")
        # Ready is `ruok` (imok even before a quorum); the tests' clients need a serving ensemble.
        self.wait_serving(["zk-0", "zk-1", "zk-2"])

    def down(self) -> None:
        self.cli("down", check=False)
        if self.controller is not None:
            try:
                self.controller.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.controller.kill()
            self.controller = None

    def destroy(self) -> None:
        self.down()
        self.cli("destroy", check=False)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.controller_log.read_text().splitlines()[-lines:])
        except OSError:
            return "<no controller log>"

    def container(self, pod: str) -> str:
        return self.prefix + pod

    def status(self, pod: str) -> dict:
        return json.loads((self.state_dir / "status" / f"{pod}.json").read_text())

    def address(self, pod: str) -> str:
        return self.status(pod)["address"]

    def hosts(self, pods=("zk-0", "zk-1", "zk-2")) -> str:
        return ",".join(f"{self.address(p)}:2181" for p in pods)

    def exec(self, pod: str, *command: str, user: str = "1000", timeout: float = 60) -> subprocess.CompletedProcess:
        """`kubectl exec POD -- COMMAND`: as the container's user (uid 1000) unless told otherwise."""
        return podman("exec", "--user", user, self.container(pod), *command, timeout=timeout)

    def logs(self, pod: str) -> str:
        result = podman("logs", self.container(pod))
        return result.stdout + result.stderr

    def wait_serving(self, pods, timeout: float = 60) -> None:
        """Until each pod's server serves (`srvr` names its mode): after a pod leaves, the others may
        be electing a leader, and a one-shot zkCli.sh then fails with ConnectionLoss, Java's as ours."""
        def serving(pod: str) -> bool:
            return "Mode: " in self.exec(pod, "sh", "-c", "echo srvr | nc 127.0.0.1 2181").stdout
        wait_until(lambda: all(serving(p) for p in pods), timeout=timeout, message=f"{pods} to serve\n{self.log_tail()}")

    def wait_restarted(self, pod: str, restarts_before: int, timeout: float = 120) -> None:
        wait_until(lambda: self.status(pod)["restarts"] > restarts_before and self.status(pod)["ready"],
                   timeout=timeout, message=f"{pod} to be restarted and Ready\n{self.log_tail()}")
        self.wait_serving([pod])


@dataclass
class WriteLoad:
    """Sequential writes from the host, retried on errors, recording what a client sees."""

    hosts: str
    prefix: str
    acknowledged: list[str] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    success_times: list[float] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        client = KazooClient(hosts=self.hosts, timeout=10, connection_retry=KazooRetry(max_tries=-1, max_delay=0.5))
        client.start(timeout=60)
        try:
            client.ensure_path(self.prefix)
            n = 0
            while not self.stop.is_set():
                path = f"{self.prefix}/w{n:06d}"
                try:
                    client.create(path, b"x")
                except Exception as error:  # noqa: BLE001 — every kind is counted
                    kind = type(error).__name__
                    if kind == "NodeExistsError":  # a retried create that had been applied
                        self.acknowledged.append(path)
                        self.success_times.append(time.monotonic())
                        n += 1
                        continue
                    self.errors[kind] = self.errors.get(kind, 0) + 1
                    time.sleep(0.05)  # pacing a retry after an error, not synchronization
                    continue
                self.acknowledged.append(path)
                self.success_times.append(time.monotonic())
                n += 1
        finally:
            client.stop()
            client.close()

    def longest_gap(self) -> float:
        times = self.success_times
        return max((b - a for a, b in zip(times, times[1:])), default=0.0)
