"""Role mappings of an organization: stored, checked, and applied at every SSO sign-in.

The decisions are `citadel.sso.mappings` (pure); this module reads and writes them. Choices
(ADR 12): while an organization has no mapping, an SSO sign-in leaves the member's roles as
they are (a new member has none until someone grants them); once it has mappings, they
replace the member's roles in the organization at every SSO sign-in. A create, change or
delete is refused with 409, and the evaluated result in the error's details, when afterwards
no member would hold the Organization owner role (members who don't sign in with SSO keep
their roles, so they count). A sign-in never removes the last owner: if the mappings would,
that member keeps the owner role and the audit record says so.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from citadel.audit.tags import AuditAction, TargetType
from citadel.authn.context import Context
from citadel.authz import assignments
from citadel.authz.assignments import Assignment, InvalidRoleAssignment
from citadel.authz.decide import Grant, may_grant
from citadel.authz.roles import OWNER
from citadel.db.tenancy import in_organization, scoped
from citadel.kit.ids import new_id
from citadel.members.errors import UnauthorizedRoleAssignments
from citadel.members.service import grants_by_member, owners_of, replace_roles
from citadel.orgs import service as orgs
from citadel.sso import mappings
from citadel.sso.configuration import authorize
from citadel.sso.errors import (
    InvalidRoleMapping,
    MappingLeavesNoOwner,
    RoleMappingNameTaken,
    RoleMappingNotFound,
)
from citadel.sso.mappings import Evaluation, RoleMapping, Rule
from citadel.sso.models import SsoIdentity, SsoRoleMapping
from citadel.sso.schemas import RoleMappingIn
from citadel.users.models import User

MAX_MAPPINGS = 100


def list_mappings(ctx: Context, organization_id: str) -> list[SsoRoleMapping]:
    authorize(ctx, organization_id)
    return _rows(ctx, organization_id)


def get_mapping(ctx: Context, organization_id: str, mapping_id: str) -> SsoRoleMapping:
    authorize(ctx, organization_id)
    return _load(ctx, organization_id, mapping_id)


def create_mapping(ctx: Context, organization_id: str, body: RoleMappingIn) -> SsoRoleMapping:
    """Add a mapping, unless it is malformed, its name is taken, or it loses the last owner."""
    authorize(ctx, organization_id)
    wanted = _validated(ctx, organization_id, body)
    orgs.load(ctx.session, organization_id, for_update=True)
    _check_name_free(ctx, organization_id, body.name, None)
    rows = _rows(ctx, organization_id)
    if len(rows) >= MAX_MAPPINGS:
        raise InvalidRoleMapping(
            f"An organization has at most {MAX_MAPPINGS} role mappings.", fields=["body"]
        )
    now = ctx.clock.now()
    row = SsoRoleMapping(
        id=new_id(),
        organization_id=organization_id,
        name=body.name,
        match=body.rule.match,
        groups=list(body.rule.groups),
        role_assignments=assignments.to_stored(wanted),
        created_at=now,
        updated_at=now,
    )
    _check_owner_remains(ctx, organization_id, [*rows, row])
    _save(ctx, row)
    ctx.record(
        AuditAction.SSO_ROLE_MAPPING_CREATED,
        organization_id=organization_id,
        target_type=TargetType.SSO_ROLE_MAPPING,
        target_id=row.id,
        details=_auditable(row),
    )
    return row


def update_mapping(
    ctx: Context, organization_id: str, mapping_id: str, body: RoleMappingIn
) -> SsoRoleMapping:
    """Replace a mapping as a whole, with the same checks as creating one."""
    authorize(ctx, organization_id)
    wanted = _validated(ctx, organization_id, body)
    orgs.load(ctx.session, organization_id, for_update=True)
    row = _load(ctx, organization_id, mapping_id)
    _check_name_free(ctx, organization_id, body.name, row.id)
    before = _auditable(row)
    row.name, row.match, row.groups = body.name, body.rule.match, list(body.rule.groups)
    row.role_assignments = assignments.to_stored(wanted)
    row.updated_at = ctx.clock.now()
    _check_owner_remains(ctx, organization_id, _rows(ctx, organization_id))
    _save(ctx, row)
    ctx.record(
        AuditAction.SSO_ROLE_MAPPING_UPDATED,
        organization_id=organization_id,
        target_type=TargetType.SSO_ROLE_MAPPING,
        target_id=row.id,
        details={"before": before, "after": _auditable(row)},
    )
    return row


def delete_mapping(ctx: Context, organization_id: str, mapping_id: str) -> None:
    """Remove a mapping, unless no owner would remain without it."""
    authorize(ctx, organization_id)
    orgs.load(ctx.session, organization_id, for_update=True)
    row = _load(ctx, organization_id, mapping_id)
    others = [r for r in _rows(ctx, organization_id) if r.id != row.id]
    _check_owner_remains(ctx, organization_id, others)
    ctx.session.delete(row)
    ctx.session.flush()
    ctx.record(
        AuditAction.SSO_ROLE_MAPPING_DELETED,
        organization_id=organization_id,
        target_type=TargetType.SSO_ROLE_MAPPING,
        target_id=row.id,
        details=_auditable(row),
    )


def apply_at_sign_in(
    ctx: Context, organization_id: str, user_id: str, groups: Sequence[str] | None
) -> Evaluation | None:
    """Replace the member's roles with what the mappings give (None: no mappings, kept)."""
    rows = _rows(ctx, organization_id)
    if not rows:
        return None
    orgs.load(ctx.session, organization_id, for_update=True)
    result = mappings.evaluate([_pure(r) for r in rows], groups, None)
    matched = set(result.matched)
    wanted = assignments.merge(
        a
        for r in rows
        if r.name in matched
        for a in assignments.from_stored(r.role_assignments)
        if a.grant.organization_id == organization_id
    )
    before = replace_roles(ctx.session, organization_id, user_id, wanted, ctx.clock.now())
    kept_owner = False
    if not owners_of(ctx.session, organization_id) and any(
        a.grant.role_id is OWNER for a in before
    ):
        replace_roles(
            ctx.session,
            organization_id,
            user_id,
            [*wanted, Assignment(Grant(organization_id, OWNER, all=True))],
            ctx.clock.now(),
        )
        kept_owner = True
    ctx.record(
        AuditAction.SSO_ROLES_MAPPED,
        organization_id=organization_id,
        target_type=TargetType.USER,
        target_id=user_id,
        details={
            "groups": list(result.groups_used),
            "matched": list(result.matched),
            "before": assignments.to_stored(before),
            "after": assignments.to_stored(wanted),
            "kept_last_owner": kept_owner,
        },
    )
    return result


