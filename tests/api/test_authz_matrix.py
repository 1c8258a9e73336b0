"""The authorization matrix: every route x every persona, as `authz_matrix.yaml` says.

Security anchors 1.3 and 5.4. The route-inventory guard fails when a route has no matrix
entry, when an entry names a route that does not exist, or when a route does not declare
exactly one access dependency. Every (route, persona) pair then makes a real request and
compares the status; a denied change must leave the business rows as they were, and another
organization's id must answer exactly like an organization that does not exist.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from fastapi.testclient import TestClient
from httpx import Response

from citadel.api.app import API_PREFIX
from citadel.api.deps import Access, permitted
from citadel.authn import totp
from citadel.authz.permissions import Permission
from citadel.bootstrap import Services
from citadel.key_managers import service as key_managers
from citadel.key_managers.schemas import KeyManagerIn
from citadel.kit.ids import new_id
from citadel.projects.schemas import CreateElasticsearchProjectIn
from citadel.projects.types import ProjectType
from citadel.traffic_filters import serverless as serverless_filters
from citadel.traffic_filters import service as traffic_filters
from citadel.traffic_filters.schemas import AssociationIn, ClaimIn, RuleIn, RulesetIn
from citadel.use_cases import projects
from citadel.web.work import Work
from tests.fixtures.builders import (
    PASSWORD,
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
from tests.fixtures.mail import email_code
from tests.fixtures.state import business_state, key_id
from tests.sso.idp import make_key_pair

MATRIX = yaml.safe_load((Path(__file__).parent / "authz_matrix.yaml").read_text())
PERSONAS: list[str] = MATRIX["personas"]
ENTRIES: list[dict[str, Any]] = MATRIX["routes"]
READS = frozenset({"GET", "HEAD"})


# --- the world a request runs in ---------------------------------------------------------


class World:
    """One organization with its objects, made on first use, and the persona's credentials.

    `world["name"]` is what a "{name}" template in the matrix refers to.
    """

    def __init__(self, client: TestClient, services: Services) -> None:
        self.client = client
        self.services = services
        self.owner = make_user(services)
        self.org = make_org(services, self.owner)
        self.dep1 = new_id()
        self.dep2 = new_id()
        self.persona = "anonymous"
        self.headers: dict[str, str] = {}
        self.signed_in_user: TestUser | None = None

    def __getitem__(self, name: str) -> Any:
        return getattr(self, name)

    def sign_in_as(self, persona: str) -> dict[str, str]:
        """Make the persona and return its request headers."""
        self.persona = persona
        self.headers = PERSONA_CREDENTIALS[persona](self)
        return self.headers

    def session_of(self, user: TestUser) -> dict[str, str]:
        """Sign `user` in through the API; the client keeps no cookie (headers only)."""
        self.signed_in_user = user
        token = login(self.client, self.services, user)
        self.client.cookies.clear()
        return bearer(token)

    def member_session(self, *grants: Any, with_totp: bool = True) -> dict[str, str]:
        """A new member of the organization holding `grants`, signed in."""
        user = make_user(self.services, with_totp=with_totp)
        add_member(self.services, self.org, user, *grants)
        return self.session_of(user)

    def owner_key(self) -> dict[str, str]:
        return key_headers(make_api_key(self.services, self.org))

    # the objects the matrix's templates name

    @cached_property
    def bystander_user(self) -> TestUser:
        user = make_user(self.services)
        add_member(self.services, self.org, user, grant(self.org, "deployment-viewer", self.dep1))
        return user

    @property
    def bystander(self) -> str:
        return self.bystander_user.user_id

    @property
    def bystander_email(self) -> str:
        return self.bystander_user.email

    @property
    def bystander_totp_code(self) -> str:
        return self.bystander_user.code(self.services)

    @property
    def password(self) -> str:
        return PASSWORD

    @cached_property
    def invitation(self) -> dict[str, Any]:
        body = {
            "emails": ["invitee@example.com"],
            "role_assignments": {"deployment": [viewer_of(self.org, self.dep1)]},
        }
        response = self.client.post(
            f"/api/v1/organizations/{self.org}/invitations", json=body, headers=self.owner_key()
        )
        assert response.status_code == 201, response.text
        return response.json()["invitations"][0]

    @property
    def invitation_token(self) -> str:
        return self.invitation["token"]

    @property
    def invitation_email_code(self) -> str:
        """The code the invitation email carried (read from the maildir it was delivered to)."""
        return email_code(self.services.settings.data_dir, self.invitation["email"])

    @property
    def invitation_handle(self) -> str:
        return self.invitation["token"].rsplit("_", 1)[0]

    @cached_property
    def deployment(self) -> str:
        """dep1 as a real, running deployment of org."""
        return make_deployment(self.services, self.org, deployment_id=self.dep1)

    @cached_property
    def project(self) -> str:
        """An Elasticsearch project of org in region "local" (made as the platform)."""
        units = Work(self.services, self.services.system_caller(), self.org)
        body = CreateElasticsearchProjectIn(name="matrix", region_id="local")
        made = projects.create_project(
            units,
            self.services.platform_keys,
            self.org,
            ProjectType.ELASTICSEARCH,
            body,
            created_by=None,
        )
        return made.row.id

    @cached_property
    def serverless_filter(self) -> str:
        """A serverless IP traffic filter of org in region "local", used by no project."""
        rule = serverless_filters.RuleIn(source="192.0.2.0/24")
        body = serverless_filters.FilterIn(name="office", type="ip", region="local", rules=[rule])
        with self.services.db.write() as session:
            ctx = self.services.context(session, self.services.system_caller())
            return serverless_filters.create_filter(ctx, self.org, body, csp="aws").id

    @cached_property
    def stopped_deployment(self) -> str:
        """dep1 as a real deployment of org that has been shut down."""
        return make_deployment(self.services, self.org, deployment_id=self.dep1, stopped=True)

    @cached_property
    def ruleset(self) -> str:
        """An IP-filter ruleset of org in region "local", associated with nothing."""
        body = RulesetIn(
            name="office",
            type="ip",
            region="local",
            include_by_default=False,
            rules=[RuleIn(source="192.0.2.0/24")],
        )
        with self.services.db.write() as session:
            ctx = self.services.context(session, self.services.system_caller())
            made = traffic_filters.create_ruleset(ctx, self.org, body, traffic_filters.Guard())
            assert made.ruleset is not None
            return made.ruleset.id

    @cached_property
    def ruleset_on_dep1(self) -> str:
        """`ruleset`, associated with dep1 (a real, running deployment)."""
        ruleset, deployment = self.ruleset, self.deployment
        with self.services.db.write() as session:
            ctx = self.services.context(session, self.services.system_caller())
            association = AssociationIn(entity_type="deployment", id=deployment)
            traffic_filters.associate(ctx, self.org, ruleset, association, traffic_filters.Guard())
        return ruleset

    @cached_property
    def claimed_link_id(self) -> str:
        """An AWS VPC endpoint id that org has claimed in region "local"."""
        link_id = "vpce-0a1b2c3d4e5f60718"
        with self.services.db.write() as session:
            ctx = self.services.context(session, self.services.system_caller())
            traffic_filters.claim(ctx, self.org, ClaimIn(region="local", link_id=link_id))
        return link_id

    @cached_property
    def key_manager(self) -> str:
        """A vault-transit key manager of org that no deployment uses (CRUD needs no server)."""
        body = KeyManagerIn(
            name="transit", kind="vault-transit", settings={"scheme": "http"}, secret="x"
        )
        with self.services.db.write() as session:
            ctx = self.services.context(session, self.services.system_caller())
            return key_managers.create_manager(ctx, self.org, body).id

    @cached_property
    def claimed_domain(self) -> str:
        """A domain org has claimed and verified (verifying it again needs no DNS)."""
        return make_claimed_domain(self.services, self.org, "claimed.example.com", verified=True)

    @cached_property
    def idp_certificate(self) -> str:
        """The signing certificate of an IdP (no IdP runs: the routes only store it)."""
        return make_key_pair("matrix-idp").cert_pem

    @cached_property
    def sso_org(self) -> str:
        """org, with SSO configured (an IdP at idp.example.com)."""
        make_sso_configuration(
            self.services,
            self.org,
            idp_entity_id="https://idp.example.com/metadata",
            idp_sso_url="https://idp.example.com/sso",
            idp_certificate=self.idp_certificate,
        )
        return self.org

    @cached_property
    def role_mapping(self) -> str:
        """A role mapping of org: members in `viewers` are deployment viewers."""
        roles = {
            "deployment": [
                {"role_id": "deployment-viewer", "organization_id": self.org, "all": True}
            ]
        }
        return make_role_mapping(self.services, self.org, "viewers", "any", ["viewers"], roles)

    @cached_property
    def org_key_id(self) -> str:
        return key_id(make_api_key(self.services, self.org))

    @cached_property
    def enrollment_code(self) -> str:
        """A current code of a started enrolment (enrolment-only persona); else any code."""
        if self.persona != "enrollment_only_session":
            return "000000"
        response = self.client.post("/api/v1/users/auth/mfa/totp", headers=self.headers)
        assert response.status_code == 200, response.text
        text = response.json()["secret"]
        secret = base64.b32decode(text + "=" * (-len(text) % 8))
        return totp.code_at(secret, totp.counter_at(self.services.clock.now()))

    @property
    def second_factor_code(self) -> str:
        """The signed-in persona's next TOTP code (sign-in spent the current one); else any."""
        user = self.signed_in_user
        if user is None or user.totp_secret is None:
            return "000000"
        return user.code(self.services, step=1)


