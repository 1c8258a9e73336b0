"""An organization's key managers: how to reach an HSM, Vault/OpenBao, KMIP server or KMS.

Settings (endpoint, module path, CA) are plain; the credential (PIN, token, client key, secret
access key) is sealed by the barrier with context ``key_managers.secret:<id>`` and never
returned by the API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from citadel.db.base import Base


class KeyManager(Base):
    """One key manager configured by an organization."""

    __tablename__ = "key_managers"
    __table_args__ = (sa.UniqueConstraint("organization_id", "name"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(64))
    kind: Mapped[str] = mapped_column(sa.String(16))
    settings: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    secret_sealed: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
