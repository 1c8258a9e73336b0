"""The stack roles a token carries on one deployment: every Cloud role, every scope
(inventory 10.2 and 10.3), `application_roles`, and the union over assignments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from citadel.authz.assignments import Assignment
from citadel.authz.decide import Grant
from citadel.authz.roles import RoleId
from citadel.deployment_tokens.claims import (
    Amr,
    Bearer,
    amr_of_session,
    audience,
    stack_roles,
    token_claims,
)

ORG, OTHER_ORG = "org1", "org2"
DEP, OTHER_DEP = "dep1", "dep2"


def assigned(role: RoleId, *, scope: str = "all", apps: tuple[str, ...] = ()) -> Assignment:
    """`scope`: "all", "this" (DEP only), "other" (OTHER_DEP only), "both"."""
    if role.scope_kind.value == "organization":
        return Assignment(Grant(ORG, role, all=True))
    ids = {"all": (), "this": (DEP,), "other": (OTHER_DEP,), "both": (DEP, OTHER_DEP)}[scope]
    return Assignment(Grant(ORG, role, all=scope == "all", resource_ids=frozenset(ids)), apps)


# Every role: what it gives on DEP with each scope ("-" = no scope: an organization role).
TABLE = [
    (RoleId.ORGANIZATION_ADMIN, "-", ("superuser",)),
    (RoleId.BILLING_ADMIN, "-", ()),
    (RoleId.DEPLOYMENT_ADMIN, "all", ("superuser",)),
    (RoleId.DEPLOYMENT_ADMIN, "this", ("superuser",)),
    (RoleId.DEPLOYMENT_ADMIN, "both", ("superuser",)),
    (RoleId.DEPLOYMENT_ADMIN, "other", ()),
    (RoleId.DEPLOYMENT_EDITOR, "all", ("editor",)),
    (RoleId.DEPLOYMENT_EDITOR, "this", ("editor",)),
    (RoleId.DEPLOYMENT_EDITOR, "both", ("editor",)),
    (RoleId.DEPLOYMENT_EDITOR, "other", ()),
    (RoleId.DEPLOYMENT_VIEWER, "all", ("viewer",)),
    (RoleId.DEPLOYMENT_VIEWER, "this", ("viewer",)),
    (RoleId.DEPLOYMENT_VIEWER, "both", ("viewer",)),
    (RoleId.DEPLOYMENT_VIEWER, "other", ()),
    *[
        (role, scope, ())
        for role in RoleId
        if role.scope_kind.value in ("elasticsearch", "observability", "security")
        for scope in ("all", "this")
    ],
]


def test_the_table_names_every_role() -> None:
    assert {role for role, _, _ in TABLE} == set(RoleId)


@pytest.mark.parametrize(("role", "scope", "expected"), TABLE)
def test_each_role_and_scope_maps_to_its_stack_role(
    role: RoleId, scope: str, expected: tuple[str, ...]
) -> None:
    assert stack_roles([assigned(role, scope=scope)], ORG, DEP) == expected


def test_the_roles_are_the_union_over_the_assignments_covering_the_deployment() -> None:
    held = [
        assigned(RoleId.DEPLOYMENT_VIEWER, scope="all"),
        assigned(RoleId.DEPLOYMENT_EDITOR, scope="this"),
        assigned(RoleId.DEPLOYMENT_ADMIN, scope="other"),
    ]
    assert stack_roles(held, ORG, DEP) == ("editor", "viewer")
    assert stack_roles(held, ORG, OTHER_DEP) == ("superuser", "viewer")


def test_application_roles_replace_the_predefined_role_of_their_assignment() -> None:
    custom = assigned(RoleId.DEPLOYMENT_VIEWER, scope="this", apps=("logs_reader", "dashboards"))
    assert stack_roles([custom], ORG, DEP) == ("dashboards", "logs_reader")
    assert stack_roles([custom], ORG, OTHER_DEP) == ()


def test_application_roles_join_the_roles_of_other_assignments() -> None:
    held = [
        assigned(RoleId.DEPLOYMENT_VIEWER, scope="this", apps=("logs_reader",)),
        assigned(RoleId.DEPLOYMENT_EDITOR, scope="all"),
    ]
    assert stack_roles(held, ORG, DEP) == ("editor", "logs_reader")


def test_assignments_in_another_organization_give_nothing() -> None:
    foreign = Assignment(Grant(OTHER_ORG, RoleId.ORGANIZATION_ADMIN, all=True))
    also = Assignment(Grant(OTHER_ORG, RoleId.DEPLOYMENT_ADMIN, all=True))
    assert stack_roles([foreign, also], ORG, DEP) == ()


def test_no_assignment_gives_no_role() -> None:
    assert stack_roles([], ORG, DEP) == ()


@pytest.mark.parametrize(
    ("method", "amr"),
    [
        ("password", (Amr.PASSWORD, Amr.MFA)),
        ("passkey", (Amr.PASSKEY,)),
        ("saml", (Amr.SAML,)),
    ],
)
def test_the_sign_in_method_gives_the_amr(method: str, amr: tuple[Amr, ...]) -> None:
    assert amr_of_session(method) == amr


def test_the_claims_bind_issuer_audience_subject_roles_and_a_lifetime() -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    bearer = Bearer("user1", "Ada", "ada@example.com", (Amr.SAML,))
    claims = token_claims(
        issuer="https://citadel.example",
        audience=audience(DEP),
        organization_id=ORG,
        bearer=bearer,
        roles=("viewer",),
        jti="j1",
        now=now,
        lifetime=timedelta(seconds=120),
    )
    stamp = int(now.timestamp())
    assert claims == {
        "iss": "https://citadel.example",
        "aud": audience(DEP),
        "sub": "user1",
        "iat": stamp,
        "nbf": stamp,
        "exp": stamp + 120,
        "jti": "j1",
        "roles": ["viewer"],
        "amr": ["saml"],
        "org": ORG,
        "name": "Ada",
        "email": "ada@example.com",
    }
    assert audience(DEP) == "citadel:deployment:dep1"


def test_an_api_key_bearer_has_no_email_claim() -> None:
    bearer = Bearer("api-key:k1", "ci deploys", None, (Amr.API_KEY,))
    claims = token_claims(
        issuer="citadel:x",
        audience=audience(DEP),
        organization_id=ORG,
        bearer=bearer,
        roles=("superuser",),
        jti="j",
        now=datetime(2026, 1, 1, tzinfo=UTC),
        lifetime=timedelta(seconds=300),
    )
    assert "email" not in claims
    assert (claims["sub"], claims["name"], claims["amr"]) == (
        "api-key:k1",
        "ci deploys",
        ["api_key"],
    )
