"""Traffic filters end to end: real TLS on loopback, clients bound to 127.0.0.2 / .3.

Linux routes all of 127/8 to lo, so a client chooses its source address by binding before
it connects; the recording node shows exactly what a denial never forwards.
"""

from __future__ import annotations

import itertools
import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from structlog.testing import capture_logs

from citadel.gateway.proxy import Limits
from tests.gateway.harness import Pki, RecordingNode, RunningGateway, write_snapshot

DEPLOYMENT = "e" * 32
HOST = f"{DEPLOYMENT}.local.citadel.localhost"
REFUSED_REASON = (
    "Traffic from 127.0.0.3 is not allowed by this deployment's traffic filters; an "
    "organization admin can add a rule that admits it."
)
REFUSED_403 = {
    "error": {
        "root_cause": [{"type": "traffic_filter.blocked", "reason": REFUSED_REASON}],
        "type": "traffic_filter.blocked",
        "reason": REFUSED_REASON,
    },
    "status": 403,
}
_versions = itertools.count(1)


def _deployment(recorder: RecordingNode, *rulesets: str) -> dict:
    return {
        "id": DEPLOYMENT,
        "alias": None,
        "region": "local",
        "state": "running",
        "node_socket": str(recorder.path),
        "rulesets": list(rulesets),
    }


def _ip_ruleset(*sources: str) -> dict:
    return {"type": "ip", "sources": list(sources)}


class Plane:
    """Writes snapshots the way the control plane's fetch would install them."""

    def __init__(self, path: Path, gateway: RunningGateway, recorder: RecordingNode) -> None:
        self.path, self.gateway, self.recorder = path, gateway, recorder

    def associate(self, rulesets: dict[str, dict], *associated: str) -> float:
        """Publish a snapshot; seconds until the gateway serves it."""
        version = next(_versions)
        deployments = [_deployment(self.recorder, *associated)]
        write_snapshot(self.path, deployments, version=version, rulesets=rulesets)
        return self.gateway.wait_for_version(version)


@pytest.fixture(scope="module")
def filtered(
    tmp_path_factory: pytest.TempPathFactory, pki: Pki, recorder: RecordingNode
) -> Iterator[tuple[RunningGateway, Plane]]:
    path = tmp_path_factory.mktemp("filtered") / "snapshot.json"
    write_snapshot(path, [_deployment(recorder)], version=next(_versions))
    running = RunningGateway(pki, path, Limits(header_timeout_s=1.0, body_timeout_s=1.0))
    yield running, Plane(path, running, recorder)
    running.stop()


def _client(gateway: RunningGateway, pki: Pki, source: str) -> httpx.Client:
    ctx = ssl.create_default_context(cafile=str(pki.node_tls.ca))
    host = f"[{gateway.host}]" if ":" in gateway.host else gateway.host
    return httpx.Client(
        base_url=f"https://{host}:{gateway.port}",
        transport=httpx.HTTPTransport(verify=ctx, local_address=source),
        headers={"Host": HOST},
        timeout=10,
    )


def _get(gateway: RunningGateway, pki: Pki, source: str, path: str) -> httpx.Response:
    with _client(gateway, pki, source) as client:
        return client.get(path, extensions={"sni_hostname": "localhost"})


def _forwarded(recorder: RecordingNode, path: str) -> list[bytes]:
    marker = f" {path} ".encode()
    return [head for head in recorder.received if marker in head.split(b"\r\n", 1)[0] + b" "]


def test_an_open_deployment_admits_every_client(
    filtered: tuple[RunningGateway, Plane], pki: Pki, recorder: RecordingNode
) -> None:
    gateway, plane = filtered
    plane.associate({})
    assert _get(gateway, pki, "127.0.0.2", "/open-2").status_code == 200
    assert _get(gateway, pki, "127.0.0.3", "/open-3").status_code == 200
    assert b"x-forwarded-for: 127.0.0.3" in _forwarded(recorder, "/open-3")[0]


def test_an_ip_ruleset_admits_its_address_and_refuses_others_with_a_403_naming_them(
    filtered: tuple[RunningGateway, Plane], pki: Pki, recorder: RecordingNode
) -> None:
    gateway, plane = filtered
    plane.associate({"only-2": _ip_ruleset("127.0.0.2/32")}, "only-2")
    assert _get(gateway, pki, "127.0.0.2", "/ip-allowed").status_code == 200
    with _client(gateway, pki, "127.0.0.3") as client:
        refused = client.post("/ip-refused", content=b'{"query":{}}')
        assert client.get("/ip-refused-again").status_code == 403  # the connection lives on
    assert refused.status_code == 403
    assert json.loads(refused.content) == REFUSED_403
    assert refused.headers["content-type"] == "application/json"
    assert refused.headers["x-request-id"]
    assert _forwarded(recorder, "/ip-allowed")
    assert not _forwarded(recorder, "/ip-refused")
    assert not _forwarded(recorder, "/ip-refused-again")


