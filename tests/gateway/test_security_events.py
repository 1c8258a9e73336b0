"""Traffic-filter refusals as the deployment's ``connection_denied`` audit events: recorded by
a real gateway on loopback TLS (the client bound to 127.0.0.3), bounded with a dropped count,
put back when a post fails. Their delivery to the control plane's store is tested with the
internal API (tests/api/test_internal_security_events.py)."""

from __future__ import annotations

import ssl
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from citadel.contract.messages import MAX_SECURITY_POST_BYTES, security_event_size
from citadel.gateway.proxy import Limits
from citadel.gateway.security_events import DeniedConnections, message
from citadel.traffic_filters.matching import Client
from tests.gateway.harness import Pki, RecordingNode, RunningGateway, write_snapshot

DEPLOYMENT = "f" * 32
HOST = f"{DEPLOYMENT}.local.citadel.localhost"


@pytest.fixture(scope="module")
def filtered(
    tmp_path_factory: pytest.TempPathFactory, pki: Pki, recorder: RecordingNode
) -> Iterator[RunningGateway]:
    path = tmp_path_factory.mktemp("denied") / "snapshot.json"
    deployment = {
        "id": DEPLOYMENT,
        "alias": None,
        "region": "local",
        "state": "running",
        "node_socket": str(recorder.path),
        "rulesets": ["only-2"],
    }
    rulesets = {"only-2": {"type": "ip", "sources": ["127.0.0.2/32"]}}
    write_snapshot(path, [deployment], version=1, rulesets=rulesets)
    running = RunningGateway(pki, path, Limits(header_timeout_s=1.0, body_timeout_s=1.0))
    running.wait_for_version(1)
    yield running
    running.stop()


def _get(gateway: RunningGateway, pki: Pki, source: str, path: str) -> httpx.Response:
    ctx = ssl.create_default_context(cafile=str(pki.node_tls.ca))
    with httpx.Client(
        base_url=f"https://{gateway.host}:{gateway.port}",
        transport=httpx.HTTPTransport(verify=ctx, local_address=source),
        headers={"Host": HOST},
        timeout=10,
    ) as client:
        return client.get(path, extensions={"sni_hostname": "localhost"})


def test_a_refused_request_is_a_connection_denied_event_of_its_deployment(
    filtered: RunningGateway, pki: Pki
) -> None:
    filtered.call(lambda: filtered.gateway.denied.take())  # start empty
    refused = _get(filtered, pki, "127.0.0.3", "/refused")
    assert _get(filtered, pki, "127.0.0.2", "/admitted").status_code == 200
    assert refused.status_code == 403

    taken, dropped = filtered.call(lambda: filtered.gateway.denied.take())
    ((deployment_id, event),) = taken
    assert deployment_id == DEPLOYMENT
    assert event["event.type"] == "ip_filter"
    assert event["event.action"] == "connection_denied"
    assert event["origin.address"] == "127.0.0.3"
    assert event["rule"] == "BLOCKED_BY_IP_FILTER"
    assert event["request.id"] == refused.headers["x-request-id"]
    assert event["@timestamp"].endswith("Z")
    assert dropped == Counter()


def test_a_full_buffer_drops_and_counts_by_deployment() -> None:
    denied = DeniedConnections(capacity=2)
    for i in range(5):
        denied.record(DEPLOYMENT if i % 2 else "a" * 32, Client.of(f"10.0.0.{i}"), "R", f"r{i}")
    taken, dropped = denied.take()
    assert [e["request.id"] for _, e in taken] == ["r0", "r1"]
    assert dropped == Counter({"a" * 32: 2, DEPLOYMENT: 1})
    assert denied.dropped_total == 3
    body = message(taken, dropped)
    shares = {d.deployment_id: (len(d.events), d.dropped) for d in body.deployments}
    assert shares == {"a" * 32: (1, 2), DEPLOYMENT: (1, 1)}


def test_a_failed_post_puts_the_events_back_in_order() -> None:
    denied = DeniedConnections(capacity=3)
    for i in range(2):
        denied.record(DEPLOYMENT, Client.of("10.0.0.1", "aws:vpce-1"), "R", f"r{i}")
    taken, dropped = denied.take()
    denied.record(DEPLOYMENT, Client.of("10.0.0.1"), "R", "r2")
    denied.put_back(taken, dropped)
    again, _ = denied.take()
    assert [e["request.id"] for _, e in again] == ["r0", "r1", "r2"]
    assert again[0][1]["origin.private_endpoint"] == "aws:vpce-1"


def test_one_post_stays_within_the_contracts_bytes() -> None:
    denied = DeniedConnections()
    for i in range(6000):
        denied.record(DEPLOYMENT, Client.of("10.0.0.1"), "BLOCKED_BY_IP_FILTER", f"r{i:06}")
    taken, _ = denied.take()
    assert 0 < len(taken) < 6000
    assert sum(security_event_size(e) for _, e in taken) <= MAX_SECURITY_POST_BYTES
    assert denied.pending() == 6000 - len(taken)
