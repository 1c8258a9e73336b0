"""Quotas (issue 17.3): organizations a user owns, deployments per organization, API keys a
user made. Past each, the request is a 409 whose code names the quota, and the refusal is an
audit event (``quota.exceeded``, outcome denied) kept although the request failed. Limits of 2
here (the settings' defaults are 10, 20 and 50); the platform's own calls (the builders) are
not subject to quotas."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from citadel.app import create_app
from citadel.audit.models import AuditEvent
from citadel.authn.quotas import Quotas
from citadel.bootstrap import Services
from citadel.config import Settings
from tests.fixtures.builders import (
    TestUser,
    bearer,
    login,
    make_api_key,
    make_deployment,
    make_org,
    make_user,
)

LIMITS = Quotas(organizations_per_user=2, deployments_per_organization=2, api_keys_per_user=2)


@pytest.fixture
def api(services: Services) -> Iterator[TestClient]:
    """The application with quotas of 2."""
    limited = dataclasses.replace(services.policies, quotas=LIMITS)
    app = create_app(dataclasses.replace(services, policies=limited))
    with TestClient(app, base_url="https://testserver") as c:
        yield c


@pytest.fixture
def user(services: Services) -> TestUser:
    return make_user(services)


def signed_in(api: TestClient, services: Services, user: TestUser) -> dict[str, str]:
    return bearer(login(api, services, user))


def refusals(services: Services, quota: str) -> list[AuditEvent]:
    with services.db.read() as session:
        rows = session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.action == "quota.exceeded")
            .order_by(AuditEvent.occurred_at)
        ).all()
    return [r for r in rows if r.details.get("quota") == quota]


def assert_refused(response: Any, quota: str) -> None:
    assert response.status_code == 409, response.text
    error = response.json()["errors"][0]
    assert error["code"] == f"quota.{quota}"
    assert error["details"] == {"quota": quota, "limit": 2}


def test_the_quotas_are_settings_with_safe_defaults() -> None:
    fields = Settings.model_fields
    assert fields["quota_organizations_per_user"].default == 10
    assert fields["quota_deployments_per_organization"].default == 20
    assert fields["quota_api_keys_per_user"].default == 50
    with pytest.raises(ValueError, match="quota_api_keys_per_user"):
        Settings(quota_api_keys_per_user=0)


# -- organizations a user owns ------------------------------------------------------------------


def found(api: TestClient, headers: dict[str, str], name: str) -> Any:
    return api.post("/api/v1/organizations", json={"name": name}, headers=headers)


def test_a_user_founds_organizations_up_to_the_quota(api, services, user) -> None:
    headers = signed_in(api, services, user)
    assert found(api, headers, "First").status_code == 201
    assert found(api, headers, "Second").status_code == 201
    assert_refused(found(api, headers, "Third"), "organizations_per_user")


def test_a_refused_founding_is_audited_on_the_platform_chain(api, services, user) -> None:
    make_org(services, user, "One")
    make_org(services, user, "Two")
    headers = signed_in(api, services, user)
    assert_refused(found(api, headers, "Three"), "organizations_per_user")
    [event] = refusals(services, "organizations_per_user")
    assert event.organization_id is None
    assert event.outcome == "denied"
    assert event.actor_id == user.user_id
    assert event.details == {"quota": "organizations_per_user", "limit": 2, "held": 2}
    with services.db.read() as session:  # and nothing else was written
        names = session.scalars(sa.text("SELECT name FROM organizations")).all()
    assert "Three" not in names


def test_another_user_is_not_held_by_someone_elses_organizations(api, services, user) -> None:
    make_org(services, user, "One")
    make_org(services, user, "Two")
    other = make_user(services)
    assert found(api, signed_in(api, services, other), "Mine").status_code == 201


# -- deployments per organization ---------------------------------------------------------------


def create(api: TestClient, headers: dict[str, str]) -> Any:
    return api.post("/api/v1/deployments", json={"name": "search"}, headers=headers)


def test_an_organization_holds_deployments_up_to_the_quota(api, services, org, owner_key) -> None:
    assert create(api, owner_key).status_code == 201
    assert create(api, owner_key).status_code == 201
    assert_refused(create(api, owner_key), "deployments_per_organization")
    [event] = refusals(services, "deployments_per_organization")
    assert event.organization_id == org
    assert event.outcome == "denied"
    assert event.details["held"] == 2


def test_a_deleted_deployment_frees_its_place(api, services, org, owner_key) -> None:
    make_deployment(services, org)
    gone = make_deployment(services, org, stopped=True)
    assert_refused(create(api, owner_key), "deployments_per_organization")
    assert api.delete(f"/api/v1/deployments/{gone}", headers=owner_key).status_code == 200
    assert create(api, owner_key).status_code == 201


def test_validate_only_does_not_count_against_the_quota(api, services, org, owner_key) -> None:
    make_deployment(services, org)
    checked = api.post(
        "/api/v1/deployments",
        json={"name": "check"},
        headers=owner_key,
        params={"validate_only": "true"},
    )
    assert checked.status_code == 200, checked.text
    assert create(api, owner_key).status_code == 201


# -- API keys a user made ----------------------------------------------------------------------


def make_key(api: TestClient, headers: dict[str, str], org: str) -> Any:
    return api.post(
        "/api/v1/users/auth/keys",
        json={"description": "ci"},
        headers=headers,
        params={"organization_id": org},
    )


def test_a_user_makes_api_keys_up_to_the_quota(api, services, user) -> None:
    org = make_org(services, user)
    headers = signed_in(api, services, user)
    assert make_key(api, headers, org).status_code == 201
    assert make_key(api, headers, org).status_code == 201
    assert_refused(make_key(api, headers, org), "api_keys_per_user")
    [event] = refusals(services, "api_keys_per_user")
    assert event.organization_id == org
    assert event.actor_id == user.user_id


def test_the_api_key_quota_counts_every_organization_and_only_active_keys(
    api, services, user
) -> None:
    first, second = make_org(services, user, "One"), make_org(services, user, "Two")
    make_api_key(services, first, created_by=user.user_id, expiration="30d")
    make_api_key(services, second, created_by=user.user_id, expiration="1d")
    make_api_key(services, first)  # the platform's keys count for no user
    headers = signed_in(api, services, user)
    assert_refused(make_key(api, headers, first), "api_keys_per_user")
    services.clock.advance(days=2)
    headers = signed_in(api, services, user)
    assert make_key(api, headers, first).status_code == 201
