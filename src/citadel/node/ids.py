"""Random identifiers the node hands out (async searches, scroll and point-in-time contexts).

An id may travel as a URL path segment (``GET /_async_search/{id}``), and the router never
lets a ``{name}`` segment start with ``_`` (that is how ``/_async_search/status`` and
``/{index}/_doc`` stay apart), so no id starts with ``_`` or ``-``.
"""

from __future__ import annotations

import secrets
import string

_FIRST = string.ascii_letters + string.digits


def path_safe_id(random_bytes: int = 24) -> str:
    """A URL-safe random id of at least `random_bytes` bytes of entropy plus a safe first letter."""
    return secrets.choice(_FIRST) + secrets.token_urlsafe(random_bytes)
