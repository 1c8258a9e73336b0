"""Creating and finding user accounts."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from citadel.crypto.passwords import hash_password, password_problem
from citadel.db.engine import rows_changed
from citadel.kit.ids import new_id
from citadel.users.errors import WeakPassword
from citadel.users.models import Passkey, RecoveryCode, User, UserSession


def find_by_email(session: Session, email: str) -> User | None:
    """The account with this (normalized) email, if any."""
    return session.scalars(sa.select(User).where(User.email == email)).one_or_none()


def create_user(
    session: Session, *, email: str, password: str, name: str | None, now: datetime, field: str
) -> User:
    """A new account with an argon2id password; `field` names the password in errors."""
    problem = password_problem(password)
    if problem:
        raise WeakPassword(f"The password {problem}.", fields=[field])
    user = User(
        id=new_id(), email=email, name=name, password_hash=hash_password(password), created_at=now
    )
    session.add(user)
    session.flush()
    return user


def end_sessions(session: Session, user_ids: list[str], now: datetime) -> int:
    """End every live session of these users; returns how many ended."""
    if not user_ids:
        return 0
    return rows_changed(
        session,
        sa.update(UserSession)
        .where(UserSession.user_id.in_(user_ids), UserSession.ended_at.is_(None))
        .values(ended_at=now),
    )


def clear_second_factors(session: Session, user: User) -> None:
    """Forget every second factor of `user` (TOTP seed, pending seed, recovery codes,
    passkeys): at the next sign-in they must enrol again."""
    user.totp_secret_sealed = user.totp_pending_sealed = None
    user.totp_enabled_at = user.totp_last_counter = None
    session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.execute(sa.delete(Passkey).where(Passkey.user_id == user.id))
