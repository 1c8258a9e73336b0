"""The serverless traffic-filter API (`/serverless/traffic-filters`, serverless-notes §8):
filters of types ip, vpce and private_endpoint bound to one region, the organization limit,
who may change them, paging, the metadata per region, their separation from the hosted
rulesets, and their use by projects (associations, include-by-default, the gateway's view, the
lockout guard, delete while in use). Real app, real database, real audit log, real projects
made by the project use cases."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from citadel.app import create_app
from citadel.audit.models import AuditEvent
from citadel.contract.messages import ComponentKind
from citadel.deployments.models import Deployment
from citadel.errors import CitadelError
from citadel.kit.ids import new_id
from citadel.projects.schemas import (
    CreateElasticsearchProjectIn,
    PatchElasticsearchProjectIn,
    TrafficFilterRefIn,
)
from citadel.projects.types import ProjectType
from citadel.traffic_filters import serverless
from citadel.traffic_filters import service as traffic_filters
from citadel.traffic_filters.models import Association, Ruleset
from citadel.use_cases import projects as project_use_cases
from tests.fixtures.builders import (
    SystemUnits,
    grant,
    key_headers,
    make_api_key,
    make_deployment,
    make_org,
    make_user,
)
from tests.fixtures.internal import as_component

URL = "/api/v1/serverless/traffic-filters"
HOSTED = "/api/v1/deployments/traffic-filter/rulesets"
GUID = "7c0f05e4-e32b-4b10-a246-7b77f7dcc63c"
VPCE = "vpce-0123456789abcdef0"
CALLER_IP = "203.0.113.7"


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
        "rules": [{"description": "office", "source": "192.0.2.0/24"}],
    }
    return body | changes


def vpce_body(*sources: str, **changes: Any) -> dict[str, Any]:
    return ip_body(type="vpce", rules=[{"source": s} for s in sources]) | changes


def azure_body(name: str = "azure-demo", guid: str = GUID, **changes: Any) -> dict[str, Any]:
    rule = {"azure_endpoint_name": name, "azure_endpoint_guid": guid}
    return ip_body(type="private_endpoint", rules=[rule]) | changes


def create(client, headers, body: dict[str, Any] | None = None):
    return client.post(URL, json=ip_body() if body is None else body, headers=headers)


def made(client, headers, body: dict[str, Any] | None = None) -> str:
    response = create(client, headers, body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def get(client, headers, filter_id: str) -> dict[str, Any]:
    response = client.get(f"{URL}/{filter_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def patch(client, headers, filter_id: str, body: dict[str, Any], **query: Any):
    return client.patch(f"{URL}/{filter_id}", json=body, headers=headers, params=query)


def error(response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()["errors"][0]


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


def make_project(services, org: str, *filters: str, region: str = "local") -> str:
    """A real Elasticsearch project of `org` (made by the project use case), its id."""
    refs = [TrafficFilterRefIn(id=f) for f in filters] if filters else None
    body = CreateElasticsearchProjectIn(name="search", region_id=region, traffic_filters=refs)
    created = project_use_cases.create_project(
        SystemUnits(services),
        services.platform_keys,
        org,
        ProjectType.ELASTICSEARCH,
        body,
        created_by=None,
    )
    return created.row.id


def set_filters(services, org: str, project: str, *filters: str) -> None:
    body = PatchElasticsearchProjectIn(traffic_filters=[TrafficFilterRefIn(id=f) for f in filters])
    project_use_cases.patch_project(
        SystemUnits(services), org, ProjectType.ELASTICSEARCH, project, body, if_match=None
    )


def filters_of(services, project: str) -> list[str]:
    with SystemUnits(services).read() as ctx:
        return serverless.project_filter_ids(ctx, project)


def gateway_view(services) -> tuple[dict[str, list[str]], dict[str, dict[str, Any]]]:
    with SystemUnits(services).read() as ctx:
        return traffic_filters.gateway_view(ctx)


def observed(services, project: str) -> None:
    """The allocator has reported the project's instance (clients may have reached it)."""
    with services.db.write() as session:
        row = session.get(Deployment, project)
        assert row is not None
        row.observed_at = services.clock.now()


