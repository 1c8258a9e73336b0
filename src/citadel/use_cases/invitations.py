"""Inviting people: the invitations are written in one transaction, then each invited address
gets its email (with no transaction open: an SMTP server that hangs holds no lock)."""

from __future__ import annotations

from dataclasses import dataclass

from citadel.authn.principal import PrincipalKind
from citadel.invitations import service as invitations
from citadel.invitations.links import invitation_link
from citadel.invitations.schemas import InvitationRequestIn
from citadel.invitations.service import IssuedInvitation
from citadel.mail import letters
from citadel.mail.delivery import Mailer, Message, deliver
from citadel.orgs.service import load as load_org
from citadel.use_cases.units import Units


@dataclass(frozen=True)
class Invited:
    """The invitations made, and the addresses whose email could not be handed over (the
    inviter can resend; the invitation itself stands)."""

    issued: list[IssuedInvitation]
    undelivered: list[str]


def invite(
    units: Units, mailer: Mailer, organization_id: str, body: InvitationRequestIn, *, link_base: str
) -> Invited:
    """Create or refresh the invitations, then email each invited address its link (the
    token and the email code: the code is only ever in that email)."""
    with units.write() as ctx:
        issued = invitations.invite(ctx, organization_id, body)
        organization = load_org(ctx.session, organization_id).name
        person = ctx.caller.principal
        inviter = person.email if person and person.kind is PrincipalKind.USER else None
        messages = [_letter(i, organization, link_base, inviter) for i in issued]
    undelivered = [m.to for m in messages if not deliver(mailer, m)]
    return Invited(issued, undelivered)


def _letter(issued: IssuedInvitation, organization: str, base: str, inviter: str | None) -> Message:
    link = invitation_link(base, issued.token, email_code=issued.email_code)
    return letters.invitation(
        to=issued.row.email,
        organization=organization,
        link=link,
        expires_at=issued.row.expires_at,
        inviter=inviter,
    )
