"""Refused attempts against an organization's resources, and every sign-in outcome of its
members, appear in that organization's audit chain (issue 17.8); what belongs to no
organization stays in the platform chain (`citadel audit list --platform`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from citadel.app import create_app
from citadel.audit.service import PLATFORM_CHAIN, EventFilter, list_events
from citadel.authn import totp
from tests.fixtures.builders import (
    PASSWORD,
    add_member,
    bearer,
    login,
    make_deployment,
    make_org,
    make_user,
)

CALLER_IP = "203.0.113.7"
LOGIN = "/api/v1/users/auth/_login"


@pytest.fixture
def from_caller(services) -> Iterator[TestClient]:
    with TestClient(
        create_app(services), base_url="https://testserver", client=(CALLER_IP, 50000)
    ) as c:
        yield c


def org_events(client, org: str, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = client.get(
        f"/api/v1/organizations/{org}/audit-events", params=params, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()["events"]


def platform_events(services, action: str) -> list[Any]:
    with services.db.read() as session:
        return list_events(
            session,
            organization_id=PLATFORM_CHAIN,
            filters=EventFilter(action=action),
            after_seq=0,
            limit=100,
        )


def test_the_lockout_refusal_appears_in_the_organizations_chain(
    from_caller, services, org, owner_key
):
    dep = make_deployment(services, org)
    rules = {
        "name": "office",
        "type": "ip",
        "region": "local",
        "include_by_default": False,
        "rules": [{"source": "192.0.2.0/24"}],
    }
    made = from_caller.post(
        "/api/v1/deployments/traffic-filter/rulesets", json=rules, headers=owner_key
    )
    assert made.status_code == 201, made.text
    ruleset = made.json()["id"]
    refused = from_caller.post(
        f"/api/v1/deployments/traffic-filter/rulesets/{ruleset}/associations",
        json={"entity_type": "deployment", "id": dep},
        headers=owner_key,
    )
    assert refused.status_code == 409, refused.text

    failed = org_events(from_caller, org, owner_key, action="request.failed")
    assert [(e["details"]["code"], e["details"]["status"]) for e in failed] == [
        ("traffic_filter.would_block_caller", 409)
    ]
    assert failed[0]["target_id"] == (
        "POST /api/v1/deployments/traffic-filter/rulesets/{ruleset_id}/associations"
    )
    assert failed[0]["source_ip"] == CALLER_IP


def test_deleting_a_running_deployment_appears_in_the_organizations_chain(
    client, services, org, owner_key
):
    dep = make_deployment(services, org)
    refused = client.delete(f"/api/v1/deployments/{dep}", headers=owner_key)
    assert refused.status_code == 400, refused.text

    failed = org_events(client, org, owner_key, action="request.failed")
    assert [e["details"]["code"] for e in failed] == ["deployments.deployment_not_shutdown"]
    assert failed[0]["target_id"] == "DELETE /api/v1/deployments/{deployment_id}"


def test_a_bad_create_request_appears_in_the_organizations_chain(client, org, owner_key):
    refused = client.post("/api/v1/deployments", json={"name": 7}, headers=owner_key)
    assert refused.status_code == 400, refused.text

    failed = org_events(client, org, owner_key, action="request.failed")
    assert [(e["details"]["code"], e["target_id"]) for e in failed] == [
        ("root.invalid_data", "POST /api/v1/deployments")
    ]


def test_a_denied_request_by_someone_else_appears_in_the_named_organizations_chain(
    client, services, org, owner_key
):
    stranger = make_user(services)
    make_org(services, stranger, "Elsewhere")
    headers = bearer(login(client, services, stranger))
    client.cookies.clear()
    refused = client.put(f"/api/v1/organizations/{org}", json={"name": "Mine"}, headers=headers)
    assert refused.status_code in (403, 404), refused.text

    seen = org_events(client, org, owner_key)
    assert any(
        e["actor_id"] == stranger.user_id and e["action"].startswith("request.") for e in seen
    )


def test_every_sign_in_outcome_of_a_member_appears_in_each_of_their_organizations(client, services):
    member = make_user(services)
    first = make_org(services, member, "First")
    second = make_org(services, make_user(services), "Second")
    add_member(services, second, member)
    client.post(LOGIN, json={"username": member.email, "password": "not the password"})
    client.post(LOGIN, json={"username": member.email, "password": PASSWORD})
    session = bearer(login(client, services, member))
    client.cookies.clear()

    for org in (first, second):
        with services.db.read() as s:
            events = list_events(
                s,
                organization_id=org,
                filters=EventFilter(action="user.signin"),
                after_seq=0,
                limit=10,
            )
        outcomes = [(e.outcome, e.details.get("reason")) for e in reversed(events)]
        assert outcomes == [
            ("failure", "bad_password"),
            ("failure", "second_factor_missing"),
            ("success", None),
        ]
        assert all(e.target_id == member.user_id for e in events)
    assert org_events(client, first, session, action="user.signin")  # readable through the API


def test_a_throttled_sign_in_of_a_member_appears_in_their_organization(client, services):
    member = make_user(services)
    org = make_org(services, member)
    for _ in range(services.policies.signin_pair_failures + 1):
        client.post(LOGIN, json={"username": member.email, "password": "not the password"})
    with services.db.read() as s:
        events = list_events(s, organization_id=org, filters=EventFilter(), after_seq=0, limit=20)
    assert events[0].details["reason"] == "throttled"
    assert events[0].details["throttle"] == "pair_blocked"


def test_totp_enrolment_appears_in_the_members_organization(client, services):
    member = make_user(services, with_totp=False)
    org = make_org(services, member)
    token = bearer(login(client, services, member))
    client.cookies.clear()
    started = client.post("/api/v1/users/auth/mfa/totp", headers=token).json()
    secret = started["secret"]
    import base64

    raw = base64.b32decode(secret + "=" * (-len(secret) % 8))
    code = totp.code_at(raw, totp.counter_at(services.clock.now()))
    confirmed = client.post(
        "/api/v1/users/auth/mfa/totp/_confirm", json={"code": code}, headers=token
    )
    assert confirmed.status_code == 200, confirmed.text

    actions = [e["action"] for e in reversed(org_events(client, org, token))]
    assert "user.totp.enrollment_started" in actions
    assert "user.totp.enabled" in actions


def test_an_unknown_accounts_sign_in_stays_in_the_platform_chain(client, services, org):
    client.post(LOGIN, json={"username": "nobody@example.com", "password": "not the password"})

    events = platform_events(services, "user.signin")
    assert [(e.outcome, e.details["known_account"]) for e in events] == [("failure", False)]
