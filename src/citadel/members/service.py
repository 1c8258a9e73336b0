"""Who belongs to an organization and with which roles.

Invariants kept here, each inside one transaction that has locked the organization row:
an organization keeps at least one Organization owner; nobody grants or removes a role beyond
their own authority; losing membership or roles ends the user's sessions at once (and
disables the API keys they created when the organization says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from citadel.api_keys.service import disable_keys_created_by
from citadel.audit.tags import AuditAction, Outcome, TargetType
from citadel.authn.context import Context
from citadel.authn.guard import require
from citadel.authz import assignments
from citadel.authz.assignments import Assignment, RoleAssignmentsIn
from citadel.authz.decide import Grant, Subject, Target, may_grant, visible_part
from citadel.authz.permissions import Permission
from citadel.authz.roles import OWNER, RoleId
from citadel.db.tenancy import in_organization, outside_organization, scoped
from citadel.members.errors import (
    InvalidTargetUser,
    LastOwner,
    MembershipNotFound,
    ResetElsewhere,
    UnauthorizedRoleAssignments,
)
from citadel.orgs.models import Membership, RoleAssignment
from citadel.orgs.service import load as load_org
from citadel.users.models import User
from citadel.users.service import clear_second_factors, end_sessions


def subject_of_user(session: Session, user_id: str) -> Subject:
    """Memberships and role assignments of a user, across organizations, read now."""
    orgs = session.scalars(
        sa.select(Membership.organization_id).where(Membership.user_id == user_id)
    )
    rows = session.scalars(sa.select(RoleAssignment).where(RoleAssignment.user_id == user_id))
    return Subject(frozenset(orgs), tuple(_grant(r) for r in rows))


def default_organization(session: Session, user_id: str) -> str | None:
    """The organization a user joined first."""
    stmt = (
        sa.select(Membership.organization_id)
        .where(Membership.user_id == user_id)
        .order_by(Membership.member_since, Membership.organization_id)
        .limit(1)
    )
    return session.scalar(stmt)


def _grant(row: RoleAssignment) -> Grant:
    return Grant(
        row.organization_id, RoleId(row.role_id), row.all_resources, frozenset(row.resource_ids)
    )


@dataclass(frozen=True)
class MemberView:
    """A member as the caller may see them."""

    organization_id: str
    user_id: str
    name: str | None
    email: str
    member_since: datetime
    assignments: list[Assignment]


def list_members(ctx: Context, organization_id: str) -> list[MemberView]:
    """Members, each with only the role assignments the caller is able to manage."""
    require(ctx.caller, Permission.MEMBERS_READ, Target.organization(organization_id))
    stmt = (
        sa.select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(in_organization(Membership, organization_id))
        .order_by(Membership.member_since, User.id)
    )
    pairs = ctx.session.execute(stmt).all()
    rows_by_user: dict[str, list[RoleAssignment]] = {}
    role_rows = ctx.session.scalars(scoped(RoleAssignment, organization_id))
    for row in role_rows:
        rows_by_user.setdefault(row.user_id, []).append(row)
    subject = ctx.caller.subject
    views = []
    for membership, user in pairs:
        visible = []
        for row in rows_by_user.get(user.id, []):
            part = visible_part(subject, _grant(row))
            if part is not None:
                visible.append(Assignment(part, tuple(row.application_roles)))
        views.append(
            MemberView(
                organization_id,
                user.id,
                user.name,
                user.email,
                membership.member_since,
                visible,
            )
        )
    return views


def remove_members(ctx: Context, organization_id: str, user_ids: list[str]) -> None:
    """Remove members (all or none); a member may always remove themselves (leave)."""
    principal = ctx.caller.principal
    leaving = principal is not None and user_ids == [principal.user_id]
    if not leaving:
        require(ctx.caller, Permission.MEMBERS_REMOVE, Target.organization(organization_id))
    else:
        require(ctx.caller, Permission.ORGANIZATION_READ, Target.organization(organization_id))
    load_org(ctx.session, organization_id, for_update=True)
    ids = list(dict.fromkeys(user_ids))
    found = set(
        ctx.session.scalars(
            sa.select(Membership.user_id).where(
                in_organization(Membership, organization_id), Membership.user_id.in_(ids)
            )
        )
    )
    missing = [u for u in ids if u not in found]
    if missing:
        raise MembershipNotFound(
            f"No member [{missing[0]}] in this organization.", fields=["path.user_ids"]
        )
    _ensure_owner_remains(ctx.session, organization_id, removed_users=set(ids))
    ctx.session.execute(
        sa.delete(RoleAssignment).where(
            in_organization(RoleAssignment, organization_id), RoleAssignment.user_id.in_(ids)
        )
    )
    ctx.session.execute(
        sa.delete(Membership).where(
            in_organization(Membership, organization_id), Membership.user_id.in_(ids)
        )
    )
    _after_losing_access(ctx, organization_id, ids)
    for user_id in ids:
        ctx.record(
            AuditAction.MEMBER_REMOVED,
            organization_id=organization_id,
            target_type=TargetType.USER,
            target_id=user_id,
            details={"left": leaving},
        )


def reset_second_factor(ctx: Context, organization_id: str, user_id: str) -> None:
    """An owner's reset of a member's lost second factor: the TOTP seed and recovery codes are
    forgotten and every session of the member ends, so the next sign-in (password) must enrol
    again. Only for someone who belongs to this organization alone: one organization's owner
    must not weaken an account other organizations rely on (409 `ResetElsewhere`)."""
    require(ctx.caller, Permission.MEMBERS_REMOVE, Target.organization(organization_id))
    load_org(ctx.session, organization_id, for_update=True)
    if ctx.session.get(Membership, (organization_id, user_id)) is None:
        raise MembershipNotFound(fields=["path.user_id"])
    elsewhere = ctx.session.scalar(
        sa.select(sa.func.count()).where(
            Membership.user_id == user_id, outside_organization(Membership, organization_id)
        )
    )
    if elsewhere:
        ctx.record(
            AuditAction.MEMBER_SECOND_FACTOR_RESET,
            organization_id=organization_id,
            target_type=TargetType.USER,
            target_id=user_id,
            outcome=Outcome.FAILURE,
            details={"reason": "member_of_other_organizations"},
        )
        raise ResetElsewhere()
    user = ctx.session.get(User, user_id, with_for_update=True)
    assert user is not None  # a membership's user exists (foreign key)
    clear_second_factors(ctx.session, user)
    ended = end_sessions(ctx.session, [user_id], ctx.clock.now())
    ctx.record(
        AuditAction.MEMBER_SECOND_FACTOR_RESET,
        organization_id=organization_id,
        target_type=TargetType.USER,
        target_id=user_id,
        details={"sessions_ended": ended},
    )


def add_role_assignments(ctx: Context, user_id: str, body: RoleAssignmentsIn) -> None:
    """Give a member more roles, each within the caller's own authority."""
    wanted = assignments.from_request(body, at="body")
    _check_authority(ctx, wanted)
    for org_id in _orgs_of(wanted):
        load_org(ctx.session, org_id, for_update=True)
    _check_targets(ctx, user_id, wanted)
    now = ctx.clock.now()
    for a in wanted:
        g = a.grant
        row = _row(ctx.session, g.organization_id, user_id, g.role_id)
        if row is None:
            ctx.session.add(_new_row(user_id, a, now))
        else:
            merged = assignments.merge([Assignment(_grant(row), tuple(row.application_roles)), a])
            m = merged[0]
            row.all_resources = m.grant.all
            row.resource_ids = sorted(m.grant.resource_ids)
            row.application_roles = list(m.application_roles)
        ctx.record(
            AuditAction.ROLES_ADDED,
            organization_id=g.organization_id,
            target_type=TargetType.USER,
            target_id=user_id,
            details={"role_assignments": assignments.to_stored([a])},
        )
    ctx.session.flush()


