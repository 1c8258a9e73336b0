"""The organization aggregate: the organization, its memberships and role assignments."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from citadel.db.base import Base


class Organization(Base):
    """A tenant: members, roles, keys and (later) deployments belong to exactly one."""

    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime]
    billing_contacts: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    operational_contacts: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    notifications_allowed_email_domains: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    default_disk_usage_alerts_enabled: Mapped[bool] = mapped_column(default=True)
    enforce_authentication_method: Mapped[str | None] = mapped_column(sa.String(16))
    allow_never_expiring_api_keys: Mapped[bool] = mapped_column(default=False)
    disable_api_keys_on_member_removal: Mapped[bool] = mapped_column(default=False)


class Membership(Base):
    """A user belongs to an organization."""

    __tablename__ = "memberships"

    organization_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    member_since: Mapped[datetime]


class RoleAssignment(Base):
    """One role of one member; resource ids merge into one row per (org, user, role)."""

    __tablename__ = "role_assignments"
    __table_args__ = (sa.UniqueConstraint("organization_id", "user_id", "role_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    organization_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE")
    )
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role_id: Mapped[str] = mapped_column(sa.String(64))
    all_resources: Mapped[bool] = mapped_column(default=False)
    resource_ids: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    application_roles: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[datetime]