class Overlay:
    """A world with some names answering differently (a nonexistent organization id)."""

    def __init__(self, world: World, **values: str) -> None:
        self.world = world
        self.values = values

    def __getitem__(self, name: str) -> Any:
        return self.values[name] if name in self.values else self.world[name]


def viewer_of(org: str, *deployments: str) -> dict[str, Any]:
    return {
        "role_id": "deployment-viewer",
        "organization_id": org,
        "all": False,
        "deployment_ids": list(deployments),
    }


def other_org_owner(world: World) -> dict[str, str]:
    stranger = make_user(world.services)
    world.services.clock.advance(seconds=1)  # `org` stays the first made: the platform's
    make_org(world.services, stranger, "Elsewhere")
    return world.session_of(stranger)


PERSONA_CREDENTIALS: dict[str, Callable[[World], dict[str, str]]] = {
    "anonymous": lambda w: {},
    "org_owner": lambda w: w.session_of(w.owner),
    "billing_admin": lambda w: w.member_session(grant(w.org, "billing-admin")),
    "deployment_admin_all": lambda w: w.member_session(grant(w.org, "deployment-admin")),
    "deployment_editor_all": lambda w: w.member_session(grant(w.org, "deployment-editor")),
    "deployment_viewer_all": lambda w: w.member_session(grant(w.org, "deployment-viewer")),
    "deployment_admin_dep1": lambda w: w.member_session(grant(w.org, "deployment-admin", w.dep1)),
    "deployment_viewer_dep1": lambda w: w.member_session(grant(w.org, "deployment-viewer", w.dep1)),
    "member_without_roles": lambda w: w.member_session(),
    "apikey_owner": lambda w: w.owner_key(),
    "apikey_deployment_viewer_all": lambda w: key_headers(
        make_api_key(w.services, w.org, grant(w.org, "deployment-viewer"))
    ),
    "other_org_owner": other_org_owner,
    "enrollment_only_session": lambda w: w.member_session(
        grant(w.org, "organization-admin"), with_totp=False
    ),
}


