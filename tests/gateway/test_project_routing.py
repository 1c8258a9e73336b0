"""Serverless projects in the route table: `<alias-or-id>.<app>.<region>.<domain>`, the app
carried in the decision, Kibana answered by the gateway, a stopped project held to wake."""

from __future__ import annotations

import pytest

from citadel.gateway.certificates import gateway_hostnames
from citadel.gateway.routing import Project, Reason, Route, RouteTable, decide
from citadel.gateway.snapshot import dump_snapshot, parse_snapshot
from citadel.traffic_filters.matching import Client, RulesetRules, Verdict

DOMAIN = "citadel.localhost"
SEARCH_ID = "a" * 32
OBS_ID = "b" * 32
ASLEEP_ID = "c" * 32
DEPLOYMENT_ID = "d" * 32
SEARCH = Route(
    SEARCH_ID,
    None,
    "local",
    "running",
    "/d/a/node.sock",
    project=Project("elasticsearch", "search-aaaaaa", ("es", "kb")),
)
OBSERVABILITY = Route(
    OBS_ID,
    None,
    "local",
    "running",
    "/d/b/node.sock",
    project=Project("observability", "obs-bbbbbb", ("es", "kb", "apm", "ingest")),
)
ASLEEP = Route(
    ASLEEP_ID,
    None,
    "local",
    "stopped",
    "/d/c/node.sock",
    project=Project("elasticsearch", "idle-cccccc", ("es", "kb"), wake=True),
)
DEPLOYMENT = Route(DEPLOYMENT_ID, "logs", "local", "running", "/d/d/node.sock")
TABLE = RouteTable.compile(3, DOMAIN, (SEARCH, OBSERVABILITY, ASLEEP, DEPLOYMENT))
ANYONE = Client.of("192.0.2.1")


def by_host(host: str, table: RouteTable = TABLE, client: Client = ANYONE):
    return decide(table, sni=None, host=host, found_cluster=None, client=client)


@pytest.mark.parametrize(
    ("host", "route", "app"),
    [
        ("search-aaaaaa.es.local.citadel.localhost", SEARCH, "es"),
        ("SEARCH-aaaaaa.ES.local.citadel.localhost.", SEARCH, "es"),
        ("search-aaaaaa.es.local.citadel.localhost:9243", SEARCH, "es"),
        (f"{SEARCH_ID}.es.local.citadel.localhost", SEARCH, "es"),
        ("obs-bbbbbb.es.local.citadel.localhost", OBSERVABILITY, "es"),
        ("obs-bbbbbb.apm.local.citadel.localhost", OBSERVABILITY, "apm"),
        ("obs-bbbbbb.ingest.local.citadel.localhost", OBSERVABILITY, "ingest"),
        (f"{OBS_ID}.ingest.local.citadel.localhost", OBSERVABILITY, "ingest"),
    ],
)
def test_a_project_is_routed_by_alias_or_id_and_application(host, route, app) -> None:
    decision = by_host(host)
    assert decision.reason is Reason.FOUND
    assert decision.route == route
    assert decision.app == app


@pytest.mark.parametrize(
    "host",
    [
        "search-aaaaaa.apm.local.citadel.localhost",  # an application the type does not have
        "search-aaaaaa.ingest.local.citadel.localhost",
        "search-aaaaaa.xx.local.citadel.localhost",
        "search-aaaaaa.es.eu-1.citadel.localhost",  # another region
        "search-aaaaaa.local.citadel.localhost",  # a deployment's form: projects have none
        f"{SEARCH_ID}.local.citadel.localhost",
        "logs.es.local.citadel.localhost",  # a deployment's alias is no project
        "x.search-aaaaaa.es.local.citadel.localhost",
    ],
)
def test_hosts_a_project_does_not_answer_at_are_unknown(host: str) -> None:
    assert by_host(host).reason is Reason.UNKNOWN_DEPLOYMENT


def test_deployments_still_route_beside_projects() -> None:
    decision = by_host("logs.local.citadel.localhost")
    assert decision.reason is Reason.FOUND
    assert decision.route == DEPLOYMENT
    assert decision.app is None


def test_a_project_named_by_x_found_cluster_is_its_elasticsearch() -> None:
    decision = decide(TABLE, sni=None, host="gateway", found_cluster=OBS_ID, client=ANYONE)
    assert decision.route == OBSERVABILITY
    assert decision.app == "es"


def test_sni_and_host_naming_two_applications_of_one_project_is_misdirected() -> None:
    decision = decide(
        TABLE,
        sni="obs-bbbbbb.es.local.citadel.localhost",
        host="obs-bbbbbb.ingest.local.citadel.localhost",
        found_cluster=None,
        client=ANYONE,
    )
    assert decision.reason is Reason.MISDIRECTED


