"""Routing is a pure table lookup: SNI, else Host, else X-Found-Cluster; then the filter."""

from __future__ import annotations

import pytest

from citadel.gateway.routing import Reason, Route, RouteTable, decide, host_without_port
from citadel.traffic_filters.matching import Client, RulesetRules, Verdict

RUNNING = Route("a" * 32, "logs", "local", "running", "/d/a/node.sock")
STOPPED = Route("b" * 32, "metrics", "local", "stopped", "/d/b/node.sock")
ELSEWHERE = Route("c" * 32, "logs", "eu-1", "running", "/d/c/node.sock")
TABLE = RouteTable.compile(7, "citadel.localhost", (RUNNING, STOPPED, ELSEWHERE))
ANYONE = Client.of("192.0.2.1")


def route(*, sni: str | None = None, host: str | None = None, cluster: str | None = None):
    return decide(TABLE, sni=sni, host=host, found_cluster=cluster, client=ANYONE)


@pytest.mark.parametrize(
    ("kwargs", "reason", "expected"),
    [
        ({"sni": f"{'a' * 32}.local.citadel.localhost"}, Reason.FOUND, RUNNING),
        ({"sni": "logs.local.citadel.localhost"}, Reason.FOUND, RUNNING),
        ({"sni": "LOGS.Local.Citadel.Localhost."}, Reason.FOUND, RUNNING),
        ({"sni": "logs.eu-1.citadel.localhost"}, Reason.FOUND, ELSEWHERE),
        ({"host": "logs.local.citadel.localhost:9243"}, Reason.FOUND, RUNNING),
        ({"host": f"{'a' * 32}.local.citadel.localhost"}, Reason.FOUND, RUNNING),
        ({"host": "127.0.0.1:9243", "cluster": "a" * 32}, Reason.FOUND, RUNNING),
        ({"host": "localhost", "cluster": "A" * 32}, Reason.FOUND, RUNNING),
        ({"sni": "metrics.local.citadel.localhost"}, Reason.NOT_RUNNING, STOPPED),
        ({"cluster": "b" * 32}, Reason.NOT_RUNNING, STOPPED),
        ({"host": "nope.local.citadel.localhost"}, Reason.UNKNOWN_DEPLOYMENT, None),
        ({"host": "logs.citadel.localhost"}, Reason.UNKNOWN_DEPLOYMENT, None),
        ({"host": "x.logs.local.citadel.localhost"}, Reason.UNKNOWN_DEPLOYMENT, None),
        ({"host": "logs.local.citadel.localhost.evil.example"}, Reason.UNKNOWN_DEPLOYMENT, None),
        ({"host": "127.0.0.1"}, Reason.UNKNOWN_DEPLOYMENT, None),
        ({"cluster": "logs"}, Reason.UNKNOWN_DEPLOYMENT, None),
        ({}, Reason.UNKNOWN_DEPLOYMENT, None),
    ],
)
def test_decide_routes_by_sni_host_or_found_cluster(kwargs, reason, expected) -> None:
    decision = route(**kwargs)
    assert decision.reason is reason
    assert decision.route == expected


def test_sni_wins_over_found_cluster() -> None:
    decision = route(sni="logs.local.citadel.localhost", cluster="c" * 32)
    assert decision.route == RUNNING


def test_sni_and_host_naming_different_deployments_is_misdirected() -> None:
    decision = route(sni="logs.local.citadel.localhost", host="logs.eu-1.citadel.localhost")
    assert decision.reason is Reason.MISDIRECTED
    assert decision.status == 421


def test_statuses_are_404_and_503() -> None:
    assert route(host="nope.local.citadel.localhost").status == 404
    assert route(cluster="b" * 32).status == 503


def test_an_alias_never_shadows_an_id() -> None:
    impostor = Route("d" * 32, "a" * 32, "local", "running", "/d/d/node.sock")
    table = RouteTable.compile(1, "citadel.localhost", (RUNNING, impostor))
    decision = decide(
        table,
        sni=f"{'a' * 32}.local.citadel.localhost",
        host=None,
        found_cluster=None,
        client=ANYONE,
    )
    assert decision.route == RUNNING


@pytest.mark.parametrize(
    ("host", "bare"),
    [("a.b:9243", "a.b"), ("a.b", "a.b"), ("[::1]:9243", "::1"), ("[::1]", "::1")],
)
def test_host_without_port(host: str, bare: str) -> None:
    assert host_without_port(host) == bare


