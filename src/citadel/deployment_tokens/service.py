"""What minting reads about the caller: their role assignments in the organization of the
deployment or project (with the `application_roles` authorization leaves out), who they are,
and how they signed in.

Everything is read in the mint's own transaction, so a member removed or a role changed a
moment ago is seen by the next mint.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from citadel.api_keys.models import ApiKey
from citadel.authn.principal import Principal, PrincipalKind
from citadel.authz import assignments
from citadel.authz.assignments import Assignment
from citadel.authz.decide import Grant, Subject
from citadel.authz.roles import RoleId
from citadel.db.tenancy import scoped
from citadel.deployment_tokens.claims import Amr, Bearer, amr_of_session
from citadel.members.service import subject_of_user
from citadel.orgs.models import Organization, RoleAssignment
from citadel.users.models import User, UserSession

SAML = "saml"


@dataclass(frozen=True)
class Minter:
    """The caller as minting sees them, read now."""

    subject: Subject
    assignments: tuple[Assignment, ...]
    bearer: Bearer
    session_method: str | None  # None for an API key
    sso_organization_id: str | None


def minter(session: Session, principal: Principal, organization_id: str) -> Minter | None:
    """The caller's roles in `organization_id` and identity; None when the credential's row
    is gone (a key deleted, a user removed meanwhile)."""
    if principal.kind is PrincipalKind.API_KEY:
        return _key_minter(session, principal, organization_id)
    return _user_minter(session, principal, organization_id)


def _key_minter(session: Session, principal: Principal, organization_id: str) -> Minter | None:
    key = session.get(ApiKey, principal.credential_id)
    if key is None or key.disabled_at is not None:
        return None
    held = tuple(
        a
        for a in assignments.from_stored(key.role_assignments)
        if a.grant.organization_id == organization_id
    )
    subject = Subject(frozenset({key.organization_id}), tuple(a.grant for a in held))
    bearer = Bearer(f"api-key:{key.id}", key.description or None, None, (Amr.API_KEY,))
    return Minter(subject, held, bearer, None, None)


def _user_minter(session: Session, principal: Principal, organization_id: str) -> Minter | None:
    user = session.get(User, principal.user_id or "")
    row = session.get(UserSession, principal.credential_id)
    if user is None or row is None:
        return None
    stmt = scoped(RoleAssignment, organization_id, RoleAssignment.user_id == user.id)
    held = tuple(
        Assignment(
            Grant(r.organization_id, RoleId(r.role_id), r.all_resources, frozenset(r.resource_ids)),
            tuple(r.application_roles or ()),
        )
        for r in session.scalars(stmt)
    )
    bearer = Bearer(user.id, user.name or None, user.email, amr_of_session(row.method))
    return Minter(
        subject_of_user(session, user.id), held, bearer, row.method, row.sso_organization_id
    )


def needs_sso(session: Session, who: Minter, organization_id: str) -> bool:
    """Whether the organization enforces SSO and this is a session its IdP did not sign in
    (API keys are the organization's own credentials: enforcement concerns sign-ins)."""
    if who.session_method is None:
        return False
    org = session.get(Organization, organization_id)
    if org is None or org.enforce_authentication_method is None:
        return False
    return not (who.session_method == SAML and who.sso_organization_id == organization_id)
