"""The invitation table. Only HMAC digests of the acceptance secret and of the email code
are stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from citadel.db.base import Base


class Invitation(Base):
    """An open (or accepted) invitation of one email address to one organization."""

    __tablename__ = "invitations"
    __table_args__ = (sa.UniqueConstraint("organization_id", "email"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE")
    )
    email: Mapped[str] = mapped_column(sa.String(320))
    secret_digest: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    email_code_digest: Mapped[bytes | None] = mapped_column(sa.LargeBinary(32))
    """The code only the invitation email carries: accepting as a new account needs it (the
    inviter holds the token, so the token alone proves nothing about the address). None for
    an invitation from before codes: it must be refreshed to admit a new account."""
    role_assignments: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    invited_by: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
