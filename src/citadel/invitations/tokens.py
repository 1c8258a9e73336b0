"""Invitation tokens: ``inv_<invitation id: 32 hex>_<secret: 43 base62>``.

The part before the last underscore is the invitation's public handle; lists show only the
handle (they appear in the ``token`` field). The whole token, which is the capability to
accept, exists only in the response to the inviter who created or refreshed the invitation,
and in the invitation email. The email code (43 base62 characters) exists only in the email:
it proves that whoever creates an account by accepting reads the invited address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from citadel.kit import base62

_TOKEN = re.compile(r"^inv_([0-9a-f]{32})(?:_([0-9A-Za-z]{43}))?$")
SECRET_LEN = 43


@dataclass(frozen=True)
class InvitationRef:
    """A parsed token or handle."""

    invitation_id: str
    secret: str | None


def handle(invitation_id: str) -> str:
    """The public handle of an invitation."""
    return f"inv_{invitation_id}"


def new_secret() -> str:
    """≈256 bits of acceptance secret."""
    return base62.random_text(SECRET_LEN)


def token(invitation_id: str, secret: str) -> str:
    """The full acceptance token."""
    return f"{handle(invitation_id)}_{secret}"


def parse(text: str) -> InvitationRef | None:
    """A handle or token, or None if `text` is neither."""
    match = _TOKEN.match(text)
    if not match:
        return None
    return InvitationRef(match.group(1), match.group(2))
