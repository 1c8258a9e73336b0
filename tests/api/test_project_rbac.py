"""Cloud RBAC on serverless projects through the API: who sees which project, and
`POST /api/v1/serverless/projects/{type}/{id}/_token` (ADR 27 "Projects"): who gets a token
with which node roles, how a node verifies it, SSO enforcement (the real SimpleSAMLphp IdP of
`tests/sso`) and the audit trail. Projects are made by the project use case itself."""

from __future__ import annotations

import jwt
import pytest

from citadel.deployment_tokens.claims import TokenFor, audience
from citadel.deployments.models import Deployment
from citadel.node.security.jwt_realm import JwtRefused, JwtVerifier
from citadel.projects.types import ProjectType
from citadel.use_cases.node_security import node_security
from citadel.use_cases.projects import delete_project
from tests.deployment_tokens.helpers import events, served_jwks, verify
from tests.deployment_tokens.helpers import mint as mint_for_deployment
from tests.deployment_tokens.test_node_realm import node_realms
from tests.fixtures.builders import (
    SystemUnits,
    add_member,
    bearer,
    grant,
    key_headers,
    login,
    make_api_key,
    make_deployment,
    make_org,
    make_project,
    make_user,
)
from tests.sso.conftest import idp  # noqa: F401 (a fixture)
from tests.sso.test_sign_in import (
    acme,  # noqa: F401 (a fixture)
    cookie_headers,
    enforce,
    sso_sign_in,
)

ES = ProjectType.ELASTICSEARCH
SEC = ProjectType.SECURITY
PROJECTS = "/api/v1/serverless/projects"


def mint(client, project_type: str, project_id: str, headers: dict[str, str]):
    return client.post(f"{PROJECTS}/{project_type}/{project_id}/_token", headers=headers)


@pytest.fixture
def world(services):
    """An organization with an owner, Elasticsearch projects A and B, a Security project S."""

    class World:
        owner = make_user(services)
        org = make_org(services, owner)
        a = make_project(services, org, ES, "project a")
        b = make_project(services, org, ES, "project b")
        s = make_project(services, org, SEC, "project s")

    return World


def member_headers(client, services, world, *grants) -> dict[str, str]:
    user = make_user(services)
    add_member(services, world.org, user, *grants)
    return bearer(login(client, services, user))


# --- seeing projects ---------------------------------------------------------------------------


def test_a_viewer_of_project_a_reads_a_and_project_b_answers_like_an_unknown_id(
    client, services, world
):
    headers = member_headers(
        client, services, world, grant(world.org, "elasticsearch-viewer", world.a)
    )
    assert client.get(f"{PROJECTS}/elasticsearch/{world.a}", headers=headers).status_code == 200

    hidden = client.get(f"{PROJECTS}/elasticsearch/{world.b}", headers=headers)
    unknown = client.get(f"{PROJECTS}/elasticsearch/{'0' * 32}", headers=headers)
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json() == unknown.json()
    assert hidden.json()["errors"][0]["code"] == "projects.not_found"


def test_a_viewer_of_project_a_lists_only_a(client, services, world):
    headers = member_headers(
        client, services, world, grant(world.org, "elasticsearch-viewer", world.a)
    )
    listed = client.get(f"{PROJECTS}/elasticsearch", headers=headers)
    assert listed.status_code == 200
    assert [p["id"] for p in listed.json()["items"]] == [world.a]


def test_an_analyst_role_is_assigned_through_the_api_and_reads_its_security_project(
    client, services, world
):
    member = make_user(services)
    add_member(services, world.org, member)
    owner_key = key_headers(make_api_key(services, world.org))
    body = {
        "project": {
            "security": [
                {
                    "role_id": "security-soc-manager",
                    "organization_id": world.org,
                    "all": False,
                    "project_ids": [world.s],
                }
            ]
        }
    }
    path = f"/api/v1/users/{member.user_id}/role_assignments"
    assert client.post(path, json=body, headers=owner_key).status_code == 200
    headers = bearer(login(client, services, member))
    assert client.get(f"{PROJECTS}/security/{world.s}", headers=headers).status_code == 200
    assert client.get(f"{PROJECTS}/elasticsearch/{world.a}", headers=headers).status_code == 404
    changed = client.patch(f"{PROJECTS}/security/{world.s}", json={"name": "x"}, headers=headers)
    assert changed.status_code == 403


# --- minting project tokens --------------------------------------------------------------------


def test_the_owner_gets_a_superuser_token_for_the_projects_audience(client, services, world):
    response = mint(client, "elasticsearch", world.a, bearer(login(client, services, world.owner)))

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["roles"] == ["superuser"]
    assert body["project_id"] == world.a
    assert body["audience"] == f"citadel:project:{world.a}" == audience(world.a, TokenFor.PROJECT)
    assert body["expires_in"] == 300
    claims = verify(
        body["token"],
        served_jwks(client),
        audience=audience(world.a, TokenFor.PROJECT),
        issuer=services.policies.token_issuer,
    )
    assert claims["sub"] == world.owner.user_id
    assert claims["roles"] == ["superuser"]
    assert claims["org"] == world.org


