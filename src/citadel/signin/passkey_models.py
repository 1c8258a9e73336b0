"""The challenges issued for passkeys (the passkeys themselves are `users.models.Passkey`:
clearing a user's second factors, in the users domain, forgets them too)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from citadel.db.base import Base
from citadel.users.models import Passkey

__all__ = ["Passkey", "PasskeyChallenge"]


class PasskeyChallenge(Base):
    """A challenge handed to a browser, stored as an HMAC digest: single-use, short-lived,
    for one purpose (`register`: bound to the session; `signin`: bound to the pre-session form
    token when the console asked for it)."""

    __tablename__ = "passkey_challenges"

    digest: Mapped[bytes] = mapped_column(sa.LargeBinary(32), primary_key=True)
    purpose: Mapped[str] = mapped_column(sa.String(16))
    binding: Mapped[bytes | None] = mapped_column(sa.LargeBinary(32))
    """HMAC of what the challenge is bound to (a session id, a pre-session token), or None."""
    user_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime] = mapped_column(index=True)