# --- requests from matrix entries --------------------------------------------------------


def fill(template: Any, values: World | Overlay) -> Any:
    """The template with every "{name}" in its strings replaced by the world's value."""
    if isinstance(template, str):
        return template.format_map(values)
    if isinstance(template, list):
        return [fill(t, values) for t in template]
    if isinstance(template, dict):
        return {k: fill(v, values) for k, v in template.items()}
    return template


@dataclass(frozen=True)
class Call:
    """One request, ready to send."""

    method: str
    url: str
    query: dict[str, str]
    body: Any

    def send(self, client: TestClient, headers: dict[str, str]) -> Response:
        return client.request(
            self.method, self.url, params=self.query, json=self.body, headers=headers
        )


def call_of(entry: dict[str, Any], values: World | Overlay) -> Call:
    """The entry's request with the world's values (making the objects it names)."""
    method, path = entry["route"].split(" ", 1)
    url = path.format(**fill(entry.get("path", {}), values))
    body = fill(entry["body"], values) if "body" in entry else None
    return Call(method, url, fill(entry.get("query", {}), values), body)


def cases() -> Iterator[Any]:
    for entry in ENTRIES:
        for persona in PERSONAS:
            yield pytest.param(entry, persona, id=f"{entry['route']} as {persona}")


@pytest.mark.parametrize(("entry", "persona"), list(cases()))
def test_route_answers_each_persona_as_the_matrix_says(client, services, entry, persona):
    world = World(client, services)
    headers = world.sign_in_as(persona)
    call = call_of(entry, world)
    before = business_state(services)

    response = call.send(client, headers)

    assert response.status_code == entry["expect"][persona], response.text
    if call.method not in READS and response.status_code >= 400:
        assert business_state(services) == before


