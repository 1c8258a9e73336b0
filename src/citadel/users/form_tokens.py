"""Spent one-time form tokens, in the database: a console form that mints a secret (an API
key, invitation links, a project) is acted on once, whichever control-plane replica serves the
repeat (`citadel.console.form_tokens`, ADR 32)."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from citadel.db.base import Base

KEEP = timedelta(days=1)
"""How long a spent token is remembered (a page reloaded a day later mints again)."""


class SpentFormToken(Base):
    """A form token one user has presented."""

    __tablename__ = "spent_form_tokens"

    user_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    token: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    spent_at: Mapped[datetime] = mapped_column(index=True)


def spend_form_token(
    session: Session, user_id: str, token: str, now: datetime, *, keep: timedelta = KEEP
) -> bool:
    """Record `token` as spent by `user_id`; false if it was spent before (by any replica,
    within `keep`). Flushes; the caller commits."""
    row = session.get(SpentFormToken, (user_id, token))
    if row is not None:
        if now - row.spent_at < keep:
            return False
        session.delete(row)
        session.flush()
    try:
        with session.begin_nested():
            session.add(SpentFormToken(user_id=user_id, token=token, spent_at=now))
            session.flush()
    except IntegrityError:  # a concurrent post of the same form spent it first
        return False
    return True


def give_back_form_token(session: Session, user_id: str, token: str) -> None:
    """Forget that `token` was spent (the post it came with was not acted on)."""
    session.execute(
        sa.delete(SpentFormToken).where(
            SpentFormToken.user_id == user_id, SpentFormToken.token == token
        )
    )


def forget_spent_form_tokens(session: Session, now: datetime) -> None:
    """Delete the tokens spent longer than `KEEP` ago."""
    session.execute(sa.delete(SpentFormToken).where(SpentFormToken.spent_at <= now - KEEP))