# --- create and read -------------------------------------------------------------------------


def test_a_created_ip_filter_is_answered_whole_with_an_etag(client, owner_key):
    response = create(client, owner_key)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body == {
        "id": body["id"],
        "name": "office",
        "description": "the office network",
        "type": "ip",
        "include_by_default": False,
        "region": "local",
        "rules": [{"description": "office", "source": "192.0.2.0/24"}],
    }
    assert len(body["id"]) == 32
    assert response.headers["etag"] == '"1"'
    assert get(client, owner_key, body["id"]) == body


def test_a_region_with_the_provider_prefix_is_stored_as_the_platform_region(client, owner_key):
    body = create(client, owner_key, ip_body(region="aws-local")).json()

    assert body["region"] == "local"


def test_a_region_the_platform_does_not_have_is_refused(client, owner_key):
    for region in ("us-east-1", "azure-local", "aws-"):
        response = create(client, owner_key, ip_body(region=region))
        assert_error(response, 400, "traffic_filter.invalid_request", "body.region")


def test_vpce_and_private_endpoint_filters_keep_their_rules(client, owner_key):
    vpce = create(client, owner_key, vpce_body(VPCE)).json()
    azure = create(client, owner_key, azure_body()).json()

    assert (vpce["type"], vpce["rules"]) == ("vpce", [{"source": VPCE}])
    assert azure["type"] == "private_endpoint"
    assert azure["rules"] == [{"azure_endpoint_name": "azure-demo", "azure_endpoint_guid": GUID}]


def test_a_private_endpoint_filter_is_stored_as_the_hosted_azure_type(client, services, owner_key):
    filter_id = made(client, owner_key, azure_body())

    with services.db.read() as session:
        row = session.get(Ruleset, filter_id)
        assert row is not None
        assert (row.type, row.api) == ("azure_private_endpoint", "serverless")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (ip_body(type="psc_endpoint"), "body.type"),
        (ip_body(type="azure_private_endpoint"), "body.type"),
        (ip_body(rules=[]), "body.rules"),
        (ip_body(rules=[{"source": "example.com"}]), "body.rules[0].source"),
        (ip_body(rules=[{"source": "2001:db8::/32"}]), "body.rules[0].source"),
        (ip_body(rules=[{"source": "10.0.0.0/33"}]), "body.rules[0].source"),
        (vpce_body("vpce-0123456789ABCDEF0"), "body.rules[0].source"),
        (vpce_body("vpce-0123456789abcdef"), "body.rules[0].source"),
        (vpce_body("192.0.2.1"), "body.rules[0].source"),
        (azure_body(name="a"), "body.rules[0].azure_endpoint_name"),
        (azure_body(guid=GUID.upper()), "body.rules[0].azure_endpoint_guid"),
        (azure_body(guid="not-a-guid"), "body.rules[0].azure_endpoint_guid"),
        (
            ip_body(rules=[{"source": "192.0.2.1", "azure_endpoint_name": "x1"}]),
            "body.rules[0].azure_endpoint_name",
        ),
        (ip_body(type="private_endpoint"), "body.rules[0].source"),
        (vpce_body(), None),
    ],
)
def test_a_bad_filter_is_refused_naming_its_field(client, services, owner_key, body, field):
    response = create(client, owner_key, body)

    if field is None:  # a vpce filter with no rules is a record, allowed
        assert response.status_code == 201, response.text
        return
    assert_error(response, 400, "traffic_filter.invalid_request", field)
    with services.db.read() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Ruleset)) == 0


def test_a_filter_has_at_most_128_rules(client, owner_key):
    rules = [{"source": f"10.0.{i}.0/24"} for i in range(129)]

    accepted = create(client, owner_key, ip_body(rules=rules[:128]))
    refused = create(client, owner_key, ip_body(rules=rules))

    assert accepted.status_code == 201, accepted.text
    assert error(refused, 400)["fields"] == ["body.rules"]


def test_unknown_fields_are_refused(client, owner_key):
    response = create(client, owner_key, ip_body(associations=[]))

    assert error(response, 400)["fields"] == ["body.associations"]


