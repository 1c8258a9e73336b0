"""Our answers against the Cloud API contract (`shared/reference/cloud-api-subset.json`).

Every operation we serve that the subset also declares (method + path, `/api/v1` stripped) is
called for real, once for a success and at least once for an error, and its body is validated
against the schema the subset declares for that status (Swagger 2.0 schemas are JSON Schema
draft 4 with `#/definitions/...` references; `date-time` formats are checked). Error bodies
must have the one error shape, and their code must be one the subset declares for that status
or one listed in `OUR_CODES` with the reason we answer it.

The subset is vendored in `tests/fixtures/reference/` (a copy of the shared reference, so the
tests need nothing outside the repository), or read from ``CITADEL_CLOUD_API_SUBSET``.
"""

from __future__ import annotations

import functools
import json
import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from jsonschema import Draft4Validator
from openapi_spec_validator import validate as validate_openapi

from citadel.bootstrap import Services
from citadel.deployments.models import Deployment
from tests.fixtures.builders import (
    PASSWORD,
    TestUser,
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
from tests.fixtures.mail import email_code

API = "/api/v1"
_DEFAULT_SUBSET = (
    Path(__file__).resolve().parents[1] / "fixtures" / "reference" / "cloud-api-subset.json"
)
UNKNOWN_ID = "0" * 32
UNKNOWN_INVITATION = "inv_" + "0" * 32 + "_" + "A" * 43

# Codes we answer for a status where the subset declares other codes, with the reason.
OUR_CODES: dict[tuple[int, str], str] = {
    (401, "root.unauthenticated"): (
        "One code for every missing, unknown or expired credential. The subset's "
        "`user.not_found` / `root.unauthorized` would tell a caller which one it was."
    ),
    (400, "root.invalid_data"): (
        "A body that does not match the request schema (wrong type, unknown or missing "
        "field). The reference answers these with generic `root.*` codes that the subset "
        "does not declare either (SDK mock: `root.invalid_json_request`)."
    ),
    (403, "organization.invitation_email_not_proven"): (
        "Accepting as a new account needs the code only the invitation email carries (the "
        "inviter holds the token: without the code anyone could create the invited account)."
    ),
    (403, "organization.invalid_access"): (
        "Creating invitations without `invitations:manage`: the same code as every other "
        "organization operation refused for lack of a role."
    ),
    (404, "deployments.deployment_not_found"): (
        "Associating a ruleset with a deployment the caller may not read (or that does not "
        "exist): the deployment's own not-found, as on every deployment route, so a hidden "
        "deployment cannot be told from a missing one."
    ),
    (400, "traffic_filter.invalid_request"): (
        "A ruleset the subset's schema admits but the type's rules refuse: a DNS name or bad "
        "CIDR, a malformed VPC endpoint, PSC or Azure id, a field of another type, an unknown "
        "type or region, egress_firewall (not offered yet), an IP filter without sources, or "
        "a change of type or region on update. The subset declares no validation codes."
    ),
    (400, "traffic_filter.not_found"): (
        "Deployment create naming a ruleset the organization does not have: a 400 of the "
        "create (the subset declares only 400 for its request errors), coded like the 404."
    ),
    (400, "traffic_filter.region_mismatch"): (
        "A ruleset applies only to deployments of its region (inventory 2.2)."
    ),
    (400, "traffic_filter.too_many_rulesets"): "At most 1024 rulesets per organization (2.3).",
    (400, "traffic_filter.invalid_association_type"): (
        "Declared for the associations-of-entity read; we answer it for a body's entity_type too."
    ),
    (409, "traffic_filter.ruleset_in_use"): (
        "Deleting an associated ruleset without ignore_associations=true (inventory 2.5)."
    ),
    (409, "traffic_filter.version_conflict"): (
        "Our optimistic-concurrency `version` query on update, like `security_realm.version_"
        "conflict` in the subset."
    ),
    (409, "traffic_filter.would_block_caller"): (
        "The lockout guard: the change would block the caller's own address; force=true applies it."
    ),
    (409, "traffic_filter_claimed_link_id.already_claimed"): (
        "Another organization owns the link id (the subset does not document this error, 4.6)."
    ),
    (404, "traffic_filter_claimed_link_id.not_found"): (
        "Unclaiming a link id this organization has not claimed."
    ),
    (400, "deployment_realm.invalid"): (
        "A deployment realm's name, order or settings are invalid (ours; `fields` names the "
        'setting as body.settings["<key>"]).'
    ),
    (400, "deployment_realm.unsupported_setting"): (
        "An Elasticsearch realm setting this platform does not support (SAML signing or "
        "encryption keys, idp.metadata.path as a file path, OIDC flows other than the "
        "authorization code)."
    ),
    (400, "deployment_realm.metadata_unavailable"): (
        "A SAML realm's idp.metadata.path could not be fetched: an address the operator does not "
        "allow, unreachable, TLS unverified, not 200, too large or too slow (ours)."
    ),
    (404, "deployment_realm.not_found"): "The deployment has no realm with this name (ours).",
    (409, "deployment_realm.order_taken"): "Another realm of the deployment has this order.",
    (409, "deployment_realm.too_many"): "At most 10 realms per deployment (ours).",
    (400, "deployment_audit.invalid_settings"): (
        "A deployment's audit settings name an unknown Elasticsearch event type or hold a "
        "malformed ignore_filters policy (ours; `fields` names it, as body.include[1])."
    ),
    (400, "deployment_audit.invalid_query"): (
        "A deployment audit query names an unknown event type, a cursor this API did not give, "
        "or since after until (ours)."
    ),
    (400, "deployment_audit.too_many_events"): (
        "A node's shipment of audit events holds more than 10,000 (internal API, ours)."
    ),
    (401, "join.token_refused"): (
        "A join token that is unknown, wrong, used or expired: one answer for all (ours, "
        "ADR 33; the audit event says which)."
    ),
    (400, "join.invalid_request"): (
        "A join request whose CSR does not fit the token's role (ours, ADR 33; fields names "
        "body.csr)."
    ),
    (429, "join.throttled"): (
        "Too many refused join tokens from one address: the sign-in throttle's rules, a bucket "
        "of its own (ours, ADR 33)."
    ),
    (403, "platform.forbidden"): (
        "A platform route (its infrastructure, join tokens) asked for by someone who is not an "
        "Organization owner of the platform organization (ours, ADR 31)."
    ),
    (404, "allocators.not_found"): "No allocator has the id in the path (ours, ADR 31).",
    (403, "deployment_token.sso_required"): (
        "A deployment token asked for by a session that did not sign in through the IdP of an "
        "organization that enforces SSO (ours, ADR 27)."
    ),
    (403, "deployment_token.no_stack_role"): (
        "A deployment token asked for by a caller who may see the deployment but whose roles "
        "map to no stack role there (ours, ADR 27)."
    ),
}

# Error statuses we answer that the subset does not declare for the operation, with why.
UNDECLARED_STATUSES: dict[tuple[str, str, int], str] = {
    ("POST", "/users/auth/_logout", 401): "Logging out needs a session to end.",
    ("GET", "/users/auth", 401): "Authentication information needs a credential.",
    ("GET", "/users/auth/keys", 401): "Listing keys needs a credential.",
    ("POST", "/deployments", 403): (
        "Creating needs the Organization owner role or deployment-admin on all deployments; "
        "other roles get the organization's 403 (`organization.invalid_access`)."
    ),
    ("PUT", "/deployments/{deployment_id}", 403): (
        "A caller who may read the deployment but not change it (deployment-viewer)."
    ),
    ("DELETE", "/users/auth/keys", 404): (
        "Bulk revocation is all or nothing: an unknown key id revokes none and says so "
        "(`api_keys.key_not_found`, as for one key)."
    ),
    ("POST", "/deployments", 404): (
        "`plan.transient.restore_snapshot` names a source deployment the caller cannot see "
        "(unknown, another organization's, deleted past its snapshot retention): the "
        "deployment's own not-found, naming source_cluster_id (issue 20)."
    ),
    ("POST", "/deployments", 503): (
        "A customer-managed key (`settings.byok`) whose key manager does not answer "
        "(`deployments.key_manager_unreachable`): nothing is created, the caller may retry."
    ),
    ("GET", "/deployments/traffic-filter/rulesets", 401): "Reading needs a credential.",
    ("POST", "/deployments/traffic-filter/rulesets", 400): (
        "The subset declares no validation errors; the reference answers them anyway."
    ),
    ("PUT", "/deployments/traffic-filter/rulesets/{ruleset_id}", 400): (
        "Validation errors, and a change of type or region (immutable)."
    ),
    ("PUT", "/deployments/traffic-filter/rulesets/{ruleset_id}", 409): (
        "Our `version` query: the ruleset changed since the version the update is based on."
    ),
    ("DELETE", "/deployments/traffic-filter/rulesets/{ruleset_id}", 409): (
        "The ruleset is associated and ignore_associations is not true (inventory 2.5)."
    ),
    ("GET", "/deployments/traffic-filter/rulesets/{ruleset_id}/associations", 404): (
        "An unknown (or another organization's) ruleset: `traffic_filter.not_found`, as for "
        "the ruleset itself."
    ),
    ("POST", "/deployments/traffic-filter/rulesets/{ruleset_id}/associations", 400): (
        "A deployment of another region, or an entity type other than deployment."
    ),
    ("GET", "/deployments/traffic-filter/link-ids", 401): "Reading needs a credential.",
    ("POST", "/deployments/traffic-filter/link-ids/_claim", 400): (
        "A malformed link id (`traffic_filter_claimed_link_id.invalid_input`, as for _unclaim)."
    ),
    ("POST", "/deployments/traffic-filter/link-ids/_claim", 409): (
        "Another organization has claimed the link id."
    ),
    ("POST", "/deployments/traffic-filter/link-ids/_unclaim", 404): (
        "This organization has not claimed the link id."
    ),
}

# Our routes that the subset does not have: they only need to be in our OpenAPI document.
OUR_ADDITIONS = [
    ("POST", "/organizations"),
    ("POST", "/users/auth/mfa/totp"),
    ("POST", "/users/auth/mfa/totp/_confirm"),
    ("GET", "/organizations/{organization_id}/audit-events"),
    ("GET", "/_health"),
    ("POST", "/deployments/{deployment_id}/elasticsearch/{ref_id}/_reset-password"),
    ("GET", "/deployments/traffic-filter/rulesets/{ruleset_id}/history"),
    ("GET", "/platform/static-ips"),
    # The platform's allocators (ADR 31): ECE's operations, which the subset (the Cloud API's
    # user side) does not carry; ECE's AllocatorOverview and AllocatorInfo shapes.
    ("GET", "/platform/infrastructure/allocators"),
    ("GET", "/platform/infrastructure/allocators/{allocator_id}"),
    # Customer-managed keys (ADR 11): where an organization's keys live; the subset has no
    # key-manager resource (the reference configures BYOK per cloud provider out of band).
    ("GET", "/organizations/{organization_id}/key-managers"),
    ("POST", "/organizations/{organization_id}/key-managers"),
    ("GET", "/organizations/{organization_id}/key-managers/{key_manager_id}"),
    ("PUT", "/organizations/{organization_id}/key-managers/{key_manager_id}"),
    ("DELETE", "/organizations/{organization_id}/key-managers/{key_manager_id}"),
    # Re-wrapping the data key under the key's newest version, on demand (the allocator does
    # it when it notices a rotation), and moving to another key: the subset has neither.
    ("POST", "/deployments/{deployment_id}/encryption/_rotate"),
    ("POST", "/deployments/{deployment_id}/encryption/_rekey"),
    # Domain claims (inventory 8.2): the reference does them in the console only.
    ("GET", "/organizations/{organization_id}/domains"),
    ("POST", "/organizations/{organization_id}/domains"),
    ("GET", "/organizations/{organization_id}/domains/{domain}"),
    ("DELETE", "/organizations/{organization_id}/domains/{domain}"),
    ("POST", "/organizations/{organization_id}/domains/{domain}/_verify"),
    # Organization SSO (inventory 8.3-8.7): the reference configures it in the console only.
    ("GET", "/organizations/{organization_id}/sso"),
    ("PUT", "/organizations/{organization_id}/sso"),
    ("DELETE", "/organizations/{organization_id}/sso"),
    ("GET", "/organizations/{organization_id}/sso/role-mappings"),
    ("POST", "/organizations/{organization_id}/sso/role-mappings"),
    ("GET", "/organizations/{organization_id}/sso/role-mappings/{mapping_id}"),
    ("PUT", "/organizations/{organization_id}/sso/role-mappings/{mapping_id}"),
    ("DELETE", "/organizations/{organization_id}/sso/role-mappings/{mapping_id}"),
    # Setting one's own password (after an SSO sign-in invalidated it, inventory 8.6); the
    # subset has no user-password operation.
    ("POST", "/users/auth/_password"),
    # Deployment tokens (ADR 27): the control plane as the issuer of short-lived JWTs for a
    # deployment's Elasticsearch API; the reference signs members in to deployments itself.
    ("POST", "/deployments/{deployment_id}/_token"),
]


@functools.cache
def subset() -> dict[str, Any]:
    """The Swagger 2.0 subset of the Cloud API."""
    path = Path(os.environ.get("CITADEL_CLOUD_API_SUBSET", _DEFAULT_SUBSET))
    if not path.is_file():
        pytest.fail(f"The Cloud API subset is missing at {path} (set CITADEL_CLOUD_API_SUBSET)")
    return json.loads(path.read_text())


def schema_errors(instance: Any, schema: dict[str, Any]) -> list[str]:
    """Violations of a subset schema, resolving `#/definitions/...` in the subset."""
    root = {"allOf": [schema], "definitions": subset()["definitions"]}
    validator = Draft4Validator(root, format_checker=Draft4Validator.FORMAT_CHECKER)
    return sorted(
        f"{'/'.join(map(str, e.absolute_path)) or '<body>'}: {e.message}"
        for e in validator.iter_errors(instance)
    )


def assert_error_shape(body: Any) -> None:
    """``{"errors": [{"code", "message", ("fields")}]}`` and nothing else."""
    assert set(body) == {"errors"}, body
    assert body["errors"], body
    for error in body["errors"]:
        assert set(error) <= {"code", "message", "fields"}, error
        assert re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)+", error["code"]), error
        assert isinstance(error["message"], str), error
        assert error["message"], error
        if "fields" in error:
            assert error["fields"], error
            assert all(isinstance(f, str) and f for f in error["fields"]), error


