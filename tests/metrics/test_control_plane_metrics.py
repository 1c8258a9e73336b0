"""The control plane's metrics endpoint under a real `citadel up`: requests counted by route
template (never the raw path), sign-ins by outcome and reason, audit writes by family."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import admin_key, citadel_up, trust
from tests.metrics.scrape import free_port, get, scrape, token_of, value

pytestmark = pytest.mark.e2e

ORG_ROUTE = "/api/v1/organizations/{organization_id}"
LOGIN_ROUTE = "/api/v1/users/auth/_login"


@pytest.fixture
def up(services, data_dir: Path, postgres_url, tmp_path: Path):
    services.close()
    port = free_port()
    env = {
        "CITADEL_CONTROL_PLANE_METRICS_PORT": str(port),
        "CITADEL_ALLOCATOR_METRICS_PORT": "0",
        "CITADEL_GATEWAY_METRICS_PORT": "0",
    }
    with citadel_up(data_dir, postgres_url, tmp_path, **env) as (endpoints, _api, env_used):
        yield data_dir, port, endpoints, env_used


def test_the_endpoint_wants_the_token_and_serves_only_metrics(up) -> None:
    data_dir, port, _, _ = up
    assert get(data_dir, port).status_code == 401
    assert get(data_dir, port, token="wrong").status_code == 401
    assert get(data_dir, port, "/api/v1/organizations", token=token_of(data_dir)).status_code == 404
    assert get(data_dir, port, token=token_of(data_dir)).status_code == 200


def test_requests_are_counted_by_route_template_and_status(up) -> None:
    data_dir, port, endpoints, env = up
    org = endpoints["organization_id"]
    key = admin_key(data_dir, endpoints, env)
    before = scrape(data_dir, port)
    auth = {"Authorization": f"ApiKey {key}"}
    with httpx.Client(verify=trust(endpoints), headers=auth, timeout=30) as api:
        assert api.get(f"{endpoints['api_url']}/organizations/{org}").status_code == 200
        assert api.get(f"{endpoints['api_url']}/no/such/route/{org}").status_code == 404
    after = scrape(data_dir, port)

    def moved(**labels: str) -> float:
        name = "citadel_http_requests_total"
        return (value(after, name, **labels) or 0) - (value(before, name, **labels) or 0)

    public = {"listener": "public", "method": "GET"}
    assert moved(**public, route=ORG_ROUTE, status="200") == 1
    assert moved(**public, route="unmatched", status="404") == 1
    assert not [
        labels for (_, labels) in after if ("route", f"/api/v1/organizations/{org}") in labels
    ]
    latency = "citadel_http_request_duration_seconds_count"
    assert value(after, latency, **public, route=ORG_ROUTE) >= 1
    # the allocator's polls arrive on the internal listener, under their own template
    internal = [
        dict(labels)
        for (name, labels), v in after.items()
        if name == "citadel_http_requests_total" and ("listener", "internal") in labels and v
    ]
    assert all(not labels["route"].endswith(org) for labels in internal)


def test_sign_ins_and_audit_writes_are_counted_once_committed(up) -> None:
    data_dir, port, endpoints, _ = up
    before = scrape(data_dir, port)
    login = f"{endpoints['api_url']}/users/auth/_login"
    with httpx.Client(verify=trust(endpoints), timeout=30) as client:
        wrong = {"username": "owner@example.com", "password": "not the password at all"}
        assert client.post(login, json=wrong).status_code == 401
        right = {"username": "owner@example.com", "password": "e2e owner password 123"}
        assert client.post(login, json=right).status_code == 200
    after = scrape(data_dir, port)

    def moved(name: str, **labels: str) -> float:
        return (value(after, name, **labels) or 0) - (value(before, name, **labels) or 0)

    signins = "citadel_signins_total"
    assert moved(signins, method="password", outcome="failure", reason="bad_password") == 1
    assert moved(signins, method="password", outcome="success", reason="none") == 1
    audit = "citadel_audit_events_written_total"
    assert moved(audit, family="user", outcome="failure") >= 1
    assert moved(audit, family="user", outcome="success") >= 1
    assert (
        moved(
            "citadel_http_requests_total",
            listener="public",
            method="POST",
            route=LOGIN_ROUTE,
            status="401",
        )
        == 1
    )