def test_the_organization_limit_of_1024_counts_hosted_rulesets(
    client, services, org, owner_key, other_key
):
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
                api="hosted" if i % 2 else "serverless",
                created_at=now,
                updated_at=now,
            )
            for i in range(1023)
        )

    last = create(client, owner_key)
    one_too_many = create(client, owner_key)
    hosted_too_many = client.post(HOSTED, json=ip_body(include_by_default=False), headers=owner_key)
    theirs = create(client, other_key)

    assert last.status_code == 201, last.text
    assert_error(one_too_many, 400, "traffic_filter.too_many_rulesets")
    assert_error(hosted_too_many, 400, "traffic_filter.too_many_rulesets")
    assert theirs.status_code == 201


def test_an_unknown_or_other_organizations_filter_is_not_found(client, owner_key, other_key):
    theirs = made(client, other_key)

    for filter_id in (theirs, new_id(), "not-an-id"):
        response = client.get(f"{URL}/{filter_id}", headers=owner_key)
        assert_error(response, 404, "traffic_filter.not_found")


# --- list and paging -------------------------------------------------------------------------


def test_the_list_filters_by_region_and_include_by_default(client, clock, owner_key, other_key):
    local = made(client, owner_key)
    clock.advance(seconds=1)
    default = made(client, owner_key, ip_body(include_by_default=True))
    clock.advance(seconds=1)
    elsewhere = made(client, owner_key, ip_body(region="elsewhere"))
    made(client, other_key)

    def ids(**query: Any) -> list[str]:
        response = client.get(URL, headers=owner_key, params=query)
        assert response.status_code == 200, response.text
        assert "next_page" not in response.json()
        return [item["id"] for item in response.json()["items"]]

    assert ids() == [local, default, elsewhere]
    assert ids(region="local") == [local, default]
    assert ids(region="aws-elsewhere") == [elsewhere]
    assert ids(region="nowhere") == []
    assert ids(include_by_default="true") == [default]
    assert ids(include_by_default="false", region="local") == [local]


def test_the_list_pages_with_the_elastic_headers(client, services, owner_key):
    made_ids = []
    for i in range(5):
        made_ids.append(made(client, owner_key, ip_body(name=f"f{i}")))
        if i % 2:
            services.clock.advance(seconds=1)  # the others share a creation time

    seen: list[str] = []
    headers = owner_key | {"X-Elastic-Page-Size": "2"}
    pages = 0
    while True:
        response = client.get(URL, headers=headers)
        assert response.status_code == 200, response.text
        pages += 1
        seen += [item["id"] for item in response.json()["items"]]
        token = response.json().get("next_page")
        if token is None:
            break
        headers = owner_key | {"X-Elastic-Page-Size": "2", "X-Elastic-Next-Page": token}

    assert sorted(seen) == sorted(made_ids)
    assert len(seen) == 5
    assert pages == 3


def test_a_bad_page_header_is_refused(client, owner_key):
    token = client.get(URL, headers=owner_key | {"X-Elastic-Next-Page": "bm9wZQ"})
    size = client.get(URL, headers=owner_key | {"X-Elastic-Page-Size": "1001"})

    assert_error(token, 400, "traffic_filter.invalid_request", "header.x-elastic-next-page")
    assert error(size, 400)["fields"] == ["header.X-Elastic-Page-Size"]


# --- the two APIs keep to their own ---------------------------------------------------------


def test_the_hosted_api_neither_lists_nor_touches_serverless_filters(client, owner_key):
    serverless_id = made(client, owner_key)
    hosted_body = ip_body(include_by_default=False)
    hosted_id = client.post(HOSTED, json=hosted_body, headers=owner_key).json()["id"]

    hosted_list = client.get(HOSTED, headers=owner_key).json()["rulesets"]
    serverless_list = client.get(URL, headers=owner_key).json()["items"]

    assert [r["id"] for r in hosted_list] == [hosted_id]
    assert [r["id"] for r in serverless_list] == [serverless_id]
    assert client.get(f"{HOSTED}/{serverless_id}", headers=owner_key).status_code == 404
    assert (
        client.put(f"{HOSTED}/{serverless_id}", json=hosted_body, headers=owner_key).status_code
        == 404
    )
    assert client.delete(f"{HOSTED}/{serverless_id}", headers=owner_key).status_code == 404
    assert client.get(f"{URL}/{hosted_id}", headers=owner_key).status_code == 404
    assert patch(client, owner_key, hosted_id, {"name": "x"}).status_code == 404
    assert client.delete(f"{URL}/{hosted_id}", headers=owner_key).status_code == 404