def _validated(ctx: Context, organization_id: str, body: RoleMappingIn) -> list[Assignment]:
    wanted = assignments.from_request(body.role_assignments, at="body.role_assignments")
    for index, a in enumerate(wanted):
        if a.grant.organization_id != organization_id:
            raise InvalidRoleAssignment(
                "A role mapping grants roles in its own organization only.",
                fields=[f"body.role_assignments[{index}].organization_id"],
            )
        if not may_grant(ctx.caller.subject, a.grant) and not ctx.caller.system:
            raise UnauthorizedRoleAssignments()
    rule = Rule(body.rule.match, tuple(body.rule.groups))
    try:
        mappings.check_mapping(body.name, rule, [a.grant for a in wanted])
    except ValueError as problem:
        field, _, message = str(problem).partition(": ")
        path = "body.name" if field == "name" else f"body.rule.{field}"
        if field == "grants":
            path = "body.role_assignments"
        raise InvalidRoleMapping(message, fields=[path]) from None
    return wanted


def _check_owner_remains(
    ctx: Context, organization_id: str, rows: Sequence[SsoRoleMapping]
) -> None:
    """409 with the evaluated result unless someone keeps the Organization owner role."""
    if not rows:
        return  # without mappings, sign-ins keep everyone's roles
    pure = [_pure(r) for r in rows]
    members = grants_by_member(ctx.session, organization_id)
    sso_groups: dict[str, Sequence[str] | None] = {}
    identities = ctx.session.scalars(
        scoped(SsoIdentity, organization_id).order_by(SsoIdentity.last_sign_in_at)
    )
    for identity in identities:
        if identity.user_id in members:
            sso_groups[identity.user_id] = identity.groups  # the latest sign-in wins
    check = mappings.leaves_an_owner(members, sso_groups, pure, organization_id)
    if check.ok:
        return
    found = ctx.session.execute(sa.select(User.id, User.email).where(User.id.in_(list(sso_groups))))
    emails = {user_id: email for user_id, email in found}
    evaluated = []
    for user_id, groups in sso_groups.items():
        result = mappings.evaluate(pure, groups, None)
        evaluated.append(
            {
                "user_id": user_id,
                "email": emails.get(user_id),
                "groups": list(result.groups_used),
                "matched": list(result.matched),
                "role_assignments": assignments.to_response(
                    Assignment(g) for g in check.by_member[user_id]
                ),
            }
        )
    raise MappingLeavesNoOwner(details={"owners_after": [], "sso_members": evaluated})


def _pure(row: SsoRoleMapping) -> RoleMapping:
    grants = tuple(a.grant for a in assignments.from_stored(row.role_assignments))
    return RoleMapping(row.name, Rule(row.match, tuple(row.groups)), grants)  # type: ignore[arg-type]


def _rows(ctx: Context, organization_id: str) -> list[SsoRoleMapping]:
    stmt = scoped(SsoRoleMapping, organization_id).order_by(
        SsoRoleMapping.created_at, SsoRoleMapping.id
    )
    return list(ctx.session.scalars(stmt))


def _load(ctx: Context, organization_id: str, mapping_id: str) -> SsoRoleMapping:
    row = ctx.session.get(SsoRoleMapping, mapping_id)
    if row is None or row.organization_id != organization_id:
        raise RoleMappingNotFound(fields=["path.mapping_id"])
    return row


def _check_name_free(ctx: Context, organization_id: str, name: str, mapping_id: str | None) -> None:
    stmt = sa.select(SsoRoleMapping.id).where(
        in_organization(SsoRoleMapping, organization_id), SsoRoleMapping.name == name
    )
    if mapping_id is not None:
        stmt = stmt.where(SsoRoleMapping.id != mapping_id)
    if ctx.session.scalar(stmt) is not None:
        raise RoleMappingNameTaken(fields=["body.name"])


def _save(ctx: Context, row: SsoRoleMapping) -> None:
    try:
        with ctx.session.begin_nested():
            ctx.session.add(row)
    except IntegrityError:
        raise RoleMappingNameTaken(fields=["body.name"]) from None


def _auditable(row: SsoRoleMapping) -> dict:
    return {
        "name": row.name,
        "rule": {"match": row.match, "groups": list(row.groups)},
        "role_assignments": list(row.role_assignments),
    }
