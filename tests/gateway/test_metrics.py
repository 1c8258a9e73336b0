"""`citadel gateway --workers 2`'s ``/metrics``: behind the platform's token, and every series
moves by exactly what both workers did (issue 16.6).

A real node behind the gateway; requests on new connections (the kernel spreads them over the
workers), then a scrape that must include both workers and count each request once.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from prometheus_client.parser import text_string_to_metric_families

from citadel.crypto.keyring import open_keyring
from citadel.crypto.providers.local import LocalKeyFile
from citadel.pki.authority import ensure_ca, issue_leaf
from tests.gateway.harness import raw_exchange, write_snapshot
from tests.node.process import CITADEL, RunningNode, Tls, free_port, start_node

DEPLOYMENT = "d0" * 16
STOPPED = "de" * 16
HOST = f"{DEPLOYMENT}.local.citadel.localhost"
PASSWORD = "metrics-test-password"
REQUESTS = 12


@dataclass
class Started:
    proc: subprocess.Popen[bytes]
    port: int
    metrics_port: int
    data_dir: Path
    ca: Path

    def scrape(self, token: str | None = None) -> httpx.Response:
        if token is None:
            token = (self.data_dir / "keys" / "metrics.token").read_text().strip()
        with httpx.Client(verify=ssl.create_default_context(cafile=str(self.ca))) as client:
            return client.get(
                f"https://127.0.0.1:{self.metrics_port}/metrics",
                headers={"Authorization": f"Bearer {token}"},
                timeout=15,
            )

    def samples(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        response = self.scrape()
        assert response.status_code == 200, response.text
        found = {}
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return found


def _pair(directory: Path, name: str, hostnames: list[str], *, client: bool, ca) -> None:
    cert, key = issue_leaf(ca[0], ca[1], hostnames, client=client)
    (directory / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / f"{name}.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Started]:
    root = tmp_path_factory.mktemp("metrics")
    data_dir = root / "data"
    keyring = open_keyring(
        data_dir / "keys" / "keyring.wrapped",
        LocalKeyFile.create_or_open(data_dir / "keys" / "platform.key"),
    )
    ca = ensure_ca(data_dir / "pki", keyring.barrier)
    material = root / "node-tls"
    material.mkdir()
    _pair(
        material, "node", [f"{DEPLOYMENT}.node.citadel.internal", "localhost"], client=False, ca=ca
    )
    _pair(material, "probe", ["probe"], client=True, ca=ca)
    tls = Tls(
        data_dir / "pki" / "ca.crt",
        material / "node.crt",
        material / "node.key",
        material / "probe.crt",
        material / "probe.key",
    )
    node: RunningNode = start_node(
        data_dir / "d" / "n", tls, elastic_password=PASSWORD, mode="unix", client_ca=True
    )
    routes = [
        {
            "id": DEPLOYMENT,
            "alias": None,
            "region": "local",
            "state": "running",
            "node_socket": str(node.unix_socket),
        },
        {
            "id": STOPPED,
            "alias": None,
            "region": "local",
            "state": "stopped",
            "node_socket": "/nonexistent/node.sock",
        },
    ]
    write_snapshot(data_dir / "gateway" / "snapshot.json", routes)
    port, metrics_port = free_port(), free_port()
    command = [CITADEL, "gateway", "--data-dir", str(data_dir), "--port", str(port)]
    command += ["--wait", "0", "--workers", "2", "--log-level", "warning"]
    env = {**os.environ, "CITADEL_GATEWAY_METRICS_PORT": str(metrics_port)}
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    started = Started(proc, port, metrics_port, data_dir, data_dir / "pki" / "ca.crt")
    try:
        _wait_for_metrics(started)
        yield started
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        node.stop()


def _wait_for_metrics(started: Started) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if started.proc.poll() is not None:
            stderr = started.proc.stderr.read().decode() if started.proc.stderr else ""
            raise AssertionError(stderr)
        try:
            if started.scrape().status_code == 200:
                return
        except (httpx.TransportError, OSError):
            pass
        time.sleep(0.1)
    raise AssertionError("no metrics endpoint")


def _get(started: Started, host: str, *, auth: bool = True) -> bytes:
    basic = base64.b64encode(f"elastic:{PASSWORD}".encode())
    head = f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n".encode()
    if auth:
        head += b"Authorization: Basic " + basic + b"\r\n"
    return raw_exchange(started.port, started.ca, head + b"\r\n", sni=host)


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_a_scrape_without_the_token_is_refused(running: Started) -> None:
    assert running.scrape(token="not-the-token").status_code == 401


def test_every_series_moves_by_what_both_workers_served(running: Started) -> None:
    before = running.samples()
    for _ in range(REQUESTS):
        assert _get(running, HOST).startswith(b"HTTP/1.1 200 ")
        stopped = _get(running, f"{STOPPED}.local.citadel.localhost")
        assert stopped.startswith(b"HTTP/1.1 503 ")
    after = running.samples()
    assert _value(after, "citadel_gateway_workers_scraped") == 2

    def moved(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    served = {"deployment": DEPLOYMENT, "status": "200"}
    refused = {"deployment": STOPPED, "status": "503"}
    assert moved("citadel_gateway_requests_total", **served) == REQUESTS
    assert moved("citadel_gateway_requests_total", **refused) == REQUESTS
    assert moved("citadel_gateway_received_bytes_total", **served) > REQUESTS * 50
    assert moved("citadel_gateway_sent_bytes_total", **served) > REQUESTS * 100
    assert moved("citadel_gateway_answers_total", code="deployment.not_running") == REQUESTS
    assert moved("citadel_gateway_filter_decisions_total", reason="ALLOWED_NO_FILTER") == (
        2 * REQUESTS
    )
    latency = "citadel_gateway_upstream_latency_seconds"
    assert moved(f"{latency}_count", deployment=DEPLOYMENT) == REQUESTS
    assert moved(f"{latency}_bucket", deployment=DEPLOYMENT, le="+Inf") == REQUESTS
    assert moved(f"{latency}_sum", deployment=DEPLOYMENT) > 0


def test_open_connections_are_gauged_on_both_sides(running: Started) -> None:
    _get(running, HOST)  # leaves an idle upstream connection in a worker's pool
    samples = running.samples()
    assert _value(samples, "citadel_gateway_open_connections", side="upstream") >= 1
    ctx = ssl.create_default_context(cafile=str(running.ca))
    raw = socket.create_connection(("127.0.0.1", running.port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname=HOST):
        deadline = time.monotonic() + 10
        while _value(running.samples(), "citadel_gateway_open_connections", side="client") < 1:
            assert time.monotonic() < deadline, "the open connection is not gauged"
            time.sleep(0.05)
