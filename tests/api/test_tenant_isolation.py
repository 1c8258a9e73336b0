"""Tenant isolation (security anchors 1.3 8.2.2 / 8.4.1 and 5.1): IDOR / BOLA tests.

Organization A is the victim; organization B's owner (signed in, or through B's owner API key)
is the attacker. Another organization's ids must answer exactly like ids that do not exist,
mixed paths (B's organization, A's object) must not reach A's object, lists must never carry A's
rows, and role assignments naming A must be refused without changing anything. Routes that act
in "the caller's organization" (API keys, deployments, traffic filters) are held to the same:
every one of them is listed here (a coverage test fails for a new one), and each is tried with
the victim's organization named in the query and with the victim's objects named in the path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from citadel.api.app import API_PREFIX
from citadel.api.deps import Access, OrgFrom
from citadel.authn.api_key_format import new_key
from citadel.bootstrap import Services
from citadel.key_managers import service as key_managers
from citadel.key_managers.schemas import KeyManagerIn
from citadel.kit.ids import new_id
from tests.fixtures.builders import (
    TestUser,
    add_member,
    bearer,
    grant,
    key_headers,
    login,
    make_api_key,
    make_claimed_domain,
    make_deployment,
    make_org,
    make_role_mapping,
    make_sso_configuration,
    make_user,
)
from tests.fixtures.state import business_state, key_id
from tests.sso.idp import make_key_pair

IDP_CERTIFICATE = make_key_pair("isolation-idp").cert_pem

# --- two organizations -------------------------------------------------------------------


@dataclass
class Tenant:
    """An organization with an owner, a member (viewer of one deployment), a key, an invitation."""

    org: str
    owner: TestUser
    member: TestUser
    deployment: str
    key: str
    invitation_token: str
    key_manager: str
    domain: str
    login_prefix: str
    role_mapping: str
    ruleset: str
    project: str = ""
    """An Elasticsearch project of the organization."""

    @property
    def key_id(self) -> str:
        return key_id(self.key)

    @property
    def invitation_handle(self) -> str:
        return self.invitation_token.rsplit("_", 1)[0]

    @property
    def markers(self) -> list[str]:
        """Strings that would show that one of this organization's rows leaked."""
        return [
            self.org,
            self.owner.user_id,
            self.owner.email,
            self.member.user_id,
            self.member.email,
            self.deployment,
            self.key_id,
            self.invitation_handle,
            self.key_manager,
            self.domain,
            self.login_prefix,
            self.role_mapping,
            self.ruleset,
            self.project,
        ]


def make_tenant(client: TestClient, services: Services, name: str) -> Tenant:
    owner = make_user(services)
    org = make_org(services, owner, name)
    deployment = make_deployment(services, org, name=f"{name.lower()}-search")
    member = make_user(services)
    add_member(services, org, member, grant(org, "deployment-viewer", deployment))
    key = make_api_key(services, org)
    body = {
        "emails": [f"invitee-{org}@example.com"],
        "role_assignments": {"deployment": [viewer_of(org, deployment)]},
    }
    response = client.post(
        f"/api/v1/organizations/{org}/invitations", json=body, headers=key_headers(key)
    )
    assert response.status_code == 201, response.text
    token = response.json()["invitations"][0]["token"]
    manager = make_key_manager(services, org)
    domain = make_claimed_domain(services, org, f"{name.lower()}-{new_id()[:10]}.example.com")
    prefix = make_sso_configuration(
        services,
        org,
        idp_entity_id=f"https://idp.{domain}/metadata",
        idp_sso_url=f"https://idp.{domain}/sso",
        idp_certificate=IDP_CERTIFICATE,
    )
    mapping = make_role_mapping(
        services, org, f"{name}-viewers", "any", ["viewers"], {"deployment": [viewer_of(org)]}
    )
    ruleset = make_ruleset(client, key, f"{name.lower()}-office", deployment)
    tenant = Tenant(
        org, owner, member, deployment, key, token, manager, domain, prefix, mapping, ruleset
    )
    project = client.post(
        f"{PROJECTS}/elasticsearch",
        json={"name": f"{name.lower()}-project", "region_id": "local"},
        headers=key_headers(key),
    )
    assert project.status_code == 201, project.text
    tenant.project = project.json()["id"]
    return tenant


RULESETS = f"{API_PREFIX}/deployments/traffic-filter/rulesets"
PROJECTS = f"{API_PREFIX}/serverless/projects"


