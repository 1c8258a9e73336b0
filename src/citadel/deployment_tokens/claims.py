"""What a token says: the stack roles a member's (or API key's) role assignments give on one
deployment or serverless project (inventory 10.2 and 10.3, serverless notes 6), and the claims
around them. Pure.

| Cloud role (scope covering the deployment) | stack roles                  |
|--------------------------------------------|------------------------------|
| organization-admin                         | ``superuser``                |
| deployment-admin                           | ``superuser``                |
| deployment-editor                          | ``editor``                   |
| deployment-viewer                          | ``viewer``                   |
| any of the three with `application_roles`  | those node role names instead |
| billing-admin, project roles               | none                         |

A project's table is `citadel.projects.roles.STACK_ROLE` (the same shape: the organization
owner ``superuser``, each project role of the project's type its node role), passed to the same
`stack_roles` with the project's scope kind.

The stack roles are the union over every assignment whose scope covers the resource (all
of its kind, or a list naming it). An assignment's `application_roles` replace its predefined
stack role (a custom role is how an organization narrows what a member sees, inventory 10.8),
they do not add to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from citadel.authz.assignments import Assignment
from citadel.authz.roles import RoleId, ScopeKind

SUPERUSER = "superuser"
PREDEFINED: Mapping[RoleId, str] = {
    RoleId.ORGANIZATION_ADMIN: SUPERUSER,
    RoleId.DEPLOYMENT_ADMIN: SUPERUSER,
    RoleId.DEPLOYMENT_EDITOR: "editor",
    RoleId.DEPLOYMENT_VIEWER: "viewer",
}
"""The stack role of each Cloud role that has one."""


class TokenFor(StrEnum):
    """What a token opens: a deployment, or a serverless project (the values are also
    `Deployment.kind`, so a runtime instance names its own audience)."""

    DEPLOYMENT = "deployment"
    PROJECT = "project"


class Amr(StrEnum):
    """How the caller authenticated (RFC 8176 where it has a value; ``passkey``, ``saml`` and
    ``api_key`` are ours)."""

    PASSWORD = "pwd"  # noqa: S105 (an authentication method)
    MFA = "mfa"
    SAML = "saml"
    PASSKEY = "passkey"
    API_KEY = "api_key"


def audience(resource_id: str, kind: TokenFor = TokenFor.DEPLOYMENT) -> str:
    """The audience of tokens for one deployment (``citadel:deployment:<id>``) or project
    (``citadel:project:<id>``); its node's JWT realm accepts only this one."""
    return f"citadel:{kind.value}:{resource_id}"


def stack_roles(
    assignments: Iterable[Assignment],
    organization_id: str,
    resource_id: str,
    *,
    scope: ScopeKind = ScopeKind.DEPLOYMENT,
    predefined: Mapping[RoleId, str] = PREDEFINED,
) -> tuple[str, ...]:
    """The stack roles `assignments` give on one resource of kind `scope` (a deployment, or a
    project of one type), sorted; empty: none. `predefined` is the kind's table."""
    roles: set[str] = set()
    for a in assignments:
        g = a.grant
        if g.organization_id != organization_id or g.role_id not in predefined:
            continue
        if g.kind is not ScopeKind.ORGANIZATION:
            if g.kind is not scope or not (g.all or resource_id in g.resource_ids):
                continue
            if a.application_roles:
                roles.update(a.application_roles)
                continue
        roles.add(predefined[g.role_id])
    return tuple(sorted(roles))


def amr_of_session(method: str) -> tuple[Amr, ...]:
    """The `amr` of a session's sign-in method (a password session always had a second
    factor: an enrolment-only session cannot mint)."""
    if method == "saml":
        return (Amr.SAML,)
    if method == "passkey":
        return (Amr.PASSKEY,)
    return (Amr.PASSWORD, Amr.MFA)


@dataclass(frozen=True)
class Bearer:
    """Who the token is about."""

    subject: str  # a user id, or "api-key:<id>"
    name: str | None
    email: str | None
    amr: tuple[Amr, ...]


def token_claims(
    *,
    issuer: str,
    audience: str,
    organization_id: str,
    bearer: Bearer,
    roles: tuple[str, ...],
    jti: str,
    now: datetime,
    lifetime: timedelta,
) -> dict[str, Any]:
    """The JWT claims of one token (``nbf`` = ``iat`` = now, ``exp`` = now + lifetime)."""
    issued = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": bearer.subject,
        "iat": issued,
        "nbf": issued,
        "exp": issued + int(lifetime.total_seconds()),
        "jti": jti,
        "roles": list(roles),
        "amr": [str(m) for m in bearer.amr],
        "org": organization_id,
    }
    if bearer.name:
        claims["name"] = bearer.name
    if bearer.email:
        claims["email"] = bearer.email
    return claims
