"""The PROXY listener end to end: headers from an independent encoder (`proxy-protocol`),
real TLS after them, a recording node behind. The trusted balancer is 127.0.0.1; anyone else
on 127/8 is the internet."""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
import time
from collections.abc import Iterator
from ipaddress import IPv4Address

import pytest
from proxyprotocol.result import ProxyResultIPv4, ProxyResultLocal
from proxyprotocol.tlv import ProxyProtocolTLV
from proxyprotocol.v1 import ProxyProtocolV1
from proxyprotocol.v2 import ProxyProtocolV2
from structlog.testing import capture_logs

from citadel.gateway.listener import ProxyListener, ProxyListenerConfig
from citadel.gateway.proxy import Limits
from citadel.gateway.proxy_protocol import Vendor
from tests.gateway.harness import (
    Pki,
    RecordingNode,
    RunningGateway,
    connect_from,
    raw_exchange,
    write_snapshot,
)

LINKED = "1" * 32  # admits only connections through vpce-x
BY_IP = "2" * 32  # admits only 198.51.100.7
OPEN = "3" * 32
CLIENT = "198.51.100.7"
BALANCER = "127.0.0.1"
TRUSTED = (ipaddress.ip_network("127.0.0.1/32"),)


def _config(**changes: object) -> ProxyListenerConfig:
    settings: dict = {
        "port": 0,
        "trusted_cidrs": TRUSTED,
        "vendor": Vendor.AWS,
        "header_timeout_s": 0.5,
    }
    return ProxyListenerConfig(**{**settings, **changes})


@pytest.fixture(scope="module")
def proxied(
    tmp_path_factory: pytest.TempPathFactory, pki: Pki, recorder: RecordingNode
) -> Iterator[tuple[RunningGateway, ProxyListener]]:
    def deployment(deployment_id: str, *rulesets: str) -> dict:
        return {
            "id": deployment_id,
            "alias": None,
            "region": "local",
            "state": "running",
            "node_socket": str(recorder.path),
            "rulesets": list(rulesets),
        }

    path = tmp_path_factory.mktemp("proxied") / "snapshot.json"
    write_snapshot(
        path,
        [deployment(LINKED, "link-x"), deployment(BY_IP, "lb-client"), deployment(OPEN)],
        rulesets={
            "link-x": {"type": "vpce", "sources": ["aws:vpce-x"]},
            "lb-client": {"type": "ip", "sources": [f"{CLIENT}/32"]},
        },
    )
    running = RunningGateway(pki, path, Limits(header_timeout_s=1.0, body_timeout_s=1.0))
    listener = running.add_proxy_listener(_config())
    yield running, listener
    running.stop()


def v2_header(source: str = CLIENT, *, vpce: str | None = None) -> bytes:
    """A PROXY v2 header for TCP over IPv4, with AWS's VPC endpoint TLV when given."""
    tlv = ProxyProtocolTLV(init={0xEA: b"\x01" + vpce.encode()} if vpce else None)
    result = ProxyResultIPv4(
        (IPv4Address(source), 40000),
        (IPv4Address("10.0.0.1"), 443),
        protocol=socket.SOCK_STREAM,
        tlv=tlv,
    )
    return ProxyProtocolV2().pack(result)


def local_header() -> bytes:
    return ProxyProtocolV2().pack(ProxyResultLocal())


def request(deployment_id: str, path: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {deployment_id}.local.citadel.localhost\r\n"
        "Connection: close\r\n\r\n"
    ).encode()


def through_proxy(
    listener: ProxyListener, pki: Pki, header: bytes, deployment_id: str, path: str
) -> bytes:
    return raw_exchange(
        listener.port, pki.node_tls.ca, request(deployment_id, path), before_tls=header
    )


def forwarded(recorder: RecordingNode, path: str) -> list[bytes]:
    return [head for head in recorder.received if head.startswith(f"GET {path} ".encode())]


def _status(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:80]
    return int(answer[9:12])


def test_a_vpce_only_deployment_admits_its_endpoint(
    proxied: tuple[RunningGateway, ProxyListener], pki: Pki, recorder: RecordingNode
) -> None:
    _, listener = proxied
    answer = through_proxy(listener, pki, v2_header(vpce="vpce-x"), LINKED, "/vpce-x")
    assert _status(answer) == 200
    (head,) = forwarded(recorder, "/vpce-x")
    assert f"x-forwarded-for: {CLIENT}".encode() in head  # the client, not the balancer