def test_a_deployment_never_gets_a_serverless_default(client, services, org, owner_key):
    made(client, owner_key, ip_body(include_by_default=True))

    deployment = make_deployment(services, org)

    assert gateway_view(services)[0].get(deployment) is None


def test_a_deployment_create_cannot_name_a_serverless_filter(client, owner_key):
    filter_id = made(client, owner_key)
    body = {"name": "d", "settings": {"traffic_filter_settings": {"rulesets": [filter_id]}}}

    response = client.post("/api/v1/deployments", json=body, headers=owner_key)

    assert_error(response, 400, "traffic_filter.not_found")


# --- patch and delete --------------------------------------------------------------------------


def test_a_patch_changes_only_the_fields_it_names(client, owner_key):
    filter_id = made(client, owner_key)

    response = patch(client, owner_key, filter_id, {"name": "renamed"})

    assert response.status_code == 200, response.text
    assert response.json() == get(client, owner_key, filter_id)
    assert response.json()["name"] == "renamed"
    assert response.json()["description"] == "the office network"
    assert response.json()["rules"] == [{"description": "office", "source": "192.0.2.0/24"}]
    assert response.headers["etag"] == '"2"'


def test_patched_rules_replace_the_whole_list(client, owner_key):
    filter_id = made(client, owner_key)
    rules = [{"source": "198.51.100.7"}, {"source": "203.0.113.0/24", "description": "lab"}]

    response = patch(client, owner_key, filter_id, {"rules": rules})

    assert response.status_code == 200, response.text
    assert get(client, owner_key, filter_id)["rules"] == rules


def test_type_and_region_cannot_change(client, owner_key):
    filter_id = made(client, owner_key)

    kind = patch(client, owner_key, filter_id, {"type": "vpce"})
    region = patch(client, owner_key, filter_id, {"region": "elsewhere"})
    same = patch(client, owner_key, filter_id, {"type": "ip", "region": "aws-local"})

    assert_error(kind, 400, "traffic_filter.invalid_request", "body.type")
    assert_error(region, 400, "traffic_filter.invalid_request", "body.region")
    assert same.status_code == 200, same.text


def test_patched_rules_are_checked_like_new_ones(client, owner_key):
    filter_id = made(client, owner_key, vpce_body(VPCE))

    wrong = patch(client, owner_key, filter_id, {"rules": [{"source": "192.0.2.1"}]})
    mixed = patch(client, owner_key, filter_id, {"rules": [{"azure_endpoint_name": "ab"}]})

    assert_error(wrong, 400, "traffic_filter.invalid_request", "body.rules[0].source")
    assert error(mixed, 400)["fields"] == ["body.rules[0].azure_endpoint_name"]
    assert get(client, owner_key, filter_id)["rules"] == [{"source": VPCE}]


def test_a_deleted_filter_is_gone(client, owner_key):
    filter_id = made(client, owner_key)

    response = client.delete(f"{URL}/{filter_id}", headers=owner_key)

    assert response.status_code == 204, response.text
    assert response.content == b""
    assert response.headers["etag"] == '"1"'
    assert client.get(f"{URL}/{filter_id}", headers=owner_key).status_code == 404
    assert client.delete(f"{URL}/{filter_id}", headers=owner_key).status_code == 404


def test_every_change_is_audited(client, services, owner_key):
    filter_id = made(client, owner_key)
    patch(client, owner_key, filter_id, {"name": "renamed"})
    client.delete(f"{URL}/{filter_id}", headers=owner_key)

    assert actions(services, filter_id) == [
        "traffic_filter.ruleset.created",
        "traffic_filter.ruleset.updated",
        "traffic_filter.ruleset.deleted",
    ]
    with services.db.read() as session:
        details = session.scalars(
            sa.select(AuditEvent.details)
            .where(AuditEvent.target_id == filter_id)
            .order_by(AuditEvent.seq)
        ).first()
    assert details is not None
    assert details["api"] == "serverless"
    assert details["type"] == "ip"


