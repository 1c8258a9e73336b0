"""The traffic-filter API (inventory sections 2-4 and 6): rulesets, their history and
associations, include-by-default, claimed link ids, what the gateway is given, the lockout
guard, and the platform's static IPs. Real app, real database, real audit log."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from citadel.app import create_app
from citadel.audit.models import AuditEvent
from citadel.config import StaticIps
from citadel.contract.messages import ComponentKind
from citadel.deployments.models import Deployment
from citadel.kit.ids import new_id
from citadel.traffic_filters import service as traffic_filters
from citadel.traffic_filters.clients import SeenClient
from citadel.traffic_filters.models import Association, LinkClaim, Ruleset, RulesetVersion
from tests.fixtures.builders import (
    add_member,
    bearer,
    grant,
    key_headers,
    login,
    make_api_key,
    make_deployment,
    make_org,
    make_user,
)
from tests.fixtures.internal import as_component

URL = "/api/v1/deployments/traffic-filter"
RULESETS = f"{URL}/rulesets"
GUID = "7c0f05e4-e32b-4b10-a246-7b77f7dcc63c"
VPCE = "vpce-0123456789abcdef0"
PSC = "18446744072646845332"
CALLER_IP = "203.0.113.7"
EARLIER_IP = "198.51.100.20"


# --- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def other_org(services) -> str:
    return make_org(services, make_user(services), "Elsewhere Inc")


@pytest.fixture
def other_key(services, other_org) -> dict[str, str]:
    return key_headers(make_api_key(services, other_org))


def key_with(services, org: str, role: str, *ids: str) -> dict[str, str]:
    return key_headers(make_api_key(services, org, grant(org, role, *ids)))


def ip_body(**changes: Any) -> dict[str, Any]:
    body = {
        "name": "office",
        "description": "the office network",
        "type": "ip",
        "region": "local",
        "include_by_default": False,
        "rules": [{"description": "office", "source": "192.0.2.0/24"}],
    }
    return body | changes


def ip_rules(*sources: str) -> list[dict[str, str]]:
    return [{"source": s} for s in sources]


def vpce_body(*sources: str, **changes: Any) -> dict[str, Any]:
    return ip_body(type="vpce", rules=ip_rules(*sources)) | changes


def azure_body(name: str = "azure-demo", guid: str = GUID, **changes: Any) -> dict[str, Any]:
    rule = {"azure_endpoint_name": name, "azure_endpoint_guid": guid}
    return ip_body(type="azure_private_endpoint", rules=[rule]) | changes


def create(client, headers, body: dict[str, Any] | None = None, **query: Any):
    return client.post(RULESETS, json=body or ip_body(), headers=headers, params=query)


def made(client, headers, body: dict[str, Any] | None = None) -> str:
    response = create(client, headers, body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def get(client, headers, ruleset: str, **query: Any) -> dict[str, Any]:
    response = client.get(f"{RULESETS}/{ruleset}", headers=headers, params=query)
    assert response.status_code == 200, response.text
    return response.json()


def update(client, headers, ruleset: str, body: dict[str, Any], **query: Any):
    return client.put(f"{RULESETS}/{ruleset}", json=body, headers=headers, params=query)


def associate(client, headers, ruleset: str, deployment: str, **query: Any):
    body = {"entity_type": "deployment", "id": deployment}
    return client.post(
        f"{RULESETS}/{ruleset}/associations", json=body, headers=headers, params=query
    )


def disassociate(client, headers, ruleset: str, deployment: str, **query: Any):
    url = f"{RULESETS}/{ruleset}/associations/deployment/{deployment}"
    return client.delete(url, headers=headers, params=query)


def rulesets_of(client, headers, deployment: str) -> list[str]:
    response = client.get(f"{URL}/associations/deployment/{deployment}/rulesets", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["rulesets"]


def claim(client, headers, body: dict[str, Any]):
    return client.post(f"{URL}/link-ids/_claim", json=body, headers=headers)


def unclaim(client, headers, body: dict[str, Any]):
    return client.post(f"{URL}/link-ids/_unclaim", json=body, headers=headers)


def new_deployment(client, headers, region: str = "local", **body: Any) -> str:
    response = client.post(
        "/api/v1/deployments", json={"name": "search", "region": region, **body}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def deployment_rulesets(client, headers, deployment: str) -> list[str]:
    response = client.get(f"/api/v1/deployments/{deployment}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["settings"]["traffic_filter_settings"]["rulesets"]


def error(response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    (first,) = response.json()["errors"]
    return first


def assert_error(response, status: int, code: str, *fields: str) -> None:
    found = error(response, status)
    assert found["code"] == code, found
    if fields:
        assert found.get("fields") == list(fields), found


def actions(services, target_id: str) -> list[str]:
    with services.db.read() as session:
        return list(
            session.scalars(
                sa.select(AuditEvent.action)
                .where(AuditEvent.target_id == target_id)
                .order_by(AuditEvent.seq)
            )
        )


def count(services, model: type) -> int:
    with services.db.read() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(model))


def revision(services, deployment: str) -> int:
    with services.db.read() as session:
        row = session.get(Deployment, deployment)
        assert row is not None
        return row.revision


def gateway(services) -> tuple[dict[str, list[str]], dict[str, dict[str, Any]]]:
    with services.db.read() as session:
        ctx = services.context(session, services.system_caller())
        return traffic_filters.gateway_view(ctx)


def sources_of(services, ruleset: str) -> list[str]:
    return gateway(services)[1][ruleset]["sources"]


# --- create, list, get -----------------------------------------------------------------------


def test_create_answers_the_id_and_get_shows_the_ruleset_with_server_rule_ids(client, owner_key):
    body = ip_body(rules=[{"id": "mine", "source": "192.0.2.0/24"}, {"source": "2001:db8::/32"}])

    ruleset = made(client, owner_key, body)

    shown = get(client, owner_key, ruleset)
    assert len(ruleset) == 32
    assert shown["id"] == ruleset
    assert shown["name"] == "office"
    assert shown["description"] == "the office network"
    assert (shown["type"], shown["region"], shown["include_by_default"]) == ("ip", "local", False)
    assert [r["source"] for r in shown["rules"]] == ["192.0.2.0/24", "2001:db8::/32"]
    ids = [r["id"] for r in shown["rules"]]
    assert "mine" not in ids
    assert len(set(ids)) == 2
    assert shown["version"] == 1
    assert "associations" not in shown
    assert "total_associations" not in shown


def test_list_holds_the_organizations_rulesets_and_filters_by_region(client, owner_key, other_key):
    here = made(client, owner_key)
    there = made(client, owner_key, ip_body(region="elsewhere"))
    made(client, other_key)

    everything = client.get(RULESETS, headers=owner_key).json()["rulesets"]
    local = client.get(RULESETS, headers=owner_key, params={"region": "local"}).json()
    elsewhere = client.get(RULESETS, headers=owner_key, params={"region": "elsewhere"}).json()

    assert sorted(r["id"] for r in everything) == sorted([here, there])
    assert [r["id"] for r in local["rulesets"]] == [here]
    assert [r["id"] for r in elsewhere["rulesets"]] == [there]
    assert all("associations" not in r for r in everything)


def test_include_associations_shows_visible_ones_and_counts_all(client, services, org, owner_key):
    ruleset = made(client, owner_key)
    dep1, dep2 = make_deployment(services, org), make_deployment(services, org)
    assert associate(client, owner_key, ruleset, dep1).status_code == 201
    assert associate(client, owner_key, ruleset, dep2).status_code == 201
    viewer = key_with(services, org, "deployment-viewer", dep1)
    nobody = key_headers(make_api_key(services, org, grant(org, "billing-admin")))
    query = {"include_associations": "true"}

    listed = client.get(RULESETS, headers=viewer, params=query).json()["rulesets"][0]
    one = get(client, viewer, ruleset, **query)
    separate = client.get(f"{RULESETS}/{ruleset}/associations", headers=viewer).json()
    owners = get(client, owner_key, ruleset, **query)
    billing = client.get(f"{RULESETS}/{ruleset}/associations", headers=nobody).json()

    mine = [{"entity_type": "deployment", "id": dep1}]
    assert listed["associations"] == mine
    assert listed["total_associations"] == 2
    assert (one["associations"], one["total_associations"]) == (mine, 2)
    assert separate == {"associations": mine, "total_associations": 2}
    assert sorted(a["id"] for a in owners["associations"]) == sorted([dep1, dep2])
    assert owners["total_associations"] == 2
    assert billing == {"associations": [], "total_associations": 2}


def test_another_organizations_ruleset_answers_like_a_nonexistent_one(
    client, owner_key, other_key, services, other_org
):
    ruleset = made(client, owner_key)
    theirs = make_deployment(services, other_org)
    unknown = new_id()
    requests = [
        ("GET", "", None),
        ("GET", "/history", None),
        ("GET", "/associations", None),
        ("PUT", "", ip_body()),
        ("DELETE", "", None),
        ("POST", "/associations", {"entity_type": "deployment", "id": theirs}),
        ("DELETE", f"/associations/deployment/{theirs}", None),
    ]

    for method, tail, body in requests:
        foreign = client.request(
            method, f"{RULESETS}/{ruleset}{tail}", json=body, headers=other_key
        )
        missing = client.request(
            method, f"{RULESETS}/{unknown}{tail}", json=body, headers=other_key
        )
        assert foreign.status_code == missing.status_code == 404, (method, tail, foreign.text)
        assert foreign.json() == missing.json()
        assert foreign.json()["errors"][0]["code"] == "traffic_filter.not_found"
    assert get(client, owner_key, ruleset)["version"] == 1


def test_malformed_ruleset_id_answers_not_found(client, owner_key):
    assert_error(
        client.get(f"{RULESETS}/not-an-id", headers=owner_key), 404, "traffic_filter.not_found"
    )


# --- validation ------------------------------------------------------------------------------

AZURE_RULE = {"azure_endpoint_name": "azure-demo", "azure_endpoint_guid": GUID}

REFUSED = [
    ("dns name", ip_body(rules=ip_rules("office.example.com")), "body.rules[0].source"),
    ("prefix too long", ip_body(rules=ip_rules("10.0.0.0/33")), "body.rules[0].source"),
    ("ipv6 prefix too long", ip_body(rules=ip_rules("2001:db8::/129")), "body.rules[0].source"),
    ("netmask form", ip_body(rules=ip_rules("10.0.0.0/255.0.0.0")), "body.rules[0].source"),
    ("leading zero octet", ip_body(rules=ip_rules("010.0.0.1")), "body.rules[0].source"),
    ("ipv4 shorthand", ip_body(rules=ip_rules("10.1")), "body.rules[0].source"),
    ("whitespace", ip_body(rules=ip_rules(" 10.0.0.1")), "body.rules[0].source"),
    ("zone id", ip_body(rules=ip_rules("fe80::1%eth0")), "body.rules[0].source"),
    ("second rule", ip_body(rules=ip_rules("10.0.0.0/8", "nope")), "body.rules[1].source"),
    ("no rules for ip", ip_body(rules=[]), "body.rules"),
    ("ip rule without source", ip_body(rules=[{"description": "x"}]), "body.rules[0].source"),
    ("vpce id shape", vpce_body("vpc-0123"), "body.rules[0].source"),
    ("vpce id chars", vpce_body("vpce-01_23"), "body.rules[0].source"),
    (
        "psc id above 2^64-1",
        ip_body(type="gcp_private_service_connect_endpoint", rules=ip_rules(str(2**64))),
        "body.rules[0].source",
    ),
    (
        "psc id not decimal",
        ip_body(type="gcp_private_service_connect_endpoint", rules=ip_rules("12ab")),
        "body.rules[0].source",
    ),
    (
        "psc id negative",
        ip_body(type="gcp_private_service_connect_endpoint", rules=ip_rules("-1")),
        "body.rules[0].source",
    ),
    ("azure name", azure_body(name="bad name!"), "body.rules[0].azure_endpoint_name"),
    ("azure guid", azure_body(guid="not-a-guid"), "body.rules[0].azure_endpoint_guid"),
    (
        "azure guid form",
        azure_body(guid=GUID.replace("-", "")),
        "body.rules[0].azure_endpoint_guid",
    ),
    (
        "azure without guid",
        ip_body(type="azure_private_endpoint", rules=[{"azure_endpoint_name": "azure-demo"}]),
        "body.rules[0].azure_endpoint_guid",
    ),
    (
        "azure fields on an ip rule",
        ip_body(rules=[{"source": "10.0.0.1", "azure_endpoint_name": "x"}]),
        "body.rules[0].azure_endpoint_name",
    ),
    (
        "source on an azure rule",
        ip_body(type="azure_private_endpoint", rules=[AZURE_RULE | {"source": "10.0.0.1"}]),
        "body.rules[0].source",
    ),
    (
        "egress rule on a vpce rule",
        vpce_body()
        | {"rules": [{"source": VPCE, "egress_rule": {"target": "1.2.3.4", "protocol": "all"}}]},
        "body.rules[0].egress_rule",
    ),
    (
        "remote cluster id on an ip rule",
        ip_body(rules=[{"source": "10.0.0.1", "remote_cluster_id": "abc"}]),
        "body.rules[0].remote_cluster_id",
    ),
    ("unknown type", ip_body(type="carrier_pigeon"), "body.type"),
    (
        "egress firewall",
        ip_body(
            type="egress_firewall",
            rules=[{"egress_rule": {"target": "192.0.2.0/24", "protocol": "all"}}],
        ),
        "body.type",
    ),
    ("remote cluster", ip_body(type="remote_cluster", rules=[]), "body.type"),
    ("unknown region", ip_body(region="mars"), "body.region"),
]


@pytest.mark.parametrize(("body", "field"), [pytest.param(b, f, id=n) for n, b, f in REFUSED])
def test_invalid_ruleset_is_refused_naming_the_field(client, services, owner_key, body, field):
    response = create(client, owner_key, body)

    assert_error(response, 400, "traffic_filter.invalid_request", field)
    assert count(services, Ruleset) == 0


ACCEPTED = [
    ("ipv4 address", ip_body(rules=ip_rules("192.0.2.1")), ["192.0.2.1"]),
    ("cidr with host bits", ip_body(rules=ip_rules("192.168.132.6/22")), ["192.168.132.6/22"]),
    ("ipv6", ip_body(rules=ip_rules("2001:db8::/32", "::1")), ["2001:db8::/32", "::1"]),
    ("vpce", vpce_body(VPCE), [VPCE]),
    (
        "psc id 2^64-1",
        ip_body(type="gcp_private_service_connect_endpoint", rules=ip_rules(str(2**64 - 1))),
        [str(2**64 - 1)],
    ),
    (
        "psc id",
        ip_body(type="gcp_private_service_connect_endpoint", rules=ip_rules(PSC)),
        [PSC],
    ),
    ("vpce record without rules", vpce_body(), []),
]


@pytest.mark.parametrize(("body", "stored"), [pytest.param(b, s, id=n) for n, b, s in ACCEPTED])
def test_valid_ruleset_is_stored(client, owner_key, body, stored):
    ruleset = made(client, owner_key, body)

    assert [r["source"] for r in get(client, owner_key, ruleset)["rules"]] == stored


def test_azure_rule_is_stored_with_name_and_canonical_guid(client, owner_key):
    ruleset = made(client, owner_key, azure_body(guid=GUID.upper()))

    (rule,) = get(client, owner_key, ruleset)["rules"]
    assert (rule["azure_endpoint_name"], rule["azure_endpoint_guid"]) == ("azure-demo", GUID)
    assert "source" not in rule


def test_128_rules_are_accepted_and_129_refused(client, services, owner_key):
    rules = ip_rules(*(f"10.0.{i}.0/24" for i in range(129)))

    accepted = create(client, owner_key, ip_body(rules=rules[:128]))
    refused = create(client, owner_key, ip_body(rules=rules))

    assert accepted.status_code == 201, accepted.text
    assert len(get(client, owner_key, accepted.json()["id"])["rules"]) == 128
    assert error(refused, 400)["fields"] == ["body.rules"]
    assert count(services, Ruleset) == 1


def test_an_organization_has_at_most_1024_rulesets(client, services, org, owner_key, other_key):
    now = services.clock.now()
    with services.db.write() as session:
        session.add_all(
            Ruleset(
                id=new_id(),
                organization_id=org,
                name=f"r{i}",
                description="",
                type="ip",
                region="local",
                include_by_default=False,
                rules=[{"id": new_id(), "source": "192.0.2.0/24"}],
                version=1,
                created_at=now,
                updated_at=now,
            )
            for i in range(1023)
        )

    last = create(client, owner_key)
    one_too_many = create(client, owner_key)
    theirs = create(client, other_key)
    validated = create(client, owner_key, validate_only="true")

    assert last.status_code == 201, last.text
    assert_error(one_too_many, 400, "traffic_filter.too_many_rulesets")
    assert theirs.status_code == 201
    assert_error(validated, 400, "traffic_filter.too_many_rulesets")
    assert count(services, Ruleset) == 1025


# --- update ----------------------------------------------------------------------------------


def test_update_replaces_the_whole_ruleset_and_reassigns_rule_ids(client, owner_key):
    ruleset = made(client, owner_key)
    before = get(client, owner_key, ruleset)
    sent_back = [{"id": before["rules"][0]["id"], "source": "192.0.2.0/24"}]
    body = {
        "name": "office v2",
        "type": "ip",
        "region": "local",
        "include_by_default": False,
        "rules": [*sent_back, {"source": "198.51.100.0/24", "description": "new"}],
    }

    response = update(client, owner_key, ruleset, body)

    assert response.status_code == 200, response.text
    assert response.json() == {"id": ruleset}
    after = get(client, owner_key, ruleset)
    assert after["name"] == "office v2"
    assert after["description"] == ""
    assert [r["source"] for r in after["rules"]] == ["192.0.2.0/24", "198.51.100.0/24"]
    assert after["rules"][1]["description"] == "new"
    assert "description" not in after["rules"][0]
    assert before["rules"][0]["id"] not in {r["id"] for r in after["rules"]}
    assert after["version"] == 2


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"type": "vpce", "rules": []}, "body.type"), ({"region": "elsewhere"}, "body.region")],
)
def test_type_and_region_cannot_change(client, owner_key, changes, field):
    ruleset = made(client, owner_key)

    response = update(client, owner_key, ruleset, ip_body(**changes))

    assert_error(response, 400, "traffic_filter.invalid_request", field)
    assert get(client, owner_key, ruleset)["version"] == 1


def test_update_is_validated_like_create(client, owner_key):
    ruleset = made(client, owner_key)

    response = update(client, owner_key, ruleset, ip_body(rules=ip_rules("example.com")))

    assert_error(response, 400, "traffic_filter.invalid_request", "body.rules[0].source")


def test_update_of_an_unknown_ruleset_is_not_found(client, owner_key):
    assert_error(update(client, owner_key, new_id(), ip_body()), 404, "traffic_filter.not_found")


def test_version_query_refuses_an_update_based_on_a_stale_version(client, owner_key):
    ruleset = made(client, owner_key)

    first = update(client, owner_key, ruleset, ip_body(name="first"), version=1)
    stale = update(client, owner_key, ruleset, ip_body(name="second"), version=1)
    current = update(client, owner_key, ruleset, ip_body(name="third"), version=2)

    assert first.status_code == 200
    assert_error(stale, 409, "traffic_filter.version_conflict", "query.version")
    assert current.status_code == 200
    shown = get(client, owner_key, ruleset)
    assert (shown["name"], shown["version"]) == ("third", 3)


def test_two_concurrent_updaters_from_the_same_version_one_wins(client, owner_key):
    ruleset = made(client, owner_key)
    version = get(client, owner_key, ruleset)["version"]
    start = threading.Barrier(2)
    answers: dict[str, int] = {}

    def updater(name: str) -> None:
        start.wait()
        response = update(client, owner_key, ruleset, ip_body(name=name), version=version)
        answers[name] = response.status_code

    threads = [threading.Thread(target=updater, args=(n,)) for n in ("alice", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert sorted(answers.values()) == [200, 409]
    (winner,) = [n for n, status in answers.items() if status == 200]
    shown = get(client, owner_key, ruleset)
    assert (shown["name"], shown["version"]) == (winner, 2)


def test_second_updater_from_the_same_version_gets_a_conflict(client, owner_key):
    ruleset = made(client, owner_key)
    seen_by_both = get(client, owner_key, ruleset)["version"]

    one = update(client, owner_key, ruleset, ip_body(name="one"), version=seen_by_both)
    two = update(client, owner_key, ruleset, ip_body(name="two"), version=seen_by_both)

    assert one.status_code == 200
    assert_error(two, 409, "traffic_filter.version_conflict")
    assert get(client, owner_key, ruleset)["name"] == "one"


def test_history_lists_every_version_with_who_changed_it(client, services, org, owner_key):
    editor = make_user(services)
    add_member(services, org, editor, grant(org, "deployment-editor"))
    session = bearer(login(client, services, editor))
    client.cookies.clear()
    ruleset = made(client, owner_key)
    assert update(client, session, ruleset, ip_body(name="v2")).status_code == 200
    assert update(client, owner_key, ruleset, ip_body(name="v3")).status_code == 200

    history = client.get(f"{RULESETS}/{ruleset}/history", headers=owner_key).json()["history"]

    assert [h["version"] for h in history] == [1, 2, 3]
    assert [h["ruleset"]["name"] for h in history] == ["office", "v2", "v3"]
    assert history[1]["changed_by"] == {"type": "user", "id": editor.user_id}
    assert history[0]["changed_by"]["type"] == "api_key"
    assert history[0]["changed_by"]["id"]
    assert all(h["changed_at"].endswith("Z") for h in history)
    assert history[0]["ruleset"]["rules"][0]["source"] == "192.0.2.0/24"


# --- delete ----------------------------------------------------------------------------------


def test_delete_is_refused_while_associated(client, services, org, owner_key):
    ruleset = made(client, owner_key)
    dep = make_deployment(services, org)
    assert associate(client, owner_key, ruleset, dep).status_code == 201

    response = client.delete(f"{RULESETS}/{ruleset}", headers=owner_key)

    assert_error(response, 409, "traffic_filter.ruleset_in_use", "query.ignore_associations")
    assert rulesets_of(client, owner_key, dep) == [ruleset]


def test_delete_with_ignore_associations_removes_them_too(client, services, org, owner_key):
    ruleset = made(client, owner_key)
    dep = make_deployment(services, org)
    assert associate(client, owner_key, ruleset, dep).status_code == 201
    before = revision(services, dep)

    response = client.delete(
        f"{RULESETS}/{ruleset}", headers=owner_key, params={"ignore_associations": "true"}
    )

    assert response.status_code == 200, response.text
    assert response.json() == {}
    assert rulesets_of(client, owner_key, dep) == []
    assert count(services, Association) == 0
    assert count(services, RulesetVersion) == 0
    assert revision(services, dep) > before
    assert_error(
        client.get(f"{RULESETS}/{ruleset}", headers=owner_key), 404, "traffic_filter.not_found"
    )
    assert_error(
        client.delete(f"{RULESETS}/{ruleset}", headers=owner_key), 404, "traffic_filter.not_found"
    )


def test_delete_of_an_unassociated_ruleset(client, services, owner_key):
    ruleset = made(client, owner_key)

    assert client.delete(f"{RULESETS}/{ruleset}", headers=owner_key).status_code == 200
    assert count(services, Ruleset) == 0


# --- associations ----------------------------------------------------------------------------


def test_associate_creates_once_then_answers_200(client, services, org, owner_key):
    ruleset = made(client, owner_key)
    dep = make_deployment(services, org)
    before = revision(services, dep)

    first = associate(client, owner_key, ruleset, dep)
    again = associate(client, owner_key, ruleset, dep)

    assert (first.status_code, first.json()) == (201, {})
    assert (again.status_code, again.json()) == (200, {})
    assert rulesets_of(client, owner_key, dep) == [ruleset]
    assert deployment_rulesets(client, owner_key, dep) == [ruleset]
    assert count(services, Association) == 1
    assert revision(services, dep) == before + 1
    assert actions(services, ruleset).count("traffic_filter.association.created") == 1


def test_disassociate_then_again_is_not_found(client, services, org, owner_key):
    ruleset = made(client, owner_key)
    dep = make_deployment(services, org)
    assert associate(client, owner_key, ruleset, dep).status_code == 201

    removed = disassociate(client, owner_key, ruleset, dep)
    again = disassociate(client, owner_key, ruleset, dep)

    assert (removed.status_code, removed.json()) == (200, {})
    assert_error(again, 404, "traffic_filter.not_found")
    assert rulesets_of(client, owner_key, dep) == []


def test_disassociate_from_an_unknown_deployment_is_not_found(client, owner_key):
    ruleset = made(client, owner_key)

    response = disassociate(client, owner_key, ruleset, new_id())

    assert_error(response, 404, "deployments.deployment_not_found")


def test_rulesets_of_a_deployment_in_association_order(client, services, org, owner_key):
    first, second = made(client, owner_key), made(client, owner_key)
    dep = make_deployment(services, org)
    assert associate(client, owner_key, first, dep).status_code == 201
    services.clock.advance(seconds=1)
    assert associate(client, owner_key, second, dep).status_code == 201

    assert rulesets_of(client, owner_key, dep) == [first, second]


def test_invalid_association_type_is_refused(client, services, org, owner_key):
    ruleset = made(client, owner_key)
    dep = make_deployment(services, org)

    in_body = client.post(
        f"{RULESETS}/{ruleset}/associations",
        json={"entity_type": "cluster", "id": dep},
        headers=owner_key,
    )
    in_read = client.get(f"{URL}/associations/cluster/{dep}/rulesets", headers=owner_key)
    in_delete = client.delete(f"{RULESETS}/{ruleset}/associations/cluster/{dep}", headers=owner_key)

    assert_error(in_body, 400, "traffic_filter.invalid_association_type", "body.entity_type")
    assert_error(in_read, 400, "traffic_filter.invalid_association_type")
    assert_error(in_delete, 400, "traffic_filter.invalid_association_type")
    assert count(services, Association) == 0


def test_ruleset_applies_only_to_deployments_of_its_region(client, services, org, owner_key):
    ruleset = made(client, owner_key, ip_body(region="elsewhere"))
    dep = make_deployment(services, org)

    response = associate(client, owner_key, ruleset, dep)

    assert_error(response, 400, "traffic_filter.region_mismatch", "body.id")
    assert count(services, Association) == 0
    there = new_deployment(client, owner_key, region="elsewhere")
    assert associate(client, owner_key, ruleset, there).status_code == 201


def test_associating_needs_the_role_on_that_deployment(client, services, org, owner_key):
    ruleset = made(client, owner_key)
    dep1, dep2 = make_deployment(services, org), make_deployment(services, org)
    admin1 = key_with(services, org, "deployment-admin", dep1)
    editor1 = key_with(services, org, "deployment-editor", dep1)
    viewer_all = key_with(services, org, "deployment-viewer")
    viewer_and_editor = key_headers(
        make_api_key(
            services,
            org,
            grant(org, "deployment-viewer", dep2),
            grant(org, "deployment-editor", dep1),
        )
    )

    assert associate(client, admin1, ruleset, dep1).status_code == 201
    assert disassociate(client, editor1, ruleset, dep1).status_code == 200
    assert associate(client, editor1, ruleset, dep1).status_code == 201
    assert_error(associate(client, admin1, ruleset, dep2), 404, "deployments.deployment_not_found")
    assert_error(associate(client, viewer_all, ruleset, dep2), 403, "organization.invalid_access")
    assert_error(
        associate(client, viewer_and_editor, ruleset, dep2), 403, "organization.invalid_access"
    )
    assert_error(
        disassociate(client, admin1, ruleset, dep2), 404, "deployments.deployment_not_found"
    )
    assert rulesets_of(client, owner_key, dep2) == []


def test_rulesets_of_a_deployment_the_caller_cannot_read_are_not_found(
    client, services, org, owner_key
):
    dep1, dep2 = make_deployment(services, org), make_deployment(services, org)
    viewer1 = key_with(services, org, "deployment-viewer", dep1)

    assert rulesets_of(client, viewer1, dep1) == []
    response = client.get(f"{URL}/associations/deployment/{dep2}/rulesets", headers=viewer1)
    assert_error(response, 404, "deployments.deployment_not_found")


def test_deleting_a_deployment_forgets_its_associations(client, services, org, owner_key):
    ruleset = made(client, owner_key)
    dep = make_deployment(services, org, stopped=True)
    assert associate(client, owner_key, ruleset, dep).status_code == 201

    assert client.delete(f"/api/v1/deployments/{dep}", headers=owner_key).status_code == 200

    assert count(services, Association) == 0
    assert client.delete(f"{RULESETS}/{ruleset}", headers=owner_key).status_code == 200


# --- who may change rulesets -----------------------------------------------------------------


def test_creating_needs_admin_or_editor_on_at_least_one_deployment(
    client, services, org, owner_key
):
    dep1 = make_deployment(services, org)
    allowed = [
        key_with(services, org, "deployment-admin", dep1),
        key_with(services, org, "deployment-editor", dep1),
        key_with(services, org, "deployment-editor"),
    ]
    refused = [
        key_with(services, org, "deployment-viewer"),
        key_with(services, org, "billing-admin"),
        key_with(services, org, "elasticsearch-admin"),
    ]

    for headers in allowed:
        assert create(client, headers).status_code == 201
    for headers in refused:
        assert_error(create(client, headers), 403, "organization.invalid_access")
    assert count(services, Ruleset) == len(allowed)


def test_include_by_default_needs_the_role_on_all_deployments(client, services, org, owner_key):
    dep1 = make_deployment(services, org)
    admin1 = key_with(services, org, "deployment-admin", dep1)
    editor_all = key_with(services, org, "deployment-editor")
    ruleset = made(client, admin1)

    refused_create = create(client, admin1, ip_body(include_by_default=True))
    refused_update = update(client, admin1, ruleset, ip_body(include_by_default=True))
    plain_update = update(client, admin1, ruleset, ip_body(name="renamed"))
    allowed = update(client, editor_all, ruleset, ip_body(include_by_default=True))
    keeps_it = update(client, admin1, ruleset, ip_body(include_by_default=True, name="again"))
    clears_it = update(client, admin1, ruleset, ip_body(include_by_default=False))

    assert_error(refused_create, 403, "organization.invalid_access")
    assert_error(refused_update, 403, "organization.invalid_access")
    assert plain_update.status_code == 200
    assert allowed.status_code == 200
    assert keeps_it.status_code == 200
    assert_error(clears_it, 403, "organization.invalid_access")
    assert get(client, owner_key, ruleset)["include_by_default"] is True
    assert create(client, editor_all, ip_body(include_by_default=True)).status_code == 201


# --- include_by_default and deployment create ------------------------------------------------


def test_default_ruleset_attaches_to_new_deployments_of_its_region_only(
    client, services, org, owner_key
):
    existing = make_deployment(services, org)
    default = made(client, owner_key, ip_body(include_by_default=True))
    made(client, owner_key, ip_body(include_by_default=True, region="elsewhere"))
    made(client, owner_key)

    fresh = new_deployment(client, owner_key)
    other_region = new_deployment(client, owner_key, region="elsewhere")

    assert deployment_rulesets(client, owner_key, fresh) == [default]
    assert rulesets_of(client, owner_key, existing) == []
    assert default not in deployment_rulesets(client, owner_key, other_region)
    assert len(deployment_rulesets(client, owner_key, other_region)) == 1
    assert disassociate(client, owner_key, default, fresh).status_code == 200
    assert deployment_rulesets(client, owner_key, fresh) == []


def test_another_organizations_default_ruleset_does_not_attach(
    client, services, owner_key, other_key
):
    made(client, other_key, ip_body(include_by_default=True))

    dep = new_deployment(client, owner_key)

    assert deployment_rulesets(client, owner_key, dep) == []


def test_deployment_create_attaches_the_rulesets_it_names(client, services, owner_key):
    first, second = made(client, owner_key), made(client, owner_key, vpce_body(VPCE))
    default = made(client, owner_key, ip_body(include_by_default=True))
    settings = {"traffic_filter_settings": {"rulesets": [second, first]}}

    dep = new_deployment(client, owner_key, settings=settings)

    assert deployment_rulesets(client, owner_key, dep) == sorted([first, second, default])
    assert set(rulesets_of(client, owner_key, dep)) == {first, second, default}
    assert "traffic_filter.association.created" in actions(services, dep)


@pytest.mark.parametrize("which", ["unknown", "foreign", "malformed"])
def test_deployment_create_naming_a_ruleset_it_cannot_use_is_undone(
    client, services, owner_key, other_key, which
):
    mine = made(client, owner_key)
    theirs = made(client, other_key)
    named = {"unknown": new_id(), "foreign": theirs, "malformed": "abc"}[which]
    settings = {"traffic_filter_settings": {"rulesets": [mine, named]}}
    before = count(services, Deployment)

    response = client.post(
        "/api/v1/deployments", json={"name": "x", "settings": settings}, headers=owner_key
    )

    assert_error(
        response,
        400,
        "traffic_filter.not_found",
        "body.settings.traffic_filter_settings.rulesets[1]",
    )
    assert count(services, Deployment) == before
    assert count(services, Association) == 0


def test_deployment_create_refuses_a_ruleset_of_another_region(client, services, owner_key):
    there = made(client, owner_key, ip_body(region="elsewhere"))
    settings = {"traffic_filter_settings": {"rulesets": [there]}}

    response = client.post(
        "/api/v1/deployments", json={"name": "x", "settings": settings}, headers=owner_key
    )

    assert_error(
        response,
        400,
        "traffic_filter.region_mismatch",
        "body.settings.traffic_filter_settings.rulesets[0]",
    )
    assert count(services, Deployment) == 0


def test_unknown_and_foreign_ruleset_on_deployment_create_answer_alike(
    client, owner_key, other_key
):
    theirs = made(client, other_key)

    def attempt(ruleset: str):
        settings = {"traffic_filter_settings": {"rulesets": [ruleset]}}
        body = {"name": "x", "settings": settings}
        return client.post("/api/v1/deployments", json=body, headers=owner_key)

    foreign, unknown = attempt(theirs), attempt(new_id())

    assert foreign.status_code == unknown.status_code == 400
    assert foreign.json() == unknown.json()


# --- claimed link ids ------------------------------------------------------------------------

AWS_CLAIM = {"region": "local", "link_id": VPCE}
GCP_CLAIM = {"region": "local", "link_id": PSC}
AZURE_CLAIM = {
    "region": "local",
    "link_id": "16909060",
    "azure_endpoint_name": "azure-demo",
    "azure_endpoint_guid": GUID,
}


def test_claims_of_each_vendor_are_listed(client, owner_key):
    aws = claim(client, owner_key, AWS_CLAIM)
    gcp = claim(client, owner_key, GCP_CLAIM)
    azure = claim(client, owner_key, AZURE_CLAIM)
    there = claim(client, owner_key, {"region": "elsewhere", "link_id": VPCE})

    assert (aws.status_code, aws.json()) == (201, AWS_CLAIM)
    assert (gcp.status_code, gcp.json()) == (201, GCP_CLAIM)
    assert (azure.status_code, azure.json()) == (201, AZURE_CLAIM)
    assert there.status_code == 201
    listed = client.get(f"{URL}/link-ids", headers=owner_key).json()["claimed_link_ids"]
    assert len(listed) == 4
    local = client.get(f"{URL}/link-ids", headers=owner_key, params={"region": "local"}).json()
    assert sorted(local["claimed_link_ids"], key=str) == sorted(
        [AWS_CLAIM, GCP_CLAIM, AZURE_CLAIM], key=str
    )
    elsewhere = client.get(
        f"{URL}/link-ids", headers=owner_key, params={"region": "elsewhere"}
    ).json()
    assert elsewhere["claimed_link_ids"] == [{"region": "elsewhere", "link_id": VPCE}]


def test_claiming_again_is_a_no_op_and_another_organization_is_refused(
    client, services, owner_key, other_key
):
    assert claim(client, owner_key, AWS_CLAIM).status_code == 201

    again = claim(client, owner_key, AWS_CLAIM)
    theirs = claim(client, other_key, AWS_CLAIM)
    their_azure = claim(client, other_key, AZURE_CLAIM)
    mine_azure = claim(client, owner_key, AZURE_CLAIM)

    assert (again.status_code, again.json()) == (200, AWS_CLAIM)
    assert_error(theirs, 409, "traffic_filter_claimed_link_id.already_claimed", "body.link_id")
    assert their_azure.status_code == 201
    assert_error(mine_azure, 409, "traffic_filter_claimed_link_id.already_claimed")
    assert count(services, LinkClaim) == 2
    assert client.get(f"{URL}/link-ids", headers=other_key).json()["claimed_link_ids"] == [
        AZURE_CLAIM
    ]


def test_same_linkid_for_another_azure_endpoint_is_refused(client, owner_key):
    assert claim(client, owner_key, AZURE_CLAIM).status_code == 201

    other_endpoint = AZURE_CLAIM | {"azure_endpoint_name": "another"}

    assert_error(
        claim(client, owner_key, other_endpoint),
        409,
        "traffic_filter_claimed_link_id.already_claimed",
        "body.link_id",
    )


INVALID_CLAIMS = [
    ("no link id", {"region": "local"}, "body.link_id"),
    ("bad vpce", {"region": "local", "link_id": "vpce-"}, "body.link_id"),
    ("not a psc id", {"region": "local", "link_id": "12x"}, "body.link_id"),
    ("psc above 2^64-1", {"region": "local", "link_id": str(2**64)}, "body.link_id"),
    ("unknown region", {"region": "mars", "link_id": VPCE}, "body.region"),
    (
        "azure without linkid",
        {k: v for k, v in AZURE_CLAIM.items() if k != "link_id"},
        "body.link_id",
    ),
    ("azure linkid above 2^32-1", AZURE_CLAIM | {"link_id": str(2**32)}, "body.link_id"),
    ("azure linkid not decimal", AZURE_CLAIM | {"link_id": VPCE}, "body.link_id"),
    ("azure bad name", AZURE_CLAIM | {"azure_endpoint_name": "a b"}, "body.azure_endpoint_name"),
    ("azure bad guid", AZURE_CLAIM | {"azure_endpoint_guid": "x"}, "body.azure_endpoint_guid"),
    (
        "azure without guid",
        {k: v for k, v in AZURE_CLAIM.items() if k != "azure_endpoint_guid"},
        "body.azure_endpoint_guid",
    ),
]


@pytest.mark.parametrize(
    ("body", "field"), [pytest.param(b, f, id=n) for n, b, f in INVALID_CLAIMS]
)
def test_invalid_claim_is_refused_naming_the_field(client, services, owner_key, body, field):
    claimed = claim(client, owner_key, body)
    unclaimed = unclaim(client, owner_key, body)

    assert_error(claimed, 400, "traffic_filter_claimed_link_id.invalid_input", field)
    assert_error(unclaimed, 400, "traffic_filter_claimed_link_id.invalid_input", field)
    assert count(services, LinkClaim) == 0


def test_azure_claim_at_the_limits(client, owner_key):
    body = AZURE_CLAIM | {"link_id": str(2**32 - 1)}

    assert claim(client, owner_key, body).status_code == 201


def test_another_organization_cannot_use_a_claimed_link_id(client, owner_key, other_key):
    assert claim(client, owner_key, AWS_CLAIM).status_code == 201
    assert claim(client, owner_key, GCP_CLAIM).status_code == 201
    mine = made(client, owner_key, vpce_body(VPCE))

    vpce = create(client, other_key, vpce_body("vpce-0aaaaaaaaaaaaaaaa", VPCE))
    psc = create(
        client,
        other_key,
        ip_body(type="gcp_private_service_connect_endpoint", rules=ip_rules(PSC)),
    )
    other_region = create(client, other_key, vpce_body(VPCE, region="elsewhere"))
    theirs = made(client, other_key, vpce_body("vpce-0aaaaaaaaaaaaaaaa"))
    update_to_it = update(client, other_key, theirs, vpce_body(VPCE))

    assert_error(vpce, 400, "traffic_filter.invalid_request", "body.rules[1].source")
    assert_error(psc, 400, "traffic_filter.invalid_request", "body.rules[0].source")
    assert other_region.status_code == 201
    assert_error(update_to_it, 400, "traffic_filter.invalid_request", "body.rules[0].source")
    assert get(client, owner_key, mine)["rules"][0]["source"] == VPCE


def test_unclaim(client, services, owner_key, other_key):
    assert claim(client, owner_key, AWS_CLAIM).status_code == 201
    assert claim(client, owner_key, AZURE_CLAIM).status_code == 201

    by_them = unclaim(client, other_key, AWS_CLAIM)
    mine = unclaim(client, owner_key, AWS_CLAIM)
    again = unclaim(client, owner_key, AWS_CLAIM)
    azure = unclaim(client, owner_key, AZURE_CLAIM)

    assert_error(by_them, 404, "traffic_filter_claimed_link_id.not_found")
    assert (mine.status_code, mine.json()) == (200, {})
    assert_error(again, 404, "traffic_filter_claimed_link_id.not_found")
    assert azure.status_code == 200
    assert count(services, LinkClaim) == 0
    assert claim(client, other_key, AWS_CLAIM).status_code == 201


# --- what the gateway is given ---------------------------------------------------------------


@pytest.fixture
def internal(services) -> Iterator[TestClient]:
    """The gateway's view of the internal API."""
    with as_component(services, ComponentKind.GATEWAY) as c:
        yield c


