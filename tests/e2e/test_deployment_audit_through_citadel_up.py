"""A deployment's security audit trail for real: `citadel up`, a sandboxed node, the gateway.
The audit settings changed through the API reach the node (the allocator's security file);
the node's events (a wrong password, a run-as refused, a user created) and the gateway's
connection_denied (a traffic filter, a client on another loopback address) are shipped to the
control plane and read back through the API, with the password never in them."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable

import httpx
import pytest

from tests.e2e.test_deployment_through_gateway import (
    _create_running_deployment,
    _wait_for_gateway_route,
)
from tests.e2e.test_traffic_filters_through_gateway import Platform, get_from, platform

pytestmark = pytest.mark.e2e
__all__ = ["platform"]  # the fixture, used by name
SECRET = "not-this-password-7f1e"


def eventually(check: Callable[[], object], what: str, timeout: float = 60) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.25)
    pytest.fail(f"never: {what}")


def through_gateway(p: Platform, deployment: str, method: str, path: str, **kwargs):
    from tests.e2e.conftest import trust

    return httpx.request(
        method,
        f"{p.endpoints['gateway_url']}{path}",
        headers={"X-Found-Cluster": deployment, **kwargs.pop("headers", {})},
        verify=trust(p.endpoints),
        timeout=10,
        **kwargs,
    )


def audit(p: Platform, deployment: str, **params: str) -> list[dict]:
    answer = p.api("GET", f"/deployments/{deployment}/security/audit", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()["events"]


def test_node_and_gateway_events_reach_the_deployments_audit_trail(platform: Platform):
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed")
    p = platform
    deployment, password = _create_running_deployment(p.endpoints, p.key)
    _wait_for_gateway_route(p.endpoints, deployment, password)
    settings = {"enabled": True, "include": ["_all"]}
    changed = p.api("PUT", f"/deployments/{deployment}/security/audit/settings", json=settings)
    assert changed.status_code == 200, changed.text

    def refused_sign_in() -> list[dict]:
        wrong = through_gateway(p, deployment, "GET", "/", auth=("mallory", SECRET))
        assert wrong.status_code == 401
        return audit(p, deployment, action="authentication_failed", principal="mallory")

    # the settings reach the node through the allocator's file: retry until they have
    (event,) = eventually(refused_sign_in, "a failed sign-in in the audit trail")[:1]
    assert event["origin_address"] == "127.0.0.1"
    assert event["event"]["event.action"] == "authentication_failed"

    made = through_gateway(
        p,
        deployment,
        "PUT",
        "/_security/user/carol",
        auth=("elastic", password),
        json={"password": SECRET, "roles": ["viewer"]},
    )
    assert made.status_code == 200, made.text
    run_as = through_gateway(
        p,
        deployment,
        "GET",
        "/_security/_authenticate",
        auth=("carol", SECRET),
        headers={"es-security-runas-user": "elastic"},
    )
    assert run_as.status_code == 403
    eventually(
        lambda: audit(p, deployment, action="run_as_denied", principal="carol"),
        "the refused run-as in the audit trail",
    )

    office = p.cli("traffic-filter", "create", "--name", "office", "--source", "127.0.0.2/32")["id"]
    p.cli("traffic-filter", "associate", office, deployment, "--force")
    eventually(
        lambda: get_from("127.0.0.3", p, deployment, password).status_code == 403,
        "the traffic filter to take effect",
    )
    (denied,) = eventually(
        lambda: [
            e
            for e in audit(p, deployment, action="connection_denied")
            if e["origin_address"] == "127.0.0.3"
        ],
        "the gateway's connection_denied in the audit trail",
    )[:1]
    assert denied["event"]["rule"] == "BLOCKED_BY_IP_FILTER"

    everything = p.api(
        "GET", f"/deployments/{deployment}/security/audit", params={"format": "ndjson"}
    )
    assert everything.status_code == 200
    assert SECRET not in everything.text
    assert password not in everything.text
