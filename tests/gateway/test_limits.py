"""Issue 17.1: what one client address or one slow body may hold of the gateway and a node.

Each test runs its own gateway with the limit under test made small, in front of the
module's recording node (which waits for every body in full before answering, so a request
whose body trickles stays in flight). The flooding address is 127.0.0.2; the other client is
127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from proxyprotocol.result import ProxyResultIPv4
from proxyprotocol.v2 import ProxyProtocolV2

from citadel.gateway.listener import ProxyListenerConfig
from citadel.gateway.proxy import Limits
from tests.gateway.harness import Pki, RecordingNode, RunningGateway, connect_from

FLOODER = "127.0.0.2"
OTHER = "127.0.0.1"
HOST = b"Host: recorder.local.citadel.localhost\r\n"
AUTH = b"Authorization: ApiKey a2V5\r\n"
GET = b"GET /limits HTTP/1.1\r\n" + HOST + AUTH + b"\r\n"
THIRD = b"GET /limits-third HTTP/1.1\r\n" + HOST + AUTH + b"\r\n"
SLOW_HEAD = b"POST /slow/_doc HTTP/1.1\r\n" + HOST + AUTH + b"Content-Length: 100000\r\n\r\n{"


@contextmanager
def _gateway(pki: Pki, snapshot_path: Path, **limits: Any) -> Iterator[RunningGateway]:
    running = RunningGateway(pki, snapshot_path, Limits(header_timeout_s=5.0, **limits))
    try:
        yield running
    finally:
        running.stop()


def _open(gateway: RunningGateway, pki: Pki, source: str, data: bytes = b"") -> ssl.SSLSocket:
    ctx = ssl.create_default_context(cafile=str(pki.node_tls.ca))
    conn = ctx.wrap_socket(connect_from(source, gateway.port), server_hostname="localhost")
    if data:
        conn.sendall(data)
    return conn


def _answer(conn: ssl.SSLSocket, timeout: float = 10, data: bytes = b"") -> tuple[int, bytes, dict]:
    """Read one response (its head and a Content-Length body), after `data` already read."""
    conn.settimeout(timeout)
    while b"\r\n\r\n" not in data:
        part = conn.recv(65536)
        if not part:
            break
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), data[:200]
    length = next(
        int(line.split(b":")[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    while len(body) < length:
        body += conn.recv(65536)
    return int(head[9:12]), head.lower(), json.loads(body[:length]) if length else {}


def _wait_for(gateway: RunningGateway, count: Callable[[RunningGateway], int], value: int) -> None:
    deadline = time.monotonic() + 10
    while gateway.call(lambda: count(gateway)) != value:
        if time.monotonic() > deadline:
            raise AssertionError(f"the gateway never counted {value}")
        time.sleep(0.02)


def _connections_of(address: str) -> Callable[[RunningGateway], int]:
    return lambda g: g.gateway.admission.connections.get(address, 0)


def _requests_of(address: str) -> Callable[[RunningGateway], int]:
    return lambda g: g.gateway.admission.requests.get(address, 0)


def test_connections_past_an_address_cap_are_answered_429_and_other_addresses_served(
    pki: Pki, snapshot_path: Path, recorder: RecordingNode
) -> None:
    with _gateway(pki, snapshot_path, max_connections_per_client=3) as gateway, ExitStack() as held:
        for _ in range(3):
            held.enter_context(_open(gateway, pki, FLOODER))
        _wait_for(gateway, _connections_of(FLOODER), 3)
        with _open(gateway, pki, FLOODER, GET) as extra:
            status, head, body = _answer(extra)
        assert status == 429
        assert b"\r\nretry-after: 1" in head
        assert body["error"]["type"] == "client.too_many_connections"
        with _open(gateway, pki, OTHER, GET) as other:
            assert _answer(other)[0] == 200
        held.close()  # the address's connections end: its count goes back down
        _wait_for(gateway, _connections_of(FLOODER), 0)
        with _open(gateway, pki, FLOODER, GET) as again:
            assert _answer(again)[0] == 200


def test_requests_in_flight_past_an_address_cap_are_answered_429(
    pki: Pki, snapshot_path: Path, recorder: RecordingNode
) -> None:
    with (
        _gateway(pki, snapshot_path, max_requests_per_client=2) as gateway,
        ExitStack() as held,
    ):
        for _ in range(2):
            held.enter_context(_open(gateway, pki, FLOODER, SLOW_HEAD))
        _wait_for(gateway, _requests_of(FLOODER), 2)
        with _open(gateway, pki, FLOODER, THIRD) as third:
            status, _, body = _answer(third)
        assert status == 429
        assert body["error"]["type"] == "client.too_many_requests"
        with _open(gateway, pki, OTHER, GET) as other:
            assert _answer(other)[0] == 200
        assert not [r for r in recorder.received if b"GET /limits-third" in r]


def test_past_a_deployments_upstream_budget_requests_are_answered_429(
    pki: Pki, snapshot_path: Path, recorder: RecordingNode
) -> None:
    with (
        _gateway(pki, snapshot_path, max_upstreams_per_deployment=2) as gateway,
        ExitStack() as held,
    ):
        for source in ("127.0.0.3", "127.0.0.4"):
            held.enter_context(_open(gateway, pki, source, SLOW_HEAD))
        _wait_for(gateway, lambda g: g.gateway.admission.upstreams.get(str(recorder.path), 0), 2)
        with _open(gateway, pki, OTHER, GET) as other:
            status, head, body = _answer(other)
        assert status == 429
        assert body["error"]["type"] == "deployment.busy"
        assert b"\r\nretry-after: 1" in head


def test_an_idle_upstream_is_closed_to_make_room_within_the_budget(
    pki: Pki, snapshot_path: Path, recorder: RecordingNode
) -> None:
    with (
        _gateway(pki, snapshot_path, max_upstreams_per_deployment=1) as gateway,
        _open(gateway, pki, OTHER) as first,
        _open(gateway, pki, FLOODER) as second,
    ):
        for conn in (first, second, first, second):
            conn.sendall(GET)
            assert _answer(conn)[0] == 200


def test_a_body_slower_than_the_minimum_rate_is_answered_408(
    pki: Pki, snapshot_path: Path, recorder: RecordingNode
) -> None:
    with (
        _gateway(pki, snapshot_path, body_min_rate=1000, body_rate_grace_s=0.5) as gateway,
        _open(gateway, pki, FLOODER, SLOW_HEAD) as slow,
    ):
        status, _, body = _trickle_until_answered(slow)
        assert status == 408
        assert body["error"]["type"] == "request.body_too_slow"
        _wait_for(gateway, _requests_of(FLOODER), 0)


def test_a_body_past_its_deadline_is_answered_408_however_steady(
    pki: Pki, snapshot_path: Path, recorder: RecordingNode
) -> None:
    with (
        _gateway(pki, snapshot_path, body_deadline_s=1.0, body_min_rate=0) as gateway,
        _open(gateway, pki, FLOODER, SLOW_HEAD) as slow,
    ):
        status, _, body = _trickle_until_answered(slow)
        assert status == 408
        assert body["error"]["type"] == "request.body_timeout"


def _trickle_until_answered(conn: ssl.SSLSocket) -> tuple[int, bytes, dict]:
    """Send one body byte every 0.1 s (never idle for long) until the gateway answers."""
    deadline = time.monotonic() + 15
    conn.settimeout(0.1)
    while time.monotonic() < deadline:
        try:
            conn.sendall(b" ")
            started = conn.recv(65536)
        except TimeoutError:
            continue
        if started:
            return _answer(conn, data=started)
    raise AssertionError("the gateway never answered the trickling body")


def _behind_balancer(port: int, pki: Pki, client: str, data: bytes) -> ssl.SSLSocket:
    """A connection from the trusted balancer (127.0.0.1) naming `client` in a PROXY v2
    header."""
    raw = connect_from("127.0.0.1", port)
    raw.sendall(
        ProxyProtocolV2().pack(
            ProxyResultIPv4(
                (ipaddress.IPv4Address(client), 40000),
                (ipaddress.IPv4Address("10.0.0.1"), 443),
                protocol=socket.SOCK_STREAM,
            )
        )
    )
    ctx = ssl.create_default_context(cafile=str(pki.node_tls.ca))
    conn = ctx.wrap_socket(raw, server_hostname="localhost")
    conn.sendall(data)
    return conn


def test_behind_a_balancer_the_caps_count_the_proxy_headers_client(
    pki: Pki, snapshot_path: Path, recorder: RecordingNode
) -> None:
    with _gateway(pki, snapshot_path, max_connections_per_client=1) as gateway:
        config = ProxyListenerConfig(port=0, trusted_cidrs=(ipaddress.ip_network("127.0.0.1/32"),))
        port = gateway.add_proxy_listener(config).port
        with _behind_balancer(port, pki, "198.51.100.7", GET) as first:
            assert _answer(first)[0] == 200
            with _behind_balancer(port, pki, "198.51.100.8", GET) as other:
                assert _answer(other)[0] == 200  # same balancer, another client: its own cap
            with _behind_balancer(port, pki, "198.51.100.7", GET) as second:
                status, _, body = _answer(second)
            assert status == 429
            assert body["error"]["type"] == "client.too_many_connections"
