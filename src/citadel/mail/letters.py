"""The messages Citadel writes (plain text; no tracking, no remote images)."""

from __future__ import annotations

from datetime import datetime

from citadel.mail.delivery import Message


def invitation(
    *, to: str, organization: str, link: str, expires_at: datetime, inviter: str | None
) -> Message:
    """The invitation email: the link carries the token and the code that proves the address
    (accepting as a new account needs both; someone who already has an account signs in)."""
    who = f"{inviter} invited you" if inviter else "You are invited"
    body = (
        f"{who} to join the organization {organization} on Citadel.\n\n"
        f"Open this link to accept:\n\n    {link}\n\n"
        f"It works once and expires on {expires_at:%Y-%m-%d %H:%M} UTC. If you did not expect "
        "this invitation, ignore this message: nothing happens until the link is used.\n"
    )
    return Message(to=to, subject=f"Invitation to {organization} on Citadel", body=body)


def api_key_expiring(
    *, to: str, organization: str, description: str, key_id: str, expires_at: datetime
) -> Message:
    """The warning that an API key stops working soon."""
    body = (
        f'The API key "{description}" ({key_id}) of the organization {organization} on '
        f"Citadel expires on {expires_at:%Y-%m-%d %H:%M} UTC. Whatever uses it will then be "
        "refused.\n\nCreate a new key and replace this one before then (console: API keys; "
        "API: POST /api/v1/users/auth/keys).\n"
    )
    return Message(to=to, subject=f"An API key of {organization} expires soon", body=body)


def new_sign_in(*, to: str, address: str, at: datetime) -> Message:
    """The notice of a sign-in from an address the account never signed in from before."""
    body = (
        f"Your Citadel account {to} was signed in to from {address} on "
        f"{at:%Y-%m-%d %H:%M} UTC, an address it had not been used from before.\n\n"
        "If this was you, there is nothing to do. If not, someone has your password and "
        "your second factor: change your password, get new recovery codes, and ask an "
        "Organization owner to check the audit log.\n"
    )
    return Message(to=to, subject="New sign-in to your Citadel account", body=body)