def ruleset_body(name: str = "office") -> dict[str, Any]:
    return {
        "name": name,
        "type": "ip",
        "region": "local",
        "include_by_default": False,
        "rules": [{"source": "192.0.2.0/24"}],
    }


def make_ruleset(client: TestClient, key: str, name: str, deployment: str) -> str:
    """An IP ruleset of the key's organization, associated with `deployment`."""
    response = client.post(RULESETS, json=ruleset_body(name), headers=key_headers(key))
    assert response.status_code == 201, response.text
    ruleset = response.json()["id"]
    response = client.post(
        f"{RULESETS}/{ruleset}/associations",
        json={"entity_type": "deployment", "id": deployment},
        headers=key_headers(key),
    )
    assert response.status_code in (200, 201), response.text
    return ruleset


def make_key_manager(services: Services, org: str) -> str:
    body = KeyManagerIn(
        name="transit", kind="vault-transit", settings={"scheme": "http"}, secret="x"
    )
    with services.db.write() as session:
        ctx = services.context(session, services.system_caller())
        return key_managers.create_manager(ctx, org, body).id


def viewer_of(org: str, *deployments: str) -> dict[str, Any]:
    if not deployments:
        return {"role_id": "deployment-viewer", "organization_id": org, "all": True}
    return {
        "role_id": "deployment-viewer",
        "organization_id": org,
        "all": False,
        "deployment_ids": list(deployments),
    }


@pytest.fixture
def victim(client, services) -> Tenant:
    return make_tenant(client, services, "Victim")


@pytest.fixture
def attacker(client, services) -> Tenant:
    return make_tenant(client, services, "Attacker")


def session_of(client: TestClient, services: Services, user: TestUser) -> dict[str, str]:
    headers = bearer(login(client, services, user))
    client.cookies.clear()  # headers only: an anonymous request must stay anonymous
    return headers


@pytest.fixture(params=["session", "api_key"])
def outsider(request, client, services, attacker) -> dict[str, str]:
    """Organization B's owner: signed in, or through B's owner API key."""
    if request.param == "session":
        return session_of(client, services, attacker.owner)
    return key_headers(attacker.key)


def text_without(response, named_id: str) -> str:
    """The response body with the id the request named (echoed in messages) masked."""
    return response.text.replace(named_id, "<id>")


# --- another organization's ids answer like nonexistent ones -----------------------------

ORG_PATH_REQUESTS: dict[str, dict[str, Any]] = {
    "GET /api/v1/organizations/{organization_id}": {},
    "PUT /api/v1/organizations/{organization_id}": {"body": {"name": "Taken Over"}},
    "GET /api/v1/organizations/{organization_id}/members": {},
    "DELETE /api/v1/organizations/{organization_id}/members/{user_ids}": {
        "path": {"user_ids": "{member}"}
    },
    "POST /api/v1/organizations/{organization_id}/members/{user_id}/_reset_second_factor": {
        "path": {"user_id": "{member}"}
    },
    "POST /api/v1/organizations/{organization_id}/invitations": {
        "body": {"emails": ["spy@example.com"]}
    },
    "GET /api/v1/organizations/{organization_id}/invitations": {},
    "DELETE /api/v1/organizations/{organization_id}/invitations/{invitation_tokens}": {
        "path": {"invitation_tokens": "{invitation}"}
    },
    "GET /api/v1/organizations/{organization_id}/audit-events": {},
    "GET /api/v1/organizations/{organization_id}/key-managers": {},
    "POST /api/v1/organizations/{organization_id}/key-managers": {
        "body": {"name": "planted", "kind": "vault-transit", "secret": "x"}
    },
    "GET /api/v1/organizations/{organization_id}/key-managers/{key_manager_id}": {
        "path": {"key_manager_id": "{key_manager}"}
    },
    "PUT /api/v1/organizations/{organization_id}/key-managers/{key_manager_id}": {
        "path": {"key_manager_id": "{key_manager}"},
        "body": {"settings": {"scheme": "http", "mount": "stolen"}, "secret": "attacker"},
    },
    "DELETE /api/v1/organizations/{organization_id}/key-managers/{key_manager_id}": {
        "path": {"key_manager_id": "{key_manager}"}
    },
    "GET /api/v1/organizations/{organization_id}/domains": {},
    "POST /api/v1/organizations/{organization_id}/domains": {"body": {"domain": "planted.example"}},
    "GET /api/v1/organizations/{organization_id}/domains/{domain}": {
        "path": {"domain": "{domain}"}
    },
    "POST /api/v1/organizations/{organization_id}/domains/{domain}/_verify": {
        "path": {"domain": "{domain}"}
    },
    "DELETE /api/v1/organizations/{organization_id}/domains/{domain}": {
        "path": {"domain": "{domain}"}
    },
    "GET /api/v1/organizations/{organization_id}/sso": {},
    "PUT /api/v1/organizations/{organization_id}/sso": {
        "body": {
            "login_prefix": "planted",
            "idp_entity_id": "https://attacker.example/idp",
            "idp_sso_url": "https://attacker.example/sso",
            "idp_certificates": ["{idp_certificate}"],
        }
    },
    "DELETE /api/v1/organizations/{organization_id}/sso": {},
    "GET /api/v1/organizations/{organization_id}/sso/role-mappings": {},
    "POST /api/v1/organizations/{organization_id}/sso/role-mappings": {
        "body": {
            "name": "planted",
            "rule": {"match": "any", "groups": ["*"]},
            "role_assignments": {
                "organization": [{"role_id": "organization-admin", "organization_id": "{org}"}]
            },
        }
    },
    "GET /api/v1/organizations/{organization_id}/sso/role-mappings/{mapping_id}": {
        "path": {"mapping_id": "{role_mapping}"}
    },
    "PUT /api/v1/organizations/{organization_id}/sso/role-mappings/{mapping_id}": {
        "path": {"mapping_id": "{role_mapping}"},
        "body": {
            "name": "taken",
            "rule": {"match": "any", "groups": ["*"]},
            "role_assignments": {
                "organization": [{"role_id": "organization-admin", "organization_id": "{org}"}]
            },
        },
    },
    "DELETE /api/v1/organizations/{organization_id}/sso/role-mappings/{mapping_id}": {
        "path": {"mapping_id": "{role_mapping}"}
    },
}

