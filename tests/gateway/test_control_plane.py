"""Fetching routes from a real mTLS endpoint; keeping the last snapshot when it goes away."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from citadel.contract.client import ComponentTls
from citadel.contract.messages import CONTRACT_HEADER, CONTRACT_VERSION
from citadel.gateway.snapshot import ControlPlane, SnapshotKeeper, load_snapshot
from tests.gateway.harness import Pki

ROUTES = {
    "version": 9,
    "domain": "citadel.localhost",
    "deployments": [
        {
            "id": "9" * 32,
            "alias": "orders",
            "region": "local",
            "state": "running",
            "node_socket": "/d/9/node.sock",
        }
    ],
}


class _Routes(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        seen.append((self.path, self.connection.getpeercert() is not None))
        body = json.dumps(ROUTES).encode()
        self.send_response(200)
        self.send_header(CONTRACT_HEADER, str(CONTRACT_VERSION))
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


seen: list[tuple[str, bool]] = []


@pytest.fixture
def internal_api(pki: Pki) -> Iterator[tuple[str, ThreadingHTTPServer]]:
    """An internal endpoint that requires a client certificate from the platform CA."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(pki.node_tls.cert), str(pki.node_tls.key))
    ctx.load_verify_locations(str(pki.node_tls.ca))
    ctx.verify_mode = ssl.CERT_REQUIRED
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Routes)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}", server
    server.shutdown()
    server.server_close()


def _fetch(keeper: SnapshotKeeper, plane: ControlPlane) -> bool:
    async def once() -> bool:
        async with httpx.AsyncClient(verify=plane.ssl_context(), timeout=2) as client:
            return await keeper.fetch_once(client)

    return asyncio.run(once())


def test_routes_are_fetched_over_mtls_persisted_and_kept_when_the_plane_stops(
    tmp_path: Path, pki: Pki, internal_api: tuple[str, ThreadingHTTPServer]
) -> None:
    url, server = internal_api
    tls = ComponentTls(pki.node_tls.ca, pki.node_tls.client_cert, pki.node_tls.client_key)
    plane = ControlPlane(url, tls)
    path = tmp_path / "gateway" / "snapshot.json"
    keeper = SnapshotKeeper(path, plane)
    assert _fetch(keeper, plane) is True
    assert ("/internal/v1/routes", True) in seen
    assert keeper.table.version == 9
    assert load_snapshot(path) == keeper.table

    server.shutdown()
    server.server_close()
    assert _fetch(keeper, plane) is False
    assert keeper.table.by_host("orders.local.citadel.localhost") is not None
    restarted = SnapshotKeeper(path, plane)  # a gateway restarted while the plane is down
    assert restarted.table == keeper.table


def test_without_a_client_certificate_the_plane_refuses(
    pki: Pki, internal_api: tuple[str, ThreadingHTTPServer]
) -> None:
    url, _ = internal_api
    ctx = ssl.create_default_context(cafile=str(pki.node_tls.ca))

    async def once() -> int:
        async with httpx.AsyncClient(verify=ctx, timeout=2) as client:
            return (await client.get(url + "/internal/v1/routes")).status_code

    with pytest.raises((httpx.HTTPError, ssl.SSLError, OSError)):
        asyncio.run(once())
