"""The join tokens table: a token's hash (never the token), the role it lets a host take, and
when it was used (once)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from citadel.db.base import Base


class JoinToken(Base):
    """One join token minted by a platform owner."""

    __tablename__ = "join_tokens"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(sa.LargeBinary)
    role: Mapped[str] = mapped_column(sa.String(16))  # allocator | gateway | api
    created_by: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by: Mapped[str | None] = mapped_column(sa.String(255))