def test_a_project_token_opens_neither_another_project_nor_a_deployment_of_the_same_id(
    client, services, world
):
    body = mint(
        client, "elasticsearch", world.a, bearer(login(client, services, world.owner))
    ).json()
    with pytest.raises(jwt.InvalidAudienceError):
        verify(body["token"], served_jwks(client), audience=audience(world.b, TokenFor.PROJECT))
    with pytest.raises(jwt.InvalidAudienceError):
        verify(body["token"], served_jwks(client), audience=audience(world.a))


@pytest.mark.parametrize(
    ("project", "role", "scoped", "roles"),
    [
        ("a", "elasticsearch-admin", False, ["superuser"]),
        ("a", "elasticsearch-admin", True, ["superuser"]),
        ("a", "elasticsearch-developer", True, ["developer"]),
        ("a", "elasticsearch-viewer", False, ["viewer"]),
        ("a", "elasticsearch-viewer", True, ["viewer"]),
        ("s", "security-editor", True, ["editor"]),
        ("s", "security-t1-analyst", True, ["t1_analyst"]),
        ("s", "security-threat-intel-analyst", False, ["threat_intelligence_analyst"]),
        ("s", "security-detections-admin", True, ["detections_admin"]),
    ],
)
def test_a_project_role_maps_to_its_node_role(
    client, services, world, project, role, scoped, roles
):
    project_id = getattr(world, project)
    project_type = "elasticsearch" if project == "a" else "security"
    ids = (project_id,) if scoped else ()
    headers = member_headers(client, services, world, grant(world.org, role, *ids))
    response = mint(client, project_type, project_id, headers)
    assert response.status_code == 200, response.text
    assert response.json()["roles"] == roles
    claims = verify(
        response.json()["token"],
        served_jwks(client),
        audience=audience(project_id, TokenFor.PROJECT),
    )
    assert claims["roles"] == roles


def test_a_viewer_of_project_a_gets_no_token_for_b_but_not_found(client, services, world):
    headers = member_headers(
        client, services, world, grant(world.org, "elasticsearch-viewer", world.a)
    )
    assert mint(client, "elasticsearch", world.a, headers).status_code == 200
    hidden = mint(client, "elasticsearch", world.b, headers)
    unknown = mint(client, "elasticsearch", "0" * 32, headers)
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json() == unknown.json()
    assert hidden.json()["errors"][0]["code"] == "projects.not_found"


@pytest.mark.parametrize(
    "grants",
    [(), ("billing-admin",), ("deployment-admin",), ("security-admin",)],
    ids=["no role", "billing admin", "deployment admin", "another type's admin"],
)
def test_a_member_without_a_role_on_the_project_gets_not_found(client, services, world, grants):
    headers = member_headers(client, services, world, *(grant(world.org, g) for g in grants))
    response = mint(client, "elasticsearch", world.a, headers)
    assert response.status_code == 404
    assert events(services, "project.token.minted") == []


def test_a_project_named_under_another_type_answers_not_found(client, services, world):
    owner = bearer(login(client, services, world.owner))
    response = mint(client, "security", world.a, owner)
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "projects.not_found"


def test_an_unknown_project_type_answers_not_found_as_the_project_routes_do(
    client, services, world
):
    owner = bearer(login(client, services, world.owner))
    response = mint(client, "vectordb", world.a, owner)
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "projects.not_found"


def test_a_deployment_id_is_no_project(client, services, world):
    dep = make_deployment(services, world.org)
    owner = bearer(login(client, services, world.owner))
    assert mint(client, "elasticsearch", dep, owner).status_code == 404


def test_a_project_being_deleted_answers_not_found(client, services, world):
    delete_project(SystemUnits(services), world.org, ES, world.b, if_match=None)
    owner = bearer(login(client, services, world.owner))
    assert mint(client, "elasticsearch", world.b, owner).status_code == 404


def test_another_organizations_project_answers_like_an_unknown_id(client, services, world):
    stranger = make_user(services)
    make_org(services, stranger, "Other")
    headers = bearer(login(client, services, stranger))
    foreign = mint(client, "elasticsearch", world.a, headers)
    unknown = mint(client, "elasticsearch", "0" * 32, headers)
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json() == unknown.json()


def test_without_credentials_minting_is_unauthenticated(client, world):
    assert mint(client, "elasticsearch", world.a, {}).status_code == 401


def test_an_api_key_with_a_project_role_gets_a_token_as_itself(client, services, world):
    key = make_api_key(services, world.org, grant(world.org, "elasticsearch-viewer", world.a))
    response = mint(client, "elasticsearch", world.a, key_headers(key))
    assert response.status_code == 200, response.text
    claims = verify(
        response.json()["token"], served_jwks(client), audience=audience(world.a, TokenFor.PROJECT)
    )
    assert claims["roles"] == ["viewer"]
    assert claims["sub"].startswith("api-key:")
    assert claims["amr"] == ["api_key"]
    assert mint(client, "elasticsearch", world.b, key_headers(key)).status_code == 404