# routes that act in "the caller's organization": a signed-in user names it in the query
CALLER_ORG_REQUESTS: dict[str, dict[str, Any]] = {
    "POST /api/v1/users/auth/keys": {"body": {"description": "planted"}},
    "GET /api/v1/users/auth/keys": {},
    "DELETE /api/v1/users/auth/keys": {"body": {"keys": ["{key}"]}},
    "GET /api/v1/users/auth/keys/{api_key_id}": {"path": {"api_key_id": "{key}"}},
    "DELETE /api/v1/users/auth/keys/{api_key_id}": {"path": {"api_key_id": "{key}"}},
    "POST /api/v1/deployments": {"body": {"name": "planted"}},
    "GET /api/v1/deployments": {},
    "GET /api/v1/deployments/traffic-filter/rulesets": {},
    "POST /api/v1/deployments/traffic-filter/rulesets": {"body": ruleset_body("planted")},
    "GET /api/v1/serverless/traffic-filters": {},
    "POST /api/v1/serverless/traffic-filters": {"body": ruleset_body("planted")},
    "GET /api/v1/serverless/traffic-filters/metadata": {},
    "GET /api/v1/deployments/traffic-filter/link-ids": {},
    "POST /api/v1/deployments/traffic-filter/link-ids/_claim": {
        "body": {"region": "local", "link_id": "vpce-0123456789abcdef0"}
    },
    "POST /api/v1/deployments/traffic-filter/link-ids/_unclaim": {
        "body": {"region": "local", "link_id": "vpce-0123456789abcdef0"}
    },
    "GET /api/v1/deployments/traffic-filter/associations/{association_type}/{associated_entity_id}"
    "/rulesets": {
        "path": {"association_type": "deployment", "associated_entity_id": "{deployment}"}
    },
    "POST /api/v1/serverless/projects/{project_type}": {
        "path": {"project_type": "elasticsearch"},
        "body": {"name": "planted", "region_id": "local"},
    },
    "GET /api/v1/serverless/projects/{project_type}": {"path": {"project_type": "elasticsearch"}},
}