def assert_conforms(method: str, path: str, response: httpx.Response) -> None:
    """The response is one the subset declares for this operation (or one we document)."""
    operation = subset()["paths"][path][method.lower()]
    status = response.status_code
    declared = operation["responses"].get(str(status))
    body = response.json()
    if status >= 400:
        assert_error_shape(body)
        assert not schema_errors(body, {"$ref": "#/definitions/BasicFailedReply"})
        if declared is None:
            assert (method, path, status) in UNDECLARED_STATUSES, (
                f"{method} {path} answered {status}, which the subset does not declare: {body}"
            )
            return
    assert declared is not None, f"{method} {path} does not declare {status}"
    problems = schema_errors(body, declared["schema"])
    assert not problems, f"{method} {path} {status}: {problems}\n{body}"
    codes = declared.get("headers", {}).get("x-cloud-error-codes", {}).get("enum")
    if status >= 400 and codes:
        for error in body["errors"]:
            assert error["code"] in codes or (status, error["code"]) in OUR_CODES, (
                f"{method} {path} {status}: {error['code']} is neither declared {codes} "
                "nor listed in OUR_CODES"
            )
        assert response.headers["x-cloud-error-codes"] == body["errors"][0]["code"]


@dataclass
class Scene:
    """An organization with its owner, the owner's API key, and ways to add to it."""

    client: TestClient
    services: Services
    owner: TestUser
    org: str
    key: dict[str, str]

    def url(self, path: str) -> str:
        return API + path.format(org=self.org)

    def signed_in(self, user: TestUser) -> dict[str, str]:
        """Bearer headers of a fresh session (the cookie is dropped: requests stay anonymous
        unless they carry the headers)."""
        headers = bearer(login(self.client, self.services, user))
        self.client.cookies.clear()
        return headers

    def member(self, *roles: str) -> TestUser:
        user = make_user(self.services)
        add_member(self.services, self.org, user, *(grant(self.org, r) for r in roles))
        return user

    def key_with(self, *roles: str) -> dict[str, str]:
        return key_headers(
            make_api_key(self.services, self.org, *(grant(self.org, r) for r in roles))
        )

    def invite(self, email: str) -> str:
        """The acceptance token of a new invitation."""
        response = self.client.post(
            self.url("/organizations/{org}/invitations"), headers=self.key, json={"emails": [email]}
        )
        assert response.status_code == 201, response.text
        return response.json()["invitations"][0]["token"]

    def joining(self, email: str) -> dict[str, str]:
        """A new account's acceptance: a password and the code its invitation email carried."""
        code = email_code(self.services.settings.data_dir, email)
        return {"password": PASSWORD, "email_code": code}


