"""Recording what nodes ship, and retention (`citadel.deployment_audit.service`)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from citadel.config import Settings
from citadel.contract.messages import AuditSettings
from citadel.deployment_audit.errors import TooManyAuditEvents
from citadel.deployment_audit.models import DeploymentAuditEvent
from citadel.deployment_audit.service import (
    MAX_EVENT_BYTES,
    MAX_SHIPMENT,
    prune,
    settings_for_node,
)
from citadel.deployments.errors import DeploymentNotFound
from citadel.roots.control_plane import build
from tests.deployment_audit.conftest import audit_event, minutes_ago, ship
from tests.fixtures.builders import make_deployment


def stored(services, deployment: str) -> list[DeploymentAuditEvent]:
    with services.db.read() as session:
        E = DeploymentAuditEvent
        stmt = sa.select(E).where(E.deployment_id == deployment).order_by(E.at)
        return list(session.scalars(stmt))


def dropped(services, deployment: str, owner_key, client) -> int:
    answer = client.get(f"/api/v1/deployments/{deployment}/security/audit", headers=owner_key)
    return answer.json()["dropped_events"]


def test_a_shipped_event_is_kept_whole_with_its_searched_fields(services, deployment):
    event = audit_event(
        "access_denied",
        at=minutes_ago(services, 1),
        user="bob",
        realm="saml1",
        indices=["logs-1", "metrics"],
        request_id="r-42",
        action="indices:data/read/search",
    )

    assert ship(services, deployment, [event]) == 1

    (row,) = stored(services, deployment)
    assert (row.action, row.principal, row.realm) == ("access_denied", "bob", "saml1")
    assert (row.origin_address, row.request_id) == ("192.0.2.10:50512", "r-42")
    assert row.indices == "logs-1,metrics"
    assert row.event == event


def test_nested_fields_are_read_like_flat_ones(services, deployment):
    event = {
        "@timestamp": minutes_ago(services, 1).isoformat(),
        "event": {"action": "authentication_failed"},
        "user": {"name": "mallory"},
        "realm": "jwt1",
    }

    ship(services, deployment, [event])

    (row,) = stored(services, deployment)
    assert (row.action, row.principal, row.realm) == ("authentication_failed", "mallory", "jwt1")


@pytest.mark.parametrize(
    "broken",
    [
        {"event.action": "access_granted"},  # no timestamp
        {"@timestamp": "yesterday", "event.action": "access_granted"},
        {"@timestamp": "2026-12-07T01:00:00", "event.action": "access_granted"},  # no zone
        {"@timestamp": "2026-12-07T01:00:00Z", "event.action": "rm -rf"},
        {"@timestamp": "2026-12-07T01:00:00Z", "event.action": ["access_granted"]},
        {"@timestamp": 1765069200, "event.action": "access_granted"},
        {"@timestamp": "1999-12-31T23:59:59Z", "event.action": "access_granted"},
        "not an object",
    ],
)
def test_a_malformed_event_is_counted_dropped_and_the_rest_kept(
    services, client, owner_key, deployment, broken
):
    good = audit_event(at=minutes_ago(services, 1))

    assert ship(services, deployment, [good, broken], dropped=3) == 1

    assert len(stored(services, deployment)) == 1
    assert dropped(services, deployment, owner_key, client) == 4


def test_dropped_counts_add_up_over_shipments(services, client, owner_key, deployment):
    ship(services, deployment, [], dropped=5)
    ship(services, deployment, [], dropped=7)

    assert dropped(services, deployment, owner_key, client) == 12


def test_an_oversized_event_keeps_only_its_searched_fields(services, deployment):
    event = audit_event(at=minutes_ago(services, 1), indices=["big"], padding="x" * MAX_EVENT_BYTES)

    ship(services, deployment, [event])

    (row,) = stored(services, deployment)
    assert row.event["citadel.truncated"] is True
    assert "padding" not in row.event
    assert row.event["user.name"] == "alice"
    assert row.event["indices"] == ["big"]


def test_nul_characters_never_reach_the_database(services, deployment):
    event = audit_event(at=minutes_ago(services, 1), user="ev\x00il", comment="a\x00b")

    ship(services, deployment, [event])

    (row,) = stored(services, deployment)
    assert row.principal == "ev\ufffdil"
    assert row.event["comment"] == "a\ufffdb"


def test_a_shipment_for_an_unknown_deployment_is_refused(services):
    with pytest.raises(DeploymentNotFound):
        ship(services, "0" * 32, [])


def test_a_shipment_beyond_the_limit_is_refused(services, deployment):
    event = audit_event(at=minutes_ago(services, 1))
    with pytest.raises(TooManyAuditEvents):
        ship(services, deployment, [event] * (MAX_SHIPMENT + 1))


def test_a_deployment_never_configured_tells_its_node_the_defaults(services, deployment):
    with services.db.read() as session:
        assert settings_for_node(session, deployment) == AuditSettings()


# --- retention ---------------------------------------------------------------------------------


def test_events_older_than_the_retention_are_pruned(services, deployment):
    now = services.clock.now()
    ship(
        services,
        deployment,
        [
            audit_event(at=now - timedelta(days=31), request_id="old"),
            audit_event(at=now - timedelta(days=29), request_id="recent"),
        ],
    )

    with services.db.write() as session:
        pruned = prune(session, now=now, retention_days=30, max_events=1000)

    assert pruned.too_old == 1
    assert [r.request_id for r in stored(services, deployment)] == ["recent"]


def test_each_deployment_keeps_its_newest_events_up_to_the_limit(services, org, deployment):
    other = make_deployment(services, org, name="other")
    now = services.clock.now()
    ship(
        services,
        deployment,
        [audit_event(at=now - timedelta(minutes=i), request_id=f"r{i}") for i in range(5)],
    )
    ship(services, other, [audit_event(at=now - timedelta(minutes=i)) for i in range(2)])

    with services.db.write() as session:
        pruned = prune(session, now=now, retention_days=30, max_events=3)

    assert pruned.over_limit == {deployment: 2}
    assert [r.request_id for r in stored(services, deployment)] == ["r2", "r1", "r0"]
    assert len(stored(services, other)) == 2


def test_events_of_one_instant_are_pruned_by_id_beyond_the_limit(services, deployment):
    at = minutes_ago(services, 1)
    ship(services, deployment, [audit_event(at=at) for _ in range(4)])
    newest = sorted(r.id for r in stored(services, deployment))[-2:]

    with services.db.write() as session:
        prune(session, now=services.clock.now(), retention_days=30, max_events=2)

    assert sorted(r.id for r in stored(services, deployment)) == newest


def test_the_control_planes_chores_prune_by_its_retention_settings(services, deployment):
    now = services.clock.now()
    ship(
        services,
        deployment,
        [audit_event(at=now - timedelta(days=3), request_id="old")]
        + [audit_event(at=now - timedelta(minutes=i), request_id=f"r{i}") for i in range(4)],
    )
    settings = Settings(
        data_dir=services.settings.data_dir,
        database_url=services.settings.database_url,
        deployment_audit_retention_days=2,
        deployment_audit_max_events=3,
        _env_file=None,
    )
    process = build(settings, admin_email=None)
    try:
        pruned = process.prune_deployment_audit()
    finally:
        process.close()

    assert pruned.too_old == 1
    assert [r.request_id for r in stored(services, deployment)] == ["r2", "r1", "r0"]


def test_a_security_config_change_is_filed_under_its_event_type(services, deployment):
    # the node names the change in event.action, as Elasticsearch does (put_user, ...)
    event = {
        "@timestamp": minutes_ago(services, 1).isoformat(),
        "event.type": "security_config_change",
        "event.action": "put_user",
        "user.name": "elastic",
        "put": {"user": {"name": "carol", "roles": ["viewer"]}},
    }

    assert ship(services, deployment, [event]) == 1

    (row,) = stored(services, deployment)
    assert (row.action, row.principal) == ("security_config_change", "elastic")
    assert row.event["event.action"] == "put_user"
