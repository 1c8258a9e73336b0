"""Keyset paging tokens: where the next page of a list ordered by (creation time, id) starts.

The token is opaque to clients (URL-safe base64 of the last item's creation time and id), so
a list that changes between pages neither repeats nor skips an item that stays.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from citadel.kit.ids import is_id


@dataclass(frozen=True)
class PageToken:
    """Where the next page starts: after this item (creation time, then id)."""

    created_at: datetime
    id: str

    def text(self) -> str:
        raw = f"{self.created_at.isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def parse(cls, text: str) -> PageToken:
        """The token `text` spells; ValueError when it is not one of ours."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            when, _, item_id = raw.partition("|")
            token = cls(datetime.fromisoformat(when), item_id)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ValueError("not a page token") from None
        if not is_id(token.id):
            raise ValueError("not a page token")
        return token

    def precedes(self, created_at: datetime, item_id: str) -> bool:
        """Whether an item comes after this token in (creation time, id) order."""
        return (created_at, item_id) > (self.created_at, self.id)
