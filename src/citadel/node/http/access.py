"""Per-index authorization inside a handler (``_bulk``, ``_mget``, wildcard expansion).

Routes whose target indices are only known from the body or from a wildcard ask the router
for ``AUTHENTICATED`` and check each index here, through the realm's ``allowed``. A refusal
is the realm's own 403 (`index_forbidden`), so every 403 reads alike.

Before a route expands an index expression it calls `expanding` (or `require_action`): as in
Elasticsearch, a caller who holds the action's privilege on no index at all gets a 403
(`index_action_forbidden`) rather than an empty answer, and only one who holds it on some
index gets the expansion to the indices it may see (none, perhaps: an empty answer then).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from citadel.node.security.realm import Identity, index_forbidden
from citadel.node.store.expressions import is_pattern


@dataclass(frozen=True)
class IndexAccess:
    """What one caller may do to which index."""

    realm: Any  # a security.realm.Realm, as NodeServices holds it
    identity: Identity

    def allowed(self, privilege: str, index: str) -> bool:
        """Whether the caller holds `privilege` on `index`."""
        return bool(self.realm.allowed(self.identity, privilege, index))

    def allowed_any(self, privileges: tuple[str, ...], index: str) -> bool:
        """Whether the caller holds at least one of `privileges` on `index`."""
        return any(self.allowed(p, index) for p in privileges)

    def require(self, privilege: str, index: str) -> None:
        """403 security_exception unless the caller holds `privilege` on `index`."""
        if not self.allowed(privilege, index):
            raise index_forbidden(self.identity, privilege, [index])

    def require_action(self, *privileges: str) -> None:
        """403 security_exception unless the caller holds one of `privileges` on some index
        (Elasticsearch's check of the action, before any index is looked at)."""
        self.realm.require_index_action(self.identity, privileges)

    def require_named(self, expression: str | None, *privileges: str) -> None:
        """For a route that expands its path's expression itself: `require_action`, then a
        403 naming every index, alias or data stream the expression gives exactly (not by
        wildcard, nor as a ``-`` exclusion) on which the caller holds none of `privileges`,
        as the router's own check would; wildcards are left to expand to the allowed
        indices."""
        self.require_action(*privileges)
        parts = [p.strip() for p in (expression or "").split(",")]
        named = [
            p
            for i, p in enumerate(parts)
            if p and not is_pattern(p) and not (i > 0 and p.startswith("-"))
        ]
        denied = [n for n in named if not self.allowed_any(privileges, n)]
        if denied:
            raise index_forbidden(self.identity, privileges[0], denied)

    def expanding(self, *privileges: str) -> Callable[[str], bool]:
        """What wildcard expansion keeps (the indices on which the caller holds one of
        `privileges`), after `require_action` has passed."""
        self.require_action(*privileges)
        return lambda index: self.allowed_any(privileges, index)
