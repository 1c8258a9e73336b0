"""Decisions cached per connection give exactly what `routing.decide` gives, table by table."""

from __future__ import annotations

from citadel.gateway.decisions import MAX_ENTRIES, ConnectionDecisions
from citadel.gateway.routing import Reason, Route, RouteTable, decide
from citadel.traffic_filters.matching import Client, RulesetRules

DEPLOYMENT = "d" * 32
HOST = f"{DEPLOYMENT}.local.citadel.localhost"


def _table(
    version: int, *, state: str = "running", rulesets: dict[str, RulesetRules] | None = None
) -> RouteTable:
    route = Route(DEPLOYMENT, "search", "local", state, "/run/node.sock", tuple(rulesets or ()))
    return RouteTable.compile(version, "citadel.localhost", (route,), rulesets)


def test_a_cached_decision_is_the_one_routing_gives() -> None:
    table, client = _table(1), Client.of("192.0.2.7")
    decisions = ConnectionDecisions(None, client)
    for host, cluster in [
        (HOST, None),
        ("search.local.citadel.localhost:9243", None),
        ("elsewhere.example", DEPLOYMENT),
        ("elsewhere.example", None),
    ]:
        expected = decide(table, sni=None, host=host, found_cluster=cluster, client=client)
        assert decisions.decide(table, host, cluster) == expected
        assert decisions.decide(table, host, cluster) == expected  # and again, from the cache


def test_the_sni_of_the_connection_takes_part_in_every_decision() -> None:
    other = Route("e" * 32, None, "local", "running", "/run/other.sock")
    table = RouteTable.compile(1, "citadel.localhost", (*_table(1).routes, other))
    decisions = ConnectionDecisions(HOST, Client.of("192.0.2.7"))
    assert decisions.decide(table, "unknown.example", None).reason is Reason.FOUND  # by SNI
    other_host = f"{other.id}.local.citadel.localhost"
    assert decisions.decide(table, other_host, None).reason is Reason.MISDIRECTED


def test_a_new_table_is_decided_afresh() -> None:
    decisions = ConnectionDecisions(None, Client.of("192.0.2.7"))
    assert decisions.decide(_table(1), HOST, None).reason is Reason.FOUND
    locked = decisions.decide(_table(2, state="locked"), HOST, None)
    assert locked.reason is Reason.NOT_RUNNING


def test_a_filter_installed_while_the_connection_is_open_applies_to_its_next_request() -> None:
    decisions = ConnectionDecisions(None, Client.of("192.0.2.7"))
    assert decisions.decide(_table(1), HOST, None).reason is Reason.FOUND
    only_other = {"rs": RulesetRules("rs", "ip", ("198.51.100.0/24",))}
    assert decisions.decide(_table(2, rulesets=only_other), HOST, None).reason is Reason.FILTERED


def test_a_connection_naming_many_hosts_is_still_decided_for_each() -> None:
    table, client = _table(1), Client.of("192.0.2.7")
    decisions = ConnectionDecisions(None, client)
    hosts = [f"unknown-{i}.local.citadel.localhost" for i in range(MAX_ENTRIES * 2)] + [HOST]
    for host in hosts * 2:
        expected = decide(table, sni=None, host=host, found_cluster=None, client=client)
        assert decisions.decide(table, host, None) == expected
