"""A deployment's customer realms: one row per realm, named as Elasticsearch names realms.

`settings` keeps Elasticsearch's keys as validated (`citadel.deployment_realms.settings`), with
the secret taken out: an OIDC realm's ``rp.client_secret`` is sealed by the barrier in
`client_secret_sealed` with the realm's id as context, and never returned. A SAML realm's IdP
metadata document is kept as given (`idp_metadata`), because the node checks responses against
the signing certificates it names; when the realm names it by URL (``idp.metadata.path``) the
document is the last one fetched and validated, at `idp_metadata_fetched_at` (None: inline).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from citadel.db.base import Base


class DeploymentRealm(Base):
    """One SAML or OIDC realm of one deployment."""

    __tablename__ = "deployment_realms"
    __table_args__ = (sa.UniqueConstraint("deployment_id", "name"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    deployment_id: Mapped[str] = mapped_column(
        sa.ForeignKey("deployments.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(64))
    type: Mapped[str] = mapped_column(sa.String(8))
    order: Mapped[int]
    enabled: Mapped[bool]
    settings: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    idp_metadata: Mapped[str] = mapped_column(sa.Text, default="")
    idp_metadata_fetched_at: Mapped[datetime | None]
    client_secret_sealed: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