# routes of the caller's organization that name one of its objects in the path
PROJECT_PATH = {"project_type": "elasticsearch", "project_id": "{project}"}
CALLER_ORG_OBJECT_REQUESTS: dict[str, dict[str, Any]] = {
    "GET /api/v1/deployments/{deployment_id}": {"path": {"deployment_id": "{deployment}"}},
    "PUT /api/v1/deployments/{deployment_id}": {
        "path": {"deployment_id": "{deployment}"},
        "body": {"name": "taken-over"},
    },
    "POST /api/v1/deployments/{deployment_id}/_shutdown": {
        "path": {"deployment_id": "{deployment}"}
    },
    "DELETE /api/v1/deployments/{deployment_id}": {"path": {"deployment_id": "{deployment}"}},
    "POST /api/v1/deployments/{deployment_id}/elasticsearch/{ref_id}/_reset-password": {
        "path": {"deployment_id": "{deployment}", "ref_id": "main-elasticsearch"}
    },
    "POST /api/v1/deployments/{deployment_id}/encryption/_rotate": {
        "path": {"deployment_id": "{deployment}"}
    },
    "POST /api/v1/deployments/{deployment_id}/encryption/_rekey": {
        "path": {"deployment_id": "{deployment}"},
        "body": {"key_resource_path": None},
    },
    "GET /api/v1/deployments/{deployment_id}/security/realms": {
        "path": {"deployment_id": "{deployment}"}
    },
    "PUT /api/v1/deployments/{deployment_id}/security/realms/{realm_name}": {
        "path": {"deployment_id": "{deployment}", "realm_name": "taken-over"},
        "body": {"type": "oidc", "order": 1, "settings": {}},
    },
    "DELETE /api/v1/deployments/{deployment_id}/security/realms/{realm_name}": {
        "path": {"deployment_id": "{deployment}", "realm_name": "saml1"}
    },
    "GET /api/v1/deployments/{deployment_id}/security/audit": {
        "path": {"deployment_id": "{deployment}"}
    },
    "GET /api/v1/deployments/{deployment_id}/security/audit/settings": {
        "path": {"deployment_id": "{deployment}"}
    },
    "PUT /api/v1/deployments/{deployment_id}/security/audit/settings": {
        "path": {"deployment_id": "{deployment}"},
        "body": {"enabled": False},
    },
    "GET /api/v1/deployments/traffic-filter/rulesets/{ruleset_id}": {
        "path": {"ruleset_id": "{ruleset}"}
    },
    "PUT /api/v1/deployments/traffic-filter/rulesets/{ruleset_id}": {
        "path": {"ruleset_id": "{ruleset}"},
        "body": ruleset_body("taken-over"),
    },
    "DELETE /api/v1/deployments/traffic-filter/rulesets/{ruleset_id}": {
        "path": {"ruleset_id": "{ruleset}"}
    },
    "GET /api/v1/deployments/traffic-filter/rulesets/{ruleset_id}/history": {
        "path": {"ruleset_id": "{ruleset}"}
    },
    # (the victim's hosted ruleset id: the serverless API must not find it either)
    "GET /api/v1/serverless/traffic-filters/{filter_id}": {"path": {"filter_id": "{ruleset}"}},
    "PATCH /api/v1/serverless/traffic-filters/{filter_id}": {
        "path": {"filter_id": "{ruleset}"},
        "body": {"name": "taken-over", "rules": [{"source": "0.0.0.0/0"}]},
    },
    "DELETE /api/v1/serverless/traffic-filters/{filter_id}": {"path": {"filter_id": "{ruleset}"}},
    "GET /api/v1/deployments/traffic-filter/rulesets/{ruleset_id}/associations": {
        "path": {"ruleset_id": "{ruleset}"}
    },
    "POST /api/v1/deployments/traffic-filter/rulesets/{ruleset_id}/associations": {
        "path": {"ruleset_id": "{ruleset}"},
        "body": {"entity_type": "deployment", "id": "{own_deployment}"},
    },
    "DELETE /api/v1/deployments/traffic-filter/rulesets/{ruleset_id}/associations"
    "/{association_type}/{associated_entity_id}": {
        "path": {
            "ruleset_id": "{ruleset}",
            "association_type": "deployment",
            "associated_entity_id": "{deployment}",
        }
    },
}
CALLER_ORG_OBJECT_REQUESTS |= {
    "GET /api/v1/serverless/projects/{project_type}/{project_id}": {"path": PROJECT_PATH},
    "PATCH /api/v1/serverless/projects/{project_type}/{project_id}": {
        "path": PROJECT_PATH,
        "body": {"name": "taken-over"},
    },
    "DELETE /api/v1/serverless/projects/{project_type}/{project_id}": {"path": PROJECT_PATH},
    "GET /api/v1/serverless/projects/{project_type}/{project_id}/status": {"path": PROJECT_PATH},
    "POST /api/v1/serverless/projects/{project_type}/{project_id}/_reset-credentials": {
        "path": PROJECT_PATH
    },
    "POST /api/v1/serverless/projects/{project_type}/{project_id}/_resume": {"path": PROJECT_PATH},
    "GET /api/v1/serverless/projects/{project_type}/{project_id}/roles": {"path": PROJECT_PATH},
}
CALLER_ORG_REQUESTS |= CALLER_ORG_OBJECT_REQUESTS