def org_hiding_entries() -> list[Any]:
    return [
        pytest.param(e, id=e["route"]) for e in ENTRIES if e["expect"]["other_org_owner"] == 404
    ]


@pytest.mark.parametrize("entry", org_hiding_entries())
def test_other_organizations_id_answers_like_a_nonexistent_one(client, services, entry):
    world = World(client, services)
    headers = world.sign_in_as("other_org_owner")

    foreign = call_of(entry, world).send(client, headers)
    missing = call_of(entry, Overlay(world, org=new_id())).send(client, headers)

    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()
    assert foreign.headers.get("x-cloud-error-codes") == missing.headers.get("x-cloud-error-codes")


# --- the route-inventory guard -----------------------------------------------------------


def api_routes(app: FastAPI) -> dict[str, RouteContext]:
    """Every API route under the prefix as the app serves it, keyed "METHOD /path/{template}".

    Routers are included lazily, so `app.routes` holds included routers; their effective
    routes carry the full path and every dependency (the router's and the route's).
    """
    return {
        f"{method} {context.path}": context
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute) and context.path.startswith(API_PREFIX)
        for method in sorted(context.methods or ())
    }


def access_dependencies(route: RouteContext) -> list[Access]:
    """The `Access` of every access dependency the route declares, at any depth."""
    found = []
    pending = list(route.dependant.dependencies)
    while pending:
        dependant = pending.pop()
        access = getattr(dependant.call, "access", None)
        if isinstance(access, Access):
            found.append(access)
        pending.extend(dependant.dependencies)
    return found


@pytest.fixture
def routes(client) -> dict[str, RouteContext]:
    return api_routes(client.app)


def test_every_route_has_a_matrix_entry(routes):
    assert sorted(set(routes) - {e["route"] for e in ENTRIES}) == []


def test_every_matrix_entry_names_an_existing_route(routes):
    assert sorted({e["route"] for e in ENTRIES} - set(routes)) == []


def test_matrix_names_each_route_once():
    names = [e["route"] for e in ENTRIES]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e["route"])
def test_matrix_entry_gives_a_status_for_every_persona_and_no_other(entry):
    assert list(entry["expect"]) == PERSONAS


