"""`citadel up` says plainly, at start-up and without stopping, when deployment names do not
reach its gateway (clients connecting by Cloud ID would fail)."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import citadel_up, trust
from tests.e2e.test_clients_by_cloud_id import _needs_localhost_names

pytestmark = pytest.mark.e2e

SAID = "clients connecting by cloud_id will fail"


def _said(tmp_path) -> str:
    """What `citadel up` printed, its line wrapping undone."""
    return " ".join((tmp_path / "citadel-up.log").read_text().split())


def test_a_deployment_domain_that_does_not_resolve_is_said_plainly_and_is_not_fatal(
    services, data_dir, postgres_url, tmp_path
):
    services.close()
    with citadel_up(
        data_dir, postgres_url, tmp_path, CITADEL_DEPLOYMENT_DOMAIN="citadel.invalid"
    ) as (endpoints, _, _):
        health = httpx.get(f"{endpoints['api_url']}/_health", verify=trust(endpoints))
        assert health.status_code == 200
    said = _said(tmp_path)
    assert (
        "Deployment names under *.local.citadel.invalid do not resolve to the gateway on this "
        f"machine: {SAID}. Install libnss-myhostname (make run does) or point a wildcard DNS "
        "name at the gateway and set CITADEL_DEPLOYMENT_DOMAIN"
    ) in said


def test_the_default_domain_resolves_to_the_gateway_and_nothing_is_said(
    services, data_dir, postgres_url, tmp_path
):
    _needs_localhost_names()
    services.close()
    with citadel_up(data_dir, postgres_url, tmp_path) as (endpoints, _, _):
        assert "gateway_url" in endpoints
    said = _said(tmp_path)  # read once `citadel up` ended: its output is all written
    assert "Citadel is up" in said
    assert SAID not in said
