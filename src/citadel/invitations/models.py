"""The invitation table. Only an HMAC digest of the acceptance secret is stored."""

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
    role_assignments: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    invited_by: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