def test_sni_of_a_project_application_routes_with_its_host() -> None:
    decision = decide(
        TABLE,
        sni="obs-bbbbbb.ingest.local.citadel.localhost",
        host="obs-bbbbbb.ingest.local.citadel.localhost:443",
        found_cluster=None,
        client=ANYONE,
    )
    assert (decision.reason, decision.app) == (Reason.FOUND, "ingest")


def test_kibana_is_answered_by_the_gateway_with_404() -> None:
    decision = by_host("search-aaaaaa.kb.local.citadel.localhost")
    assert decision.reason is Reason.KIBANA
    assert decision.status == 404
    assert decision.route == SEARCH


def test_a_stopped_project_that_may_be_woken_is_asleep() -> None:
    decision = by_host("idle-cccccc.es.local.citadel.localhost")
    assert decision.reason is Reason.ASLEEP
    assert decision.route == ASLEEP


@pytest.mark.parametrize(
    ("state", "wake", "reason"),
    [
        ("stopped", True, Reason.ASLEEP),
        ("stopping", True, Reason.ASLEEP),
        ("stopped", False, Reason.NOT_RUNNING),
        ("initializing", False, Reason.ASLEEP),  # coming up anyway: wait for it
        ("restarting", False, Reason.ASLEEP),
        ("locked", True, Reason.NOT_RUNNING),  # its key is unavailable: nothing to wait for
        ("deleted", True, Reason.NOT_RUNNING),
        ("failed", True, Reason.NOT_RUNNING),
    ],
)
def test_which_states_are_held_to_wake(state: str, wake: bool, reason: Reason) -> None:
    route = Route(
        ASLEEP_ID, None, "local", state, "/s", project=Project("security", "x", wake=wake)
    )
    table = RouteTable.compile(1, DOMAIN, (route,))
    assert by_host("x.es.local.citadel.localhost", table).reason is reason


def test_the_filter_decides_before_a_project_is_woken_or_kibana_answered() -> None:
    rulesets = {"office": RulesetRules("office", "ip", ("10.0.0.0/8",))}
    project = Project("elasticsearch", "idle", ("es", "kb"), wake=True)
    route = Route(ASLEEP_ID, None, "local", "stopped", "/s", ("office",), project=project)
    table = RouteTable.compile(1, DOMAIN, (route,), rulesets)
    outsider, insider = Client.of("192.0.2.1"), Client.of("10.1.1.1")
    blocked = by_host("idle.es.local.citadel.localhost", table, outsider)
    assert blocked.reason is Reason.FILTERED
    assert blocked.verdict is Verdict.BLOCKED_BY_IP_FILTER
    assert by_host("idle.kb.local.citadel.localhost", table, outsider).reason is Reason.FILTERED
    assert by_host("idle.es.local.citadel.localhost", table, insider).reason is Reason.ASLEEP


def test_an_alias_never_shadows_a_project_id() -> None:
    impostor = Route(
        "e" * 32, None, "local", "running", "/e", project=Project("security", SEARCH_ID)
    )
    table = RouteTable.compile(1, DOMAIN, (SEARCH, impostor))
    assert by_host(f"{SEARCH_ID}.es.local.citadel.localhost", table).route == SEARCH


def test_a_snapshot_with_projects_round_trips() -> None:
    document = {
        "version": 4,
        "domain": DOMAIN,
        "deployments": [
            {
                "id": OBS_ID,
                "region": "local",
                "state": "stopped",
                "node_socket": "/d/b/node.sock",
                "project": {
                    "type": "observability",
                    "alias": "Obs-bbbbbb",
                    "apps": ["es", "kb", "apm", "ingest", "future-app"],
                    "wake": True,
                },
            }
        ],
    }
    table = parse_snapshot(document)
    (route,) = table.routes
    # An application the gateway does not know is left out; the alias matches any case.
    assert route.project == Project(
        "observability", "Obs-bbbbbb", ("es", "kb", "apm", "ingest"), True
    )
    assert by_host("obs-bbbbbb.apm.local.citadel.localhost", table).reason is Reason.ASLEEP
    again = parse_snapshot(dump_snapshot(table))
    assert again.routes == table.routes


def test_the_gateway_certificate_names_every_application_of_every_region() -> None:
    names = gateway_hostnames(DOMAIN, ["local", "eu-1"])
    for region in ("local", "eu-1"):
        for app in ("es", "kb", "apm", "ingest"):
            assert f"*.{app}.{region}.{DOMAIN}" in names
    assert f"*.local.{DOMAIN}" in names