def test_routes_snapshot_carries_the_rulesets_and_changes_version(
    client, services, org, owner_key, internal
):
    dep = make_deployment(services, org)
    ruleset = made(client, owner_key, ip_body(rules=ip_rules("192.0.2.0/24", "2001:db8::/32")))
    first = internal.get("/internal/v1/routes")
    etag = first.headers["etag"]
    assert first.json()["rulesets"] == {}

    assert associate(client, owner_key, ruleset, dep).status_code == 201
    unchanged = internal.get("/internal/v1/routes", headers={"if-none-match": etag})
    assert unchanged.status_code == 200
    body = unchanged.json()

    (item,) = body["deployments"]
    assert item["rulesets"] == [ruleset]
    assert body["rulesets"][ruleset] == {"type": "ip", "sources": ["192.0.2.0/24", "2001:db8::/32"]}
    new_etag = unchanged.headers["etag"]
    assert new_etag != etag
    assert (
        internal.get("/internal/v1/routes", headers={"if-none-match": new_etag}).status_code == 304
    )

    body = ip_body(rules=ip_rules("198.51.100.0/24"))
    assert update(client, owner_key, ruleset, body).status_code == 200
    after = internal.get("/internal/v1/routes", headers={"if-none-match": new_etag})
    assert after.status_code == 200
    assert after.json()["rulesets"][ruleset]["sources"] == ["198.51.100.0/24"]