def _filtered_table(*routes: Route) -> RouteTable:
    rulesets = {
        "office": RulesetRules("office", "ip", ("10.0.0.0/8",)),
        "home": RulesetRules("home", "ip", ("192.0.2.7",)),
        "link": RulesetRules("link", "vpce", ("aws:vpce-1",)),
    }
    return RouteTable.compile(8, "citadel.localhost", routes, rulesets)


def _decide(table: RouteTable, client: Client, deployment_id: str = "a" * 32):
    return decide(table, sni=None, host=None, found_cluster=deployment_id, client=client)


def test_an_open_deployment_admits_anyone_and_says_so() -> None:
    decision = route(cluster="a" * 32)
    assert decision.verdict is Verdict.ALLOWED_NO_FILTER


def test_a_client_outside_every_ruleset_is_filtered_with_403() -> None:
    table = _filtered_table(Route("a" * 32, None, "local", "running", "/s", ("office",)))
    decision = _decide(table, Client.of("192.0.2.1"))
    assert decision.reason is Reason.FILTERED
    assert decision.status == 403
    assert decision.verdict is Verdict.BLOCKED_BY_IP_FILTER
    assert decision.route is not None


def test_rulesets_of_a_deployment_admit_by_any_of_them() -> None:
    table = _filtered_table(
        Route("a" * 32, None, "local", "running", "/s", ("office", "home", "link"))
    )
    assert _decide(table, Client.of("10.1.2.3")).verdict is Verdict.ALLOWED_BY_IP_FILTER
    assert _decide(table, Client.of("192.0.2.7")).reason is Reason.FOUND
    linked = _decide(table, Client.of("203.0.113.1", "aws:vpce-1"))
    assert linked.verdict is Verdict.ALLOWED_BY_PRIVATE_LINK


def test_a_blocked_client_learns_nothing_of_a_stopped_deployment() -> None:
    table = _filtered_table(Route("b" * 32, None, "local", "stopped", "/s", ("office",)))
    assert _decide(table, Client.of("192.0.2.1"), "b" * 32).reason is Reason.FILTERED
    assert _decide(table, Client.of("10.0.0.1"), "b" * 32).reason is Reason.NOT_RUNNING


def test_a_ruleset_missing_from_the_snapshot_fails_closed() -> None:
    table = _filtered_table(Route("a" * 32, None, "local", "running", "/s", ("gone",)))
    assert _decide(table, Client.of("10.0.0.1")).reason is Reason.FILTERED


def test_deployments_with_the_same_rulesets_share_one_compiled_filter() -> None:
    table = _filtered_table(
        Route("a" * 32, None, "local", "running", "/a", ("office", "home")),
        Route("c" * 32, None, "local", "running", "/c", ("home", "office")),
    )
    assert table.filter_for("a" * 32) is table.filter_for("c" * 32)
    assert not table.filter_for("d" * 32).filtering


@pytest.mark.parametrize(
    ("sni", "host", "cluster"),
    [
        ("nope.local.citadel.localhost", "logs.local.citadel.localhost", None),
        ("elsewhere.example", "logs.local.citadel.localhost", None),
        ("nope.local.citadel.localhost", None, "a" * 32),
        ("x.nope.local.citadel.localhost", "logs.local.citadel.localhost", None),
    ],
)
def test_an_sni_naming_neither_the_gateway_nor_a_deployment_is_misdirected(
    sni: str, host: str | None, cluster: str | None
) -> None:
    assert route(sni=sni, host=host, cluster=cluster).reason is Reason.MISDIRECTED


@pytest.mark.parametrize(
    "sni", ["localhost", "LOCALHOST.", "citadel.localhost", "local.citadel.localhost", "lb.example"]
)
def test_the_gateways_own_names_as_sni_route_by_host_or_cluster(sni: str) -> None:
    def with_names(**kwargs: str) -> Reason:
        return decide(
            TABLE,
            sni=sni,
            client=ANYONE,
            server_names=frozenset({"localhost", "lb.example"}),
            **kwargs,
        ).reason

    assert with_names(host="logs.local.citadel.localhost", found_cluster="") is Reason.FOUND
    assert with_names(host="gateway", found_cluster="a" * 32) is Reason.FOUND


def test_an_unknown_sni_with_nothing_else_known_is_not_found() -> None:
    assert route(sni="nope.local.citadel.localhost").reason is Reason.UNKNOWN_DEPLOYMENT