def test_another_endpoint_gets_the_403_and_nothing_is_forwarded(
    proxied: tuple[RunningGateway, ProxyListener], pki: Pki, recorder: RecordingNode
) -> None:
    _, listener = proxied
    answer = through_proxy(listener, pki, v2_header(vpce="vpce-y"), LINKED, "/vpce-y")
    assert _status(answer) == 403
    reason = json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["reason"]
    assert reason.startswith(f"Traffic from {CLIENT} through private endpoint aws:vpce-y is not ")
    assert not forwarded(recorder, "/vpce-y")


def test_ip_rules_see_the_headers_source_not_the_balancer(
    proxied: tuple[RunningGateway, ProxyListener], pki: Pki, recorder: RecordingNode
) -> None:
    _, listener = proxied
    assert _status(through_proxy(listener, pki, v2_header(), BY_IP, "/by-ip-ok")) == 200
    other = v2_header("198.51.100.8")
    assert _status(through_proxy(listener, pki, other, BY_IP, "/by-ip-no")) == 403
    assert not forwarded(recorder, "/by-ip-no")


def test_the_direct_listener_still_sees_the_socket_peer(
    proxied: tuple[RunningGateway, ProxyListener], pki: Pki
) -> None:
    gateway, _ = proxied
    answer = raw_exchange(gateway.port, pki.node_tls.ca, request(BY_IP, "/by-ip-direct"))
    assert _status(answer) == 403


def test_a_denial_is_logged_with_client_endpoint_peer_and_reason(
    proxied: tuple[RunningGateway, ProxyListener], pki: Pki
) -> None:
    _, listener = proxied
    with capture_logs() as events:
        through_proxy(listener, pki, v2_header(vpce="vpce-y"), LINKED, "/logged")
    (denial,) = [e for e in events if e["event"] == "gateway.request"]
    assert denial["client_ip"] == CLIENT
    assert denial["peer_ip"] == BALANCER
    assert denial["endpoint_id"] == "aws:vpce-y"
    assert denial["listener"] == "proxy"
    assert denial["decision"] == "deny"
    assert denial["filter_reason"] == "BLOCKED_BY_PRIVATE_LINK_FILTER"
    assert denial["deployment_id"] == LINKED


def test_local_from_the_balancer_is_the_balancer_with_no_endpoint(
    proxied: tuple[RunningGateway, ProxyListener], pki: Pki, recorder: RecordingNode
) -> None:
    _, listener = proxied
    assert _status(through_proxy(listener, pki, local_header(), LINKED, "/local-link")) == 403
    assert _status(through_proxy(listener, pki, local_header(), OPEN, "/local-open")) == 200
    (head,) = forwarded(recorder, "/local-open")
    assert f"x-forwarded-for: {BALANCER}".encode() in head


def _dropped(sock: socket.socket) -> bool:
    """True when the gateway closes the connection without sending a byte."""
    try:
        return sock.recv(4096) == b""
    except ConnectionResetError:
        return True


def test_an_untrusted_peer_is_dropped_unread(
    proxied: tuple[RunningGateway, ProxyListener], pki: Pki, recorder: RecordingNode
) -> None:
    _, listener = proxied
    before = len(recorder.received)
    with capture_logs() as events, connect_from("127.0.0.9", listener.port, timeout=5) as sock:
        assert _dropped(sock)
    assert {"event": "gateway.proxy.untrusted_peer", "peer_ip": "127.0.0.9"}.items() <= (
        next(e for e in events if e["event"] == "gateway.proxy.untrusted_peer").items()
    )
    with pytest.raises((ssl.SSLError, OSError)):
        raw_exchange(
            listener.port,
            pki.node_tls.ca,
            request(LINKED, "/forged"),
            source="127.0.0.9",
            before_tls=v2_header(vpce="vpce-x"),
        )
    assert len(recorder.received) == before


def test_a_truncated_header_closes_the_connection(
    proxied: tuple[RunningGateway, ProxyListener],
) -> None:
    _, listener = proxied
    with capture_logs() as events, connect_from(BALANCER, listener.port, timeout=5) as sock:
        sock.sendall(v2_header(vpce="vpce-x")[:20])
        sock.shutdown(socket.SHUT_WR)
        assert _dropped(sock)
    bad = [e for e in events if e["event"] == "gateway.proxy.bad_header"]
    assert bad
    assert bad[0]["reason"] == "truncated"