def test_azure_rule_resolves_to_its_linkid_once_claimed(client, services, org, owner_key, internal):
    dep = make_deployment(services, org)
    ruleset = made(client, owner_key, azure_body())
    assert associate(client, owner_key, ruleset, dep).status_code == 201
    version = internal.get("/internal/v1/routes").headers["etag"]

    before = sources_of(services, ruleset)
    assert claim(client, owner_key, AZURE_CLAIM).status_code == 201
    after = sources_of(services, ruleset)
    assert unclaim(client, owner_key, AZURE_CLAIM).status_code == 200
    unclaimed = sources_of(services, ruleset)

    assert before == [f"azure:unresolved:{GUID}"]
    assert after == ["azure:16909060"]
    assert unclaimed == before
    assert internal.get("/internal/v1/routes").headers["etag"] != version


def test_another_organizations_claim_of_the_same_azure_endpoint_does_not_resolve_ours(
    client, services, org, owner_key, other_key
):
    dep = make_deployment(services, org)
    ruleset = made(client, owner_key, azure_body())
    assert associate(client, owner_key, ruleset, dep).status_code == 201

    assert claim(client, other_key, AZURE_CLAIM).status_code == 201

    assert sources_of(services, ruleset) == [f"azure:unresolved:{GUID}"]