def test_a_refused_change_is_audited(client, services, owner_key):
    create(client, owner_key, ip_body(type="nope"))

    with services.db.read() as session:
        event = session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "request.failed")
        ).one()
    assert event.target_id == f"POST {URL}"
    assert event.details == {"code": "traffic_filter.invalid_request", "status": 400}


# --- who may do what ---------------------------------------------------------------------------


def test_a_refused_caller_is_audited_in_the_organizations_chain(client, services, org):
    deployment_admin = key_with(services, org, "deployment-admin")

    response = create(client, deployment_admin)

    assert_error(response, 403, "organization.invalid_access")
    with services.db.read() as session:
        event = session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "request.denied")
        ).one()
    assert (event.organization_id, event.target_id) == (org, f"POST {URL}")
    assert event.outcome == "denied"


def test_any_member_reads(client, services, org, owner_key):
    filter_id = made(client, owner_key)
    billing = key_with(services, org, "billing-admin")

    assert get(client, billing, filter_id)["id"] == filter_id
    assert client.get(URL, headers=billing).status_code == 200
    assert client.get(f"{URL}/metadata", headers=billing).status_code == 200


def test_changes_need_a_project_admin_or_editor(client, services, org, owner_key):
    filter_id = made(client, owner_key)
    one_project = key_with(services, org, "elasticsearch-admin", new_id())
    editor = key_with(services, org, "security-editor")
    viewer = key_with(services, org, "elasticsearch-viewer")
    deployment_admin = key_with(services, org, "deployment-admin")
    developer = key_with(services, org, "elasticsearch-developer")

    assert create(client, one_project).status_code == 201
    assert patch(client, editor, filter_id, {"name": "x"}).status_code == 200
    for refused in (viewer, deployment_admin, developer):
        assert_error(create(client, refused), 403, "organization.invalid_access")
        assert patch(client, refused, filter_id, {"name": "y"}).status_code == 403
        assert client.delete(f"{URL}/{filter_id}", headers=refused).status_code == 403
    assert client.delete(f"{URL}/{filter_id}", headers=one_project).status_code == 204


def test_include_by_default_needs_the_role_on_all_projects_of_every_type(
    client, services, org, owner_key
):
    filter_id = made(client, owner_key)
    es_only = key_with(services, org, "elasticsearch-admin")
    all_types = key_headers(
        make_api_key(
            services,
            org,
            grant(org, "elasticsearch-admin"),
            grant(org, "observability-editor"),
            grant(org, "security-admin"),
        )
    )

    assert create(client, es_only, ip_body(include_by_default=True)).status_code == 403
    refused = patch(client, es_only, filter_id, {"include_by_default": True})
    assert refused.status_code == 403
    assert patch(client, es_only, filter_id, {"include_by_default": False}).status_code == 200
    assert create(client, all_types, ip_body(include_by_default=True)).status_code == 201
    accepted = patch(client, all_types, filter_id, {"include_by_default": True})
    assert accepted.status_code == 200, accepted.text


# --- metadata ---------------------------------------------------------------------------------


def test_the_metadata_names_each_region_and_filters(client, services, owner_key):
    domain = services.settings.deployment_domain

    every = client.get(f"{URL}/metadata", headers=owner_key)
    one = client.get(f"{URL}/metadata", headers=owner_key, params={"region": "aws-elsewhere"})
    other_csp = client.get(f"{URL}/metadata", headers=owner_key, params={"csp": "azure"})
    unknown = client.get(f"{URL}/metadata", headers=owner_key, params={"region": "mars"})

    assert every.status_code == 200, every.text
    assert every.json()["regions"][0] == {
        "region": "local",
        "csp": "aws",
        "private_service_name": f"local.{domain}",
        "vpc_service_name": f"local.{domain}",
        "private_hosted_zone_domain_name": f"local.{domain}",
        "availability_zones": [],
    }
    assert [r["region"] for r in every.json()["regions"]] == ["local", "elsewhere"]
    assert [r["region"] for r in one.json()["regions"]] == ["elsewhere"]
    assert other_csp.json() == {"regions": []}
    assert unknown.json() == {"regions": []}


