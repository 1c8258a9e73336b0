"""Passkeys (WebAuthn credentials) and the challenges issued for them."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from citadel.db.base import Base


class Passkey(Base):
    """A user's WebAuthn credential: its id and public key (neither is a secret), the
    authenticator's last signature counter, and when it was last used."""

    __tablename__ = "passkeys"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[bytes] = mapped_column(sa.LargeBinary(1023), unique=True)
    public_key: Mapped[bytes] = mapped_column(sa.LargeBinary)
    """The COSE public key, as the authenticator gave it."""
    sign_count: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    transports: Mapped[str] = mapped_column(sa.String(128), default="")
    """Comma-separated hints (`internal`, `usb`, `hybrid`...), passed back to the browser."""
    name: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]


class PasskeyChallenge(Base):
    """A challenge handed to a browser, stored as an HMAC digest: single-use, short-lived,
    for one purpose (`register`: bound to the session; `signin`: bound to the pre-session form
    token when the console asked for it)."""

    __tablename__ = "passkey_challenges"

    digest: Mapped[bytes] = mapped_column(sa.LargeBinary(32), primary_key=True)
    purpose: Mapped[str] = mapped_column(sa.String(16))
    binding: Mapped[bytes | None] = mapped_column(sa.LargeBinary(32))
    """HMAC of what the challenge is bound to (a session id, a pre-session token), or None."""
    user_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime] = mapped_column(index=True)
