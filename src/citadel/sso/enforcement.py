"""Turning SSO enforcement on and off (inventory 8.5).

On: only with an enabled configuration, and only by a user whose own SSO sign-in used the
configuration as it is now (lockout protection: an API key cannot turn it on). From then on
password and second-factor sign-ins of the organization's members are refused
(`citadel.signin`), a session that did not come through this organization's IdP no longer
sees the organization, and the members' other sessions end at once.

Off (`null`): any Organization owner, including with an Organization-owner Cloud API key: the
break-glass when the IdP is down.
"""

from __future__ import annotations

import sqlalchemy as sa

from citadel.audit.tags import AuditAction, TargetType
from citadel.authn.context import Context
from citadel.authn.principal import PrincipalKind
from citadel.authz.decide import Target
from citadel.authz.permissions import Permission
from citadel.db.engine import rows_changed
from citadel.db.tenancy import in_organization
from citadel.orgs import service as orgs
from citadel.orgs.models import Membership
from citadel.signin.service import SAML
from citadel.sso import configuration
from citadel.sso.errors import EnforcementNotVerified
from citadel.users.models import UserSession


def set_enforcement(ctx: Context, organization_id: str, method: str | None) -> None:
    """Enforce SAML sign-in for the organization (`"saml"`), or stop enforcing (None)."""
    ctx.authorize(Permission.ORGANIZATION_UPDATE, Target.organization(organization_id))
    ctx.authorize(Permission.SSO_MANAGE, Target.organization(organization_id))
    org = orgs.load(ctx.session, organization_id, for_update=True)
    before = org.enforce_authentication_method
    if method == before:
        return
    ended = 0
    if method is not None:
        _check_may_enforce(ctx, organization_id)
        ended = _end_other_sessions(ctx, organization_id)
    org.enforce_authentication_method = method
    ctx.session.flush()
    principal = ctx.caller.principal
    ctx.record(
        AuditAction.SSO_ENFORCEMENT_CHANGED,
        organization_id=organization_id,
        target_type=TargetType.ORGANIZATION,
        target_id=organization_id,
        details={
            "before": before,
            "after": method,
            "by": principal.kind.value if principal else "system",
            "sessions_ended": ended,
        },
    )


def _check_may_enforce(ctx: Context, organization_id: str) -> None:
    row = configuration.find(ctx, organization_id)
    principal = ctx.caller.principal
    user_id = (
        principal.user_id
        if principal is not None and principal.kind is PrincipalKind.USER
        else None
    )
    if (
        row is None
        or not row.enabled
        or not configuration.signed_in_with_current(ctx, row, user_id)
    ):
        raise EnforcementNotVerified(fields=["body.enforce_authentication_method"])


def _end_other_sessions(ctx: Context, organization_id: str) -> int:
    """End the members' sessions that did not come through this organization's IdP."""
    members = sa.select(Membership.user_id).where(in_organization(Membership, organization_id))
    through_idp = sa.and_(
        UserSession.method == SAML, UserSession.sso_organization_id == organization_id
    )
    return rows_changed(
        ctx.session,
        sa.update(UserSession)
        .where(
            UserSession.user_id.in_(members),
            UserSession.ended_at.is_(None),
            sa.not_(through_idp),
        )
        .values(ended_at=ctx.clock.now()),
    )