def fill(template: Any, values: dict[str, str]) -> Any:
    """The template with every "{name}" in its strings replaced."""
    if isinstance(template, str):
        return template.format_map(values)
    if isinstance(template, list):
        return [fill(t, values) for t in template]
    if isinstance(template, dict):
        return {k: fill(v, values) for k, v in template.items()}
    return template


def request_in(client: TestClient, route: str, org: str, victim: Tenant, headers: dict):
    """The route's request aimed at `org`, naming the victim's member, invitation and key."""
    spec = {**ORG_PATH_REQUESTS, **CALLER_ORG_REQUESTS}[route]
    values = {
        "deployment": victim.deployment,
        "ruleset": victim.ruleset,
        "project": victim.project,
        "own_deployment": victim.deployment,
        "member": victim.member.user_id,
        "invitation": victim.invitation_handle,
        "key": victim.key_id,
        "key_manager": victim.key_manager,
        "domain": victim.domain,
        "role_mapping": victim.role_mapping,
        "idp_certificate": IDP_CERTIFICATE,
        "org": org,
    }
    method, template = route.split(" ", 1)
    url = template.format(organization_id=org, **fill(spec.get("path", {}), values))
    return client.request(
        method,
        url,
        params={"organization_id": org},
        json=fill(spec.get("body"), values),
        headers=headers,
    )


@pytest.mark.parametrize("route", list(ORG_PATH_REQUESTS))
def test_another_organizations_id_in_the_path_answers_like_a_nonexistent_one(
    client, services, victim, outsider, route
):
    before = business_state(services)

    foreign = request_in(client, route, victim.org, victim, outsider)
    missing = request_in(client, route, new_id(), victim, outsider)

    assert foreign.status_code == 404
    assert foreign.json() == missing.json()
    assert foreign.json()["errors"][0]["code"] == "organization.not_found"
    assert business_state(services) == before


@pytest.mark.parametrize("route", list(CALLER_ORG_REQUESTS))
def test_another_organization_named_in_the_query_answers_like_a_nonexistent_one(
    client, services, victim, attacker, route
):
    headers = session_of(client, services, attacker.owner)
    before = business_state(services)

    foreign = request_in(client, route, victim.org, victim, headers)
    missing = request_in(client, route, new_id(), victim, headers)

    assert foreign.status_code == 404
    assert foreign.json() == missing.json()
    assert business_state(services) == before


def test_every_organization_scoped_route_is_covered(client):
    routes = {
        f"{method} {context.path}"
        for context in iter_route_contexts(client.app.routes)
        if isinstance(context.original_route, APIRoute)
        for method in context.methods or ()
    }
    keys = f"{API_PREFIX}/users/auth/keys"
    scoped = {r for r in routes if "{organization_id}" in r or r.split(" ", 1)[1].startswith(keys)}
    scoped |= routes_of_the_callers_organization(client)
    assert scoped == set(ORG_PATH_REQUESTS) | set(CALLER_ORG_REQUESTS) | set(PUBLIC_ORG_ROUTES)


