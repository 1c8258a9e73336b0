"""Issue 17.1's incident, small: one address opens more slow-body connections than a node has
descriptors; every other client of that deployment keeps being served.

A real node whose descriptor limit is lowered (``prlimit``) to its open descriptors plus
`NODE_HEADROOM`, so that `FLOOD` forwarded slow bodies would take every descriptor it has
left (before issue 17 the gateway forwarded each one: the other client got 502/504). The
gateway's caps keep the flooding address to `IN_FLIGHT` requests at the node.
"""

from __future__ import annotations

import base64
import os
import resource
import ssl
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from citadel.gateway.proxy import Limits
from tests.gateway.harness import Pki, RunningGateway, connect_from, write_snapshot
from tests.node.process import RunningNode, start_node

DEPLOYMENT = "e" * 32
HOST = f"{DEPLOYMENT}.local.citadel.localhost"
PASSWORD = "flood-test-password"
NODE_HEADROOM = 100
FLOOD = 160  # connections from the flooding address, each a slow body
IN_FLIGHT = 16  # requests the flooding address may have at the node
REQUESTS = 40  # the other client's requests while the flood holds


@pytest.fixture(scope="module")
def small_node(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[RunningNode]:
    node = start_node(
        tmp_path_factory.mktemp("flood") / DEPLOYMENT,
        pki.node_tls,
        elastic_password=PASSWORD,
        mode="unix",
        client_ca=True,
    )
    pid = node.proc.pid
    open_now = len(os.listdir(f"/proc/{pid}/fd"))
    _, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (open_now + NODE_HEADROOM, hard))
    yield node
    node.stop()


@pytest.fixture(scope="module")
def flood_gateway(
    tmp_path_factory: pytest.TempPathFactory, pki: Pki, small_node: RunningNode
) -> Iterator[RunningGateway]:
    snapshot = tmp_path_factory.mktemp("flood-gateway") / "snapshot.json"
    route = {
        "id": DEPLOYMENT,
        "alias": None,
        "region": "local",
        "state": "running",
        "node_socket": str(small_node.unix_socket),
    }
    write_snapshot(snapshot, [route])
    limits = Limits(
        connect_timeout_s=2.0,
        max_connections_per_client=IN_FLIGHT * 2,
        max_requests_per_client=IN_FLIGHT,
        max_upstreams_per_deployment=NODE_HEADROOM // 2,
        body_rate_grace_s=120.0,  # the flood holds for the whole test
    )
    running = RunningGateway(pki, snapshot, limits)
    yield running
    running.stop()


def _slow_body(gateway: RunningGateway, pki: Pki) -> ssl.SSLSocket:
    """A connection from the flooding address that sends a head and one byte of its body."""
    ctx = ssl.create_default_context(cafile=str(pki.node_tls.ca))
    conn = ctx.wrap_socket(connect_from("127.0.0.2", gateway.port), server_hostname=HOST)
    conn.sendall(
        f"POST /flood/_doc HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        f"Content-Length: 100000\r\n".encode()
        + b"Authorization: Basic "
        + _basic()
        + b"\r\n\r\n{"
    )
    return conn


def _basic() -> bytes:
    return base64.b64encode(f"elastic:{PASSWORD}".encode())


def test_one_address_flooding_slow_bodies_leaves_the_deployment_serving_others(
    flood_gateway: RunningGateway, pki: Pki
) -> None:
    ctx = ssl.create_default_context(cafile=str(pki.node_tls.ca))
    statuses: list[int] = []
    errors: list[str] = []
    with ExitStack() as flood:
        for _ in range(FLOOD):
            flood.enter_context(_slow_body(flood_gateway, pki))
        for _ in range(REQUESTS):
            # a new connection each time, from the other address, as many clients would
            with httpx.Client(
                verify=ctx,
                auth=("elastic", PASSWORD),
                transport=httpx.HTTPTransport(verify=ctx, local_address="127.0.0.1"),
                timeout=10,
            ) as client:
                try:
                    statuses.append(
                        client.get(
                            f"https://127.0.0.1:{flood_gateway.port}/", headers={"Host": HOST}
                        ).status_code
                    )
                except httpx.HTTPError as exc:
                    errors.append(type(exc).__name__)
    served = statuses.count(200)
    print(f"flood: other client served {served}/{REQUESTS}, errors {REQUESTS - served}")
    assert errors == []
    assert statuses == [200] * REQUESTS


def test_the_flooding_address_is_answered_429_past_its_connection_cap(
    flood_gateway: RunningGateway, pki: Pki
) -> None:
    answers = []
    with ExitStack() as flood:
        conns = [flood.enter_context(_slow_body(flood_gateway, pki)) for _ in range(FLOOD)]
        for conn in conns[IN_FLIGHT * 2 :]:
            conn.settimeout(10)
            answers.append(conn.recv(65536)[:12])
    assert set(answers) == {b"HTTP/1.1 429"}