def test_vpce_claimed_by_another_organization_stops_matching_for_the_older_rule(
    client, services, org, other_org, owner_key, other_key
):
    mine = made(client, owner_key, vpce_body(VPCE, "vpce-0bbbbbbbbbbbbbbbb"))
    dep = make_deployment(services, org)
    assert associate(client, owner_key, mine, dep).status_code == 201
    assert sources_of(services, mine) == [f"aws:{VPCE}", "aws:vpce-0bbbbbbbbbbbbbbbb"]
    before = revision(services, dep)

    assert claim(client, other_key, AWS_CLAIM).status_code == 201
    theirs = made(client, other_key, vpce_body(VPCE))
    their_dep = make_deployment(services, other_org)
    assert associate(client, other_key, theirs, their_dep).status_code == 201

    ours_now = sources_of(services, mine)
    assert ours_now[0] != f"aws:{VPCE}"
    assert ours_now[0].startswith(f"aws:{VPCE}")
    assert ours_now[1] == "aws:vpce-0bbbbbbbbbbbbbbbb"
    assert sources_of(services, theirs) == [f"aws:{VPCE}"]
    assert revision(services, dep) > before
    psc_ruleset = made(
        client,
        owner_key,
        ip_body(type="gcp_private_service_connect_endpoint", rules=ip_rules(PSC)),
    )
    assert associate(client, owner_key, psc_ruleset, dep).status_code == 201
    assert sources_of(services, psc_ruleset) == [f"gcp:{PSC}"]