def remove_role_assignments(ctx: Context, user_id: str, body: RoleAssignmentsIn) -> None:
    """Take roles away, each within the caller's own authority; never the last owner."""
    unwanted = assignments.from_request(body, at="body")
    orgs = _orgs_of(unwanted)
    _check_authority(ctx, unwanted)
    for org_id in orgs:
        load_org(ctx.session, org_id, for_update=True)
    _check_targets(ctx, user_id, unwanted)
    for a in unwanted:
        g = a.grant
        row = _row(ctx.session, g.organization_id, user_id, g.role_id)
        if row is None:
            continue
        if g.all or g.role_id is OWNER:
            ctx.session.delete(row)
        elif not row.all_resources:
            remaining = sorted(set(row.resource_ids) - g.resource_ids)
            if remaining:
                row.resource_ids = remaining
            else:
                ctx.session.delete(row)
        ctx.session.flush()
        ctx.record(
            AuditAction.ROLES_REMOVED,
            organization_id=g.organization_id,
            target_type=TargetType.USER,
            target_id=user_id,
            details={"role_assignments": assignments.to_stored([a])},
        )
    for org_id in orgs:
        _ensure_owner_remains(ctx.session, org_id, removed_users=set())
        _after_losing_access(ctx, org_id, [user_id])


