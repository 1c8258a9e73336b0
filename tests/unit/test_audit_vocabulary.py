"""The audit log's actor and target types keep the values stored rows and the audit API carry."""

from __future__ import annotations

from citadel.audit.models import AuditEvent
from citadel.audit.tags import ActorType, TargetType
from citadel.authn.principal import PrincipalKind


def test_actor_types_keep_their_stored_values() -> None:
    assert {t.value for t in ActorType} == {"user", "api_key", "component", "system", "anonymous"}


def test_target_types_keep_their_stored_values() -> None:
    assert {t.value for t in TargetType} == {
        "organization",
        "user",
        "invitation",
        "api_key",
        "deployment",
        "project",
        "key_manager",
        "domain",
        "sso_configuration",
        "sso_role_mapping",
        "traffic_filter_ruleset",
        "traffic_filter_link_id",
        "join_token",
        "route",
        "console",
        "internal_route",
        "allocator",
    }


def test_every_principal_kind_is_an_actor_type_of_the_same_name() -> None:
    assert {k.value for k in PrincipalKind} <= {t.value for t in ActorType}


def test_every_value_fits_its_column() -> None:
    columns = AuditEvent.__table__.c
    assert max(len(t) for t in ActorType) <= columns.actor_type.type.length
    assert max(len(t) for t in TargetType) <= columns.target_type.type.length