def test_unassociated_rulesets_are_not_in_the_view(client, services, org, owner_key):
    made(client, owner_key)

    by_deployment, rulesets = gateway(services)

    assert (by_deployment, rulesets) == ({}, {})


# --- the lockout guard -----------------------------------------------------------------------


@pytest.fixture
def from_caller(services) -> Iterator[TestClient]:
    """The API as seen from CALLER_IP."""
    app = create_app(services)
    with TestClient(app, base_url="https://testserver", client=(CALLER_IP, 50000)) as c:
        yield c


@pytest.fixture
def from_earlier(services) -> Iterator[TestClient]:
    """The API as seen from EARLIER_IP (the same key used from another address)."""
    app = create_app(services)
    with TestClient(app, base_url="https://testserver", client=(EARLIER_IP, 50000)) as c:
        yield c


@pytest.fixture
def guarded(services, org, owner_key, from_earlier) -> str:
    """A deployment of org, with the key's audit trail showing EARLIER_IP as a recent address."""
    dep = make_deployment(services, org)
    assert (
        create(from_earlier, owner_key, ip_body(name="made from the earlier address")).status_code
        == 201
    )
    return dep


def seen(deployment: str, ip: str, *, connected: bool = True, endpoint: str | None = None):
    return SeenClient(deployment, ip, endpoint, time.time(), connected)


