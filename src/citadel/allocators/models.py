"""The allocators table: every allocator that ever sent a heartbeat, where its nodes are
reached, its zone and its capacity. Healthy means a heartbeat within
``allocator_unhealthy_after_s``; nothing is stored for it."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from citadel.db.base import Base


class Allocator(Base):
    """One allocator host."""

    __tablename__ = "allocators"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    address: Mapped[str] = mapped_column(sa.String(255))
    zone: Mapped[str] = mapped_column(sa.String(64))
    capacity_mb: Mapped[int]
    registered_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
