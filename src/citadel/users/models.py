"""User accounts, their recovery codes, passkeys and sessions."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from citadel.db.base import Base


class User(Base):
    """A person. The TOTP seed is sealed with the row id as context; never stored in clear."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    name: Mapped[str | None] = mapped_column(sa.String(128))
    password_hash: Mapped[str | None] = mapped_column(sa.String(256))
    created_at: Mapped[datetime]
    totp_secret_sealed: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    totp_pending_sealed: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    totp_enabled_at: Mapped[datetime | None]
    totp_last_counter: Mapped[int | None] = mapped_column(sa.BigInteger)

    @property
    def has_totp(self) -> bool:
        return self.totp_enabled_at is not None


class RecoveryCode(Base):
    """A single-use second factor, stored as an HMAC digest."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    digest: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    used_at: Mapped[datetime | None]


class UserSession(Base):
    """A signed-in user. The token is stored only as a SHA-256 digest (it has 256 bits)."""

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    token_digest: Mapped[bytes] = mapped_column(sa.LargeBinary(32), unique=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    mfa_enrollment_only: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    source_ip: Mapped[str | None] = mapped_column(sa.String(64))
    method: Mapped[str] = mapped_column(sa.String(16), default="password")
    """How the user signed in: ``password`` (with a second factor) or ``saml``."""
    sso_organization_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE")
    )
    """For ``saml``: the organization whose identity provider vouched for the user."""


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
