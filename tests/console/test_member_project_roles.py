"""The members and invitations pages in process with serverless project roles: the role picker
offers each project role scoped to all projects of its type or to chosen ones (only what the
visitor may grant, by the same `may_grant` the service applies), the badges say the scope in
words, and a grant beyond the visitor's authority is refused. Projects are made by the project
use case itself; the pages keep their CSP, labels and CSRF token."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from citadel.authz.roles import RoleId
from citadel.orgs.models import RoleAssignment
from citadel.projects.types import ProjectType
from tests.console.helpers import post, sign_in, token_in
from tests.fixtures.builders import (
    add_member,
    grant,
    make_deployment,
    make_project,
    make_user,
)

ES = ProjectType.ELASTICSEARCH
SEC = ProjectType.SECURITY


def grants_of(services, org_id: str, user_id: str) -> dict[str, tuple[bool, list[str]]]:
    """A member's role assignments as stored: role id -> (all, resource ids)."""
    with services.db.read() as session:
        rows = session.scalars(
            sa.select(RoleAssignment).where(
                RoleAssignment.organization_id == org_id, RoleAssignment.user_id == user_id
            )
        )
        return {r.role_id: (r.all_resources, sorted(r.resource_ids)) for r in rows}


def offered(html: str, select_id: str) -> list[str]:
    """The role ids a picker's select offers."""
    select = html.split(f'id="{select_id}"')[1].split("</select>")[0]
    return re.findall(r'<option value="([a-z0-9-]+)"', select)


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


def test_the_picker_offers_every_project_role_with_its_projects_to_an_owner(
    client, services, owner, projects, signed_in
):
    assert "All projects of the chosen type, present and future" in client.get("/members").text
    deployment = make_deployment(services, owner[1], name="logs")
    html = client.get("/members").text
    roles = offered(html, "inv-role")
    project_roles = [str(r) for r in RoleId if r.scope_kind.value in {t.value for t in ProjectType}]
    assert set(project_roles) <= set(roles)
    assert len(project_roles) == 19  # 3 + 3 + 3 + the ten Security analyst roles
    assert '<optgroup label="Security projects">' in html
    assert "All deployments, or all projects of the chosen type, present and future" in html
    assert f'name="project_elasticsearch" value="{projects["shop"]}"> shop (' in html
    assert f'name="project_security" value="{projects["soc"]}"> soc (' in html
    assert f'name="deployment" value="{deployment}"> logs (' in html


def test_a_project_role_scoped_to_one_project_is_granted_shown_and_removed(
    client, services, owner, projects, signed_in
):
    _, org = owner
    member = make_user(services)
    add_member(services, org, member, grant(org, "deployment-viewer"))
    added = post(
        client,
        f"/members/{member.user_id}/roles/add",
        signed_in,
        role="elasticsearch-developer",
        scope="some",
        project_elasticsearch=projects["shop"],
        project_security=projects["soc"],  # another type's box: left aside
    )
    assert added.status_code == 303, added.text
    assert grants_of(services, org, member.user_id)["elasticsearch-developer"] == (
        False,
        [projects["shop"]],
    )
    page = client.get(f"/members/{member.user_id}").text
    assert f"Elasticsearch developer · shop ({projects['shop'][:6]})" in page
    assert f"Elasticsearch developer · shop ({projects['shop'][:6]})" in client.get("/members").text

    form = page.split('value="elasticsearch-developer">')[1].split("</form>")[0]
    hidden = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]+)">', form))
    assert hidden == {"scope": "some", "project_elasticsearch": projects["shop"]}
    removed = post(
        client,
        f"/members/{member.user_id}/roles/remove",
        signed_in,
        role="elasticsearch-developer",
        **hidden,
    )
    assert removed.status_code == 303, removed.text
    assert "elasticsearch-developer" not in grants_of(services, org, member.user_id)


def test_a_project_role_for_all_projects_of_its_type_is_shown_so(
    client, services, owner, projects, signed_in
):
    _, org = owner
    member = make_user(services)
    add_member(services, org, member)
    added = post(
        client,
        f"/members/{member.user_id}/roles/add",
        signed_in,
        role="security-t1-analyst",
        scope="all",
    )
    assert added.status_code == 303, added.text
    assert grants_of(services, org, member.user_id) == {"security-t1-analyst": (True, [])}
    assert "Tier 1 analyst · all Security projects" in client.get(f"/members/{member.user_id}").text