def test_validate_only_create_reports_the_addresses_it_would_block_and_changes_nothing(
    from_caller, services, owner_key, guarded
):
    rulesets, audit = count(services, Ruleset), count(services, AuditEvent)

    response = create(from_caller, owner_key, validate_only="true")

    assert response.status_code == 200, response.text
    assert response.json() == {
        "valid": True,
        "would_block": {
            "your_addresses": [
                {"address": EARLIER_IP, "deployments": []},
                {"address": CALLER_IP, "deployments": []},
            ],
            "connected_clients": [],
        },
    }
    assert count(services, Ruleset) == rulesets
    assert count(services, AuditEvent) == audit


def test_validate_only_still_validates(from_caller, owner_key):
    response = create(from_caller, owner_key, ip_body(rules=ip_rules("x")), validate_only="true")

    assert_error(response, 400, "traffic_filter.invalid_request", "body.rules[0].source")


def test_association_that_would_block_the_caller_needs_force(
    from_caller, services, owner_key, guarded
):
    dep = guarded
    ruleset = made(from_caller, owner_key)  # admits 192.0.2.0/24 only
    services.recent_clients.report(
        [
            seen(dep, "100.64.0.9"),
            seen(dep, "192.0.2.55"),
            seen(dep, "100.64.0.10", connected=False, endpoint="aws:vpce-0c"),
            seen(new_id(), "100.64.0.11"),
        ]
    )

    checked = associate(from_caller, owner_key, ruleset, dep, validate_only="true")
    refused = associate(from_caller, owner_key, ruleset, dep)

    assert checked.status_code == 200, checked.text
    would_block = checked.json()["would_block"]
    assert checked.json()["valid"] is True
    assert would_block["your_addresses"] == [
        {"address": EARLIER_IP, "deployments": [dep]},
        {"address": CALLER_IP, "deployments": [dep]},
    ]
    assert sorted(c["client_ip"] for c in would_block["connected_clients"]) == [
        "100.64.0.10",
        "100.64.0.9",
    ]
    assert {c["deployment_id"] for c in would_block["connected_clients"]} == {dep}
    assert_error(refused, 409, "traffic_filter.would_block_caller", "query.force")
    assert CALLER_IP in refused.json()["errors"][0]["message"]
    assert rulesets_of(from_caller, owner_key, dep) == []
    assert actions(services, ruleset) == ["traffic_filter.ruleset.created"]

    forced = associate(from_caller, owner_key, ruleset, dep, force="true")

    assert forced.status_code == 201, forced.text
    assert rulesets_of(from_caller, owner_key, dep) == [ruleset]


