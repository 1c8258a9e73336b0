"""The deployment security audit tables: the events the nodes ship, and each deployment's
audit settings.

An event keeps the columns the trail is searched by (time, action, principal, realm, origin
address, request id, indices) beside the whole Elasticsearch audit JSON object as the node
wrote it, bounded in size (`service.MAX_EVENT_BYTES`). Events are append-only: nothing changes
a row, retention deletes the oldest (`service.prune`). The settings row exists once somebody
changed a deployment's settings (none: the defaults of `AuditSettings`); it also counts the
events the node had to drop (its buffer was full) as the node reports them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from citadel.db.base import Base


class DeploymentAuditEvent(Base):
    """One Elasticsearch security audit event of one deployment."""

    __tablename__ = "deployment_audit_events"
    __table_args__ = (
        sa.Index("ix_deployment_audit_events_deployment_at", "deployment_id", "at", "id"),
        sa.Index("ix_deployment_audit_events_at", "at"),
    )

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    deployment_id: Mapped[str] = mapped_column(sa.ForeignKey("deployments.id", ondelete="CASCADE"))
    organization_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE")
    )
    at: Mapped[datetime]
    """The event's ``@timestamp`` (the node's clock; retention goes by it)."""
    action: Mapped[str] = mapped_column(sa.String(64))
    """``event.action``: ``access_granted``, ``authentication_failed``, ..."""
    principal: Mapped[str | None] = mapped_column(sa.String(255))
    realm: Mapped[str | None] = mapped_column(sa.String(128))
    origin_address: Mapped[str | None] = mapped_column(sa.String(64))
    request_id: Mapped[str | None] = mapped_column(sa.String(64))
    indices: Mapped[str | None] = mapped_column(sa.String(2048))
    """The event's indices joined by commas (searched by substring)."""
    event: Mapped[dict[str, Any]] = mapped_column(sa.JSON)


class DeploymentAuditSettings(Base):
    """What a deployment's node records (Elasticsearch's ``xpack.security.audit.*``), and how
    many events its node reported dropped."""

    __tablename__ = "deployment_audit_settings"

    deployment_id: Mapped[str] = mapped_column(
        sa.ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True
    )
    organization_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    enabled: Mapped[bool] = mapped_column(default=False)
    include: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    exclude: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    ignore_filters: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    dropped_events: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    updated_at: Mapped[datetime]