def _orgs_of(items: list[Assignment]) -> list[str]:
    return sorted({a.grant.organization_id for a in items})


def _check_authority(ctx: Context, items: list[Assignment]) -> None:
    """Refuse what the caller may not grant, before any lookup (no organization oracle)."""
    subject = ctx.caller.subject
    for a in items:
        if not may_grant(subject, a.grant):
            raise UnauthorizedRoleAssignments()


def _check_targets(ctx: Context, user_id: str, items: list[Assignment]) -> None:
    for org_id in _orgs_of(items):
        member = ctx.session.get(Membership, (org_id, user_id))
        if member is None:
            raise InvalidTargetUser(fields=["path.user_id"])


def _row(session: Session, org_id: str, user_id: str, role_id: RoleId) -> RoleAssignment | None:
    stmt = scoped(
        RoleAssignment,
        org_id,
        RoleAssignment.user_id == user_id,
        RoleAssignment.role_id == str(role_id),
    )
    return session.scalars(stmt).one_or_none()


def _ensure_owner_remains(session: Session, org_id: str, *, removed_users: set[str]) -> None:
    """Raise `LastOwner` if no Organization owner would remain (the org row is locked)."""
    session.flush()
    stmt = sa.select(RoleAssignment.user_id).where(
        in_organization(RoleAssignment, org_id), RoleAssignment.role_id == str(OWNER)
    )
    owners = set(session.scalars(stmt)) - removed_users
    if not owners:
        raise LastOwner()


def _after_losing_access(ctx: Context, org_id: str, user_ids: list[str]) -> None:
    now = ctx.clock.now()
    end_sessions(ctx.session, user_ids, now)
    disable_keys_created_by(ctx, org_id, user_ids)


def replace_roles(
    session: Session, organization_id: str, user_id: str, wanted: list[Assignment], now: datetime
) -> list[Assignment]:
    """Make `wanted` a member's whole set of roles in the organization; returns the old set.

    No authority check and no owner check: the caller (the SSO sign-in, applying the
    organization's own role mappings) decides both, with the organization row locked.
    """
    rows = list(
        session.scalars(
            scoped(
                RoleAssignment,
                organization_id,
                RoleAssignment.user_id == user_id,
            )
        )
    )
    before = [Assignment(_grant(r), tuple(r.application_roles)) for r in rows]
    for row in rows:
        session.delete(row)
    session.flush()
    for a in assignments.merge(wanted):
        session.add(_new_row(user_id, a, now))
    session.flush()
    return before


def _new_row(user_id: str, a: Assignment, now: datetime) -> RoleAssignment:
    g = a.grant
    return RoleAssignment(
        organization_id=g.organization_id,
        user_id=user_id,
        role_id=str(g.role_id),
        all_resources=g.all,
        resource_ids=sorted(g.resource_ids),
        application_roles=list(a.application_roles),
        created_at=now,
    )


def owners_of(session: Session, organization_id: str) -> set[str]:
    """The users holding the Organization owner role."""
    stmt = sa.select(RoleAssignment.user_id).where(
        in_organization(RoleAssignment, organization_id), RoleAssignment.role_id == str(OWNER)
    )
    return set(session.scalars(stmt))


def grants_by_member(session: Session, organization_id: str) -> dict[str, list[Grant]]:
    """Every member's grants in the organization (members without roles included)."""
    members = session.scalars(
        sa.select(Membership.user_id).where(in_organization(Membership, organization_id))
    )
    out: dict[str, list[Grant]] = {user_id: [] for user_id in members}
    rows = session.scalars(scoped(RoleAssignment, organization_id))
    for row in rows:
        out.setdefault(row.user_id, []).append(_grant(row))
    return out