@pytest.fixture
def scene(client: TestClient, services: Services) -> Scene:
    owner = make_user(services)
    org = make_org(services, owner)
    return Scene(client, services, owner, org, key_headers(make_api_key(services, org)))


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    status: int
    call: Callable[[Scene], httpx.Response]


CASES: list[Case] = []


def case(method: str, path: str, status: int) -> Callable[[Callable[[Scene], httpx.Response]], Any]:
    """Register a call of the subset operation `method path` expected to answer `status`."""

    def register(call: Callable[[Scene], httpx.Response]) -> Callable[[Scene], httpx.Response]:
        CASES.append(Case(call.__name__, method, path, status, call))
        return call

    return register


BILLING_ADMIN = {"organization": [{"role_id": "billing-admin", "organization_id": "{org}"}]}


def roles(s: Scene, template: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(template).replace("{org}", s.org))


# --- organizations ---------------------------------------------------------------------------


@case("GET", "/organizations", 200)
def list_organizations(s: Scene) -> httpx.Response:
    return s.client.get(s.url("/organizations"), headers=s.signed_in(s.owner))


@case("GET", "/organizations", 401)
def list_organizations_without_credentials(s: Scene) -> httpx.Response:
    return s.client.get(s.url("/organizations"))


@case("GET", "/organizations/{organization_id}", 200)
def get_organization(s: Scene) -> httpx.Response:
    return s.client.get(s.url("/organizations/{org}"), headers=s.key)


@case("GET", "/organizations/{organization_id}", 401)
def get_organization_without_credentials(s: Scene) -> httpx.Response:
    return s.client.get(s.url("/organizations/{org}"))


@case("GET", "/organizations/{organization_id}", 404)
def get_unknown_organization(s: Scene) -> httpx.Response:
    return s.client.get(s.url(f"/organizations/{UNKNOWN_ID}"), headers=s.key)


@case("PUT", "/organizations/{organization_id}", 200)
def update_organization(s: Scene) -> httpx.Response:
    body = {"name": "Acme Two", "billing_contacts": ["billing@example.com"]}
    return s.client.put(s.url("/organizations/{org}"), headers=s.key, json=body)


@case("PUT", "/organizations/{organization_id}", 400)
def update_organization_with_a_one_letter_name(s: Scene) -> httpx.Response:
    return s.client.put(s.url("/organizations/{org}"), headers=s.key, json={"name": "x"})


@case("PUT", "/organizations/{organization_id}", 403)
def update_organization_as_billing_admin(s: Scene) -> httpx.Response:
    headers = s.key_with("billing-admin")
    return s.client.put(s.url("/organizations/{org}"), headers=headers, json={"name": "Mine"})


@case("PUT", "/organizations/{organization_id}", 404)
def update_unknown_organization(s: Scene) -> httpx.Response:
    url = s.url(f"/organizations/{UNKNOWN_ID}")
    return s.client.put(url, headers=s.key, json={"name": "Other"})


# --- members and role assignments ------------------------------------------------------------


@case("GET", "/organizations/{organization_id}/members", 200)
def list_members(s: Scene) -> httpx.Response:
    s.member("deployment-viewer")
    return s.client.get(s.url("/organizations/{org}/members"), headers=s.key)


@case("GET", "/organizations/{organization_id}/members", 404)
def list_members_of_unknown_organization(s: Scene) -> httpx.Response:
    return s.client.get(s.url(f"/organizations/{UNKNOWN_ID}/members"), headers=s.key)


@case("DELETE", "/organizations/{organization_id}/members/{user_ids}", 200)
def remove_members(s: Scene) -> httpx.Response:
    ids = f"{s.member().user_id},{s.member('billing-admin').user_id}"
    return s.client.delete(s.url(f"/organizations/{{org}}/members/{ids}"), headers=s.key)


@case("DELETE", "/organizations/{organization_id}/members/{user_ids}", 404)
def remove_someone_who_is_not_a_member(s: Scene) -> httpx.Response:
    return s.client.delete(s.url(f"/organizations/{{org}}/members/{UNKNOWN_ID}"), headers=s.key)


