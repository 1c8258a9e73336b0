"""Founding, reading and changing organizations."""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.orm import Session

from citadel.audit.tags import AuditAction, TargetType
from citadel.authn.context import Context
from citadel.authn.guard import require
from citadel.authn.quotas import OrganizationsPerUserExceeded, enforce
from citadel.authz.decide import Target
from citadel.authz.permissions import Permission
from citadel.authz.roles import OWNER
from citadel.kit.emails import InvalidEmail, normalize_email
from citadel.kit.ids import new_id
from citadel.orgs.errors import (
    InvalidContact,
    InvalidOrganizationName,
    OrganizationNotFound,
)
from citadel.orgs.models import Membership, Organization, RoleAssignment
from citadel.orgs.schemas import OrganizationUpdateIn
from citadel.users.models import User

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def found_organization(ctx: Context, *, name: str, owner_user_id: str) -> Organization:
    """Create an organization whose first Organization owner is `owner_user_id`."""
    _check_name(name, "body.name")
    enforce(
        ctx,
        OrganizationsPerUserExceeded,
        held=_owned(ctx.session, owner_user_id),
        organization_id=None,
    )
    now = ctx.clock.now()
    org = Organization(id=new_id(), name=name, created_at=now)
    ctx.session.add(org)
    ctx.session.flush()
    ctx.session.add(Membership(organization_id=org.id, user_id=owner_user_id, member_since=now))
    ctx.session.add(
        RoleAssignment(
            organization_id=org.id,
            user_id=owner_user_id,
            role_id=str(OWNER),
            all_resources=True,
            resource_ids=[],
            application_roles=[],
            created_at=now,
        )
    )
    ctx.session.flush()
    ctx.record(
        AuditAction.ORG_CREATED,
        organization_id=org.id,
        target_type=TargetType.ORGANIZATION,
        target_id=org.id,
        details={"name": name, "owner_user_id": owner_user_id},
    )
    return org


def _owned(session: Session, user_id: str) -> int:
    """How many organizations `user_id` is an Organization owner of (the user's row locked, so
    two foundings at once count each other)."""
    session.execute(sa.select(User.id).where(User.id == user_id).with_for_update())
    stmt = sa.select(sa.func.count()).where(
        RoleAssignment.user_id == user_id, RoleAssignment.role_id == str(OWNER)
    )
    return session.scalar(stmt) or 0


def list_organizations(ctx: Context) -> list[Organization]:
    """The organizations the caller belongs to."""
    ids = sorted(ctx.caller.subject.organization_ids)
    if not ids:
        return []
    stmt = sa.select(Organization).where(Organization.id.in_(ids)).order_by(Organization.created_at)
    return list(ctx.session.scalars(stmt))


def get_organization(ctx: Context, organization_id: str) -> Organization:
    """One organization the caller belongs to."""
    require(ctx.caller, Permission.ORGANIZATION_READ, Target.organization(organization_id))
    return load(ctx.session, organization_id)


def update_organization(
    ctx: Context, organization_id: str, changes: OrganizationUpdateIn
) -> Organization:
    """Apply the fields present in `changes`."""
    require(ctx.caller, Permission.ORGANIZATION_UPDATE, Target.organization(organization_id))
    org = load(ctx.session, organization_id, for_update=True)
    # Enforcement has its own rules and audit record: `citadel.sso.enforcement`.
    given = changes.model_dump(include=changes.model_fields_set - {"enforce_authentication_method"})
    if not given:
        return org
    if "name" in given:
        _check_name(given["name"], "body.name")
    for field in ("billing_contacts", "operational_contacts"):
        if given.get(field) is not None:
            given[field] = [_contact(e, f"body.{field}[{i}]") for i, e in enumerate(given[field])]
    if given.get("notifications_allowed_email_domains") is not None:
        given["notifications_allowed_email_domains"] = [
            _domain(d, f"body.notifications_allowed_email_domains[{i}]")
            for i, d in enumerate(given["notifications_allowed_email_domains"])
        ]
    before = {k: getattr(org, k) for k in given}
    for key, value in given.items():
        if value is None:
            continue
        setattr(org, key, value)
    ctx.session.flush()
    after = {k: getattr(org, k) for k in given}
    ctx.record(
        AuditAction.ORG_UPDATED,
        organization_id=org.id,
        target_type=TargetType.ORGANIZATION,
        target_id=org.id,
        details={"before": before, "after": after},
    )
    return org


def load(session: Session, organization_id: str, *, for_update: bool = False) -> Organization:
    """The organization row; with `for_update`, locked until the transaction ends."""
    stmt = sa.select(Organization).where(Organization.id == organization_id)
    if for_update:
        stmt = stmt.with_for_update()
    org = session.scalars(stmt).one_or_none()
    if org is None:
        raise OrganizationNotFound()
    return org


def _check_name(name: str | None, field: str) -> None:
    if name is None or not 2 <= len(name.strip()) <= 30 or name != name.strip():
        raise InvalidOrganizationName(fields=[field])


def _contact(email: str, field: str) -> str:
    try:
        return normalize_email(email)
    except InvalidEmail:
        raise InvalidContact(f"[{email[:80]}] is not an email address.", fields=[field]) from None


def _domain(domain: str, field: str) -> str:
    value = domain.strip().lower()
    if not _DOMAIN.match(value):
        raise InvalidContact(f"[{domain[:80]}] is not a domain name.", fields=[field])
    return value
