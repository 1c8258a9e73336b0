"""``_termvectors`` and ``_mtermvectors``: refused with a 400 naming them (not built yet)."""

from __future__ import annotations

from citadel.node.errors import IllegalArgument
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import AUTHENTICATED, Router
from citadel.node.services import NodeServices


def register(router: Router, services: NodeServices) -> None:
    """Add the term vector routes to `router`."""
    for method in ("GET", "POST"):
        for path in (
            "/{index}/_termvectors",
            "/{index}/_termvectors/{id}",
            "/_mtermvectors",
            "/{index}/_mtermvectors",
        ):
            router.add(method, path, refuse, AUTHENTICATED)


def refuse(request: NodeRequest) -> NodeResponse:
    """400: this node stores no term vectors."""
    api = "_mtermvectors" if "_mtermvectors" in request.path else "_termvectors"
    raise IllegalArgument(f"[{api}] is not supported by this node: it keeps no term vectors")
