"""The API keys and SSO role-mapping pages in process with serverless project roles: their role
picker is the members page's, so an owner creates a key or a mapping with a project role
scoped to chosen projects, and the list's badge names those projects. Both pages are an
Organization owner's only (`api_keys:manage`, `sso:manage`), so no one may use them to grant
less than everything; a grant beyond authority is the members page's test."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from citadel.api_keys.models import ApiKey
from citadel.authz import assignments
from citadel.projects.types import ProjectType
from citadel.sso.models import SsoRoleMapping
from tests.console.helpers import post
from tests.console.test_member_project_roles import offered
from tests.fixtures.builders import make_project

ES = ProjectType.ELASTICSEARCH
SEC = ProjectType.SECURITY


@pytest.fixture
def projects(services, owner):
    """The owner's organization with Elasticsearch projects `shop` and `docs` and a Security
    project `soc`."""
    _, org = owner
    return {
        "shop": make_project(services, org, ES, "shop"),
        "docs": make_project(services, org, ES, "docs"),
        "soc": make_project(services, org, SEC, "soc"),
    }


def stored_grants(services, model) -> list[tuple[str, bool, list[str]]]:
    """The role assignments of every `model` row (API keys, role mappings) as stored:
    (role id, all, resource ids)."""
    with services.db.read() as session:
        rows = session.scalars(sa.select(model)).all()
        return [
            (str(a.grant.role_id), a.grant.all, sorted(a.grant.resource_ids))
            for r in rows
            for a in assignments.from_stored(r.role_assignments)
        ]


@pytest.mark.parametrize(
    ("path", "select_id"), [("/api-keys", "key-role"), ("/single-sign-on", "mapping-role")]
)
def test_the_picker_offers_project_roles_with_each_types_projects_labelled(
    client, projects, signed_in, path, select_id
):
    html = client.get(path).text
    roles = offered(html, select_id)
    assert {"elasticsearch-developer", "observability-viewer", "security-t1-analyst"} <= set(roles)
    assert '<optgroup label="Elasticsearch projects">' in html
    assert "All projects of the chosen type, present and future" in html
    assert f'name="project_elasticsearch" value="{projects["shop"]}"> shop (' in html
    assert f'name="project_security" value="{projects["soc"]}"> soc (' in html
    boxes = re.findall(r'<input type="checkbox" id="([^"]+)" name="project_', html)
    assert len(boxes) == 3
    assert [i for i in boxes if f'for="{i}"' not in html] == []


def test_an_api_key_with_a_project_role_on_one_project_reads_that_project_only(
    client, services, projects, signed_in
):
    created = post(
        client,
        "/api-keys",
        signed_in,
        description="shop ci",
        expiration="7d",
        role="elasticsearch-developer",
        scope="some",
        project_elasticsearch=projects["shop"],
        project_security=projects["soc"],  # another type's box: left aside
    )
    assert created.status_code == 201, created.text
    assert stored_grants(services, ApiKey) == [
        ("elasticsearch-developer", False, [projects["shop"]])
    ]
    badge = f"Elasticsearch developer · shop ({projects['shop'][:6]})"
    assert badge in client.get("/api-keys").text

    secret = re.search(r'id="api-key-secret" class="secret">([^<]+)<', created.text)
    assert secret is not None
    listed = client.get(
        "/api/v1/serverless/projects/elasticsearch",
        headers={"Authorization": f"ApiKey {secret.group(1)}"},
    )
    assert listed.status_code == 200, listed.text
    assert [p["id"] for p in listed.json()["items"]] == [projects["shop"]]


def test_an_sso_mapping_with_a_project_role_on_one_project_is_stored_and_shown(
    client, services, projects, signed_in
):
    created = post(
        client,
        "/single-sign-on/mappings",
        signed_in,
        name="soc analysts",
        match="any",
        groups="soc",
        role="security-t1-analyst",
        scope="some",
        project_security=projects["soc"],
    )
    assert created.status_code == 303, created.text
    assert stored_grants(services, SsoRoleMapping) == [
        ("security-t1-analyst", False, [projects["soc"]])
    ]
    assert f"Tier 1 analyst · soc ({projects['soc'][:6]})" in client.get("/single-sign-on").text


def test_a_mapping_with_only_another_types_project_ticked_says_so_under_the_role(
    client, services, projects, signed_in
):
    answer = post(
        client,
        "/single-sign-on/mappings",
        signed_in,
        name="viewers",
        match="any",
        groups="viewers",
        role="elasticsearch-viewer",
        scope="some",
        project_security=projects["soc"],
    )
    assert answer.status_code == 400
    assert 'id="role-error"' in answer.text
    assert "Tick at least one of the Elasticsearch projects for this role" in answer.text
    assert stored_grants(services, SsoRoleMapping) == []