# --- projects ---------------------------------------------------------------------------------


def test_a_project_uses_the_filters_it_names_and_the_gateway_gets_them(
    client, services, org, owner_key
):
    office = made(client, owner_key)
    lab = made(client, owner_key, ip_body(rules=[{"source": "198.51.100.0/24"}]))

    project = make_project(services, org, office, lab)
    reversed_project = make_project(services, org, lab, office)

    assert filters_of(services, project) == [office, lab]  # in the order asked for
    assert filters_of(services, reversed_project) == [lab, office]
    by_entity, rulesets = gateway_view(services)
    assert by_entity[project] == [office, lab]
    assert by_entity[reversed_project] == [lab, office]
    assert rulesets[office] == {"type": "ip", "sources": ["192.0.2.0/24"]}
    assert actions(services, office) == [
        "traffic_filter.ruleset.created",
        "traffic_filter.association.created",
        "traffic_filter.association.created",
    ]


def test_a_project_patch_replaces_its_filters(client, services, org, owner_key):
    office = made(client, owner_key)
    lab = made(client, owner_key, ip_body(rules=[{"source": "198.51.100.0/24"}]))
    project = make_project(services, org, office)

    set_filters(services, org, project, lab)
    after_swap = filters_of(services, project)
    set_filters(services, org, project)

    assert after_swap == [lab]
    assert filters_of(services, project) == []
    assert project not in gateway_view(services)[0]
    assert "traffic_filter.association.deleted" in actions(services, office)


def test_a_project_may_only_use_filters_of_its_region_and_organization(
    client, services, org, owner_key, other_key
):
    elsewhere = made(client, owner_key, ip_body(region="elsewhere"))
    theirs = made(client, other_key)
    hosted = client.post(HOSTED, json=ip_body(include_by_default=False), headers=owner_key)
    project = make_project(services, org)

    for filter_id, code in (
        (elsewhere, "traffic_filter.region_mismatch"),
        (theirs, "traffic_filter.not_found"),
        (hosted.json()["id"], "traffic_filter.not_found"),
    ):
        with pytest.raises(CitadelError) as refused:
            set_filters(services, org, project, filter_id)
        assert (refused.value.code, refused.value.status) == (code, 400)
        assert refused.value.fields == ["body.traffic_filters[0].id"]
    assert filters_of(services, project) == []


def test_a_new_project_gets_its_regions_default_filters(client, services, clock, org, owner_key):
    default = made(client, owner_key, ip_body(include_by_default=True))
    made(client, owner_key, ip_body(include_by_default=True, region="elsewhere"))
    made(client, owner_key)
    existing = make_project(services, org, made(client, owner_key))
    clock.advance(seconds=1)
    later_default = made(client, owner_key, ip_body(include_by_default=True))

    fresh = make_project(services, org)

    assert filters_of(services, fresh) == [default, later_default]  # oldest first
    assert default not in filters_of(services, existing)  # never retroactive


def test_a_filter_in_use_cannot_be_deleted(client, services, org, owner_key):
    filter_id = made(client, owner_key)
    project = make_project(services, org, filter_id)

    refused = client.delete(f"{URL}/{filter_id}", headers=owner_key)
    set_filters(services, org, project)
    accepted = client.delete(f"{URL}/{filter_id}", headers=owner_key)

    assert_error(refused, 409, "traffic_filter.ruleset_in_use")
    assert "used by 1 project(s)" in refused.json()["errors"][0]["message"]
    assert project not in refused.text  # not every caller may see it
    assert accepted.status_code == 204


def test_projects_using_names_live_projects_only(client, services, org, owner_key):
    filter_id = made(client, owner_key)
    project = make_project(services, org, filter_id)
    with SystemUnits(services).read() as ctx:
        assert serverless.projects_using(ctx, filter_id) == [project]

    project_use_cases.delete_project(
        SystemUnits(services), org, ProjectType.ELASTICSEARCH, project, if_match=None
    )

    with SystemUnits(services).read() as ctx:
        assert serverless.projects_using(ctx, filter_id) == []
    assert client.delete(f"{URL}/{filter_id}", headers=owner_key).status_code == 204


