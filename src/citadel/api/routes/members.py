"""Member and role-assignment routes."""

from __future__ import annotations

from fastapi import APIRouter, Path

from citadel.api.deps import WorkDep, csv_items, permitted, signed_in
from citadel.api.openapi import errors
from citadel.api.routes.orgs import OrgId
from citadel.authz import assignments
from citadel.authz.assignments import RoleAssignmentsIn
from citadel.authz.permissions import Permission
from citadel.kit.schema import EmptyOut
from citadel.members import service
from citadel.members.schemas import MembershipOut, MembershipsOut

router = APIRouter(tags=["members"])


@router.get(
    "/organizations/{organization_id}/members",
    dependencies=[permitted(Permission.MEMBERS_READ)],
)
def list_members(work: WorkDep, organization_id: str = OrgId) -> MembershipsOut:
    """Members, with the role assignments you are able to manage."""
    with work.read() as ctx:
        views = service.list_members(ctx, organization_id)
    return MembershipsOut(
        members=[
            MembershipOut(
                organization_id=v.organization_id,
                user_id=v.user_id,
                name=v.name,
                email=v.email,
                member_since=v.member_since,
                role_assignments=assignments.to_response(v.assignments),
            )
            for v in views
        ]
    )


@router.delete(
    "/organizations/{organization_id}/members/{user_ids}",
    dependencies=[signed_in()],
)
def remove_members(
    work: WorkDep, organization_id: str = OrgId, user_ids: str = Path(max_length=3400)
) -> EmptyOut:
    """Remove members (comma-separated ids); anyone may remove themselves (leave)."""
    ids = csv_items(user_ids, field="path.user_ids")
    with work.write() as ctx:
        service.remove_members(ctx, organization_id, ids)
    return EmptyOut()


@router.post(
    "/organizations/{organization_id}/members/{user_id}/_reset_second_factor",
    dependencies=[permitted(Permission.MEMBERS_REMOVE)],
    responses=errors(404, 409),
)
def reset_second_factor(
    work: WorkDep, organization_id: str = OrgId, user_id: str = Path(max_length=64)
) -> EmptyOut:
    """Reset a member's second factor (a lost authenticator): their TOTP seed and recovery
    codes are forgotten and their sessions end; they enrol again at their next sign-in. Only
    for someone who belongs to this organization alone (409 otherwise)."""
    with work.write() as ctx:
        service.reset_second_factor(ctx, organization_id, user_id)
    return EmptyOut()


@router.post("/users/{user_id}/role_assignments", dependencies=[signed_in()])
def add_role_assignments(
    body: RoleAssignmentsIn, work: WorkDep, user_id: str = Path(max_length=32)
) -> EmptyOut:
    """Give a member roles, within your own authority."""
    with work.write() as ctx:
        service.add_role_assignments(ctx, user_id, body)
    return EmptyOut()


@router.delete("/users/{user_id}/role_assignments", dependencies=[signed_in()])
def remove_role_assignments(
    body: RoleAssignmentsIn, work: WorkDep, user_id: str = Path(max_length=32)
) -> EmptyOut:
    """Take roles away, within your own authority; never from the last owner."""
    with work.write() as ctx:
        service.remove_role_assignments(ctx, user_id, body)
    return EmptyOut()
