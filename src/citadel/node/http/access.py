"""Per-index authorization inside a handler (``_bulk``, ``_mget``, wildcard expansion).

Routes whose target indices are only known from the body or from a wildcard ask the router
for ``AUTHENTICATED`` and check each index here, through the realm's ``allowed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from citadel.node.errors import Forbidden


@dataclass(frozen=True)
class IndexAccess:
    """What one caller may do to which index."""

    realm: Any
    identity: Any

    def allowed(self, privilege: str, index: str) -> bool:
        """Whether the caller holds `privilege` on `index`."""
        return bool(self.realm.allowed(self.identity, privilege, index))

    def allowed_any(self, privileges: tuple[str, ...], index: str) -> bool:
        """Whether the caller holds at least one of `privileges` on `index`."""
        return any(self.allowed(p, index) for p in privileges)

    def require(self, privilege: str, index: str) -> None:
        """403 security_exception unless the caller holds `privilege` on `index`."""
        if not self.allowed(privilege, index):
            raise forbidden(self.identity, privilege, index)


def forbidden(identity: Any, privilege: str, index: str) -> Forbidden:
    """The 403 Elasticsearch sends when an index privilege is missing."""
    username = getattr(identity, "username", "_anonymous")
    roles = ",".join(getattr(identity, "roles", ()) or ())
    return Forbidden(
        f"action is unauthorized for user [{username}] with effective roles [{roles}] on "
        f"indices [{index}], this action is granted by the index privileges [{privilege},all]"
    )
