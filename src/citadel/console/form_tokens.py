"""One-time tokens of the forms that mint a secret (an API key, invitation links).

Such a form carries a random token; the post that first presents it spends it. Reloading the
page that showed the secret posts the form again with the same token, which is found spent:
the page says so and nothing is minted a second time. (Deployment create has the same
protection in the service itself: its token is the stored `request_id`.)

Spent tokens live in the memory of the process serving the console (one per control plane)
for `KEEP`, keyed by the visitor's user id and the token. A token of a post that failed is
given back, so the corrected form can be sent again.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

FIELD = "once_token"
KEEP = timedelta(days=1)
LIMIT = 100_000  # the oldest spent tokens are forgotten first beyond this many


class AlreadySubmitted(Exception):
    """The form's token was spent by an earlier post of the same form."""


def new_token() -> str:
    """A fresh token for a form (128 random bits, hex)."""
    return secrets.token_hex(16)


def well_formed(token: str) -> bool:
    return len(token) == 32 and all(c in "0123456789abcdef" for c in token)


class SpentFormTokens:
    """The tokens already presented, each remembered for `KEEP` (thread-safe)."""

    def __init__(self, *, keep: timedelta = KEEP, limit: int = LIMIT) -> None:
        self._keep = keep
        self._limit = limit
        self._spent: OrderedDict[tuple[str, str], datetime] = OrderedDict()
        self._lock = threading.Lock()

    @contextmanager
    def spend(self, user_id: str, token: str, now: datetime) -> Iterator[None]:
        """Spend `token` for the block; raise `AlreadySubmitted` if it was spent before. When
        the block raises, the token is given back (the form was not acted on)."""
        key = (user_id, token)
        with self._lock:
            self._forget_old(now)
            if key in self._spent:
                raise AlreadySubmitted()
            self._spent[key] = now
            while len(self._spent) > self._limit:
                self._spent.popitem(last=False)
        try:
            yield
        except BaseException:
            with self._lock:
                self._spent.pop(key, None)
            raise

    def _forget_old(self, now: datetime) -> None:
        while self._spent:
            key, at = next(iter(self._spent.items()))
            if now - at < self._keep:
                return
            del self._spent[key]
