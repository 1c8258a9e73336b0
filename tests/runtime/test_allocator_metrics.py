"""`citadel allocator`'s metrics endpoint as a real process, against the stand-in control plane
and a real sandboxed node: its own series move with the deployment, and every running node's
series arrive with a ``deployment_id`` label, fetched from the node with its per-start token."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from citadel.kit.deployment_dirs import DeploymentDirs
from citadel.kit.ids import new_id
from citadel.runtime.allocator import node_hostname
from citadel.runtime.sandbox import BubblewrapSandbox
from tests.metrics.scrape import free_port, get, scrape, token_of, value
from tests.runtime.conftest import sandbox_uid
from tests.runtime.standin import StandInControlPlane, stand_in
from tests.runtime.test_allocator import PASSWORD, wait_until

CITADEL = str(Path(sys.executable).parent / "citadel")


@dataclass
class Allocating:
    plane: StandInControlPlane
    data_dir: Path
    port: int
    proc: subprocess.Popen[bytes]

    def series(self):
        return scrape(self.data_dir, self.port)

    def node(self, dep_id: str) -> httpx.Client:
        ctx = self.plane.component("gateway").client_context()
        sock = DeploymentDirs.of(self.data_dir, dep_id).socket
        return httpx.Client(
            base_url=f"https://{node_hostname(dep_id)}",
            transport=httpx.HTTPTransport(uds=str(sock), verify=ctx),
            auth=("elastic", PASSWORD),
            timeout=30,
        )


@pytest.fixture
def allocating(sandbox: BubblewrapSandbox, short_dir: Path) -> Iterator[Allocating]:
    plane = stand_in(short_dir)
    (short_dir / "run").mkdir(mode=0o700)
    endpoints = {"internal_url": plane.url, "ca_file": str(short_dir / "pki" / "ca.crt")}
    (short_dir / "run" / "endpoints.json").write_text(json.dumps(endpoints))
    port = free_port()
    env = {**os.environ, "CITADEL_ALLOCATOR_METRICS_PORT": str(port)}
    proc = subprocess.Popen(
        [
            CITADEL,
            "allocator",
            "--data-dir",
            str(short_dir),
            "--interval",
            "0.1",
            "--log-level",
            "debug",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: (short_dir / "keys" / "metrics.token").exists())
        wait_until(lambda: _answers(short_dir, port))
        yield Allocating(plane, short_dir, port, proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        plane.stop()


def _answers(data_dir: Path, port: int) -> bool:
    try:
        return get(data_dir, port).status_code == 401
    except httpx.TransportError:
        return False


def start(allocating: Allocating) -> str:
    dep_id = new_id()
    allocating.plane.allocate(dep_id, sandbox_uid(), password=PASSWORD)
    wait_until(
        lambda: (allocating.plane.last_report(dep_id) or {}).get("observed_state") == "running"
    )
    return dep_id


def test_the_endpoint_wants_the_token_and_serves_only_metrics(allocating: Allocating) -> None:
    data_dir, port = allocating.data_dir, allocating.port
    refused = get(data_dir, port)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert get(data_dir, port, token="not-the-token").status_code == 401
    assert get(data_dir, port, "/elsewhere", token=token_of(data_dir)).status_code == 404
    assert oct((data_dir / "keys" / "metrics.token").stat().st_mode & 0o777) == "0o600"


def test_a_deployment_moves_the_state_gauge_and_its_node_series_arrive_labelled(
    allocating: Allocating,
) -> None:
    before = allocating.series()
    assert value(before, "citadel_allocator_deployments", state="running") == 0
    dep_id = start(allocating)
    running = allocating.series()
    assert value(running, "citadel_allocator_deployments", state="running") == 1
    assert value(running, "citadel_allocator_control_plane_reachable") == 1
    assert value(running, "citadel_allocator_node_metrics_up", deployment_id=dep_id) == 1
    assert value(running, "citadel_node_documents", deployment_id=dep_id) == 0

    with allocating.node(dep_id) as node:
        assert node.put("/books/_doc/1?refresh=true", json={"t": "Dune"}).status_code == 201
    after = allocating.series()
    assert value(after, "citadel_node_documents", deployment_id=dep_id) == 1
    indexed = {"operation": "index", "outcome": "ok", "deployment_id": dep_id}
    assert value(after, "citadel_node_operations_total", **indexed) == 1
    assert value(after, "citadel_allocator_key_checks_total", outcome="ok") >= 1


def test_a_killed_node_counts_a_restart_and_starts_with_the_allocators_log_level(
    allocating: Allocating,
) -> None:
    dep_id = start(allocating)
    pid = _node_pid(dep_id)
    assert "--log-level\0debug" in Path(f"/proc/{pid}/cmdline").read_text()
    restarts = "citadel_allocator_node_restarts_total"
    assert value(allocating.series(), restarts, deployment_id=dep_id) is None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: allocating.plane.last_report(dep_id)["observed_state"] == "restarting")
    wait_until(lambda: allocating.plane.last_report(dep_id)["observed_state"] == "running")
    series = allocating.series()
    assert value(series, restarts, deployment_id=dep_id) == 1
    assert value(series, "citadel_allocator_node_metrics_up", deployment_id=dep_id) == 1


def _node_pid(dep_id: str) -> int:
    """The sandboxed node's host pid (its --node-name carries the deployment id)."""
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_text()
        except OSError:
            continue
        ours = "citadel.node" in argv and f"node-{dep_id[:8]}" in argv
        if entry.name.isdigit() and ours and "bwrap" not in argv.split("\0")[0]:
            return int(entry.name)
    raise AssertionError("no node process")
