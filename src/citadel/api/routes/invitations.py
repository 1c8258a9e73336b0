"""Invitation routes."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request

from citadel.api.deps import WorkDep, csv_items, permitted, public
from citadel.api.openapi import errors
from citadel.api.routes.orgs import OrgId
from citadel.api.routes.orgs import shape as shape_org
from citadel.authn.context import Context
from citadel.authz import assignments
from citadel.authz.assignments import Assignment
from citadel.authz.permissions import Permission
from citadel.invitations import service, tokens
from citadel.invitations.models import Invitation
from citadel.invitations.schemas import (
    AcceptedOut,
    AcceptInvitationIn,
    InvitationOut,
    InvitationRequestIn,
    InvitationsOut,
)
from citadel.kit.schema import EmptyOut
from citadel.orgs.service import load as load_org
from citadel.use_cases import invitations as use_cases
from citadel.web.links import link_base_of

router = APIRouter(tags=["invitations"])
Token = Path(max_length=128)


def _shape(
    ctx: Context, row: Invitation, token: str, roles: list[Assignment] | None = None
) -> InvitationOut:
    """The invitation as the API shows it; `roles` if only part of them may be seen."""
    org = load_org(ctx.session, row.organization_id)
    if roles is None:
        roles = assignments.from_stored(row.role_assignments)
    return InvitationOut(
        token=token,
        email=row.email,
        created_at=row.created_at,
        expires_at=row.expires_at,
        expired=row.expires_at <= ctx.clock.now(),
        accepted_at=row.accepted_at,
        organization=shape_org(org),
        role_assignments=assignments.to_response(roles),
    )


@router.post(
    "/organizations/{organization_id}/invitations",
    status_code=201,
    dependencies=[permitted(Permission.INVITATIONS_MANAGE)],
    responses=errors(429),
)
def create_invitations(
    request: Request, body: InvitationRequestIn, work: WorkDep, organization_id: str = OrgId
) -> InvitationsOut:
    """Create or refresh invitations and email each invited address its link. The response
    and that email are the only places a token appears; the email code, which a new account
    needs to accept, is only in the email."""
    invited = use_cases.invite(
        work, work.services.mailer, organization_id, body, link_base=link_base_of(request)
    )
    with work.read() as ctx:
        return InvitationsOut(invitations=[_shape(ctx, i.row, i.token) for i in invited.issued])


@router.get(
    "/organizations/{organization_id}/invitations",
    dependencies=[permitted(Permission.INVITATIONS_READ)],
)
def list_invitations(work: WorkDep, organization_id: str = OrgId) -> InvitationsOut:
    """Invitations; `token` holds each one's public handle, not the secret."""
    with work.read() as ctx:
        rows = service.list_invitations(ctx, organization_id)
        return InvitationsOut(
            invitations=[
                _shape(ctx, r, tokens.handle(r.id), service.visible_assignments(ctx, r))
                for r in rows
            ]
        )


@router.delete(
    "/organizations/{organization_id}/invitations/{invitation_tokens}",
    dependencies=[permitted(Permission.INVITATIONS_MANAGE)],
)
def delete_invitations(
    work: WorkDep, organization_id: str = OrgId, invitation_tokens: str = Path(max_length=13000)
) -> EmptyOut:
    """Revoke invitations by comma-separated handles or tokens."""
    refs = csv_items(invitation_tokens, field="path.invitation_tokens")
    with work.write() as ctx:
        service.delete_invitations(ctx, organization_id, refs)
    return EmptyOut()


@router.get("/organizations/invitations/{invitation_token}", dependencies=[public()])
def get_invitation(work: WorkDep, invitation_token: str = Token) -> InvitationOut:
    """The invitation this token accepts."""
    with work.read() as ctx:
        row = service.find_by_token(ctx, invitation_token)
        return _shape(ctx, row, invitation_token)


@router.post(
    "/organizations/invitations/{invitation_token}/_accept",
    dependencies=[public()],
    responses=errors(410),
)
def accept_invitation(
    work: WorkDep, body: AcceptInvitationIn | None = None, invitation_token: str = Token
) -> AcceptedOut:
    """Join: signed in as the invited person, or as a new account with a password."""
    with work.write() as ctx:
        done = service.accept(ctx, invitation_token, body or AcceptInvitationIn())
    return AcceptedOut(
        user_id=done.user_id,
        organization_id=done.organization_id,
        mfa_enrollment_required=done.mfa_enrollment_required,
    )
