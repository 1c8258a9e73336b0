"""The signing keys of deployment access tokens.

`generation` is unique: two control-plane replicas that both decide a new key is due both
insert the next generation, and the database keeps exactly one (the other's transaction fails
and it re-reads). The private key is sealed by the barrier with the key id as context; the
public half is kept as a JWK, ready to publish.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from citadel.db.base import Base


class TokenSigningKey(Base):
    """One RS256 key: signs tokens from `active_from` until `active_until` (None: no successor
    yet), published in the JWK Set until `publish_until` (None: while it signs), then deleted."""

    __tablename__ = "deployment_token_keys"

    kid: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    generation: Mapped[int] = mapped_column(unique=True)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    private_key_sealed: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime]
    active_from: Mapped[datetime]
    active_until: Mapped[datetime | None]
    publish_until: Mapped[datetime | None]
