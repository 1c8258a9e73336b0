"""A deployment's audit settings: validation that names the field, the change audited in the
organization's chain, and the change reaching the node (the allocations' ETag moves, the
allocation's `security.audit` carries it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from citadel.contract.messages import ComponentKind
from citadel.deployment_audit.errors import InvalidAuditSettings
from citadel.deployment_audit.rules import AuditSettingsChange, check_change
from tests.fixtures.builders import grant, key_headers, make_api_key
from tests.fixtures.internal import as_component


def url(deployment: str) -> str:
    return f"/api/v1/deployments/{deployment}/security/audit/settings"


@pytest.fixture
def allocator(services) -> Iterator[TestClient]:
    with as_component(services, ComponentKind.ALLOCATOR) as c:
        yield c


def put(client, deployment: str, headers, body: dict[str, Any]):
    return client.put(url(deployment), json=body, headers=headers)


# --- validation (pure) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (AuditSettingsChange(include=["access_granted", "access_grunted"]), "body.include[1]"),
        (AuditSettingsChange(exclude=["_all"]), "body.exclude[0]"),
        (AuditSettingsChange(include=["access_granted"] * 33), "body.include"),
        (
            AuditSettingsChange(ignore_filters={"bad name": {"users": ["x"]}}),
            "body.ignore_filters.bad name",
        ),
        (AuditSettingsChange(ignore_filters={"ops": {}}), "body.ignore_filters.ops"),
        (AuditSettingsChange(ignore_filters={"ops": ["users"]}), "body.ignore_filters.ops"),
        (
            AuditSettingsChange(ignore_filters={"ops": {"hosts": ["x"]}}),
            "body.ignore_filters.ops.hosts",
        ),
        (
            AuditSettingsChange(ignore_filters={"ops": {"users": "kibana"}}),
            "body.ignore_filters.ops.users",
        ),
        (
            AuditSettingsChange(ignore_filters={"ops": {"users": []}}),
            "body.ignore_filters.ops.users",
        ),
        (
            AuditSettingsChange(ignore_filters={"ops": {"users": ["a", ""]}}),
            "body.ignore_filters.ops.users[1]",
        ),
        (
            AuditSettingsChange(ignore_filters={"ops": {"roles": ["a\nb"]}}),
            "body.ignore_filters.ops.roles[0]",
        ),
        (
            AuditSettingsChange(ignore_filters={"ops": {"indices": [7]}}),
            "body.ignore_filters.ops.indices[0]",
        ),
        (
            AuditSettingsChange(ignore_filters={f"p{i}": {"users": ["x"]} for i in range(33)}),
            "body.ignore_filters",
        ),
    ],
)
def test_invalid_settings_are_refused_naming_the_field(change, field):
    with pytest.raises(InvalidAuditSettings) as refused:
        check_change(change)

    assert refused.value.fields == [field]


def test_elasticsearch_settings_pass():
    check_change(
        AuditSettingsChange(
            enabled=True,
            include=["_all"],
            exclude=["access_granted", "authentication_success"],
            ignore_filters={
                "kibana": {"users": ["kibana_system"], "realms": ["reserved"]},
                "monitoring": {"indices": [".monitoring-*"], "actions": ["cluster:monitor/*"]},
            },
        )
    )


# --- through the API ---------------------------------------------------------------------------


def test_a_deployment_starts_with_the_trail_off(client, owner_key, deployment):
    answer = client.get(url(deployment), headers=owner_key)

    assert answer.status_code == 200
    assert answer.json() == {
        "enabled": False,
        "include": [],
        "exclude": [],
        "ignore_filters": {},
        "dropped_events": 0,
    }


def test_a_change_is_kept_and_a_partial_one_keeps_the_rest(client, owner_key, deployment):
    filters = {"kibana": {"users": ["kibana_system"]}}
    first = put(
        client,
        deployment,
        owner_key,
        {
            "enabled": True,
            "include": ["access_denied", "authentication_failed"],
            "ignore_filters": filters,
        },
    )
    assert first.status_code == 200, first.text

    second = put(client, deployment, owner_key, {"exclude": ["access_denied"]})

    assert second.status_code == 200
    body = client.get(url(deployment), headers=owner_key).json()
    assert body["enabled"] is True
    assert body["include"] == ["access_denied", "authentication_failed"]
    assert body["exclude"] == ["access_denied"]
    assert body["ignore_filters"] == filters
    assert "updated_at" in body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"include": ["access_granted", "nope"]}, "body.include[1]"),
        ({"ignore_filters": {"ops": {"hosts": ["x"]}}}, "body.ignore_filters.ops.hosts"),
        ({"enabled": "yes"}, "body.enabled"),
        ({"include": "access_granted"}, "body.include"),
        ({"verbose": True}, "body.verbose"),
    ],
)
def test_the_api_refuses_invalid_settings_naming_the_field(
    client, owner_key, deployment, body, field
):
    answer = put(client, deployment, owner_key, body)

    assert answer.status_code == 400, answer.text
    assert answer.json()["errors"][0]["fields"] == [field]
    assert client.get(url(deployment), headers=owner_key).json()["enabled"] is False


def test_a_change_is_audited_in_the_organizations_chain(client, org, owner_key, deployment):
    put(client, deployment, owner_key, {"enabled": True, "exclude": ["access_granted"]})

    events = client.get(
        f"/api/v1/organizations/{org}/audit-events",
        params={"action": "deployment.audit_settings.updated"},
        headers=owner_key,
    ).json()["events"]
    (event,) = events
    assert event["target_id"] == deployment
    assert event["details"]["changed"] == ["enabled", "exclude"]
    assert event["details"]["exclude"] == ["access_granted"]


def test_a_change_moves_the_allocations_tag_and_reaches_the_node(
    client, allocator, owner_key, deployment
):
    tag = allocator.get("/internal/v1/allocations").headers["etag"]

    put(client, deployment, owner_key, {"enabled": True, "include": ["access_denied"]})

    changed = allocator.get("/internal/v1/allocations", headers={"if-none-match": tag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != tag
    (allocation,) = changed.json()["deployments"]
    audit = allocation["security"]["audit"]
    assert audit["enabled"] is True
    assert audit["include"] == ["access_denied"]


def test_a_change_that_changes_nothing_leaves_the_tag_and_the_chain(
    client, org, allocator, owner_key, deployment
):
    put(client, deployment, owner_key, {"enabled": True})
    tag = allocator.get("/internal/v1/allocations").headers["etag"]

    put(client, deployment, owner_key, {"enabled": True})

    assert (
        allocator.get("/internal/v1/allocations", headers={"if-none-match": tag}).status_code == 304
    )
    events = client.get(
        f"/api/v1/organizations/{org}/audit-events",
        params={"action": "deployment.audit_settings.updated"},
        headers=owner_key,
    ).json()["events"]
    assert len(events) == 1


@pytest.mark.parametrize(
    ("role", "read", "change"),
    [
        ("organization-admin", 200, 200),
        ("deployment-admin", 200, 200),
        ("deployment-editor", 200, 403),
        ("deployment-viewer", 403, 403),
    ],
)
def test_admins_change_editors_only_read_viewers_neither(
    client, services, org, deployment, role, read, change
):
    headers = key_headers(make_api_key(services, org, grant(org, role)))

    assert client.get(url(deployment), headers=headers).status_code == read
    assert put(client, deployment, headers, {"enabled": True}).status_code == change