def test_a_private_endpoint_filter_reaches_the_gateway_through_the_claimed_linkid(
    client, services, org, owner_key
):
    filter_id = made(client, owner_key, azure_body())
    project = make_project(services, org, filter_id)
    unresolved = gateway_view(services)[1][filter_id]
    claim = {
        "region": "local",
        "link_id": "4026531841",
        "azure_endpoint_name": "azure-demo",
        "azure_endpoint_guid": GUID,
    }
    claimed = client.post(
        "/api/v1/deployments/traffic-filter/link-ids/_claim", json=claim, headers=owner_key
    )
    assert claimed.status_code == 201, claimed.text

    by_entity, rulesets = gateway_view(services)

    assert unresolved == {"type": "azure_private_endpoint", "sources": [f"azure:unresolved:{GUID}"]}
    assert by_entity[project] == [filter_id]
    assert rulesets[filter_id] == {
        "type": "azure_private_endpoint",
        "sources": ["azure:4026531841"],
    }


def test_a_rules_change_reaches_the_projects_using_the_filter(client, services, org, owner_key):
    filter_id = made(client, owner_key)
    project = make_project(services, org, filter_id)
    with services.db.read() as session:
        revision = session.get(Deployment, project).revision  # type: ignore[union-attr]

    patch(client, owner_key, filter_id, {"rules": [{"source": "198.51.100.0/24"}]})

    with services.db.read() as session:
        assert session.get(Deployment, project).revision > revision  # type: ignore[union-attr]
    assert gateway_view(services)[1][filter_id]["sources"] == ["198.51.100.0/24"]


# --- the lockout guard ---------------------------------------------------------------------------


@pytest.fixture
def from_caller(services) -> Iterator[TestClient]:
    """The API as seen from CALLER_IP."""
    app = create_app(services)
    with TestClient(app, base_url="https://testserver", client=(CALLER_IP, 50000)) as c:
        yield c


def test_a_rules_change_that_blocks_the_caller_needs_force(from_caller, services, org, owner_key):
    filter_id = made(from_caller, owner_key, ip_body(rules=[{"source": f"{CALLER_IP}/32"}]))
    project = make_project(services, org, filter_id)
    elsewhere = {"rules": [{"source": "198.51.100.0/24"}]}

    refused = patch(from_caller, owner_key, filter_id, elsewhere)
    forced = patch(from_caller, owner_key, filter_id, elsewhere, force="true")

    assert_error(refused, 409, "traffic_filter.would_block_caller", "query.force")
    message = refused.json()["errors"][0]["message"]
    assert f"your address {CALLER_IP} from projects {project};" in message
    assert forced.status_code == 200, forced.text


def test_attaching_a_filter_that_blocks_the_caller_to_a_reached_project_needs_force(
    from_caller, services, org, owner_key
):
    blocking = made(from_caller, owner_key, ip_body(rules=[{"source": "198.51.100.0/24"}]))
    project = make_project(services, org)  # being created: nobody reached it yet
    observed(services, project)
    caller_from_ip = dataclasses.replace(services.system_caller(), source_ip=CALLER_IP)

    with services.db.write() as session:
        ctx = services.context(session, caller_from_ip)
        with pytest.raises(CitadelError) as refused:
            serverless.set_project_filters(
                ctx, org, project, "local", [blocking], field="body.traffic_filters"
            )
    assert refused.value.code == "traffic_filter.would_block_caller"
    with services.db.write() as session:
        ctx = services.context(session, caller_from_ip)
        serverless.set_project_filters(
            ctx, org, project, "local", [blocking], field="body.traffic_filters", force=True
        )
    assert filters_of(services, project) == [blocking]


def test_a_project_created_with_a_filter_is_not_held_by_the_guard(client, services, org, owner_key):
    blocking = made(client, owner_key, ip_body(rules=[{"source": "198.51.100.0/24"}]))

    project = make_project(services, org, blocking)

    assert filters_of(services, project) == [blocking]


