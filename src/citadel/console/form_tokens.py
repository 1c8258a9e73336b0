"""One-time tokens of the forms that mint a secret (an API key, invitation links).

Such a form carries a random token; the post that first presents it spends it. Reloading the
page that showed the secret posts the form again with the same token, which is found spent:
the page says so and nothing is minted a second time. (Deployment create has the same
protection in the service itself: its token is the stored `request_id`.)

Spent tokens live in the database (`citadel.users.form_tokens`) for `KEEP`, keyed by the
visitor's user id and the token, so a repeat is found whichever control-plane replica serves it
(ADR 32). A token is spent in a transaction of its own before the form is acted on; a token of
a post that failed is given back, so the corrected form can be sent again. (A replica that dies
between the two leaves the token spent and the form not acted on: the visitor sees the notice
and fills the form again.)
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from citadel.db.engine import Database
from citadel.users.form_tokens import KEEP, give_back_form_token, spend_form_token

FIELD = "once_token"


class AlreadySubmitted(Exception):
    """The form's token was spent by an earlier post of the same form."""


def new_token() -> str:
    """A fresh token for a form (128 random bits, hex)."""
    return secrets.token_hex(16)


def well_formed(token: str) -> bool:
    return len(token) == 32 and all(c in "0123456789abcdef" for c in token)


class SpentFormTokens:
    """The tokens already presented, each remembered for `keep`, in the shared database."""

    def __init__(self, db: Database, *, keep: timedelta = KEEP) -> None:
        self._db = db
        self._keep = keep

    @contextmanager
    def spend(self, user_id: str, token: str, now: datetime) -> Iterator[None]:
        """Spend `token` for the block; raise `AlreadySubmitted` if it was spent before. When
        the block raises, the token is given back (the form was not acted on)."""
        with self._db.write() as session:
            fresh = spend_form_token(session, user_id, token, now, keep=self._keep)
        if not fresh:
            raise AlreadySubmitted()
        try:
            yield
        except BaseException:
            with self._db.write() as session:
                give_back_form_token(session, user_id, token)
            raise
