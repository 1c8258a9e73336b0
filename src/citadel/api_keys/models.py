"""The API key table: a public key id, and an HMAC digest of the whole key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from citadel.db.base import Base


class ApiKey(Base):
    """A Cloud API key. Owned by the organization; `created_by` is history, not ownership."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    created_by: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    description: Mapped[str] = mapped_column(sa.String(255))
    digest: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    pepper_version: Mapped[int]
    role_assignments: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    expiry_warned_at: Mapped[datetime | None]
    """When the warning that the key expires soon was mailed (once per key)."""
    last_used_at: Mapped[datetime | None]
    last_used_ip: Mapped[str | None] = mapped_column(sa.String(64))
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(sa.String(64))
