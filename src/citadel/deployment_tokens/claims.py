"""What a token says: the stack roles a member's (or API key's) role assignments give on one
deployment (inventory 10.2 and 10.3), and the claims around them. Pure.

| Cloud role (scope covering the deployment) | stack roles                  |
|--------------------------------------------|------------------------------|
| organization-admin                         | ``superuser``                |
| deployment-admin                           | ``superuser``                |
| deployment-editor                          | ``editor``                   |
| deployment-viewer                          | ``viewer``                   |
| any of the three with `application_roles`  | those node role names instead |
| billing-admin, project roles               | none                         |

The stack roles are the union over every assignment whose scope covers the deployment (all
deployments, or a list naming it). An assignment's `application_roles` replace its predefined
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


class Amr(StrEnum):
    """How the caller authenticated (RFC 8176 where it has a value; ``passkey``, ``saml`` and
    ``api_key`` are ours)."""

    PASSWORD = "pwd"  # noqa: S105 (an authentication method)
    MFA = "mfa"
    SAML = "saml"
    PASSKEY = "passkey"
    API_KEY = "api_key"


def audience(deployment_id: str) -> str:
    """The audience of tokens for one deployment (its JWT realm accepts only this one)."""
    return f"citadel:deployment:{deployment_id}"


def stack_roles(
    assignments: Iterable[Assignment], organization_id: str, deployment_id: str
) -> tuple[str, ...]:
    """The stack roles `assignments` give on the deployment, sorted; empty: none."""
    roles: set[str] = set()
    for a in assignments:
        g = a.grant
        if g.organization_id != organization_id or g.role_id not in PREDEFINED:
            continue
        if g.kind is ScopeKind.DEPLOYMENT and not (g.all or deployment_id in g.resource_ids):
            continue
        if a.application_roles and g.kind is ScopeKind.DEPLOYMENT:
            roles.update(a.application_roles)
        else:
            roles.add(PREDEFINED[g.role_id])
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
    deployment_id: str,
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
        "aud": audience(deployment_id),
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