def routes_of_the_callers_organization(client: TestClient) -> set[str]:
    """Routes whose access dependency takes the organization from the caller (a key's own, or
    the signed-in user's `?organization_id=`)."""
    routes = set()
    for context in iter_route_contexts(client.app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        pending = list(route.dependant.dependencies)
        while pending:
            dependant = pending.pop()
            access = getattr(dependant.call, "access", None)
            if isinstance(access, Access) and access.org_from == OrgFrom.CALLER:
                routes |= {f"{method} {context.path}" for method in context.methods or ()}
            pending.extend(dependant.dependencies)
    return routes


def test_every_route_acting_in_the_callers_organization_is_covered(client):
    assert routes_of_the_callers_organization(client) == set(CALLER_ORG_REQUESTS)


# The browser's SSO endpoints name an organization but serve anyone, by design: the SP
# metadata is public, and the ACS accepts only a response to a request this browser started
# for that organization (tests/sso/test_sign_in.py: another organization's response).
PUBLIC_ORG_ROUTES = {
    "GET /sso/saml/{organization_id}/metadata": "public SP metadata",
    "POST /sso/saml/{organization_id}/acs": "signed responses to our own requests only",
}


# --- mixed paths: the attacker's own organization, the victim's object --------------------


def test_removing_another_organizations_member_through_ones_own_answers_not_found(
    client, services, victim, attacker, outsider
):
    base = f"/api/v1/organizations/{attacker.org}/members"
    before = business_state(services)
    unknown = new_id()

    foreign = client.delete(f"{base}/{victim.member.user_id}", headers=outsider)
    missing = client.delete(f"{base}/{unknown}", headers=outsider)

    assert foreign.status_code == missing.status_code == 404
    assert text_without(foreign, victim.member.user_id) == text_without(missing, unknown)
    assert business_state(services) == before


def test_batch_removal_with_a_foreign_member_removes_nobody(
    client, services, victim, attacker, outsider
):
    ids = f"{attacker.member.user_id},{victim.member.user_id}"
    before = business_state(services)

    response = client.delete(
        f"/api/v1/organizations/{attacker.org}/members/{ids}", headers=outsider
    )

    assert response.status_code == 404
    assert business_state(services) == before


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_another_organizations_api_key_id_answers_like_a_nonexistent_one(
    client, services, victim, attacker, outsider, method
):
    query = {"organization_id": attacker.org}
    before = business_state(services)

    foreign = client.request(
        method, f"/api/v1/users/auth/keys/{victim.key_id}", params=query, headers=outsider
    )
    missing = client.request(
        method, f"/api/v1/users/auth/keys/{new_key().key_id}", params=query, headers=outsider
    )

    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()
    assert foreign.json()["errors"][0]["code"] == "api_keys.key_not_found"
    assert business_state(services) == before


def test_batch_key_revocation_with_a_foreign_key_revokes_nothing(
    client, services, victim, attacker
):
    headers = session_of(client, services, attacker.owner)
    keys = [attacker.key_id, victim.key_id]
    before = business_state(services)

    response = client.request(
        "DELETE",
        "/api/v1/users/auth/keys",
        params={"organization_id": attacker.org},
        json={"keys": keys},
        headers=headers,
    )

    assert response.status_code == 404
    assert business_state(services) == before


def test_victims_key_keeps_working_after_the_outsider_tried_to_revoke_it(
    client, services, victim, outsider
):
    client.delete(f"/api/v1/users/auth/keys/{victim.key_id}", headers=outsider)

    response = client.get(f"/api/v1/organizations/{victim.org}", headers=key_headers(victim.key))

    assert response.status_code == 200


@pytest.mark.parametrize("reference", ["handle", "token"])
def test_another_organizations_invitation_answers_like_a_nonexistent_one(
    client, services, victim, attacker, outsider, reference
):
    base = f"/api/v1/organizations/{attacker.org}/invitations"
    named = victim.invitation_handle if reference == "handle" else victim.invitation_token
    before = business_state(services)

    foreign = client.delete(f"{base}/{named}", headers=outsider)
    missing = client.delete(f"{base}/inv_{new_id()}", headers=outsider)

    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()
    assert business_state(services) == before


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_another_organizations_key_manager_through_ones_own_answers_not_found(
    client, services, victim, attacker, outsider, method
):
    base = f"/api/v1/organizations/{attacker.org}/key-managers"
    body = {"secret": "attacker"} if method == "PUT" else None
    before = business_state(services)

    foreign = client.request(method, f"{base}/{victim.key_manager}", json=body, headers=outsider)
    missing = client.request(method, f"{base}/{new_id()}", json=body, headers=outsider)

    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()
    assert foreign.json()["errors"][0]["code"] == "key_managers.not_found"
    assert business_state(services) == before


def test_key_manager_list_holds_only_the_organizations_own(client, victim, attacker, outsider):
    response = client.get(f"/api/v1/organizations/{attacker.org}/key-managers", headers=outsider)

    assert response.status_code == 200
    assert [m["id"] for m in response.json()["key_managers"]] == [attacker.key_manager]
    assert [m for m in victim.markers if m in response.text] == []


@pytest.mark.parametrize(("method", "suffix"), [("GET", ""), ("POST", "/_verify"), ("DELETE", "")])
def test_another_organizations_domain_through_ones_own_answers_not_found(
    client, services, victim, attacker, outsider, method, suffix
):
    base = f"/api/v1/organizations/{attacker.org}/domains"
    before = business_state(services)

    foreign = client.request(method, f"{base}/{victim.domain}{suffix}", headers=outsider)
    missing = client.request(method, f"{base}/nobody-claims.example{suffix}", headers=outsider)

    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()
    assert foreign.json()["errors"][0]["code"] == "domains.not_found"
    assert business_state(services) == before


def test_domain_list_holds_only_the_organizations_own(client, victim, attacker, outsider):
    response = client.get(f"/api/v1/organizations/{attacker.org}/domains", headers=outsider)

    assert response.status_code == 200
    assert [d["domain"] for d in response.json()["domains"]] == [attacker.domain]
    assert [m for m in victim.markers if m in response.text] == []


# --- lists never carry another organization's rows ----------------------------------------

READS = [
    "/api/v1/organizations",
    "/api/v1/organizations/{org}",
    "/api/v1/organizations/{org}/members",
    "/api/v1/organizations/{org}/invitations",
    "/api/v1/organizations/{org}/audit-events",
    "/api/v1/users/auth/keys",
    "/api/v1/users/auth",
]


@pytest.mark.parametrize("path", READS)
def test_reads_show_nothing_of_another_organization(
    client, services, victim, attacker, outsider, path
):
    victim_owner = session_of(client, services, victim.owner)
    client.put(
        f"/api/v1/organizations/{victim.org}", json={"name": "Renamed"}, headers=victim_owner
    )
    client.post(
        "/api/v1/users/auth/keys",
        params={"organization_id": victim.org},
        json={"description": "victim's second key"},
        headers=victim_owner,
    )

    response = client.get(path.format(org=attacker.org), headers=outsider)

    assert response.status_code == 200
    assert attacker.org in response.text or attacker.owner.user_id in response.text
    assert [m for m in victim.markers if m in response.text] == []


def test_member_list_holds_only_the_organizations_own_members(
    client, services, victim, attacker, outsider
):
    response = client.get(f"/api/v1/organizations/{attacker.org}/members", headers=outsider)

    listed = {m["user_id"] for m in response.json()["members"]}
    assert listed == {attacker.owner.user_id, attacker.member.user_id}


# --- role assignments naming another organization ----------------------------------------


def post_roles(client: TestClient, user_id: str, body: dict, headers: dict):
    return client.post(f"/api/v1/users/{user_id}/role_assignments", json=body, headers=headers)


def delete_roles(client: TestClient, user_id: str, body: dict, headers: dict):
    return client.request(
        "DELETE", f"/api/v1/users/{user_id}/role_assignments", json=body, headers=headers
    )


def error_code(response) -> str:
    return response.json()["errors"][0]["code"]


def test_granting_a_role_in_another_organization_is_refused(client, services, victim, outsider):
    body = {"deployment": [viewer_of(victim.org)]}
    before = business_state(services)

    response = post_roles(client, victim.member.user_id, body, outsider)

    assert response.status_code == 403
    assert error_code(response) == "role_assignments.unauthorized_role_assignments"
    assert business_state(services) == before


def test_making_oneself_owner_of_another_organization_is_refused(
    client, services, victim, attacker, outsider
):
    body = {"organization": [{"role_id": "organization-admin", "organization_id": victim.org}]}
    before = business_state(services)

    response = post_roles(client, attacker.owner.user_id, body, outsider)

    assert response.status_code == 403
    assert error_code(response) == "role_assignments.unauthorized_role_assignments"
    assert business_state(services) == before


def test_taking_a_role_away_in_another_organization_is_refused(client, services, victim, outsider):
    body = {"organization": [{"role_id": "organization-admin", "organization_id": victim.org}]}
    before = business_state(services)

    response = delete_roles(client, victim.owner.user_id, body, outsider)

    assert response.status_code == 403
    assert error_code(response) == "role_assignments.unauthorized_role_assignments"
    assert business_state(services) == before


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_naming_another_organization_answers_like_naming_a_nonexistent_one(
    client, victim, outsider, method
):
    def attempt(org: str):
        return client.request(
            method,
            f"/api/v1/users/{victim.member.user_id}/role_assignments",
            json={"deployment": [viewer_of(org)]},
            headers=outsider,
        )

    foreign, missing = attempt(victim.org), attempt(new_id())

    assert foreign.status_code == missing.status_code == 403
    assert foreign.json() == missing.json()


def test_assignments_mixing_own_and_foreign_organizations_change_nothing(
    client, services, victim, attacker, outsider
):
    body = {"deployment": [viewer_of(attacker.org), viewer_of(victim.org)]}
    before = business_state(services)

    response = post_roles(client, attacker.member.user_id, body, outsider)

    assert response.status_code == 403
    assert business_state(services) == before


def test_granting_in_ones_own_organization_to_a_stranger_answers_like_an_unknown_user(
    client, services, victim, attacker, outsider
):
    body = {"deployment": [viewer_of(attacker.org)]}
    unknown = new_id()
    before = business_state(services)

    stranger = post_roles(client, victim.member.user_id, body, outsider)
    missing = post_roles(client, unknown, body, outsider)

    assert stranger.status_code == missing.status_code == 400
    assert error_code(stranger) == "role_assignments.invalid_target_user_id"
    assert stranger.json() == missing.json()
    assert business_state(services) == before


def test_invitation_carrying_a_role_in_another_organization_is_refused(
    client, services, victim, attacker, outsider
):
    body = {
        "emails": ["mole@example.com"],
        "role_assignments": {"deployment": [viewer_of(victim.org)]},
    }
    before = business_state(services)

    response = client.post(
        f"/api/v1/organizations/{attacker.org}/invitations", json=body, headers=outsider
    )

    assert response.status_code == 403
    assert error_code(response) == "role_assignments.unauthorized_role_assignments"
    assert business_state(services) == before


def test_api_key_carrying_a_role_in_another_organization_is_refused(
    client, services, victim, attacker, outsider
):
    body = {
        "description": "skeleton key",
        "role_assignments": {"deployment": [viewer_of(victim.org)]},
    }
    before = business_state(services)

    response = client.post(
        "/api/v1/users/auth/keys",
        params={"organization_id": attacker.org},
        json=body,
        headers=outsider,
    )

    assert response.status_code == 403
    assert error_code(response) == "role_assignments.unauthorized_role_assignments"
    assert business_state(services) == before


# --- the caller's organization, another organization's objects ----------------------------


def object_request(
    client: TestClient, route: str, victim: Tenant, own: Tenant, named: dict, headers: dict
):
    """The route's request in the caller's own organization, naming `named` objects."""
    spec = CALLER_ORG_OBJECT_REQUESTS[route]
    values = {**named, "own_deployment": own.deployment}
    method, template = route.split(" ", 1)
    return client.request(
        method,
        template.format(**fill(spec.get("path", {}), values)),
        params={"organization_id": own.org},
        json=fill(spec.get("body"), values),
        headers=headers,
    )


@pytest.mark.parametrize("route", list(CALLER_ORG_OBJECT_REQUESTS))
def test_another_organizations_object_in_ones_own_organization_answers_like_a_missing_one(
    client, services, victim, attacker, outsider, route
):
    foreign_ids = {
        "deployment": victim.deployment,
        "ruleset": victim.ruleset,
        "project": victim.project,
    }
    missing_ids = {"deployment": new_id(), "ruleset": new_id(), "project": new_id()}
    before = business_state(services)

    foreign = object_request(client, route, victim, attacker, foreign_ids, outsider)
    missing = object_request(client, route, victim, attacker, missing_ids, outsider)

    assert foreign.status_code == missing.status_code == 404
    masked_foreign, masked_missing = foreign.text, missing.text
    for name in foreign_ids:
        masked_foreign = masked_foreign.replace(foreign_ids[name], "<id>")
        masked_missing = masked_missing.replace(missing_ids[name], "<id>")
    assert masked_foreign == masked_missing
    assert business_state(services) == before


CALLER_ORG_LISTS = [
    "/api/v1/deployments",
    "/api/v1/deployments/traffic-filter/rulesets?include_associations=true",
    "/api/v1/deployments/traffic-filter/link-ids",
    "/api/v1/serverless/projects/elasticsearch",
]


@pytest.mark.parametrize("path", CALLER_ORG_LISTS)
def test_lists_of_the_callers_organization_show_nothing_of_another(
    client, victim, attacker, outsider, path
):
    response = client.get(path, params={"organization_id": attacker.org}, headers=outsider)

    assert response.status_code == 200
    assert [m for m in victim.markers if m in response.text] == []


def test_deployment_list_holds_only_the_organizations_own(client, victim, attacker, outsider):
    response = client.get(
        "/api/v1/deployments", params={"organization_id": attacker.org}, headers=outsider
    )

    assert [d["id"] for d in response.json()["deployments"]] == [attacker.deployment]


def test_ruleset_list_holds_only_the_organizations_own(client, victim, attacker, outsider):
    response = client.get(RULESETS, params={"organization_id": attacker.org}, headers=outsider)

    assert [r["id"] for r in response.json()["rulesets"]] == [attacker.ruleset]


def test_rulesets_of_another_organizations_deployment_are_not_shown(
    client, victim, attacker, outsider
):
    response = client.get(
        f"{API_PREFIX}/deployments/traffic-filter/associations/deployment/{victim.deployment}"
        "/rulesets",
        params={"organization_id": attacker.org},
        headers=outsider,
    )

    assert victim.ruleset not in response.text
    assert [m for m in victim.markers if m in text_without(response, victim.deployment)] == []
