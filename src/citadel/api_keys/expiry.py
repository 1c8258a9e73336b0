"""Warning people before their API keys expire: 14 days ahead, once per key.

A key's warning goes to the person who created it while they are still a member, else to the
organization's owners (Organization owner role), so a key made by someone who left still
reaches someone who can replace it. The platform runs this (`citadel.use_cases.notifications`),
not a caller: it reads every organization's keys, which no request may.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from citadel.api_keys.models import ApiKey
from citadel.authz.roles import OWNER
from citadel.db.tenancy import in_organization
from citadel.orgs.models import Membership, Organization, RoleAssignment
from citadel.users.models import User

WARN_BEFORE = timedelta(days=14)


@dataclass(frozen=True)
class ExpiringKey:
    """A key to warn about, and who to tell."""

    key_id: str
    description: str
    organization: str
    expires_at: datetime
    recipients: tuple[str, ...]


def expiring_keys(session: Session, now: datetime) -> list[ExpiringKey]:
    """Live keys that expire within `WARN_BEFORE` of `now` and were not warned about yet."""
    rows = session.execute(
        sa.select(ApiKey, Organization.name)
        .join(Organization, Organization.id == ApiKey.organization_id)
        .where(
            ApiKey.expires_at.is_not(None),
            ApiKey.expires_at > now,
            ApiKey.expires_at <= now + WARN_BEFORE,
            ApiKey.expiry_warned_at.is_(None),
            ApiKey.disabled_at.is_(None),
        )
        .order_by(ApiKey.expires_at)
    ).all()
    found = []
    for key, organization in rows:
        assert key.expires_at is not None
        recipients = _recipients(session, key)
        if recipients:
            found.append(
                ExpiringKey(key.id, key.description, organization, key.expires_at, recipients)
            )
    return found


def mark_warned(session: Session, key_ids: list[str], now: datetime) -> None:
    """Remember that these keys' warnings went out."""
    if key_ids:
        session.execute(
            sa.update(ApiKey)
            .where(ApiKey.id.in_(key_ids), ApiKey.expiry_warned_at.is_(None))
            .values(expiry_warned_at=now)
            .execution_options(synchronize_session=False)
        )


def _recipients(session: Session, key: ApiKey) -> tuple[str, ...]:
    org = key.organization_id
    if key.created_by is not None and session.get(Membership, (org, key.created_by)) is not None:
        creator = session.get(User, key.created_by)
        if creator is not None:
            return (creator.email,)
    owners = session.scalars(
        sa.select(User.email)
        .join(RoleAssignment, RoleAssignment.user_id == User.id)
        .where(in_organization(RoleAssignment, org), RoleAssignment.role_id == str(OWNER))
        .order_by(User.email)
    )
    return tuple(dict.fromkeys(owners))