def test_association_that_admits_the_caller_needs_no_force(
    from_caller, services, owner_key, guarded
):
    ruleset = made(from_caller, owner_key, ip_body(rules=ip_rules("203.0.113.0/24")))

    checked = associate(from_caller, owner_key, ruleset, guarded, validate_only="true")
    applied = associate(from_caller, owner_key, ruleset, guarded)

    assert checked.json()["would_block"]["your_addresses"] == [
        {"address": EARLIER_IP, "deployments": [guarded]}
    ]
    assert applied.status_code == 201, applied.text


def test_an_address_already_blocked_is_not_the_changes_doing(
    from_caller, services, owner_key, guarded
):
    first = made(from_caller, owner_key)
    assert associate(from_caller, owner_key, first, guarded, force="true").status_code == 201
    second = made(from_caller, owner_key, ip_body(rules=ip_rules("198.18.0.0/15")))

    response = associate(from_caller, owner_key, second, guarded)

    assert response.status_code == 201, response.text


def test_update_that_would_block_the_caller_needs_force(from_caller, services, owner_key, guarded):
    ruleset = made(from_caller, owner_key, ip_body(rules=ip_rules("203.0.113.0/24")))
    assert associate(from_caller, owner_key, ruleset, guarded).status_code == 201
    services.recent_clients.report([seen(guarded, "203.0.113.99"), seen(guarded, "192.0.2.1")])
    narrower = ip_body(rules=ip_rules("192.0.2.0/24"))
    wider = ip_body(rules=ip_rules("203.0.0.0/16"))

    checked = update(from_caller, owner_key, ruleset, narrower, validate_only="true")
    refused = update(from_caller, owner_key, ruleset, narrower)
    harmless = update(from_caller, owner_key, ruleset, wider)

    assert checked.status_code == 200, checked.text
    assert checked.json()["would_block"]["your_addresses"] == [
        {"address": CALLER_IP, "deployments": [guarded]}
    ]
    assert [c["client_ip"] for c in checked.json()["would_block"]["connected_clients"]] == [
        "203.0.113.99"
    ]
    assert_error(refused, 409, "traffic_filter.would_block_caller", "query.force")
    assert harmless.status_code == 200
    assert get(from_caller, owner_key, ruleset)["version"] == 2
    forced = update(from_caller, owner_key, ruleset, narrower, force="true")
    assert forced.status_code == 200
    assert get(from_caller, owner_key, ruleset)["rules"][0]["source"] == "192.0.2.0/24"


