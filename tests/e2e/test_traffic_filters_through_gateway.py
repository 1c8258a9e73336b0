"""Traffic filters for real: `citadel up`, a sandboxed node, the gateway, clients on distinct
loopback addresses (Linux routes all of 127.0.0.0/8 to lo), a PROXY v2 load balancer's header
built with the independent `proxy-protocol` encoder, and the CLI."""

from __future__ import annotations

import base64
import json
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

import httpx
import pytest
from proxyprotocol.result import ProxyResultIPv4, ProxyResultLocal
from proxyprotocol.tlv import ProxyProtocolTLV
from proxyprotocol.v2 import ProxyProtocolV2

from tests.e2e.conftest import admin_key, citadel_up, free_port, trust
from tests.e2e.test_deployment_through_gateway import (
    _create_running_deployment,
    _wait_for_gateway_route,
)

pytestmark = pytest.mark.e2e
CITADEL = str(Path(sys.executable).parent / "citadel")


def forbidden(client: str) -> dict:
    """The gateway's 403 for `client`: an Elasticsearch error naming it."""
    reason = (
        f"Traffic from {client} is not allowed by this deployment's traffic filters; an "
        "organization admin can add a rule that admits it."
    )
    cause = {"type": "traffic_filter.blocked", "reason": reason}
    return {"error": {"root_cause": [cause], **cause}, "status": 403}


LB = "127.0.0.5"


