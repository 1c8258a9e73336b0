"""The platform's shared secret material in the database, for control-plane replicas (ADR 32).

Every replica must hold the same keyring root (peppers, the barrier, the audit key) and the
same CA. On PostgreSQL they are kept here, each only in a form that needs the platform key to
use: the keyring root wrapped by the platform key (``keyring.wrapped``), the CA certificate
(``pki/ca.crt``, public) and the CA key sealed by the barrier (``pki/ca.key.sealed``). A
replica given the platform key (the same provider, or a copy of the local key file) and the
database URL takes them from here; the first one to start puts its own. Values are written
once and never changed (`put_if_absent`): two first starts race on the primary key and both
end with the winner's.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from citadel.db.base import Base

KEYRING_ROOT = "keyring.wrapped"
CA_CERTIFICATE = "pki/ca.crt"
CA_KEY = "pki/ca.key.sealed"


class Mismatch(Exception):
    """This host's data directory holds another platform's keyring root or CA than the
    database: it belongs to another platform (the message says which file)."""


class PlatformSecret(Base):
    """One named piece of shared secret material (wrapped or sealed, or public)."""

    __tablename__ = "platform_secrets"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    value: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime]


def stored(session: Session, name: str) -> bytes | None:
    """The value stored under `name`, if any."""
    return session.scalar(sa.select(PlatformSecret.value).where(PlatformSecret.name == name))


def put_if_absent(session: Session, values: dict[str, bytes], now: datetime) -> dict[str, bytes]:
    """Store `values` unless any of them is already stored; the values stored afterwards (ours,
    or those of whoever stored first). Flushes; the caller commits."""
    try:
        with session.begin_nested():
            for name, value in values.items():
                if stored(session, name) is None:
                    session.add(PlatformSecret(name=name, value=value, created_at=now))
            session.flush()
    except IntegrityError:  # a replica starting at the same moment stored first
        pass
    return {name: stored(session, name) or b"" for name in values}


def has_table(engine: sa.Engine) -> bool:
    """Whether the schema has the table yet (migration 0015)."""
    return sa.inspect(engine).has_table(PlatformSecret.__tablename__)