def test_a_slow_header_is_cut_off_at_the_deadline(
    proxied: tuple[RunningGateway, ProxyListener],
) -> None:
    _, listener = proxied
    header = v2_header(vpce="vpce-x")
    started = time.monotonic()
    with capture_logs() as events, connect_from(BALANCER, listener.port, timeout=5) as sock:
        for byte in header[:10]:  # a byte at a time, never finishing
            sock.sendall(bytes([byte]))
            time.sleep(0.02)
        assert _dropped(sock)
    assert time.monotonic() - started > 0.4  # not before the deadline
    reasons = [e["reason"] for e in events if e["event"] == "gateway.proxy.bad_header"]
    assert "timeout" in reasons


def test_garbage_instead_of_a_header_closes_the_connection(
    proxied: tuple[RunningGateway, ProxyListener],
) -> None:
    _, listener = proxied
    with connect_from(BALANCER, listener.port, timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        assert _dropped(sock)


def test_a_second_header_is_application_data_and_fails_tls(
    proxied: tuple[RunningGateway, ProxyListener], pki: Pki, recorder: RecordingNode
) -> None:
    _, listener = proxied
    before = len(recorder.received)
    with pytest.raises((ssl.SSLError, OSError)):
        through_proxy(
            listener, pki, v2_header() + v2_header(vpce="vpce-x"), LINKED, "/second-header"
        )
    assert len(recorder.received) == before


def test_v1_is_refused_unless_enabled(
    proxied: tuple[RunningGateway, ProxyListener], pki: Pki, recorder: RecordingNode
) -> None:
    gateway, listener = proxied
    v1 = ProxyProtocolV1().pack(
        ProxyResultIPv4((IPv4Address(CLIENT), 40000), (IPv4Address("10.0.0.1"), 443))
    )
    with pytest.raises((ssl.SSLError, OSError)):
        through_proxy(listener, pki, v1, BY_IP, "/v1-refused")
    enabled = gateway.add_proxy_listener(_config(allow_v1=True))
    try:
        # Read exactly: a line a byte at a time, the ClientHello after it untouched.
        assert _status(through_proxy(enabled, pki, v1, BY_IP, "/v1-ok")) == 200
        assert _status(through_proxy(enabled, pki, v2_header(), BY_IP, "/v2-too")) == 200
    finally:
        gateway.call(enabled.close)
    assert not forwarded(recorder, "/v1-refused")


def test_pending_headers_per_source_are_capped(
    proxied: tuple[RunningGateway, ProxyListener],
) -> None:
    gateway, _ = proxied
    capped = gateway.add_proxy_listener(_config(max_pending_per_source=2, header_timeout_s=5))
    try:
        waiting = [connect_from(BALANCER, capped.port, timeout=5) for _ in range(2)]
        time.sleep(0.2)  # both accepted and waiting for their headers
        with capture_logs() as events, connect_from(BALANCER, capped.port, timeout=2) as third:
            assert _dropped(third)  # at once (the socket waits 2 s, the header deadline is 5 s)
        reasons = [e["reason"] for e in events if e["event"] == "gateway.proxy.bad_header"]
        assert "too_many_pending" in reasons
        for sock in waiting:
            sock.settimeout(0.2)
            with pytest.raises(TimeoutError):
                sock.recv(1)  # still waiting, untouched
            sock.close()
    finally:
        gateway.call(capped.close)


def test_the_ordinary_listener_treats_a_proxy_header_as_bad_tls(
    proxied: tuple[RunningGateway, ProxyListener], pki: Pki, recorder: RecordingNode
) -> None:
    gateway, _ = proxied
    before = len(recorder.received)
    with pytest.raises((ssl.SSLError, OSError)):
        raw_exchange(
            gateway.port,
            pki.node_tls.ca,
            request(OPEN, "/proxy-on-direct"),
            before_tls=v2_header(vpce="vpce-x"),
        )
    assert len(recorder.received) == before


def test_a_listener_without_trusted_networks_is_refused() -> None:
    with pytest.raises(ValueError, match="trusted"):
        ProxyListenerConfig(port=9443, trusted_cidrs=())