@dataclass
class Platform:
    endpoints: dict
    env: dict
    key: str
    proxy_port: int
    log: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"ApiKey {self.key}"}

    def api(self, method: str, path: str, **kwargs) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.endpoints['api_url']}{path}",
            headers=self.headers,
            verify=trust(self.endpoints),
            **kwargs,
        )

    def cli(self, *args: str) -> dict:
        result = subprocess.run(
            [CITADEL, *args, "--output", "json", "--api-key", self.key],
            capture_output=True,
            text=True,
            env={
                **self.env,
                "CITADEL_API_URL": self.endpoints["api_url"],
                "CITADEL_CA_FILE": self.endpoints["ca_file"],
            },
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture
def platform(services, data_dir: Path, postgres_url, tmp_path: Path):
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed")
    services.close()
    proxy_port = free_port()
    with citadel_up(
        data_dir,
        postgres_url,
        tmp_path,
        CITADEL_REGIONS='["local", "elsewhere"]',
        CITADEL_STATIC_IPS='{"local": {"ingress": ["192.0.2.10/32"], "egress": []}}',
        CITADEL_GATEWAY_PROXY_PORT=str(proxy_port),
        CITADEL_GATEWAY_PROXY_TRUSTED_CIDRS=f"{LB}/32",
        CITADEL_GATEWAY_PROXY_VENDOR="aws",
    ) as (endpoints, _, env):
        key = admin_key(data_dir, endpoints, env)
        yield Platform(endpoints, env, key, proxy_port, tmp_path / "citadel-up.log")


def eventually(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    pytest.fail(f"never: {what}")


def get_from(source: str, p: Platform, deployment: str, password: str) -> httpx.Response:
    """GET / of the deployment through the gateway, from the loopback address `source`."""
    transport = httpx.HTTPTransport(local_address=source, verify=trust(p.endpoints))
    with httpx.Client(transport=transport, timeout=10) as client:
        return client.get(
            f"{p.endpoints['gateway_url']}/",
            headers={"X-Found-Cluster": deployment},
            auth=("elastic", password),
        )


def status_from(source: str, p: Platform, deployment: str, password: str) -> int:
    return get_from(source, p, deployment, password).status_code


def test_ip_filters_admit_block_combine_and_reopen(platform: Platform):
    p = platform
    deployment, password = _create_running_deployment(p.endpoints, p.key)
    _wait_for_gateway_route(p.endpoints, deployment, password)
    # Open: no ruleset, everyone passes.
    assert status_from("127.0.0.2", p, deployment, password) == 200
    assert status_from("127.0.0.3", p, deployment, password) == 200

    office = p.cli("traffic-filter", "create", "--name", "office", "--source", "127.0.0.2/32")["id"]
    # The API client calls from 127.0.0.1: associating would lock it out, so the guard asks.
    refused = p.api(
        "POST",
        f"/deployments/traffic-filter/rulesets/{office}/associations",
        json={"entity_type": "deployment", "id": deployment},
    )
    assert refused.status_code == 409
    assert refused.json()["errors"][0]["code"] == "traffic_filter.would_block_caller"
    p.cli("traffic-filter", "associate", office, deployment, "--force")

    eventually(
        lambda: status_from("127.0.0.3", p, deployment, password) == 403,
        "the association to take effect",
    )
    blocked = get_from("127.0.0.3", p, deployment, password)
    assert blocked.json() == forbidden("127.0.0.3")
    assert status_from("127.0.0.2", p, deployment, password) == 200
    events = [json.loads(line) for line in p.log.read_text().splitlines() if "BLOCKED_BY" in line]
    assert any(e.get("client_ip") == "127.0.0.3" for e in events), p.log.read_text()[-2000:]

    # A second ruleset ORs with the first.
    lab = p.cli("traffic-filter", "create", "--name", "lab", "--source", "127.0.0.3")["id"]
    p.cli("traffic-filter", "associate", lab, deployment, "--force")
    eventually(lambda: status_from("127.0.0.3", p, deployment, password) == 200, "OR")
    assert status_from("127.0.0.2", p, deployment, password) == 200
    assert status_from("127.0.0.4", p, deployment, password) == 403

    shown = p.api("GET", f"/deployments/{deployment}").json()
    assert sorted(shown["settings"]["traffic_filter_settings"]["rulesets"]) == sorted([office, lab])

    # Removing every association reopens the deployment.
    p.cli("traffic-filter", "disassociate", office, deployment)
    p.cli("traffic-filter", "disassociate", lab, deployment)
    eventually(lambda: status_from("127.0.0.4", p, deployment, password) == 200, "reopen")

    listed = p.cli("traffic-filter", "list")["rulesets"]
    assert {r["id"]: r["total_associations"] for r in listed} == {office: 0, lab: 0}
    assert p.cli("static-ips")["regions"]["local"] == {"ingress": ["192.0.2.10/32"], "egress": []}


def test_include_by_default_applies_to_new_deployments_of_its_region_only(platform: Platform):
    p = platform
    existing = p.api("POST", "/deployments", json={"name": "before"}).json()["id"]
    default = p.cli(
        "traffic-filter",
        "create",
        "--name",
        "everyone-new",
        "--source",
        "10.0.0.0/8",
        "--include-by-default",
    )["id"]
    here = p.api("POST", "/deployments", json={"name": "here"}).json()["id"]
    there = p.api("POST", "/deployments", json={"name": "there", "region": "elsewhere"})
    assert there.status_code == 201, there.text

    def rulesets(deployment: str) -> list[str]:
        path = f"/deployments/traffic-filter/associations/deployment/{deployment}/rulesets"
        return p.api("GET", path).json()["rulesets"]

    assert rulesets(here) == [default]
    assert rulesets(there.json()["id"]) == []
    assert rulesets(existing) == []


def through_lb(
    p: Platform, header: bytes, deployment: str, password: str, *, source: str = LB
) -> tuple[int, bytes]:
    """One request over the PROXY listener: the header, then TLS, then HTTP/1.1."""
    sock = socket.create_connection(
        ("127.0.0.1", p.proxy_port), timeout=10, source_address=(source, 0)
    )
    host = f"{deployment}.local.citadel.localhost"
    with sock:
        sock.sendall(header)
        with trust(p.endpoints).wrap_socket(sock, server_hostname=host) as tls:
            basic = base64.b64encode(f"elastic:{password}".encode()).decode()
            tls.sendall(
                f"GET / HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {basic}\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def vpce_header(vpce: str) -> bytes:
    return ProxyProtocolV2().pack(
        ProxyResultIPv4(
            (IPv4Address("203.0.113.7"), 51234),
            (IPv4Address("10.0.0.2"), 443),
            protocol=socket.SOCK_STREAM,
            tlv=ProxyProtocolTLV(init={0xEA: b"\x01" + vpce.encode()}),
        )
    )


def test_private_link_admits_its_endpoint_through_the_trusted_lb_only(platform: Platform):
    p = platform
    deployment, password = _create_running_deployment(p.endpoints, p.key)
    _wait_for_gateway_route(p.endpoints, deployment, password)
    made = p.api(
        "POST",
        "/deployments/traffic-filter/rulesets",
        json={
            "name": "vpc",
            "region": "local",
            "type": "vpce",
            "include_by_default": False,
            "rules": [{"source": "vpce-0aaa"}],
        },
    )
    ruleset = made.json()["id"]
    associated = p.api(
        "POST",
        f"/deployments/traffic-filter/rulesets/{ruleset}/associations",
        params={"force": "true"},
        json={"entity_type": "deployment", "id": deployment},
    )
    assert associated.status_code == 201, associated.text
    eventually(
        lambda: status_from("127.0.0.2", p, deployment, password) == 403,
        "the private-link filter to apply to direct traffic",
    )

    status, _ = through_lb(p, vpce_header("vpce-0aaa"), deployment, password)
    assert status == 200
    status, body = through_lb(p, vpce_header("vpce-0bbb"), deployment, password)
    expected = forbidden("203.0.113.7 through private endpoint aws:vpce-0bbb")
    assert (status, json.loads(body)) == (403, expected)
    local = ProxyProtocolV2().pack(ProxyResultLocal())
    status, _ = through_lb(p, local, deployment, password)
    assert status == 403  # LOCAL carries no endpoint: the LB itself is not a private link

    # The same forged header from an address that is not the load balancer: dropped.
    with pytest.raises((OSError, ssl.SSLError)):
        through_lb(p, vpce_header("vpce-0aaa"), deployment, password, source="127.0.0.9")
    # And on the ordinary listener a PROXY header is just bad input.
    gateway_port = int(p.endpoints["gateway_url"].rsplit(":", 1)[1])
    direct = Platform(p.endpoints, p.env, p.key, gateway_port, p.log)
    with pytest.raises((OSError, ssl.SSLError)):
        through_lb(direct, vpce_header("vpce-0aaa"), deployment, password)

    log = p.log.read_text()
    assert "BLOCKED_BY_PRIVATE_LINK_FILTER" in log
    assert "aws:vpce-0bbb" in log
