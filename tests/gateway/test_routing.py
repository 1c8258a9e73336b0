"""Routing is a pure table lookup: SNI, else Host, else X-Found-Cluster."""

from __future__ import annotations

import pytest

from citadel.gateway.routing import Reason, Route, RouteTable, decide, host_without_port

RUNNING = Route("a" * 32, "logs", "local", "running", "/d/a/node.sock")
STOPPED = Route("b" * 32, "metrics", "local", "stopped", "/d/b/node.sock")
ELSEWHERE = Route("c" * 32, "logs", "eu-1", "running", "/d/c/node.sock")
TABLE = RouteTable.compile(7, "citadel.localhost", (RUNNING, STOPPED, ELSEWHERE))


def route(*, sni: str | None = None, host: str | None = None, cluster: str | None = None):
    return decide(TABLE, sni=sni, host=host, found_cluster=cluster)


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
        table, sni=f"{'a' * 32}.local.citadel.localhost", host=None, found_cluster=None
    )
    assert decision.route == RUNNING


@pytest.mark.parametrize(
    ("host", "bare"),
    [("a.b:9243", "a.b"), ("a.b", "a.b"), ("[::1]:9243", "::1"), ("[::1]", "::1")],
)
def test_host_without_port(host: str, bare: str) -> None:
    assert host_without_port(host) == bare
