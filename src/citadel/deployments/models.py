"""The deployment table (ADR 9): desired and observed state, the wrapped data key.

`data_key_wrapped` holds the deployment's 256-bit data key wrapped by the platform
`KeyProvider` (context ``deployment:<id>``); deleting a deployment sets it to NULL, which
crypto-shreds the data. `elastic_password_sealed` is sealed by the barrier (context
``deployments.elastic_password:<id>``) and present only until the allocator has applied it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from citadel.db.base import Base

DEPLOYMENT = "deployment"
PROJECT = "project"
"""`Deployment.kind`: a deployment, or the runtime instance of a serverless project of the same
id (ADR 28), which the deployments API never shows."""


class Deployment(Base):
    """One Elasticsearch deployment of an organization."""

    __tablename__ = "deployments"
    __table_args__ = (sa.UniqueConstraint("organization_id", "request_id"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(64))
    alias: Mapped[str | None] = mapped_column(sa.String(64))
    region: Mapped[str] = mapped_column(sa.String(32))
    version: Mapped[str] = mapped_column(sa.String(32))
    ref_id: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int]
    tags: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    desired_state: Mapped[str] = mapped_column(sa.String(16))
    observed_state: Mapped[str] = mapped_column(sa.String(16))
    observed_at: Mapped[datetime | None]
    observed_detail: Mapped[str | None] = mapped_column(sa.String(255))
    healthy: Mapped[bool] = mapped_column(default=False)
    sandbox_uid: Mapped[int] = mapped_column(unique=True)
    data_key_wrapped: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    key_path: Mapped[str] = mapped_column(sa.String(512))
    key_manager_id: Mapped[str | None] = mapped_column(sa.String(32))
    """The organization's key manager holding `key_path`; NULL: the platform key."""
    elastic_password_sealed: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    request_id: Mapped[str | None] = mapped_column(sa.String(128))
    revision: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]
    kind: Mapped[str] = mapped_column(sa.String(16), default=DEPLOYMENT, server_default=DEPLOYMENT)
    # Placement (issue 20): the allocator it runs on, and its node's port on that host.
    allocator_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    node_port: Mapped[int | None]
    # Its snapshots, as its allocator last reported them (the Cloud API's info.snapshots).
    snapshot_count: Mapped[int] = mapped_column(default=0, server_default="0")
    snapshot_latest_at: Mapped[datetime | None]
    snapshot_latest_name: Mapped[str | None] = mapped_column(sa.String(255))
    snapshot_healthy: Mapped[bool | None]
    # A restore to do before the first start (plan.transient.restore_snapshot, a lost host).
    restore_source_id: Mapped[str | None] = mapped_column(sa.String(32))
    restore_snapshot: Mapped[str | None] = mapped_column(sa.String(255))
    restore_include_security: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # What the last restore came back from (reported once by the allocator).
    restored_from_name: Mapped[str | None] = mapped_column(sa.String(255))
    restored_from_at: Mapped[datetime | None]
    # A deleted deployment's key (and so its snapshots) is kept until then; NULL: shredded now.
    shred_after: Mapped[datetime | None]
