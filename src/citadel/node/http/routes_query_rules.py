"""Query rules API: ``_query_rules[/{ruleset}[/_rule/{rule}]]`` and ``../{ruleset}/_test``.

Every route needs ``manage_search_query_rules`` (which ``manage`` includes), as in
Elasticsearch. Rulesets are stored, listed and tested against match criteria; applying them
to a search needs the ``rule`` retriever or query, which this node does not run (a 400).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from citadel.node.errors import IllegalArgument
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import Router, cluster
from citadel.node.query_rules import catalog
from citadel.node.query_rules.rules import (
    check_id,
    counts,
    matching,
    parse_match_criteria,
    parse_rule,
    parse_ruleset,
)
from citadel.node.services import NodeServices
from citadel.node.synonyms.rules import page

MANAGE = cluster("manage_search_query_rules")


def register(router: Router, services: NodeServices) -> None:
    """Add the query rules routes to `router`."""
    routes = QueryRuleRoutes(services)
    router.add("GET", "/_query_rules", routes.list_rulesets, MANAGE)
    router.add("PUT", "/_query_rules/{ruleset}", routes.put_ruleset, MANAGE)
    router.add("GET", "/_query_rules/{ruleset}", routes.get_ruleset, MANAGE)
    router.add("DELETE", "/_query_rules/{ruleset}", routes.delete_ruleset, MANAGE)
    router.add("PUT", "/_query_rules/{ruleset}/_rule/{rule}", routes.put_rule, MANAGE)
    router.add("GET", "/_query_rules/{ruleset}/_rule/{rule}", routes.get_rule, MANAGE)
    router.add("DELETE", "/_query_rules/{ruleset}/_rule/{rule}", routes.delete_rule, MANAGE)
    router.add("POST", "/_query_rules/{ruleset}/_test", routes.test, MANAGE)


class QueryRuleRoutes:
    """Handlers over the catalog's query rulesets."""

    def __init__(self, services: NodeServices) -> None:
        self.services = services

    def list_rulesets(self, request: NodeRequest) -> NodeResponse:
        """``GET _query_rules``: each ruleset with its rule, criteria type and rule type counts."""
        _check_params(request, ("from", "size"))
        start, size = page(request.query)
        with self.services.store.read() as conn:
            total, found = catalog.rulesets(conn, start, size)
        results = []
        for ruleset_id, rules in found:
            criteria, types = counts(rules)
            results.append(
                {
                    "ruleset_id": ruleset_id,
                    "rule_total_count": len(rules),
                    "rule_criteria_types_counts": criteria,
                    "rule_type_counts": types,
                }
            )
        return NodeResponse(body={"count": total, "results": results})

    def put_ruleset(self, request: NodeRequest) -> NodeResponse:
        """``PUT _query_rules/{ruleset}``: create or replace a ruleset."""
        _check_params(request, ())
        ruleset_id = request.params["ruleset"]
        check_id("ruleset", ruleset_id)
        rules = parse_ruleset(request.json(required=True))
        with self.services.store.write() as conn:
            created = catalog.put_ruleset(conn, ruleset_id, rules)
        return _result(created)

    def get_ruleset(self, request: NodeRequest) -> NodeResponse:
        """``GET _query_rules/{ruleset}``."""
        _check_params(request, ())
        ruleset_id = request.params["ruleset"]
        with self.services.store.read() as conn:
            rules = catalog.ruleset(conn, ruleset_id)
        return NodeResponse(body={"ruleset_id": ruleset_id, "rules": [r.as_json() for r in rules]})

    def delete_ruleset(self, request: NodeRequest) -> NodeResponse:
        """``DELETE _query_rules/{ruleset}``."""
        _check_params(request, ())
        with self.services.store.write() as conn:
            catalog.delete_ruleset(conn, request.params["ruleset"])
        return NodeResponse(body={"acknowledged": True})

    def put_rule(self, request: NodeRequest) -> NodeResponse:
        """``PUT _query_rules/{ruleset}/_rule/{rule}``: create or replace one rule."""
        _check_params(request, ())
        ruleset_id = request.params["ruleset"]
        check_id("ruleset", ruleset_id)
        rule = parse_rule(request.json(required=True), rule_id=request.params["rule"])
        with self.services.store.write() as conn:
            created = catalog.put_rule(conn, ruleset_id, rule)
        return _result(created)

    def get_rule(self, request: NodeRequest) -> NodeResponse:
        """``GET _query_rules/{ruleset}/_rule/{rule}``."""
        _check_params(request, ())
        with self.services.store.read() as conn:
            found = catalog.rule(conn, request.params["ruleset"], request.params["rule"])
        return NodeResponse(body=found.as_json())

    def delete_rule(self, request: NodeRequest) -> NodeResponse:
        """``DELETE _query_rules/{ruleset}/_rule/{rule}``."""
        _check_params(request, ())
        with self.services.store.write() as conn:
            catalog.delete_rule(conn, request.params["ruleset"], request.params["rule"])
        return NodeResponse(body={"acknowledged": True})

    def test(self, request: NodeRequest) -> NodeResponse:
        """``POST _query_rules/{ruleset}/_test``: the rules `match_criteria` would apply."""
        _check_params(request, ())
        ruleset_id = request.params["ruleset"]
        criteria = parse_match_criteria(request.json(required=True))
        with self.services.store.read() as conn:
            rules = catalog.ruleset(conn, ruleset_id)
        matched = [
            {"ruleset_id": ruleset_id, "rule_id": rule.rule_id}
            for rule in matching(rules, criteria)
        ]
        return NodeResponse(body={"total_matched_rules": len(matched), "matched_rules": matched})


def _result(created: bool) -> NodeResponse:
    body: dict[str, Any] = {"result": "created" if created else "updated"}
    return NodeResponse(status=201 if created else 200, body=body)


def _check_params(request: NodeRequest, known: Iterable[str]) -> None:
    unknown = sorted(p for p in request.query if p not in known)
    if unknown:
        raise IllegalArgument(
            f"request [{request.path}] contains unrecognized parameter: [{','.join(unknown)}]"
        )