def test_a_client_matching_any_associated_ruleset_passes(
    filtered: tuple[RunningGateway, Plane], pki: Pki, recorder: RecordingNode
) -> None:
    gateway, plane = filtered
    rulesets = {"two": _ip_ruleset("127.0.0.2"), "three": _ip_ruleset("127.0.0.3/32")}
    plane.associate(rulesets, "two", "three")
    assert _get(gateway, pki, "127.0.0.2", "/or-2").status_code == 200
    assert _get(gateway, pki, "127.0.0.3", "/or-3").status_code == 200
    assert _get(gateway, pki, "127.0.0.4", "/or-4").status_code == 403
    assert not _forwarded(recorder, "/or-4")


def test_a_private_link_only_deployment_refuses_direct_clients(
    filtered: tuple[RunningGateway, Plane], pki: Pki, recorder: RecordingNode
) -> None:
    gateway, plane = filtered
    plane.associate({"link": {"type": "vpce", "sources": ["aws:vpce-1"]}}, "link")
    assert _get(gateway, pki, "127.0.0.2", "/link-direct").status_code == 403
    assert not _forwarded(recorder, "/link-direct")


def test_removing_the_association_reopens_a_kept_alive_connection(
    filtered: tuple[RunningGateway, Plane], pki: Pki
) -> None:
    gateway, plane = filtered
    rulesets = {"only-2": _ip_ruleset("127.0.0.2/32")}
    plane.associate(rulesets, "only-2")
    with _client(gateway, pki, "127.0.0.3") as client:
        assert client.get("/before").status_code == 403
        plane.associate(rulesets)  # the ruleset stays, the association goes
        assert client.get("/after").status_code == 200  # the same, kept-alive connection


def test_a_denial_is_logged_once_with_client_reason_and_decision(
    filtered: tuple[RunningGateway, Plane], pki: Pki
) -> None:
    gateway, plane = filtered
    plane.associate({"only-2": _ip_ruleset("127.0.0.2/32")}, "only-2")
    with capture_logs() as events:
        assert _get(gateway, pki, "127.0.0.3", "/logged-denial").status_code == 403
    requests = [e for e in events if e["event"] == "gateway.request"]
    assert len(requests) == 1
    denial = requests[0]
    assert denial["deployment_id"] == DEPLOYMENT
    assert denial["client_ip"] == "127.0.0.3"
    assert denial["endpoint_id"] is None
    assert denial["listener"] == "direct"
    assert denial["decision"] == "deny"
    assert denial["filter_reason"] == "BLOCKED_BY_IP_FILTER"
    assert denial["reason"] == "filtered"
    assert denial["status"] == 403
    assert "peer_ip" not in denial  # the peer is the client


def test_an_admitted_request_logs_allow_and_its_reason(
    filtered: tuple[RunningGateway, Plane], pki: Pki
) -> None:
    gateway, plane = filtered
    plane.associate({"only-2": _ip_ruleset("127.0.0.2/32")}, "only-2")
    with capture_logs() as events:
        assert _get(gateway, pki, "127.0.0.2", "/logged-allow").status_code == 200
    (allowed,) = [e for e in events if e["event"] == "gateway.request"]
    assert allowed["decision"] == "allow"
    assert allowed["filter_reason"] == "ALLOWED_BY_IP_FILTER"
    assert allowed["client_ip"] == "127.0.0.2"


def test_the_gateway_remembers_admitted_clients_and_their_open_connections(
    filtered: tuple[RunningGateway, Plane], pki: Pki
) -> None:
    gateway, plane = filtered
    plane.associate({"only-2": _ip_ruleset("127.0.0.2/32")}, "only-2")

    def seen(ip: str) -> list[dict]:
        report = gateway.call(gateway.gateway.clients.snapshot)
        return [c for c in report if c["client_ip"] == ip and c["deployment_id"] == DEPLOYMENT]

    with _client(gateway, pki, "127.0.0.2") as client:
        assert client.get("/remembered").status_code == 200
        (entry,) = seen("127.0.0.2")
        assert entry["connected"] is True
        assert entry["endpoint_id"] is None
    assert _get(gateway, pki, "127.0.0.77", "/not-remembered").status_code == 403
    assert not seen("127.0.0.77")  # refused clients are not users of the deployment
    for _ in range(100):
        (entry,) = seen("127.0.0.2")
        if not entry["connected"]:
            break
        gateway.call(lambda: None)
    assert entry["connected"] is False


def _ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
def test_an_ipv6_client_is_filtered_by_ipv6_rules(
    tmp_path: Path, pki: Pki, recorder: RecordingNode
) -> None:
    path = tmp_path / "snapshot.json"
    write_snapshot(
        path,
        [_deployment(recorder, "v6")],
        rulesets={"v6": _ip_ruleset("::1/128")},
        version=1,
    )
    gateway = RunningGateway(pki, path, Limits(), host="::1")
    try:
        assert _get(gateway, pki, "::1", "/v6-allowed").status_code == 200
        assert b"x-forwarded-for: ::1" in _forwarded(recorder, "/v6-allowed")[0]
        write_snapshot(
            path,
            [_deployment(recorder, "v4")],
            rulesets={"v4": _ip_ruleset("127.0.0.1")},
            version=2,
        )
        gateway.wait_for_version(2)
        assert _get(gateway, pki, "::1", "/v6-refused").status_code == 403
        assert not _forwarded(recorder, "/v6-refused")
    finally:
        gateway.stop()
