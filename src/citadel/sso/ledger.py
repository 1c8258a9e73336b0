"""Assertion IDs already used, in the database: a replay is refused by every control-plane
replica, and after a restart, until the assertion would have expired anyway."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from citadel.sso.models import SsoSeenAssertion
from citadel.sso.saml import CLOCK_SKEW


class DatabaseAssertionLedger:
    """An `AssertionLedger` over `sso_seen_assertions`, one organization's rows."""

    def __init__(self, session: Session, organization_id: str) -> None:
        self._session = session
        self._organization_id = organization_id

    def seen(self, assertion_id: str, not_on_or_after: datetime) -> bool:
        """Record `assertion_id`; true if it was recorded before (by anyone)."""
        key = (self._organization_id, assertion_id)
        if self._session.get(SsoSeenAssertion, key) is not None:
            return True
        try:
            with self._session.begin_nested():
                self._session.add(
                    SsoSeenAssertion(
                        organization_id=self._organization_id,
                        assertion_id=assertion_id,
                        forget_after=not_on_or_after + CLOCK_SKEW,
                    )
                )
        except IntegrityError:  # a concurrent sign-in recorded it first
            return True
        return False


def forget_expired(session: Session, now: datetime) -> None:
    """Drop IDs whose assertions could no longer be accepted anyway."""
    session.execute(sa.delete(SsoSeenAssertion).where(SsoSeenAssertion.forget_after < now))
