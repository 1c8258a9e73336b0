"""An organization's SAML single sign-on: its configuration, the identities signed in through
it, the requests in flight, the assertions already used, and the role mappings.

`SsoConfiguration.generation` goes up whenever anything that decides a sign-in changes (IdP,
certificate, SP key, login prefix). An identity remembers the generation of its last
successful sign-in, which is how enforcement knows the caller has signed in "with the current
configuration". The SP private key is sealed by the barrier with the organization id as
context; it never leaves the control plane.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from citadel.db.base import Base


class SsoConfiguration(Base):
    """One organization's service provider and the identity provider it trusts."""

    __tablename__ = "sso_configurations"

    organization_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    login_prefix: Mapped[str] = mapped_column(sa.String(63), unique=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    idp_entity_id: Mapped[str] = mapped_column(sa.String(1024))
    idp_sso_url: Mapped[str] = mapped_column(sa.String(2048))
    idp_certificate: Mapped[str] = mapped_column(sa.Text)
    sp_certificate: Mapped[str] = mapped_column(sa.Text)
    sp_key_sealed: Mapped[bytes] = mapped_column(sa.LargeBinary)
    generation: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SsoIdentity(Base):
    """A user as one organization's IdP knows them: (organization, IdP, NameID) -> user."""

    __tablename__ = "sso_identities"
    __table_args__ = (sa.UniqueConstraint("organization_id", "idp_entity_id", "name_id"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    idp_entity_id: Mapped[str] = mapped_column(sa.String(1024))
    name_id: Mapped[str] = mapped_column(sa.String(1024))
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    groups: Mapped[list[str] | None] = mapped_column(sa.JSON)
    """The `groups` values of the last sign-in that carried the attribute (None: never)."""
    generation: Mapped[int]
    """The configuration generation of the last successful sign-in."""
    created_at: Mapped[datetime]
    last_sign_in_at: Mapped[datetime]


class SsoLoginRequest(Base):
    """An AuthnRequest this SP sent: the only responses it accepts answer one of these, once."""

    __tablename__ = "sso_login_requests"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    generation: Mapped[int]
    return_to: Mapped[str] = mapped_column(sa.String(512))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]


class SsoSeenAssertion(Base):
    """An assertion ID already accepted, kept until the assertion would have expired anyway."""

    __tablename__ = "sso_seen_assertions"

    organization_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    assertion_id: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    forget_after: Mapped[datetime] = mapped_column(index=True)


class SsoRoleMapping(Base):
    """A named rule over `groups` values and the role assignments it grants."""

    __tablename__ = "sso_role_mappings"
    __table_args__ = (sa.UniqueConstraint("organization_id", "name"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(64))
    match: Mapped[str] = mapped_column(sa.String(8))
    groups: Mapped[list[str]] = mapped_column(sa.JSON)
    role_assignments: Mapped[list[dict]] = mapped_column(sa.JSON)
    """Stored form of `citadel.authz.assignments` (`to_stored`)."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