def _role_assignments(s: Scene, method: str, user_id: str, headers: dict[str, str] | None):
    return s.client.request(
        method,
        s.url(f"/users/{user_id}/role_assignments"),
        headers=headers,
        json=roles(s, BILLING_ADMIN),
    )


@case("POST", "/users/{user_id}/role_assignments", 200)
def add_role_assignments(s: Scene) -> httpx.Response:
    return _role_assignments(s, "POST", s.member().user_id, s.key)


@case("POST", "/users/{user_id}/role_assignments", 400)
def add_role_assignments_to_a_non_member(s: Scene) -> httpx.Response:
    return _role_assignments(s, "POST", make_user(s.services).user_id, s.key)


@case("POST", "/users/{user_id}/role_assignments", 401)
def add_role_assignments_without_credentials(s: Scene) -> httpx.Response:
    return _role_assignments(s, "POST", s.member().user_id, None)


@case("POST", "/users/{user_id}/role_assignments", 403)
def add_an_organization_role_as_deployment_admin(s: Scene) -> httpx.Response:
    return _role_assignments(s, "POST", s.member().user_id, s.key_with("deployment-admin"))


@case("DELETE", "/users/{user_id}/role_assignments", 200)
def remove_role_assignments(s: Scene) -> httpx.Response:
    return _role_assignments(s, "DELETE", s.member("billing-admin").user_id, s.key)


@case("DELETE", "/users/{user_id}/role_assignments", 400)
def remove_role_assignments_of_a_non_member(s: Scene) -> httpx.Response:
    return _role_assignments(s, "DELETE", make_user(s.services).user_id, s.key)


@case("DELETE", "/users/{user_id}/role_assignments", 401)
def remove_role_assignments_without_credentials(s: Scene) -> httpx.Response:
    return _role_assignments(s, "DELETE", s.member("billing-admin").user_id, None)


@case("DELETE", "/users/{user_id}/role_assignments", 403)
def remove_an_organization_role_as_deployment_admin(s: Scene) -> httpx.Response:
    user = s.member("billing-admin")
    return _role_assignments(s, "DELETE", user.user_id, s.key_with("deployment-admin"))


# --- invitations -----------------------------------------------------------------------------


def _create_invitations(s: Scene, body: dict[str, Any], headers: dict[str, str] | None = None):
    url = s.url("/organizations/{org}/invitations")
    return s.client.post(url, headers=headers or s.key, json=body)


@case("POST", "/organizations/{organization_id}/invitations", 201)
def create_invitations(s: Scene) -> httpx.Response:
    body = {
        "emails": ["new@example.com", "other@example.com"],
        "expires_in": "7d",
        "role_assignments": roles(
            s,
            {
                "deployment": [
                    {"role_id": "deployment-viewer", "organization_id": "{org}", "all": True}
                ]
            },
        ),
    }
    return _create_invitations(s, body)


@case("POST", "/organizations/{organization_id}/invitations", 400)
def invite_an_invalid_email(s: Scene) -> httpx.Response:
    return _create_invitations(s, {"emails": ["not-an-email"]})


@case("POST", "/organizations/{organization_id}/invitations", 400)
def invite_someone_who_already_belongs(s: Scene) -> httpx.Response:
    return _create_invitations(s, {"emails": [s.member().email]})


@case("POST", "/organizations/{organization_id}/invitations", 403)
def invite_as_billing_admin(s: Scene) -> httpx.Response:
    return _create_invitations(s, {"emails": ["new@example.com"]}, s.key_with("billing-admin"))


@case("POST", "/organizations/{organization_id}/invitations", 404)
def invite_to_unknown_organization(s: Scene) -> httpx.Response:
    url = s.url(f"/organizations/{UNKNOWN_ID}/invitations")
    return s.client.post(url, headers=s.key, json={"emails": ["new@example.com"]})


@case("POST", "/organizations/{organization_id}/invitations", 429)
def invite_more_than_the_hourly_limit(s: Scene) -> httpx.Response:
    for batch in range(2):
        emails = [f"person{batch}-{i}@example.com" for i in range(100)]
        assert _create_invitations(s, {"emails": emails}).status_code == 201
    return _create_invitations(s, {"emails": ["one-too-many@example.com"]})


@case("GET", "/organizations/{organization_id}/invitations", 200)
def list_invitations_with_an_accepted_one(s: Scene) -> httpx.Response:
    token = s.invite("joiner@example.com")
    url = s.url(f"/organizations/invitations/{token}/_accept")
    assert s.client.post(url, json=s.joining("joiner@example.com")).status_code == 200
    s.invite("pending@example.com")
    return s.client.get(s.url("/organizations/{org}/invitations"), headers=s.key)


@case("GET", "/organizations/{organization_id}/invitations", 404)
def list_invitations_of_unknown_organization(s: Scene) -> httpx.Response:
    return s.client.get(s.url(f"/organizations/{UNKNOWN_ID}/invitations"), headers=s.key)


@case("DELETE", "/organizations/{organization_id}/invitations/{invitation_tokens}", 200)
def delete_invitations(s: Scene) -> httpx.Response:
    tokens = f"{s.invite('a@example.com')},{s.invite('b@example.com')}"
    return s.client.delete(s.url(f"/organizations/{{org}}/invitations/{tokens}"), headers=s.key)


@case("DELETE", "/organizations/{organization_id}/invitations/{invitation_tokens}", 400)
def delete_invitations_without_a_token(s: Scene) -> httpx.Response:
    return s.client.delete(s.url("/organizations/{org}/invitations/,"), headers=s.key)


@case("DELETE", "/organizations/{organization_id}/invitations/{invitation_tokens}", 404)
def delete_unknown_invitation(s: Scene) -> httpx.Response:
    url = s.url(f"/organizations/{{org}}/invitations/{UNKNOWN_INVITATION}")
    return s.client.delete(url, headers=s.key)


@case("GET", "/organizations/invitations/{invitation_token}", 200)
def get_invitation(s: Scene) -> httpx.Response:
    return s.client.get(s.url(f"/organizations/invitations/{s.invite('new@example.com')}"))


@case("GET", "/organizations/invitations/{invitation_token}", 404)
def get_unknown_invitation(s: Scene) -> httpx.Response:
    return s.client.get(s.url(f"/organizations/invitations/{UNKNOWN_INVITATION}"))


def _accept(s: Scene, token: str, **kwargs: Any) -> httpx.Response:
    return s.client.post(s.url(f"/organizations/invitations/{token}/_accept"), **kwargs)


@case("POST", "/organizations/invitations/{invitation_token}/_accept", 200)
def accept_invitation_as_a_new_person(s: Scene) -> httpx.Response:
    token = s.invite("new@example.com")
    return _accept(s, token, json=s.joining("new@example.com"))


@case("POST", "/organizations/invitations/{invitation_token}/_accept", 400)
def accept_invitation_when_already_a_member(s: Scene) -> httpx.Response:
    person = make_user(s.services)
    token = s.invite(person.email)
    add_member(s.services, s.org, person)
    return _accept(s, token, headers=s.signed_in(person))


@case("POST", "/organizations/invitations/{invitation_token}/_accept", 403)
def accept_someone_elses_invitation(s: Scene) -> httpx.Response:
    return _accept(s, s.invite("new@example.com"), headers=s.signed_in(s.owner))


