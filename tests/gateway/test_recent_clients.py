"""Recent clients: bounded per deployment, forgotten when stale, reported over mTLS."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from structlog.testing import capture_logs

from citadel.contract.client import ComponentTls
from citadel.gateway.recent_clients import RecentClients
from citadel.gateway.snapshot import ControlPlane
from citadel.traffic_filters.matching import Client
from tests.gateway.harness import Pki

DEPLOYMENT = "d" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_an_open_connection_is_reported_connected_and_seen_now() -> None:
    clock = Clock()
    clients = RecentClients(clock=clock)
    clients.connected(DEPLOYMENT, Client.of("10.0.0.1", "aws:vpce-1"))
    clock.now += 30
    assert clients.snapshot() == [
        {
            "deployment_id": DEPLOYMENT,
            "client_ip": "10.0.0.1",
            "endpoint_id": "aws:vpce-1",
            "last_seen": 1_030.0,
            "connected": True,
        }
    ]


def test_a_closed_connection_keeps_its_last_seen_until_forgotten() -> None:
    clock = Clock()
    clients = RecentClients(clock=clock, forget_after_s=600)
    client = Client.of("10.0.0.1")
    clients.connected(DEPLOYMENT, client)
    clients.connected(DEPLOYMENT, client)  # a second connection of the same client
    clock.now += 5
    clients.disconnected(DEPLOYMENT, client)
    assert clients.snapshot()[0]["connected"] is True
    clients.disconnected(DEPLOYMENT, client)
    clock.now += 100
    (entry,) = clients.snapshot()
    assert entry["connected"] is False
    assert entry["last_seen"] == 1_005.0
    clock.now += 600
    assert clients.snapshot() == []


def test_each_deployment_keeps_its_most_recent_clients_only() -> None:
    clock = Clock()
    clients = RecentClients(clock=clock, per_deployment=3)
    for i in range(5):
        clock.now += 1
        clients.connected(DEPLOYMENT, Client.of(f"10.0.0.{i}"))
    clients.connected("other", Client.of("10.0.0.0"))
    mine = [c["client_ip"] for c in clients.snapshot() if c["deployment_id"] == DEPLOYMENT]
    assert mine == ["10.0.0.2", "10.0.0.3", "10.0.0.4"]
    clients.disconnected(DEPLOYMENT, Client.of("10.0.0.0"))  # pushed out: ignored


posted: list[dict] = []
refused: list[str] = []


class _ControlPlane(BaseHTTPRequestHandler):
    fail = False

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        if _ControlPlane.fail:
            refused.append(self.path)
            self.send_response(503)
        else:
            posted.append({"path": self.path, "body": json.loads(body)})
            self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def internal_api(pki: Pki) -> Iterator[str]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(pki.node_tls.cert), str(pki.node_tls.key))
    ctx.load_verify_locations(str(pki.node_tls.ca))
    ctx.verify_mode = ssl.CERT_REQUIRED
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ControlPlane)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _report_until(
    clients: RecentClients, plane: ControlPlane, done: Callable[[], bool], *, then_s: float = 0.3
) -> None:
    """Run the reporter until `done()`, then `then_s` longer."""

    async def run() -> None:
        async with plane.client() as client:
            task = asyncio.ensure_future(
                clients.report_forever(client, plane.clients_url, interval_s=0.05)
            )
            for _ in range(200):
                if done():
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(then_s)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(run())


def test_changes_are_posted_over_mtls_once_and_failures_retried(
    pki: Pki, internal_api: str
) -> None:
    plane = ControlPlane(
        internal_api,
        ComponentTls(pki.node_tls.ca, pki.node_tls.client_cert, pki.node_tls.client_key),
    )
    clients = RecentClients()
    clients.connected(DEPLOYMENT, Client.of("10.0.0.1"))
    posted.clear()
    refused.clear()
    _ControlPlane.fail = True
    _report_until(clients, plane, lambda: len(refused) >= 2, then_s=0)
    assert posted == []
    assert clients.changed  # not delivered: still to send
    _ControlPlane.fail = False
    _report_until(clients, plane, lambda: bool(posted))
    assert len(posted) == 1  # unchanged since: not posted again
    assert posted[0]["path"] == "/internal/v1/gateway/clients"
    (entry,) = posted[0]["body"]["clients"]
    assert entry["deployment_id"] == DEPLOYMENT
    assert entry["client_ip"] == "10.0.0.1"
    assert entry["connected"] is True


def test_an_unreachable_plane_warns_once() -> None:
    clients = RecentClients()
    clients.connected(DEPLOYMENT, Client.of("10.0.0.1"))

    async def run() -> None:
        async with httpx.AsyncClient(timeout=0.5) as client:
            task = asyncio.ensure_future(
                clients.report_forever(client, "https://127.0.0.1:9/x", interval_s=0.02)
            )
            await asyncio.sleep(0.3)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    with capture_logs() as events:
        asyncio.run(run())
    assert [e["event"] for e in events] == ["gateway.clients.report_failed"]