def test_every_route_declares_exactly_one_access_dependency(routes):
    counts = {name: len(access_dependencies(r)) for name, r in routes.items()}
    assert {name: n for name, n in counts.items() if n != 1} == {}


def test_the_api_prefix_serves_nothing_but_api_routes_and_the_openapi_document(client):
    others = [
        context.path
        for context in iter_route_contexts(client.app.routes)
        if not isinstance(context.original_route, APIRoute)
        and (context.path or "").startswith(API_PREFIX)
    ]
    assert others == [f"{API_PREFIX}/openapi.json"]


def test_inventory_guard_notices_a_route_without_access_dependency():
    router = APIRouter()

    @router.get("/open")
    def forgotten() -> dict[str, str]:
        return {}

    @router.get("/guarded", dependencies=[permitted(Permission.AUDIT_READ)])
    def guarded() -> dict[str, str]:
        return {}

    app = FastAPI()
    app.include_router(router, prefix=API_PREFIX)
    found = {name: len(access_dependencies(r)) for name, r in api_routes(app).items()}
    assert found == {f"GET {API_PREFIX}/open": 0, f"GET {API_PREFIX}/guarded": 1}


def test_matrix_opens_to_anonymous_callers_exactly_the_public_routes(routes):
    disagreements = {
        e["route"]: e["expect"]["anonymous"]
        for e in ENTRIES
        if (access_dependencies(routes[e["route"]])[0].kind == "public")
        is (e["expect"]["anonymous"] == 401)
    }
    assert disagreements == {}


def test_matrix_hides_every_permission_route_from_outsiders_and_unenrolled_sessions(routes):
    permission_routes = [
        e for e in ENTRIES if access_dependencies(routes[e["route"]])[0].kind == "permission"
    ]
    disagreements = {
        e["route"]: (e["expect"]["other_org_owner"], e["expect"]["enrollment_only_session"])
        for e in permission_routes
        if (e["expect"]["other_org_owner"], e["expect"]["enrollment_only_session"]) != (404, 403)
    }
    assert permission_routes
    assert disagreements == {}


# --- the scope dimension: one deployment is not another ----------------------------------


@pytest.fixture
def world(client, services) -> World:
    return World(client, services)


def admin_of_dep1(world: World) -> dict[str, str]:
    return world.sign_in_as("deployment_admin_dep1")


def grant_roles(world: World, user_id: str, body: dict[str, Any], headers: dict[str, str]):
    return world.client.post(
        f"/api/v1/users/{user_id}/role_assignments", json=body, headers=headers
    )


def refused_grant(response) -> bool:
    code = response.json()["errors"][0]["code"]
    return response.status_code == 403 and code == "role_assignments.unauthorized_role_assignments"


def test_admin_of_one_deployment_may_not_grant_a_role_on_another(world, services):
    headers = admin_of_dep1(world)
    target = world.bystander
    body = {"deployment": [viewer_of(world.org, world.dep2)]}
    before = business_state(services)

    response = grant_roles(world, target, body, headers)

    assert refused_grant(response)
    assert business_state(services) == before


def test_admin_of_one_deployment_may_not_grant_a_role_on_all_deployments(world, services):
    headers = admin_of_dep1(world)
    target = world.bystander
    role = {"role_id": "deployment-admin", "organization_id": world.org, "all": True}
    before = business_state(services)

    response = grant_roles(world, target, {"deployment": [role]}, headers)

    assert refused_grant(response)
    assert business_state(services) == before


def test_admin_of_all_deployments_may_not_promote_themselves_to_owner(world, services, client):
    admin = make_user(services)
    add_member(services, world.org, admin, grant(world.org, "deployment-admin"))
    headers = world.session_of(admin)
    body = {"organization": [{"role_id": "organization-admin", "organization_id": world.org}]}
    before = business_state(services)

    response = grant_roles(world, admin.user_id, body, headers)

    assert refused_grant(response)
    assert business_state(services) == before


