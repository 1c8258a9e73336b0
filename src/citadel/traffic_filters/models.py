"""The traffic-filter tables: rulesets (with their version history), associations, claims.

A ruleset's rules are one JSON list, replaced whole by every update (the Cloud API's PUT);
each update bumps `version` and appends the new document to `traffic_filter_ruleset_versions`.
An association ties a ruleset to a deployment of the same region. A claimed link id belongs to
one organization platform-wide: no other organization's ruleset admits it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from citadel.db.base import Base


class Ruleset(Base):
    """One network security policy of an organization, bound to one region."""

    __tablename__ = "traffic_filter_rulesets"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(256))
    description: Mapped[str] = mapped_column(sa.String(1024), default="")
    type: Mapped[str] = mapped_column(sa.String(64))
    region: Mapped[str] = mapped_column(sa.String(32))
    include_by_default: Mapped[bool] = mapped_column(default=False)
    rules: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    version: Mapped[int] = mapped_column(default=1)
    api: Mapped[str] = mapped_column(sa.String(16), default="hosted", server_default="hosted")
    """``hosted``: a deployment traffic filter ruleset (`/deployments/traffic-filter`);
    ``serverless``: a project traffic filter (`/serverless/traffic-filters`). Each API sees its
    own; both are matched and enforced the same way."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class RulesetVersion(Base):
    """A ruleset as it was after one change (its history)."""

    __tablename__ = "traffic_filter_ruleset_versions"

    ruleset_id: Mapped[str] = mapped_column(
        sa.ForeignKey("traffic_filter_rulesets.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    actor_type: Mapped[str] = mapped_column(sa.String(16))
    actor_id: Mapped[str | None] = mapped_column(sa.String(64))
    changed_at: Mapped[datetime]


class Association(Base):
    """A ruleset applied to a deployment."""

    __tablename__ = "traffic_filter_associations"

    ruleset_id: Mapped[str] = mapped_column(
        sa.ForeignKey("traffic_filter_rulesets.id", ondelete="CASCADE"), primary_key=True
    )
    entity_type: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    entity_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, index=True)
    organization_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime]


class LinkClaim(Base):
    """A private-link endpoint id an organization owns in a region."""

    __tablename__ = "traffic_filter_link_claims"
    __table_args__ = (sa.UniqueConstraint("region", "vendor", "link_id"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    region: Mapped[str] = mapped_column(sa.String(32))
    vendor: Mapped[str] = mapped_column(sa.String(16))
    link_id: Mapped[str] = mapped_column(sa.String(128))
    azure_endpoint_name: Mapped[str | None] = mapped_column(sa.String(128))
    azure_endpoint_guid: Mapped[str | None] = mapped_column(sa.String(36))
    created_at: Mapped[datetime]


class RecentClient(Base):
    """A client a gateway saw for a deployment recently (the lockout guard's input), shared by
    every control-plane replica; `endpoint_id` "" is no private-link endpoint."""

    __tablename__ = "recent_clients"

    deployment_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    client_ip: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(sa.String(160), primary_key=True)
    last_seen: Mapped[float] = mapped_column(sa.Float, index=True)
    connected: Mapped[bool]
