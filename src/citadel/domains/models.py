"""A domain an organization claims, and the proof it is asked for.

The verification code is not a credential: the owner publishes it in DNS, where anyone can
read it. `verified_domain` repeats `domain` once the claim is verified and is NULL before, so
the unique constraint on it lets many organizations hold pending claims of one domain while
at most one of them holds it verified, even under concurrent verifications.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from citadel.db.base import Base


class ClaimedDomain(Base):
    """One domain claimed by one organization: pending until its TXT record is seen."""

    __tablename__ = "claimed_domains"
    __table_args__ = (sa.UniqueConstraint("organization_id", "domain"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    domain: Mapped[str] = mapped_column(sa.String(253), index=True)
    verification_code: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16))
    verified_domain: Mapped[str | None] = mapped_column(sa.String(253), unique=True)
    created_at: Mapped[datetime]
    verified_at: Mapped[datetime | None]
    last_checked_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.String(512))