def test_admin_of_one_deployment_may_not_invite_with_a_role_on_another(world, services, client):
    headers = admin_of_dep1(world)
    body = {
        "emails": ["newcomer@example.com"],
        "role_assignments": {"deployment": [viewer_of(world.org, world.dep2)]},
    }
    before = business_state(services)

    response = client.post(
        f"/api/v1/organizations/{world.org}/invitations", json=body, headers=headers
    )

    assert refused_grant(response)
    assert business_state(services) == before


def invite_as_owner(world: World, email: str, *roles: dict[str, Any]) -> dict[str, Any]:
    body = {"emails": [email], "role_assignments": {"deployment": list(roles)}}
    response = world.client.post(
        f"/api/v1/organizations/{world.org}/invitations", json=body, headers=world.owner_key()
    )
    assert response.status_code == 201, response.text
    return response.json()["invitations"][0]


def test_admin_of_one_deployment_sees_member_roles_only_within_their_scope(world, client):
    headers = admin_of_dep1(world)
    outsider = make_user(world.services)
    add_member(
        world.services, world.org, outsider, grant(world.org, "deployment-viewer", world.dep2)
    )
    both = make_user(world.services)
    add_member(
        world.services,
        world.org,
        both,
        grant(world.org, "deployment-viewer", world.dep1, world.dep2),
    )

    response = client.get(f"/api/v1/organizations/{world.org}/members", headers=headers)

    roles = {m["user_id"]: m["role_assignments"] for m in response.json()["members"]}
    assert roles[world.owner.user_id] == {}
    assert roles[outsider.user_id] == {}
    assert roles[both.user_id]["deployment"][0]["deployment_ids"] == [world.dep1]
    assert world.dep2 not in response.text


def test_admin_of_one_deployment_sees_invitation_roles_only_within_their_scope(world, client):
    headers = admin_of_dep1(world)
    invite_as_owner(world, "elsewhere@example.com", viewer_of(world.org, world.dep2))
    invite_as_owner(world, "everywhere@example.com", viewer_of(world.org, world.dep1, world.dep2))

    response = client.get(f"/api/v1/organizations/{world.org}/invitations", headers=headers)

    assert response.status_code == 200
    roles = {i["email"]: i["role_assignments"] for i in response.json()["invitations"]}
    assert roles["elsewhere@example.com"] == {}
    assert roles["everywhere@example.com"]["deployment"][0]["deployment_ids"] == [world.dep1]
    assert world.dep2 not in response.text


def test_admin_of_one_deployment_may_not_revoke_an_invitation_granting_beyond_it(
    world, services, client
):
    headers = admin_of_dep1(world)
    invitation = invite_as_owner(world, "elsewhere@example.com", viewer_of(world.org, world.dep2))
    handle = invitation["token"].rsplit("_", 1)[0]
    before = business_state(services)

    response = client.delete(
        f"/api/v1/organizations/{world.org}/invitations/{handle}", headers=headers
    )

    assert refused_grant(response)
    assert business_state(services) == before


def test_member_may_leave_without_the_right_to_remove_others(world, client, services):
    member = make_user(services)
    add_member(services, world.org, member)
    headers = world.session_of(member)

    response = client.delete(
        f"/api/v1/organizations/{world.org}/members/{member.user_id}", headers=headers
    )

    assert response.status_code == 200


def test_losing_a_role_takes_effect_on_the_next_request(world, client, services):
    admin = make_user(services)
    add_member(services, world.org, admin, grant(world.org, "deployment-admin"))
    headers = world.session_of(admin)
    invitations = f"/api/v1/organizations/{world.org}/invitations"
    assert client.get(invitations, headers=headers).status_code == 200
    role = {"role_id": "deployment-admin", "organization_id": world.org, "all": True}
    removed = client.request(
        "DELETE",
        f"/api/v1/users/{admin.user_id}/role_assignments",
        json={"deployment": [role]},
        headers=world.owner_key(),
    )
    assert removed.status_code == 200

    response = client.get(invitations, headers=headers)

    assert response.status_code in (401, 403)
