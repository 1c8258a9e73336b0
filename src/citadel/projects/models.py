"""The project table (ADR 28): what a serverless project is beyond its runtime instance.

`id` is also the id of its instance in `deployments` (``kind = 'project'``), which holds the
runtime state (desired and observed state, sandbox uid, wrapped data key, pending password).
The row is removed once the instance is observed deleted; the instance row stays, its data
key shredded, as a deleted deployment's does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from citadel.db.base import Base


class Project(Base):
    """One serverless project of an organization."""

    __tablename__ = "projects"
    __table_args__ = (sa.UniqueConstraint("region_id", "alias"),)

    id: Mapped[str] = mapped_column(
        sa.ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True
    )
    organization_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(sa.String(16))
    """``elasticsearch``, ``observability`` or ``security``; never changes."""
    name: Mapped[str] = mapped_column(sa.String(255))
    alias: Mapped[str] = mapped_column(sa.String(64))
    """The alias as returned: the requested one, ``-``, the first 6 characters of the id."""
    region_id: Mapped[str] = mapped_column(sa.String(32))
    optimized_for: Mapped[str | None] = mapped_column(sa.String(32))
    settings: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    """The type's settings as the API spells them: ``search_lake``, ``product_tier``,
    ``product_types``, ``admin_features_package``."""
    tags: Mapped[dict[str, str]] = mapped_column(sa.JSON, default=dict)
    created_by: Mapped[str | None] = mapped_column(sa.String(64))
    phase: Mapped[str] = mapped_column(sa.String(16))
    """`ProjectStatusPhase`: initializing, initialized, deleting, suspending, suspended."""
    phase_changed_at: Mapped[datetime]
    suspended_at: Mapped[datetime | None]
    suspended_reason: Mapped[str | None] = mapped_column(sa.String(255))
    last_request_at: Mapped[datetime | None]
    """When a gateway last forwarded a request to it (reported by the gateways)."""
    idle_stopped: Mapped[bool] = mapped_column(default=False)
    """Stopped because idle (ADR 29): the gateway wakes it on the next request."""
    revision: Mapped[int] = mapped_column(default=1)
    """Bumped by every change; the ETag."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