def test_an_api_keys_application_roles_replace_its_node_role(client, services, world):
    owner_key = key_headers(make_api_key(services, world.org))
    body = {
        "description": "log shipper",
        "expiration": "30d",
        "role_assignments": {
            "project": {
                "elasticsearch": [
                    {
                        "role_id": "elasticsearch-viewer",
                        "organization_id": world.org,
                        "all": False,
                        "project_ids": [world.a],
                        "application_roles": ["logs_writer"],
                    }
                ]
            }
        },
    }
    made = client.post("/api/v1/users/auth/keys", json=body, headers=owner_key)
    assert made.status_code == 201, made.text
    response = mint(client, "elasticsearch", world.a, key_headers(made.json()["key"]))
    assert response.status_code == 200, response.text
    assert response.json()["roles"] == ["logs_writer"]


def test_every_mint_is_audited_on_the_project_without_the_token(client, services, world):
    body = mint(client, "security", world.s, bearer(login(client, services, world.owner))).json()
    (event,) = events(services, "project.token.minted")
    assert event.organization_id == world.org
    assert (event.target_type, event.target_id) == ("project", world.s)
    assert event.actor_id == world.owner.user_id
    assert event.details["roles"] == ["superuser"]
    assert event.details["kid"] == jwt.get_unverified_header(body["token"])["kid"]
    assert body["token"].split(".")[2] not in str(event.details)
    assert events(services, "deployment.token.minted") == []


# --- the node's realm --------------------------------------------------------------------------


def test_a_projects_node_trusts_only_the_projects_audience(services, world):
    dep = make_deployment(services, world.org)
    with services.db.read() as session:
        project_realm = node_security(session, session.get(Deployment, world.a), services.policies)
        deployment_realm = node_security(session, session.get(Deployment, dep), services.policies)
    assert project_realm.jwt is not None
    assert deployment_realm.jwt is not None
    assert project_realm.jwt.audience == f"citadel:project:{world.a}"
    assert deployment_realm.jwt.audience == f"citadel:deployment:{dep}"
    assert project_realm.jwt.issuer == services.policies.token_issuer


def test_a_projects_node_grants_the_analyst_role_and_refuses_a_deployments_token(
    client, services, clock, world
):
    dep = make_deployment(services, world.org)
    member = make_user(services)
    add_member(
        services,
        world.org,
        member,
        grant(world.org, "security-t1-analyst", world.s),
        grant(world.org, "deployment-viewer", dep),
    )
    session = bearer(login(client, services, member))
    for_project = mint(client, "security", world.s, session).json()["token"]
    for_deployment = mint_for_deployment(client, dep, session).json()["token"]
    realms = node_realms(services)  # what the allocator hands each instance's node

    verified = JwtVerifier(realms[world.s], clock).verify(for_project)
    assert verified.user.username == member.user_id
    assert verified.granted == ("t1_analyst",)
    with pytest.raises(JwtRefused):
        JwtVerifier(realms[world.s], clock).verify(for_deployment)
    with pytest.raises(JwtRefused):
        JwtVerifier(realms[dep], clock).verify(for_project)


# --- enforced SSO ------------------------------------------------------------------------------


def test_under_enforcement_a_password_session_gets_no_project_token(
    client,
    services,
    clock,
    acme,  # noqa: F811 (the fixture)
):
    project_id = make_project(services, acme.org, ES, "sso project")
    assert sso_sign_in(client, clock, acme.prefix, "alice").status_code == 303
    assert enforce(client, acme.org, "saml", cookie_headers(client)).status_code == 200
    sso = mint(client, "elasticsearch", project_id, cookie_headers(client))
    assert sso.status_code == 200, sso.text
    claims = verify(
        sso.json()["token"], served_jwks(client), audience=audience(project_id, TokenFor.PROJECT)
    )
    assert claims["amr"] == ["saml"]

    client.cookies.clear()
    carol = make_user(services, email="carol@partner.example")
    password_session = bearer(login(client, services, carol))  # before she was a member
    add_member(services, acme.org, carol, grant(acme.org, "elasticsearch-viewer"))
    refused = mint(client, "elasticsearch", project_id, password_session)

    assert refused.status_code == 403, refused.text
    assert refused.json()["errors"][0]["code"] == "project_token.sso_required"
    (event,) = events(services, "project.token.refused")
    assert (event.organization_id, event.actor_id) == (acme.org, carol.user_id)
    assert (event.target_type, event.target_id) == ("project", project_id)
    assert event.details == {"reason": "sso_required"}

    by_key = mint(client, "elasticsearch", project_id, acme.key)  # keys still mint
    assert by_key.status_code == 200
    assert by_key.json()["roles"] == ["superuser"]