def test_associations_of_a_project_are_rows_of_type_project(client, services, org, owner_key):
    filter_id = made(client, owner_key)
    project = make_project(services, org, filter_id)

    with services.db.read() as session:
        row = session.scalars(sa.select(Association).where(Association.entity_id == project)).one()
    assert (row.entity_type, row.ruleset_id, row.organization_id) == ("project", filter_id, org)


# --- through the project API -------------------------------------------------------------------

PROJECTS = "/api/v1/serverless/projects/elasticsearch"


def test_the_project_api_attaches_lists_and_detaches_filters(client, owner_key):
    office = made(client, owner_key)
    lab = made(client, owner_key, ip_body(rules=[{"source": "198.51.100.0/24"}]))
    body = {"name": "search", "region_id": "local", "traffic_filters": [{"id": office}]}

    created = client.post(PROJECTS, json=body, headers=owner_key)
    assert created.status_code == 201, created.text
    project = created.json()["id"]
    using = client.get(PROJECTS, params={"traffic_filter": office}, headers=owner_key)
    patched = client.patch(
        f"{PROJECTS}/{project}", json={"traffic_filters": [{"id": lab}]}, headers=owner_key
    )
    using_after = client.get(PROJECTS, params={"traffic_filter": office}, headers=owner_key)
    deleted = client.delete(f"{URL}/{office}", headers=owner_key)
    in_use = client.delete(f"{URL}/{lab}", headers=owner_key)

    assert created.json()["traffic_filters"] == [{"id": office}]
    assert [p["id"] for p in using.json()["items"]] == [project]
    assert patched.status_code == 200, patched.text
    assert patched.json()["traffic_filters"] == [{"id": lab}]
    assert using_after.json()["items"] == []
    assert deleted.status_code == 204
    assert_error(in_use, 409, "traffic_filter.ruleset_in_use")


def test_the_project_api_refuses_a_filter_of_another_region(client, owner_key):
    elsewhere = made(client, owner_key, ip_body(region="elsewhere"))
    body = {"name": "search", "region_id": "local", "traffic_filters": [{"id": elsewhere}]}

    response = client.post(PROJECTS, json=body, headers=owner_key)

    assert_error(response, 400, "traffic_filter.region_mismatch", "body.traffic_filters[0].id")
    assert client.get(PROJECTS, headers=owner_key).json()["items"] == []


def test_the_project_api_gives_new_projects_the_regions_defaults(client, owner_key):
    default = made(client, owner_key, ip_body(include_by_default=True))
    body = {"name": "search", "region_id": "local"}

    created = client.post(PROJECTS, json=body, headers=owner_key)
    none = client.post(PROJECTS, json=body | {"traffic_filters": []}, headers=owner_key)

    assert created.json()["traffic_filters"] == [{"id": default}]
    assert none.json().get("traffic_filters", []) == []


# --- the gateway's snapshot ---------------------------------------------------------------------


@pytest.fixture
def internal(services) -> Iterator[TestClient]:
    """The gateway's view of the internal API."""
    with as_component(services, ComponentKind.GATEWAY) as c:
        yield c


def test_the_routes_snapshot_carries_a_projects_filters_and_their_changes(
    client, services, org, owner_key, internal
):
    filter_id = made(client, owner_key)
    project = make_project(services, org, filter_id)
    first = internal.get("/internal/v1/routes")
    assert first.status_code == 200, first.text
    etag = first.headers["etag"]

    (item,) = [d for d in first.json()["deployments"] if d["id"] == project]
    assert item["rulesets"] == [filter_id]
    assert first.json()["rulesets"][filter_id] == {"type": "ip", "sources": ["192.0.2.0/24"]}

    patch(client, owner_key, filter_id, {"rules": [{"source": "198.51.100.0/24"}]})
    after = internal.get("/internal/v1/routes", headers={"if-none-match": etag})
    assert after.status_code == 200
    assert after.json()["rulesets"][filter_id]["sources"] == ["198.51.100.0/24"]

    set_filters(services, org, project)
    detached = internal.get("/internal/v1/routes", headers={"if-none-match": after.headers["etag"]})
    assert detached.status_code == 200
    (item,) = [d for d in detached.json()["deployments"] if d["id"] == project]
    assert item["rulesets"] == []
    assert detached.json()["rulesets"] == {}