@case("POST", "/organizations/invitations/{invitation_token}/_accept", 403)
def accept_as_a_new_person_without_the_emails_code(s: Scene) -> httpx.Response:
    return _accept(s, s.invite("new@example.com"), json={"password": PASSWORD})


@case("POST", "/organizations/invitations/{invitation_token}/_accept", 404)
def accept_unknown_invitation(s: Scene) -> httpx.Response:
    return _accept(s, UNKNOWN_INVITATION, json={"password": PASSWORD})


# --- sign-in ---------------------------------------------------------------------------------


@case("POST", "/users/auth/_login", 200)
def log_in(s: Scene) -> httpx.Response:
    body = {"username": s.owner.email, "password": PASSWORD, "totp_code": s.owner.code(s.services)}
    return s.client.post(s.url("/users/auth/_login"), json=body)


@case("POST", "/users/auth/_login", 401)
def log_in_with_a_wrong_password(s: Scene) -> httpx.Response:
    body = {"username": s.owner.email, "password": "not the password at all"}
    return s.client.post(s.url("/users/auth/_login"), json=body)


@case("POST", "/users/auth/_logout", 200)
def log_out(s: Scene) -> httpx.Response:
    return s.client.post(s.url("/users/auth/_logout"), headers=s.signed_in(s.owner))


@case("POST", "/users/auth/_logout", 401)
def log_out_without_a_session(s: Scene) -> httpx.Response:
    return s.client.post(s.url("/users/auth/_logout"))


@case("GET", "/users/auth", 200)
def authentication_info_of_a_session(s: Scene) -> httpx.Response:
    return s.client.get(s.url("/users/auth"), headers=s.signed_in(s.owner))


@case("GET", "/users/auth", 200)
def authentication_info_of_an_api_key(s: Scene) -> httpx.Response:
    return s.client.get(s.url("/users/auth"), headers=s.key)


@case("GET", "/users/auth", 401)
def authentication_info_without_credentials(s: Scene) -> httpx.Response:
    return s.client.get(s.url("/users/auth"))


# --- API keys --------------------------------------------------------------------------------


