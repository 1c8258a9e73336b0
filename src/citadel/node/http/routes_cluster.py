"""Routes of this area (being written)."""

from __future__ import annotations

from citadel.node.http.router import Router
from citadel.node.services import NodeServices


def register(router: Router, services: NodeServices) -> None:
    """Add this area's routes to `router`."""
