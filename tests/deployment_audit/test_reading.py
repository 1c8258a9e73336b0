"""Reading a deployment's security audit trail through the API: newest first, filters, paging,
NDJSON export, and who may read it."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from citadel.deployment_audit.service import MAX_PAGE
from tests.deployment_audit.conftest import audit_event, minutes_ago, ship
from tests.fixtures.builders import (
    grant,
    key_headers,
    make_api_key,
    make_deployment,
    make_org,
    make_user,
)


def url(deployment: str) -> str:
    return f"/api/v1/deployments/{deployment}/security/audit"


def read(client, deployment: str, headers, **params: Any) -> dict[str, Any]:
    answer = client.get(url(deployment), params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def request_ids(body: dict[str, Any]) -> list[str]:
    return [e["request_id"] for e in body["events"]]


@pytest.fixture
def trail(services, deployment) -> str:
    """Five events over five minutes, of several kinds, users, realms and indices."""
    ship(
        services,
        deployment,
        [
            audit_event(
                "authentication_failed",
                at=minutes_ago(services, 5),
                user="mallory",
                realm="native1",
                request_id="r5",
            ),
            audit_event(
                "access_granted",
                at=minutes_ago(services, 4),
                user="alice",
                indices=["logs-2026.12", "metrics"],
                request_id="r4",
            ),
            audit_event(
                "access_denied",
                at=minutes_ago(services, 3),
                user="bob",
                realm="saml1",
                indices=["secrets"],
                request_id="r3",
            ),
            audit_event(
                "access_granted",
                at=minutes_ago(services, 2),
                user="bob",
                realm="saml1",
                indices=["logs_archive"],
                request_id="r2",
            ),
            audit_event(
                "security_config_change",
                at=minutes_ago(services, 1),
                user="alice",
                request_id="r1",
            ),
        ],
    )
    return deployment


def test_events_come_newest_first_with_their_fields(client, owner_key, trail):
    body = read(client, trail, owner_key)

    assert request_ids(body) == ["r1", "r2", "r3", "r4", "r5"]
    granted = body["events"][3]
    assert granted["action"] == "access_granted"
    assert granted["principal"] == "alice"
    assert granted["realm"] == "native1"
    assert granted["origin_address"] == "192.0.2.10:50512"
    assert granted["indices"] == ["logs-2026.12", "metrics"]
    assert granted["event"]["event.action"] == "access_granted"
    assert body["dropped_events"] == 0
    assert "next_cursor" not in body


def test_filter_by_event_types_repeated_or_comma_separated(client, owner_key, trail):
    repeated = read(client, trail, owner_key, action=["access_denied", "authentication_failed"])
    commas = read(client, trail, owner_key, action="access_denied,authentication_failed")

    assert request_ids(repeated) == request_ids(commas) == ["r3", "r5"]


def test_filter_by_principal_and_realm(client, owner_key, trail):
    assert request_ids(read(client, trail, owner_key, principal="bob")) == ["r2", "r3"]
    assert request_ids(read(client, trail, owner_key, principal="bob", realm="saml1")) == [
        "r2",
        "r3",
    ]
    assert request_ids(read(client, trail, owner_key, realm="native1", principal="bob")) == []


def test_filter_by_time(client, services, owner_key, trail):
    since = minutes_ago(services, 4.5).isoformat()
    until = minutes_ago(services, 2.5).isoformat()

    body = read(client, trail, owner_key, since=since, until=until)

    assert request_ids(body) == ["r3", "r4"]


def test_filter_by_text_in_an_index_takes_wildcards_literally(client, owner_key, trail):
    assert request_ids(read(client, trail, owner_key, index="logs")) == ["r2", "r4"]
    assert request_ids(read(client, trail, owner_key, index="logs_")) == ["r2"]
    assert request_ids(read(client, trail, owner_key, index="%")) == []
    assert request_ids(read(client, trail, owner_key, index="LOGS-")) == ["r4"]


def test_pages_follow_the_cursor_to_the_oldest(client, owner_key, trail):
    seen: list[str] = []
    params: dict[str, Any] = {"size": 2}
    while True:
        body = read(client, trail, owner_key, **params)
        seen += request_ids(body)
        if "next_cursor" not in body:
            break
        params["cursor"] = body["next_cursor"]

    assert seen == ["r1", "r2", "r3", "r4", "r5"]


def test_paging_is_stable_for_events_of_one_instant(client, services, owner_key, deployment):
    at = minutes_ago(services, 1)
    ship(services, deployment, [audit_event(at=at, request_id=f"same{i}") for i in range(5)])

    first = read(client, deployment, owner_key, size=3)
    rest = read(client, deployment, owner_key, size=3, cursor=first["next_cursor"])

    ids = [e["id"] for e in first["events"] + rest["events"]]
    assert len(set(ids)) == 5
    assert ids == sorted(ids, reverse=True)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "not-a-cursor"}, "query.cursor"),
        ({"action": "access_grunted"}, "query.action[0]"),
        ({"action": "access_granted,nope"}, "query.action[1]"),
        ({"since": "2026-12-07T02:00:00Z", "until": "2026-12-07T01:00:00Z"}, "query.since"),
        ({"size": MAX_PAGE + 1}, "query.size"),
    ],
)
def test_a_bad_query_is_refused_naming_the_parameter(client, owner_key, trail, params, field):
    answer = client.get(url(trail), params=params, headers=owner_key)

    assert answer.status_code == 400, answer.text
    assert answer.json()["errors"][0]["fields"] == [field]


def test_ndjson_export_streams_every_match_as_the_node_wrote_it(
    client, services, owner_key, deployment
):
    now = services.clock.now()
    events = [
        audit_event(at=now - timedelta(seconds=i), request_id=f"e{i}") for i in range(MAX_PAGE + 7)
    ]
    ship(services, deployment, events)

    answer = client.get(url(deployment), params={"format": "ndjson"}, headers=owner_key)

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in answer.headers["content-disposition"]
    lines = [json.loads(line) for line in answer.text.splitlines()]
    assert lines == events  # newest first: e0 is the newest


def test_ndjson_export_applies_the_filters(client, owner_key, trail):
    answer = client.get(
        url(trail), params={"format": "ndjson", "principal": "alice"}, headers=owner_key
    )

    assert [json.loads(line)["request.id"] for line in answer.text.splitlines()] == ["r1", "r4"]


# --- who reads ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("organization-admin", 200),
        ("deployment-admin", 200),
        ("deployment-editor", 200),
        ("deployment-viewer", 403),
    ],
)
def test_editors_admins_and_owners_read_viewers_do_not(client, services, org, trail, role, status):
    headers = key_headers(make_api_key(services, org, grant(org, role)))

    assert client.get(url(trail), headers=headers).status_code == status
    export = client.get(url(trail), params={"format": "ndjson"}, headers=headers)
    assert export.status_code == status


def test_an_admin_of_another_deployment_gets_not_found(client, services, org, trail):
    other = make_deployment(services, org, name="other")
    headers = key_headers(make_api_key(services, org, grant(org, "deployment-admin", other)))

    answer = client.get(url(trail), headers=headers)

    assert answer.status_code == 404
    assert answer.json()["errors"][0]["code"] == "deployments.deployment_not_found"


def test_another_organizations_owner_sees_nothing(client, services, trail):
    stranger_org = make_org(services, make_user(services), name="Elsewhere")
    headers = key_headers(make_api_key(services, stranger_org))

    assert client.get(url(trail), headers=headers).status_code == 404
    export = client.get(url(trail), params={"format": "ndjson"}, headers=headers)
    assert export.status_code == 404


def test_events_of_another_deployment_never_show(client, services, org, owner_key, trail):
    other = make_deployment(services, org, name="other")
    ship(services, other, [audit_event(at=minutes_ago(services, 1), request_id="elsewhere")])

    assert "elsewhere" not in request_ids(read(client, trail, owner_key))
    assert request_ids(read(client, other, owner_key)) == ["elsewhere"]