def _new_key_id(s: Scene) -> str:
    response = s.client.post(s.url("/users/auth/keys"), headers=s.key, json={"description": "k"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


@case("POST", "/users/auth/keys", 201)
def create_api_key(s: Scene) -> httpx.Response:
    body = {"description": "ci", "expiration": "30d", "role_assignments": roles(s, BILLING_ADMIN)}
    return s.client.post(s.url("/users/auth/keys"), headers=s.signed_in(s.owner), json=body)


@case("POST", "/users/auth/keys", 201)
def create_api_key_that_never_expires(s: Scene) -> httpx.Response:
    allow = {"allow_never_expiring_api_keys": True}
    assert s.client.put(s.url("/organizations/{org}"), headers=s.key, json=allow).status_code == 200
    body = {"description": "forever", "expiration": "never"}
    return s.client.post(s.url("/users/auth/keys"), headers=s.key, json=body)


@case("POST", "/users/auth/keys", 400)
def create_api_key_with_an_unreadable_expiration(s: Scene) -> httpx.Response:
    body = {"description": "ci", "expiration": "abc"}
    return s.client.post(s.url("/users/auth/keys"), headers=s.key, json=body)


@case("POST", "/users/auth/keys", 400)
def create_api_key_without_a_description(s: Scene) -> httpx.Response:
    return s.client.post(s.url("/users/auth/keys"), headers=s.key, json={"expiration": "1d"})


@case("GET", "/users/auth/keys", 200)
def list_api_keys(s: Scene) -> httpx.Response:
    _new_key_id(s)
    return s.client.get(s.url("/users/auth/keys"), headers=s.key)


@case("GET", "/users/auth/keys", 401)
def list_api_keys_without_credentials(s: Scene) -> httpx.Response:
    return s.client.get(s.url("/users/auth/keys"))


@case("DELETE", "/users/auth/keys", 200)
def delete_api_keys(s: Scene) -> httpx.Response:
    body = {"keys": [_new_key_id(s), _new_key_id(s)]}
    return s.client.request("DELETE", s.url("/users/auth/keys"), headers=s.key, json=body)


@case("DELETE", "/users/auth/keys", 404)
def delete_api_keys_with_an_unknown_one(s: Scene) -> httpx.Response:
    body = {"keys": [_new_key_id(s), "unknownkey12"]}
    return s.client.request("DELETE", s.url("/users/auth/keys"), headers=s.key, json=body)


@case("GET", "/users/auth/keys/{api_key_id}", 200)
def get_api_key(s: Scene) -> httpx.Response:
    return s.client.get(s.url(f"/users/auth/keys/{_new_key_id(s)}"), headers=s.key)


@case("GET", "/users/auth/keys/{api_key_id}", 404)
def get_unknown_api_key(s: Scene) -> httpx.Response:
    return s.client.get(s.url("/users/auth/keys/unknownkey12"), headers=s.key)


@case("DELETE", "/users/auth/keys/{api_key_id}", 200)
def delete_api_key(s: Scene) -> httpx.Response:
    return s.client.delete(s.url(f"/users/auth/keys/{_new_key_id(s)}"), headers=s.key)


@case("DELETE", "/users/auth/keys/{api_key_id}", 404)
def delete_unknown_api_key(s: Scene) -> httpx.Response:
    return s.client.delete(s.url("/users/auth/keys/unknownkey12"), headers=s.key)


# --- deployments -----------------------------------------------------------------------------

ES_PAYLOAD = {
    "ref_id": "main-elasticsearch",
    "region": "local",
    "plan": {
        "cluster_topology": [{"id": "hot_content", "size": {"value": 1024, "resource": "memory"}}],
        "elasticsearch": {"version": "8.15.0"},
    },
}


def _create_deployment(s: Scene, query: dict[str, Any] | None = None, **body: Any):
    payload = {"name": "search", "resources": {"elasticsearch": [ES_PAYLOAD]}, **body}
    return s.client.post(s.url("/deployments"), headers=s.key, json=payload, params=query or {})


@case("POST", "/deployments", 201)
def create_deployment(s: Scene) -> httpx.Response:
    return _create_deployment(
        s, alias="search-one", metadata={"tags": [{"key": "t", "value": "v"}]}
    )


@case("POST", "/deployments", 202)
def create_deployment_again_with_the_same_request_id(s: Scene) -> httpx.Response:
    query = {"request_id": "r" * 32}
    assert _create_deployment(s, query).status_code == 201
    return _create_deployment(s, query)


@case("POST", "/deployments", 200)
def validate_a_deployment(s: Scene) -> httpx.Response:
    return _create_deployment(s, {"validate_only": "true"})


@case("POST", "/deployments", 400)
def create_deployment_with_traffic_filters(s: Scene) -> httpx.Response:
    return _create_deployment(s, settings={"traffic_filter_settings": {"rulesets": ["abc"]}})


@case("POST", "/deployments", 401)
def create_deployment_without_credentials(s: Scene) -> httpx.Response:
    return s.client.post(s.url("/deployments"), json={"name": "x"})


@case("POST", "/deployments", 403)
def create_deployment_as_deployment_editor(s: Scene) -> httpx.Response:
    return s.client.post(
        s.url("/deployments"), headers=s.key_with("deployment-editor"), json={"name": "x"}
    )


# `settings.byok` is ours on create (the subset's DeploymentCreateSettings lacks it; the
# reference's `metadata.byok_enabled` is declared): the request errors need no key manager's
# server, and a BYOK deployment's GET answer must still conform.


@case("POST", "/deployments", 400)
def create_deployment_under_a_malformed_key_path(s: Scene) -> httpx.Response:
    return _create_deployment(s, settings={"byok": {"key_resource_path": "gopher://kek"}})


@case("POST", "/deployments", 400)
def create_deployment_under_a_key_file(s: Scene) -> httpx.Response:
    return _create_deployment(s, settings={"byok": {"key_resource_path": "file:/etc/passwd"}})


@case("POST", "/deployments", 400)
def create_deployment_without_a_key_manager_of_the_kind(s: Scene) -> httpx.Response:
    path = "vault-transit://127.0.0.1:8200/kek"
    return _create_deployment(s, settings={"byok": {"key_resource_path": path}})


def _transit_manager(s: Scene, port: int) -> str:
    body = {"name": "bao", "kind": "vault-transit", "settings": {"scheme": "http"}, "secret": "t"}
    response = s.client.post(s.url("/organizations/{org}/key-managers"), headers=s.key, json=body)
    assert response.status_code == 201, response.text
    return f"vault-transit://127.0.0.1:{port}/kek"


@case("POST", "/deployments", 503)
def create_deployment_when_the_key_manager_refuses_connections(s: Scene) -> httpx.Response:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    path = _transit_manager(s, port)
    return _create_deployment(s, settings={"byok": {"key_resource_path": path}})


@case("GET", "/deployments/{deployment_id}", 200)
def get_a_byok_deployment(s: Scene) -> httpx.Response:
    dep = make_deployment(s.services, s.org)
    path = _transit_manager(s, 8200)
    manager = s.client.get(s.url("/organizations/{org}/key-managers"), headers=s.key).json()
    with s.services.db.write() as session:  # as a create under that key leaves it
        row = session.get(Deployment, dep)
        row.key_manager_id, row.key_path = manager["key_managers"][0]["id"], path
    response = s.client.get(s.url(f"/deployments/{dep}"), headers=s.key)
    assert response.json()["metadata"]["byok_enabled"] is True
    assert response.json()["settings"]["byok"]["key_resource_path"] == path
    return response


@case("GET", "/deployments", 200)
def list_deployments(s: Scene) -> httpx.Response:
    make_deployment(s.services, s.org)
    return s.client.get(s.url("/deployments"), headers=s.key)


@case("GET", "/deployments", 401)
def list_deployments_without_credentials(s: Scene) -> httpx.Response:
    return s.client.get(s.url("/deployments"))


@case("GET", "/deployments/{deployment_id}", 200)
def get_deployment(s: Scene) -> httpx.Response:
    dep = _create_deployment(s, alias="aliased").json()["id"]
    return s.client.get(s.url(f"/deployments/{dep}"), headers=s.key)


@case("GET", "/deployments/{deployment_id}", 404)
def get_unknown_deployment(s: Scene) -> httpx.Response:
    return s.client.get(s.url(f"/deployments/{UNKNOWN_ID}"), headers=s.key)


@case("PUT", "/deployments/{deployment_id}", 200)
def update_deployment(s: Scene) -> httpx.Response:
    dep = make_deployment(s.services, s.org)
    body = {"prune_orphans": False, "name": "renamed", "alias": "renamed"}
    return s.client.put(s.url(f"/deployments/{dep}"), headers=s.key, json=body)


@case("PUT", "/deployments/{deployment_id}", 400)
def update_deployment_with_an_invalid_alias(s: Scene) -> httpx.Response:
    dep = make_deployment(s.services, s.org)
    body = {"prune_orphans": False, "alias": "Not An Alias!"}
    return s.client.put(s.url(f"/deployments/{dep}"), headers=s.key, json=body)


@case("PUT", "/deployments/{deployment_id}", 404)
def update_unknown_deployment(s: Scene) -> httpx.Response:
    body = {"prune_orphans": False, "name": "renamed"}
    return s.client.put(s.url(f"/deployments/{UNKNOWN_ID}"), headers=s.key, json=body)


@case("POST", "/deployments/{deployment_id}/_shutdown", 200)
def shutdown_deployment(s: Scene) -> httpx.Response:
    dep = make_deployment(s.services, s.org)
    return s.client.post(s.url(f"/deployments/{dep}/_shutdown"), headers=s.key)


@case("POST", "/deployments/{deployment_id}/_shutdown", 404)
def shutdown_unknown_deployment(s: Scene) -> httpx.Response:
    return s.client.post(s.url(f"/deployments/{UNKNOWN_ID}/_shutdown"), headers=s.key)


@case("DELETE", "/deployments/{deployment_id}", 200)
def delete_deployment(s: Scene) -> httpx.Response:
    dep = make_deployment(s.services, s.org, stopped=True)
    return s.client.delete(s.url(f"/deployments/{dep}"), headers=s.key)


@case("DELETE", "/deployments/{deployment_id}", 400)
def delete_a_running_deployment(s: Scene) -> httpx.Response:
    dep = make_deployment(s.services, s.org)
    return s.client.delete(s.url(f"/deployments/{dep}"), headers=s.key)


@case("DELETE", "/deployments/{deployment_id}", 404)
def delete_unknown_deployment(s: Scene) -> httpx.Response:
    return s.client.delete(s.url(f"/deployments/{UNKNOWN_ID}"), headers=s.key)


@case("POST", "/deployments", 201)
def create_deployment_with_a_traffic_filter(s: Scene) -> httpx.Response:
    ruleset = _ruleset(s)
    return _create_deployment(s, settings={"traffic_filter_settings": {"rulesets": [ruleset]}})


@case("GET", "/deployments/{deployment_id}", 200)
def get_deployment_with_a_traffic_filter(s: Scene) -> httpx.Response:
    ruleset = _ruleset(s)
    body = {"traffic_filter_settings": {"rulesets": [ruleset]}}
    dep = _create_deployment(s, settings=body).json()["id"]
    return s.client.get(s.url(f"/deployments/{dep}"), headers=s.key)


# --- traffic filters -------------------------------------------------------------------------

TF = "/deployments/traffic-filter"
IP_RULESET = {
    "name": "office",
    "description": "the office network",
    "type": "ip",
    "region": "local",
    "include_by_default": False,
    "rules": [{"description": "office", "source": "192.0.2.0/24"}, {"source": "2001:db8::/32"}],
}


def _ruleset(s: Scene, **changes: Any) -> str:
    response = s.client.post(s.url(f"{TF}/rulesets"), headers=s.key, json=IP_RULESET | changes)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _associate(s: Scene, ruleset: str, deployment: str) -> httpx.Response:
    body = {"entity_type": "deployment", "id": deployment}
    return s.client.post(s.url(f"{TF}/rulesets/{ruleset}/associations"), headers=s.key, json=body)


def _claim(s: Scene, body: dict[str, Any], headers: dict[str, str] | None = None):
    return s.client.post(s.url(f"{TF}/link-ids/_claim"), headers=headers or s.key, json=body)


AWS_CLAIM = {"region": "local", "link_id": "vpce-0123456789abcdef0"}
AZURE_CLAIM = {
    "region": "local",
    "link_id": "16909060",
    "azure_endpoint_name": "azure-demo",
    "azure_endpoint_guid": "7c0f05e4-e32b-4b10-a246-7b77f7dcc63c",
}


@case("GET", f"{TF}/rulesets", 200)
def list_rulesets_with_associations(s: Scene) -> httpx.Response:
    ruleset = _ruleset(s)
    _ruleset(s, type="vpce", rules=[{"source": "vpce-0123456789abcdef0"}])
    assert _associate(s, ruleset, make_deployment(s.services, s.org)).status_code == 201
    query = {"include_associations": "true", "region": "local"}
    return s.client.get(s.url(f"{TF}/rulesets"), headers=s.key, params=query)


@case("GET", f"{TF}/rulesets", 401)
def list_rulesets_without_credentials(s: Scene) -> httpx.Response:
    return s.client.get(s.url(f"{TF}/rulesets"))


@case("POST", f"{TF}/rulesets", 201)
def create_ruleset(s: Scene) -> httpx.Response:
    return s.client.post(s.url(f"{TF}/rulesets"), headers=s.key, json=IP_RULESET)


@case("POST", f"{TF}/rulesets", 201)
def create_azure_ruleset(s: Scene) -> httpx.Response:
    rule = {k: v for k, v in AZURE_CLAIM.items() if k.startswith("azure_")}
    body = IP_RULESET | {"type": "azure_private_endpoint", "rules": [rule]}
    return s.client.post(s.url(f"{TF}/rulesets"), headers=s.key, json=body)


@case("POST", f"{TF}/rulesets", 400)
def create_ruleset_with_a_dns_name(s: Scene) -> httpx.Response:
    body = IP_RULESET | {"rules": [{"source": "office.example.com"}]}
    return s.client.post(s.url(f"{TF}/rulesets"), headers=s.key, json=body)


@case("GET", f"{TF}/rulesets/{{ruleset_id}}", 200)
def get_ruleset_with_associations(s: Scene) -> httpx.Response:
    ruleset = _ruleset(s)
    assert _associate(s, ruleset, make_deployment(s.services, s.org)).status_code == 201
    url = s.url(f"{TF}/rulesets/{ruleset}")
    return s.client.get(url, headers=s.key, params={"include_associations": "true"})


@case("GET", f"{TF}/rulesets/{{ruleset_id}}", 404)
def get_unknown_ruleset(s: Scene) -> httpx.Response:
    return s.client.get(s.url(f"{TF}/rulesets/{UNKNOWN_ID}"), headers=s.key)


@case("PUT", f"{TF}/rulesets/{{ruleset_id}}", 200)
def update_ruleset(s: Scene) -> httpx.Response:
    ruleset = _ruleset(s)
    body = IP_RULESET | {"name": "office v2", "rules": [{"source": "198.51.100.0/24"}]}
    return s.client.put(s.url(f"{TF}/rulesets/{ruleset}"), headers=s.key, json=body)


@case("PUT", f"{TF}/rulesets/{{ruleset_id}}", 400)
def update_ruleset_changing_its_region(s: Scene) -> httpx.Response:
    ruleset = _ruleset(s)
    body = IP_RULESET | {"region": "elsewhere"}
    return s.client.put(s.url(f"{TF}/rulesets/{ruleset}"), headers=s.key, json=body)


@case("PUT", f"{TF}/rulesets/{{ruleset_id}}", 404)
def update_unknown_ruleset(s: Scene) -> httpx.Response:
    return s.client.put(s.url(f"{TF}/rulesets/{UNKNOWN_ID}"), headers=s.key, json=IP_RULESET)


@case("PUT", f"{TF}/rulesets/{{ruleset_id}}", 409)
def update_ruleset_from_a_stale_version(s: Scene) -> httpx.Response:
    ruleset = _ruleset(s)
    url = s.url(f"{TF}/rulesets/{ruleset}")
    assert s.client.put(url, headers=s.key, json=IP_RULESET).status_code == 200
    return s.client.put(url, headers=s.key, json=IP_RULESET, params={"version": "1"})


@case("DELETE", f"{TF}/rulesets/{{ruleset_id}}", 200)
def delete_ruleset(s: Scene) -> httpx.Response:
    return s.client.delete(s.url(f"{TF}/rulesets/{_ruleset(s)}"), headers=s.key)


@case("DELETE", f"{TF}/rulesets/{{ruleset_id}}", 404)
def delete_unknown_ruleset(s: Scene) -> httpx.Response:
    return s.client.delete(s.url(f"{TF}/rulesets/{UNKNOWN_ID}"), headers=s.key)


@case("DELETE", f"{TF}/rulesets/{{ruleset_id}}", 409)
def delete_an_associated_ruleset(s: Scene) -> httpx.Response:
    ruleset = _ruleset(s)
    assert _associate(s, ruleset, make_deployment(s.services, s.org)).status_code == 201
    return s.client.delete(s.url(f"{TF}/rulesets/{ruleset}"), headers=s.key)


@case("GET", f"{TF}/rulesets/{{ruleset_id}}/associations", 200)
def list_associations(s: Scene) -> httpx.Response:
    ruleset = _ruleset(s)
    assert _associate(s, ruleset, make_deployment(s.services, s.org)).status_code == 201
    return s.client.get(s.url(f"{TF}/rulesets/{ruleset}/associations"), headers=s.key)


@case("GET", f"{TF}/rulesets/{{ruleset_id}}/associations", 404)
def list_associations_of_unknown_ruleset(s: Scene) -> httpx.Response:
    return s.client.get(s.url(f"{TF}/rulesets/{UNKNOWN_ID}/associations"), headers=s.key)


@case("POST", f"{TF}/rulesets/{{ruleset_id}}/associations", 201)
def create_association(s: Scene) -> httpx.Response:
    return _associate(s, _ruleset(s), make_deployment(s.services, s.org))


@case("POST", f"{TF}/rulesets/{{ruleset_id}}/associations", 200)
def create_association_again(s: Scene) -> httpx.Response:
    ruleset, dep = _ruleset(s), make_deployment(s.services, s.org)
    assert _associate(s, ruleset, dep).status_code == 201
    return _associate(s, ruleset, dep)


@case("POST", f"{TF}/rulesets/{{ruleset_id}}/associations", 400)
def associate_a_ruleset_of_another_region(s: Scene) -> httpx.Response:
    return _associate(s, _ruleset(s, region="elsewhere"), make_deployment(s.services, s.org))


@case("POST", f"{TF}/rulesets/{{ruleset_id}}/associations", 404)
def associate_unknown_ruleset(s: Scene) -> httpx.Response:
    return _associate(s, UNKNOWN_ID, make_deployment(s.services, s.org))


@case("POST", f"{TF}/rulesets/{{ruleset_id}}/associations", 404)
def associate_with_unknown_deployment(s: Scene) -> httpx.Response:
    return _associate(s, _ruleset(s), UNKNOWN_ID)


_DISASSOCIATE = (
    f"{TF}/rulesets/{{ruleset_id}}/associations/{{association_type}}/{{associated_entity_id}}"
)


@case("DELETE", _DISASSOCIATE, 200)
def delete_association(s: Scene) -> httpx.Response:
    ruleset, dep = _ruleset(s), make_deployment(s.services, s.org)
    assert _associate(s, ruleset, dep).status_code == 201
    return s.client.delete(
        s.url(f"{TF}/rulesets/{ruleset}/associations/deployment/{dep}"), headers=s.key
    )


@case("DELETE", _DISASSOCIATE, 404)
def delete_absent_association(s: Scene) -> httpx.Response:
    ruleset, dep = _ruleset(s), make_deployment(s.services, s.org)
    return s.client.delete(
        s.url(f"{TF}/rulesets/{ruleset}/associations/deployment/{dep}"), headers=s.key
    )


_OF_ENTITY = f"{TF}/associations/{{association_type}}/{{associated_entity_id}}/rulesets"


@case("GET", _OF_ENTITY, 200)
def rulesets_of_a_deployment(s: Scene) -> httpx.Response:
    ruleset, dep = _ruleset(s), make_deployment(s.services, s.org)
    assert _associate(s, ruleset, dep).status_code == 201
    return s.client.get(s.url(f"{TF}/associations/deployment/{dep}/rulesets"), headers=s.key)


@case("GET", _OF_ENTITY, 400)
def rulesets_of_an_unknown_association_type(s: Scene) -> httpx.Response:
    dep = make_deployment(s.services, s.org)
    return s.client.get(s.url(f"{TF}/associations/cluster/{dep}/rulesets"), headers=s.key)


@case("GET", f"{TF}/link-ids", 200)
def list_link_ids(s: Scene) -> httpx.Response:
    assert _claim(s, AWS_CLAIM).status_code == 201
    assert _claim(s, AZURE_CLAIM).status_code == 201
    return s.client.get(s.url(f"{TF}/link-ids"), headers=s.key, params={"region": "local"})


@case("GET", f"{TF}/link-ids", 401)
def list_link_ids_without_credentials(s: Scene) -> httpx.Response:
    return s.client.get(s.url(f"{TF}/link-ids"))


@case("POST", f"{TF}/link-ids/_claim", 201)
def claim_link_id(s: Scene) -> httpx.Response:
    return _claim(s, AWS_CLAIM)


@case("POST", f"{TF}/link-ids/_claim", 201)
def claim_azure_endpoint(s: Scene) -> httpx.Response:
    return _claim(s, AZURE_CLAIM)


@case("POST", f"{TF}/link-ids/_claim", 400)
def claim_malformed_link_id(s: Scene) -> httpx.Response:
    return _claim(s, {"region": "local", "link_id": "vpce_not-an-id"})


@case("POST", f"{TF}/link-ids/_claim", 409)
def claim_link_id_claimed_by_another_organization(s: Scene) -> httpx.Response:
    other = make_org(s.services, make_user(s.services), "Other")
    assert _claim(s, AWS_CLAIM, key_headers(make_api_key(s.services, other))).status_code == 201
    return _claim(s, AWS_CLAIM)


@case("POST", f"{TF}/link-ids/_unclaim", 200)
def unclaim_link_id(s: Scene) -> httpx.Response:
    assert _claim(s, AWS_CLAIM).status_code == 201
    return s.client.post(s.url(f"{TF}/link-ids/_unclaim"), headers=s.key, json=AWS_CLAIM)


@case("POST", f"{TF}/link-ids/_unclaim", 400)
def unclaim_malformed_link_id(s: Scene) -> httpx.Response:
    body = {"region": "local", "link_id": "12x"}
    return s.client.post(s.url(f"{TF}/link-ids/_unclaim"), headers=s.key, json=body)


@case("POST", f"{TF}/link-ids/_unclaim", 404)
def unclaim_link_id_never_claimed(s: Scene) -> httpx.Response:
    return s.client.post(s.url(f"{TF}/link-ids/_unclaim"), headers=s.key, json=AWS_CLAIM)


# --- the tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.name}-{c.status}")
def test_answer_conforms_to_the_subset(case: Case, scene: Scene) -> None:
    response = case.call(scene)
    assert response.status_code == case.status, response.text
    assert_conforms(case.method, case.path, response)


def _served(client: TestClient) -> set[tuple[str, str]]:
    """(method, path without the prefix) of every API route (routers are included lazily);
    the browser's pages and SSO endpoints outside the prefix are not part of the API."""
    return {
        (method, context.path.removeprefix(API))
        for context in iter_route_contexts(client.app.routes)
        if isinstance(context.original_route, APIRoute) and context.path.startswith(API + "/")
        for method in context.methods or ()
    }


def _in_subset() -> set[tuple[str, str]]:
    return {
        (m.upper(), p) for p, ops in subset()["paths"].items() for m in ops if m != "parameters"
    }


def test_every_subset_operation_we_serve_has_a_success_and_an_error_case(client) -> None:
    served = _served(client) & _in_subset()
    assert served, "no operation of the subset is served"
    missing = []
    for operation in sorted(served):
        statuses = [c.status for c in CASES if (c.method, c.path) == operation]
        if not any(s < 400 for s in statuses) or not any(s >= 400 for s in statuses):
            missing.append(operation)
    assert not missing, f"operations without a success and an error case: {missing}"


def test_every_case_names_a_served_subset_operation(client) -> None:
    served = _served(client) & _in_subset()
    assert {(c.method, c.path) for c in CASES} <= served


def test_date_time_formats_are_really_checked() -> None:
    # jsonschema checks `date-time` only when rfc3339-validator is installed
    schema = {"type": "string", "format": "date-time"}
    assert schema_errors("2025-01-01T00:00:00Z", schema) == []
    assert schema_errors("yesterday", schema)


def _openapi(client: TestClient) -> dict[str, Any]:
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_served_openapi_document_is_valid_openapi(client) -> None:
    validate_openapi(_openapi(client))


def test_served_openapi_document_lists_every_route(client) -> None:
    documented = {
        (method.upper(), path.removeprefix(API))
        for path, operations in _openapi(client)["paths"].items()
        for method in operations
    }
    assert _served(client) <= documented


@pytest.mark.parametrize(("method", "path"), OUR_ADDITIONS, ids=lambda v: v)
def test_our_addition_is_in_the_served_openapi_document(client, method, path) -> None:
    assert (method, path) not in _in_subset()
    operations = _openapi(client)["paths"].get(API + path, {})
    assert method.lower() in operations


def test_openapi_documents_invalid_requests_as_400_basic_failed_reply(client) -> None:
    document = _openapi(client)
    reply = {"$ref": "#/components/schemas/BasicFailedReply"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "422" not in responses, (method, path)
            if "400" in responses:
                assert responses["400"]["content"]["application/json"]["schema"] == reply
    assert "BasicFailedReply" in document["components"]["schemas"]
