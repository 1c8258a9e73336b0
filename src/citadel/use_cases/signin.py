"""Signing in with a password: the session is issued in one transaction; a sign-in from an
address the account was never used from is then mailed to its owner (no transaction open)."""

from __future__ import annotations

from citadel.mail import letters
from citadel.mail.delivery import Mailer, deliver
from citadel.signin import service
from citadel.signin.passkey_checks import RelyingParty
from citadel.signin.schemas import LoginIn
from citadel.signin.service import IssuedSession
from citadel.use_cases.units import Units
from citadel.users.models import User


def sign_in(
    units: Units,
    mailer: Mailer,
    body: LoginIn,
    *,
    rp: RelyingParty | None,
    passkey_binding: str | None = None,
) -> IssuedSession:
    """`signin.service.sign_in`, then the new-address notice when there is one."""
    with units.write() as ctx:
        issued = service.sign_in(ctx, body, rp=rp, passkey_binding=passkey_binding)
        user = ctx.session.get(User, issued.row.user_id)
    if issued.unfamiliar_address is not None and user is not None:
        notice = letters.new_sign_in(
            to=user.email, address=issued.unfamiliar_address, at=issued.row.created_at
        )
        deliver(mailer, notice)
    return issued
