"""Per-index authorization inside a handler (``_bulk``, ``_mget``, wildcard expansion).

Routes whose target indices are only known from the body or from a wildcard ask the router
for ``AUTHENTICATED`` and check each index here, through the realm's ``allowed``. A refusal
is the realm's own 403 (`index_forbidden`), so every 403 reads alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from citadel.node.security.realm import Identity, index_forbidden


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