def test_an_invitation_carries_a_project_role_and_shows_its_scope(client, projects, signed_in):
    sent = post(
        client,
        "/members/invite",
        signed_in,
        emails="ana@example.com",
        role="observability-viewer",
        scope="all",
        expires_in="3d",
    )
    assert sent.status_code == 200, sent.text
    pending = client.get("/members").text.split("Pending invitations")[1]
    assert "ana@example.com" in pending
    assert "Observability viewer · all Observability projects" in pending

    scoped = post(
        client,
        "/members/invite",
        token_in(client.get("/members").text),
        emails="bo@example.com",
        role="security-viewer",
        scope="some",
        project_security=projects["soc"],
    )
    assert scoped.status_code == 200, scoped.text
    pending = client.get("/members").text.split("Pending invitations")[1]
    assert f"Security viewer · soc ({projects['soc'][:6]})" in pending


def test_a_scoped_project_admin_is_offered_and_granted_only_within_their_authority(
    client, services, owner, projects
):
    _, org = owner
    admin = make_user(services)
    add_member(services, org, admin, grant(org, "elasticsearch-admin", projects["shop"]))
    member = make_user(services)
    add_member(services, org, member)
    csrf = sign_in(client, services, admin)

    html = client.get(f"/members/{member.user_id}").text
    assert offered(html, "add-role") == [
        "elasticsearch-admin",
        "elasticsearch-developer",
        "elasticsearch-viewer",
    ]
    assert f'value="{projects["shop"]}"' in html
    assert projects["docs"] not in html  # neither readable nor grantable
    assert projects["soc"] not in html

    def add(**fields):
        return post(client, f"/members/{member.user_id}/roles/add", csrf, **fields)

    beyond = [
        {"role": "elasticsearch-viewer", "scope": "all"},
        {
            "role": "elasticsearch-viewer",
            "scope": "some",
            "project_elasticsearch": projects["docs"],
        },
        {"role": "security-viewer", "scope": "some", "project_security": projects["soc"]},
        {"role": "deployment-viewer", "scope": "all"},
    ]
    for fields in beyond:
        refused = add(**fields)
        assert refused.status_code == 403, fields
        assert 'role="alert"' in refused.text
    assert grants_of(services, org, member.user_id) == {}
    invited = post(
        client, "/members/invite", csrf, emails="x@example.com", role="elasticsearch-viewer"
    )
    assert invited.status_code == 403  # "all" by default: beyond a one-project admin

    within = add(role="elasticsearch-viewer", scope="some", project_elasticsearch=projects["shop"])
    assert within.status_code == 303, within.text
    assert grants_of(services, org, member.user_id) == {
        "elasticsearch-viewer": (False, [projects["shop"]])
    }


def test_a_project_grant_without_the_session_token_is_refused(
    client, services, owner, projects, signed_in
):
    _, org = owner
    member = make_user(services)
    add_member(services, org, member)
    refused = post(
        client,
        f"/members/{member.user_id}/roles/add",
        None,
        role="elasticsearch-viewer",
        scope="some",
        project_elasticsearch=projects["shop"],
    )
    assert refused.status_code == 403
    assert grants_of(services, org, member.user_id) == {}


@pytest.mark.parametrize("path", ["/members", "/members/{member}"])
def test_the_pages_with_project_scopes_keep_labels_and_no_inline_script(
    client, services, owner, projects, signed_in, path
):
    _, org = owner
    member = make_user(services)
    add_member(services, org, member, grant(org, "security-viewer", projects["soc"]))
    html = client.get(path.format(member=member.user_id)).text
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None
    assert " style=" not in html
    assert re.search(r"<[^>]+\son[a-z]+=", html) is None
    ids = set(
        re.findall(r'<(?:input|select)(?![^>]*type="(?:hidden|submit)")[^>]*\bid="([^"]+)"', html)
    )
    assert ids
    assert [i for i in ids if f'for="{i}"' not in html] == []
    assert html.count("<optgroup") == html.count("</optgroup>") == 5  # one picker, five kinds


def test_only_another_types_projects_ticked_is_a_clear_error(
    client, services, owner, projects, signed_in
):
    _, org = owner
    member = make_user(services)
    add_member(services, org, member)
    answer = post(
        client,
        f"/members/{member.user_id}/roles/add",
        signed_in,
        role="elasticsearch-viewer",
        scope="some",
        project_security=projects["soc"],
    )
    assert answer.status_code == 400
    assert "Tick at least one of the Elasticsearch projects for this role" in answer.text
    assert grants_of(services, org, member.user_id) == {}