def test_validate_only_update_changes_nothing(from_caller, services, owner_key, guarded):
    ruleset = made(from_caller, owner_key)
    history = count(services, RulesetVersion)

    checked = update(from_caller, owner_key, ruleset, ip_body(name="x"), validate_only="true")

    assert checked.status_code == 200
    assert checked.json()["valid"] is True
    shown = get(from_caller, owner_key, ruleset)
    assert (shown["name"], shown["version"]) == ("office", 1)
    assert count(services, RulesetVersion) == history


def test_removing_the_ruleset_that_admits_the_caller_needs_force(
    from_caller, services, owner_key, guarded
):
    admits = made(from_caller, owner_key, ip_body(rules=ip_rules("203.0.113.0/24")))
    other = made(from_caller, owner_key)
    assert associate(from_caller, owner_key, admits, guarded).status_code == 201
    assert associate(from_caller, owner_key, other, guarded).status_code == 201

    refused_delete = from_caller.delete(
        f"{RULESETS}/{admits}", headers=owner_key, params={"ignore_associations": "true"}
    )
    refused_detach = disassociate(from_caller, owner_key, admits, guarded)

    assert_error(refused_delete, 409, "traffic_filter.would_block_caller", "query.force")
    assert_error(refused_detach, 409, "traffic_filter.would_block_caller", "query.force")
    assert sorted(rulesets_of(from_caller, owner_key, guarded)) == sorted([admits, other])
    assert disassociate(from_caller, owner_key, admits, guarded, force="true").status_code == 200
    assert rulesets_of(from_caller, owner_key, guarded) == [other]


def test_removing_the_last_ruleset_opens_the_deployment_and_needs_no_force(
    from_caller, services, owner_key, guarded
):
    ruleset = made(from_caller, owner_key)
    assert associate(from_caller, owner_key, ruleset, guarded, force="true").status_code == 201

    assert disassociate(from_caller, owner_key, ruleset, guarded).status_code == 200


def test_gateways_report_connected_clients_through_the_internal_api(
    from_caller, services, owner_key, guarded, internal
):
    ruleset = made(from_caller, owner_key)
    report = {
        "clients": [
            {
                "deployment_id": guarded,
                "client_ip": "100.64.1.1",
                "last_seen": time.time(),
                "connected": True,
            }
        ]
    }
    assert internal.post("/internal/v1/gateway/clients", json=report).status_code == 200

    checked = associate(from_caller, owner_key, ruleset, guarded, validate_only="true")

    (client,) = checked.json()["would_block"]["connected_clients"]
    assert client == {
        "deployment_id": guarded,
        "client_ip": "100.64.1.1",
        "endpoint_id": None,
        "connected": True,
    }


# --- audit -----------------------------------------------------------------------------------


def test_every_change_is_audited(client, services, org, owner_key):
    dep = make_deployment(services, org)
    ruleset = made(client, owner_key)
    assert update(client, owner_key, ruleset, ip_body(name="v2")).status_code == 200
    assert associate(client, owner_key, ruleset, dep).status_code == 201
    assert disassociate(client, owner_key, ruleset, dep).status_code == 200
    assert client.delete(f"{RULESETS}/{ruleset}", headers=owner_key).status_code == 200
    assert claim(client, owner_key, AWS_CLAIM).status_code == 201
    assert unclaim(client, owner_key, AWS_CLAIM).status_code == 200

    assert actions(services, ruleset) == [
        "traffic_filter.ruleset.created",
        "traffic_filter.ruleset.updated",
        "traffic_filter.association.created",
        "traffic_filter.association.deleted",
        "traffic_filter.ruleset.deleted",
    ]
    assert actions(services, f"aws:{VPCE}") == [
        "traffic_filter.link_id.claimed",
        "traffic_filter.link_id.unclaimed",
    ]
    with services.db.read() as session:
        events = session.scalars(
            sa.select(AuditEvent).where(AuditEvent.target_id == ruleset).order_by(AuditEvent.seq)
        ).all()
        assert {e.organization_id for e in events} == {org}
        assert all(e.actor_id for e in events)


def test_refused_and_validate_only_changes_are_not_audited_as_changes(
    client, services, org, owner_key
):
    ruleset = made(client, owner_key)
    viewer = key_with(services, org, "deployment-viewer")

    assert update(client, viewer, ruleset, ip_body(name="x")).status_code == 403
    assert create(client, owner_key, validate_only="true").status_code == 200
    assert update(client, owner_key, ruleset, ip_body(type="vpce")).status_code == 400

    assert actions(services, ruleset) == ["traffic_filter.ruleset.created"]


# --- static IPs ------------------------------------------------------------------------------


def test_static_ips_list_every_region(client, services, owner_key):
    services.settings.static_ips = {
        "local": StaticIps(ingress=["203.0.113.10/32"], egress=["198.51.100.0/28", "2001:db8::1"])
    }

    response = client.get("/api/v1/platform/static-ips", headers=owner_key)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "regions": {
            "local": {
                "ingress": ["203.0.113.10/32"],
                "egress": ["198.51.100.0/28", "2001:db8::1/128"],
            },
            "elsewhere": {"ingress": [], "egress": []},
        }
    }


def test_static_ips_need_credentials(client, services, owner_key):
    response = client.get("/api/v1/platform/static-ips")

    assert_error(response, 401, "root.unauthenticated")


def test_static_ips_for_any_member(client, services, org):
    headers = key_headers(make_api_key(services, org, grant(org, "billing-admin")))

    assert client.get("/api/v1/platform/static-ips", headers=headers).status_code == 200


def test_validate_only_deployment_create_checks_the_named_rulesets(client, services, owner_key):
    elsewhere = made(client, owner_key, ip_body(region="elsewhere"))
    for rulesets, status in (([elsewhere], 400), (["0" * 32], 400)):
        response = client.post(
            "/api/v1/deployments",
            json={"name": "x", "settings": {"traffic_filter_settings": {"rulesets": rulesets}}},
            headers=owner_key,
            params={"validate_only": "true"},
        )
        assert response.status_code == status
        assert response.json()["errors"][0]["fields"] == [
            "body.settings.traffic_filter_settings.rulesets[0]"
        ]
    here = made(client, owner_key, ip_body())
    response = client.post(
        "/api/v1/deployments",
        json={"name": "x", "settings": {"traffic_filter_settings": {"rulesets": [here]}}},
        headers=owner_key,
        params={"validate_only": "true"},
    )
    assert response.status_code == 200
    assert count(services, Deployment) == 0
