"""Synonyms API: ``_synonyms[/{set}[/{rule}]]`` (put, get, delete, list).

Every route needs ``manage_search_synonyms`` (which ``manage`` includes), as in
Elasticsearch. Sets are stored and served; using one in an analyzer is a 400, since index
settings with custom analysis are refused (`citadel.node.store.indices`), so no index reloads
anything and ``reload_analyzers_details`` is always empty.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from citadel.node.errors import IllegalArgument
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import Router, cluster
from citadel.node.services import NodeServices
from citadel.node.synonyms import catalog
from citadel.node.synonyms.rules import check_id, page, parse_rule, parse_set

MANAGE = cluster("manage_search_synonyms")
_NO_RELOAD = {
    "_shards": {"total": 0, "successful": 0, "failed": 0},
    "reload_details": [],
}


def register(router: Router, services: NodeServices) -> None:
    """Add the synonyms routes to `router`."""
    routes = SynonymRoutes(services)
    router.add("GET", "/_synonyms", routes.list_sets, MANAGE)
    router.add("PUT", "/_synonyms/{set}", routes.put_set, MANAGE)
    router.add("GET", "/_synonyms/{set}", routes.get_set, MANAGE)
    router.add("DELETE", "/_synonyms/{set}", routes.delete_set, MANAGE)
    router.add("PUT", "/_synonyms/{set}/{rule}", routes.put_rule, MANAGE)
    router.add("GET", "/_synonyms/{set}/{rule}", routes.get_rule, MANAGE)
    router.add("DELETE", "/_synonyms/{set}/{rule}", routes.delete_rule, MANAGE)


class SynonymRoutes:
    """Handlers over the catalog's synonym sets."""

    def __init__(self, services: NodeServices) -> None:
        self.services = services

    def list_sets(self, request: NodeRequest) -> NodeResponse:
        """``GET _synonyms``: every set with its rule count, by id."""
        _check_params(request, ("from", "size"))
        start, size = page(request.query)
        with self.services.store.read() as conn:
            total, found = catalog.sets(conn, start, size)
        results = [{"synonyms_set": name, "count": count} for name, count in found]
        return NodeResponse(body={"count": total, "results": results})

    def put_set(self, request: NodeRequest) -> NodeResponse:
        """``PUT _synonyms/{set}``: create or replace a set."""
        _check_params(request, ("refresh",))
        set_id = request.params["set"]
        check_id("synonyms set", set_id)
        rules = parse_set(request.json(required=True))
        with self.services.store.write() as conn:
            created = catalog.put_set(conn, set_id, rules)
        return _updated("created" if created else "updated")

    def get_set(self, request: NodeRequest) -> NodeResponse:
        """``GET _synonyms/{set}``: the rule count and a page of rules."""
        _check_params(request, ("from", "size"))
        start, size = page(request.query)
        with self.services.store.read() as conn:
            total, found = catalog.rules(conn, request.params["set"], start, size)
        body = {"count": total, "synonyms_set": [r.as_json() for r in found]}
        return NodeResponse(body=body)

    def delete_set(self, request: NodeRequest) -> NodeResponse:
        """``DELETE _synonyms/{set}``."""
        _check_params(request, ())
        with self.services.store.write() as conn:
            catalog.delete_set(conn, request.params["set"])
        return NodeResponse(body={"acknowledged": True})

    def put_rule(self, request: NodeRequest) -> NodeResponse:
        """``PUT _synonyms/{set}/{rule}``: create or replace one rule of an existing set."""
        _check_params(request, ("refresh",))
        rule = parse_rule(request.json(required=True), rule_id=request.params["rule"])
        with self.services.store.write() as conn:
            created = catalog.put_rule(conn, request.params["set"], rule)
        return _updated("created" if created else "updated")

    def get_rule(self, request: NodeRequest) -> NodeResponse:
        """``GET _synonyms/{set}/{rule}``."""
        _check_params(request, ())
        with self.services.store.read() as conn:
            found = catalog.rule(conn, request.params["set"], request.params["rule"])
        return NodeResponse(body=found.as_json())

    def delete_rule(self, request: NodeRequest) -> NodeResponse:
        """``DELETE _synonyms/{set}/{rule}``."""
        _check_params(request, ("refresh",))
        with self.services.store.write() as conn:
            catalog.delete_rule(conn, request.params["set"], request.params["rule"])
        return _updated("deleted")


def _updated(result: str) -> NodeResponse:
    body: dict[str, Any] = {"result": result, "reload_analyzers_details": _NO_RELOAD}
    return NodeResponse(body=body)


def _check_params(request: NodeRequest, known: Iterable[str]) -> None:
    unknown = sorted(p for p in request.query if p not in known)
    if unknown:
        raise IllegalArgument(
            f"request [{request.path}] contains unrecognized parameter: [{','.join(unknown)}]"
        )
    if request.query.get("refresh", "true") not in ("", "true", "false"):
        raise IllegalArgument(
            f"Failed to parse value [{request.query['refresh']}] as only [true] or [false] are "
            "allowed."
        )
