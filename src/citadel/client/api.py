"""`CitadelClient`: the Cloud API over HTTPS, verifying the platform CA.

Every method answers with the response model its route declares (the models of the domains'
`schemas` modules, the ones the served OpenAPI document describes), parsed from the JSON the
API sent; `request` stays for a call the client has no method for (raw JSON).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any, TypeVar

import httpx
from pydantic import TypeAdapter

from citadel.allocators.schemas import AllocatorInfoOut, AllocatorOverviewOut
from citadel.api_keys.schemas import ApiKeyOut, ApiKeysOut
from citadel.deployment_audit.schemas import AuditSettingsOut, DeploymentAuditEventsOut
from citadel.deployment_realms.schemas import RealmOut, RealmsOut
from citadel.deployment_tokens.schemas import DeploymentTokenOut, ProjectTokenOut
from citadel.deployments.schemas import (
    ClusterCredentialsOut,
    DeploymentCreateOut,
    DeploymentGetOut,
    DeploymentsListingDataOut,
    DeploymentsListOut,
    DeploymentSummaryOut,
    DeploymentUpdateOut,
    StaticIpsOut,
)
from citadel.domains.schemas import DomainOut, DomainsOut
from citadel.invitations.schemas import InvitationOut, InvitationsOut
from citadel.join.schemas import JoinTokenOut
from citadel.kit.schema import EmptyOut
from citadel.members.schemas import MembershipOut, MembershipsOut
from citadel.orgs.schemas import OrganizationListOut, OrganizationOut
from citadel.projects.schemas import (
    CredentialsOut,
    ProjectCreatedOut,
    ProjectListOut,
    ProjectOut,
    ProjectStatusOut,
)
from citadel.signin.schemas import AuthenticationInfoOut, TokenOut
from citadel.sso.schemas import RoleMappingOut, RoleMappingsOut, SsoConfigurationOut
from citadel.traffic_filters.schemas import (
    ClaimedLinkIdOut,
    ClaimedLinkIdsOut,
    HistoryEntryOut,
    HistoryOut,
    RulesetIdOut,
    RulesetOut,
    RulesetsOut,
    ValidationOut,
)

T = TypeVar("T")
RulesetChange = RulesetIdOut | ValidationOut
"""A ruleset create or update: its id, or with `validate_only` what it would block."""
AssociationChange = EmptyOut | ValidationOut
"""An association: `{}`, or with `validate_only` what it would block."""


class ClientError(Exception):
    """The API answered with an error."""

    def __init__(self, status: int, errors: list[dict[str, Any]]) -> None:
        self.status = status
        self.errors = errors
        codes = ", ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
        super().__init__(f"HTTP {status}: {codes}")

    @property
    def code(self) -> str | None:
        return self.errors[0].get("code") if self.errors else None


class CitadelClient:
    """A small synchronous client; `api_url` ends in ``/api/v1``."""

    def __init__(
        self,
        api_url: str,
        *,
        api_key: str | None = None,
        token: str | None = None,
        ca_file: str | None = None,
        timeout: float = 30.0,
        http: httpx.Client | None = None,
    ) -> None:
        """`http`: send through this client instead (tests: the application in process)."""
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"ApiKey {api_key}"
        elif token:
            headers["Authorization"] = f"Bearer {token}"
        if http is not None:
            http.base_url = httpx.URL(api_url.rstrip("/"))
            http.headers.update(headers)
            self._http = http
            return
        self._http = httpx.Client(
            base_url=api_url.rstrip("/"),
            headers=headers,
            verify=ssl.create_default_context(cafile=ca_file) if ca_file else True,
            timeout=timeout,
        )

    def __enter__(self) -> CitadelClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the API; raise `ClientError` on an error answer; the JSON it answered."""
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                errors = response.json().get("errors", [])
            except ValueError:
                errors = [{"code": "client.unreadable", "message": response.text[:200]}]
            raise ClientError(response.status_code, errors)
        return response.json() if response.content else {}

    def login(self, email: str, password: str, totp_code: str | None = None) -> TokenOut:
        body: dict[str, Any] = {"username": email, "password": password}
        if totp_code:
            body["totp_code"] = totp_code
        return _parse(TokenOut, self.request("POST", "/users/auth/_login", json=body))

    def whoami(self) -> AuthenticationInfoOut:
        return _parse(AuthenticationInfoOut, self.request("GET", "/users/auth"))

    def list_organizations(self) -> list[OrganizationOut]:
        return _parse(OrganizationListOut, self.request("GET", "/organizations")).organizations

    def get_organization(self, org_id: str) -> OrganizationOut:
        return _parse(OrganizationOut, self.request("GET", f"/organizations/{org_id}"))

    def list_members(self, org_id: str) -> list[MembershipOut]:
        answer = self.request("GET", f"/organizations/{org_id}/members")
        return _parse(MembershipsOut, answer).members

    def invite(
        self, org_id: str, emails: list[str], *, expires_in: str | None = None, roles: Any = None
    ) -> list[InvitationOut]:
        body: dict[str, Any] = {"emails": emails}
        if expires_in:
            body["expires_in"] = expires_in
        if roles is not None:
            body["role_assignments"] = roles
        answer = self.request("POST", f"/organizations/{org_id}/invitations", json=body)
        return _parse(InvitationsOut, answer).invitations

    def create_api_key(
        self, description: str, *, expiration: str | None = None, roles: Any = None
    ) -> ApiKeyOut:
        """A new key; `key` in the answer is the only copy of the secret."""
        body: dict[str, Any] = {"description": description}
        if expiration:
            body["expiration"] = expiration
        if roles is not None:
            body["role_assignments"] = roles
        return _parse(ApiKeyOut, self.request("POST", "/users/auth/keys", json=body))

    def list_api_keys(self) -> list[ApiKeyOut]:
        return _parse(ApiKeysOut, self.request("GET", "/users/auth/keys")).keys

    # --- deployments ---------------------------------------------------------------------

    def create_deployment(
        self,
        body: dict[str, Any],
        *,
        request_id: str | None = None,
        validate_only: bool = False,
    ) -> DeploymentCreateOut:
        """Create a deployment; the answer carries the `elastic` password (only copy)."""
        params: dict[str, Any] = {}
        if request_id:
            params["request_id"] = request_id
        if validate_only:
            params["validate_only"] = "true"
        answer = self.request("POST", "/deployments", json=body, params=params)
        return _parse(DeploymentCreateOut, answer)

    def list_deployments(self) -> list[DeploymentsListingDataOut]:
        return _parse(DeploymentsListOut, self.request("GET", "/deployments")).deployments

    def get_deployment(self, deployment_id: str) -> DeploymentGetOut:
        return _parse(DeploymentGetOut, self.request("GET", f"/deployments/{deployment_id}"))

    def update_deployment(self, deployment_id: str, body: dict[str, Any]) -> DeploymentUpdateOut:
        answer = self.request(
            "PUT", f"/deployments/{deployment_id}", json={"prune_orphans": False, **body}
        )
        return _parse(DeploymentUpdateOut, answer)

    def shutdown_deployment(self, deployment_id: str) -> DeploymentSummaryOut:
        answer = self.request("POST", f"/deployments/{deployment_id}/_shutdown")
        return _parse(DeploymentSummaryOut, answer)

    def delete_deployment(self, deployment_id: str) -> DeploymentSummaryOut:
        answer = self.request("DELETE", f"/deployments/{deployment_id}")
        return _parse(DeploymentSummaryOut, answer)

    def reset_elastic_password(
        self, deployment_id: str, ref_id: str = "main-elasticsearch"
    ) -> ClusterCredentialsOut:
        path = f"/deployments/{deployment_id}/elasticsearch/{ref_id}/_reset-password"
        return _parse(ClusterCredentialsOut, self.request("POST", path))

    def mint_deployment_token(self, deployment_id: str) -> DeploymentTokenOut:
        """A short-lived bearer token for the deployment's Elasticsearch API (ADR 27)."""
        answer = self.request("POST", f"/deployments/{deployment_id}/_token")
        return _parse(DeploymentTokenOut, answer)

    # --- a deployment's SAML and OIDC realms (ours) ---------------------------------------

    def list_deployment_realms(self, deployment_id: str) -> RealmsOut:
        answer = self.request("GET", f"/deployments/{deployment_id}/security/realms")
        return _parse(RealmsOut, answer)

    def put_deployment_realm(self, deployment_id: str, name: str, body: dict[str, Any]) -> RealmOut:
        """Create or replace the realm `name` (`body`: type, order, enabled, settings)."""
        path = f"/deployments/{deployment_id}/security/realms/{name}"
        return _parse(RealmOut, self.request("PUT", path, json=body))

    def delete_deployment_realm(self, deployment_id: str, name: str) -> None:
        self.request("DELETE", f"/deployments/{deployment_id}/security/realms/{name}")

    # --- a deployment's security audit trail (ours) -----------------------------------------

    def list_deployment_audit(self, deployment_id: str, **filters: Any) -> DeploymentAuditEventsOut:
        """One page of the deployment's audit events, newest first; `filters` are the route's
        query parameters (``action`` a list, ``principal``, ``since``, ``cursor``, ...)."""
        path = f"/deployments/{deployment_id}/security/audit"
        answer = self.request("GET", path, params=_query(filters))
        return _parse(DeploymentAuditEventsOut, answer)

    def export_deployment_audit(self, deployment_id: str, **filters: Any) -> Iterator[str]:
        """Every matching audit event, newest first, one Elasticsearch audit JSON line each
        (streamed, not held in memory)."""
        path = f"/deployments/{deployment_id}/security/audit"
        params = _query(filters) | {"format": "ndjson"}
        with self._http.stream("GET", path, params=params) as response:
            if response.status_code >= 400:
                response.read()
                raise _stream_error(response)
            yield from (line for line in response.iter_lines() if line)

    def get_deployment_audit_settings(self, deployment_id: str) -> AuditSettingsOut:
        answer = self.request("GET", f"/deployments/{deployment_id}/security/audit/settings")
        return _parse(AuditSettingsOut, answer)

    def update_deployment_audit_settings(
        self, deployment_id: str, body: dict[str, Any]
    ) -> AuditSettingsOut:
        """Change the fields `body` holds; the others keep their value."""
        path = f"/deployments/{deployment_id}/security/audit/settings"
        return _parse(AuditSettingsOut, self.request("PUT", path, json=body))

    # --- serverless projects ---------------------------------------------------------------

    _PROJECTS = "/serverless/projects"

    def create_project(self, project_type: str, body: dict[str, Any]) -> ProjectCreatedOut:
        """Create a project of `project_type`; the answer carries the `admin` credentials
        (the only copy of the password)."""
        answer = self.request("POST", f"{self._PROJECTS}/{project_type}", json=body)
        return _parse(ProjectCreatedOut, answer)

    def list_projects(self, project_type: str, **filters: Any) -> list[ProjectOut]:
        """The projects of `project_type` the caller may read; `filters` are the listing's
        query parameters (``traffic_filter``, ``linked``)."""
        answer = self.request("GET", f"{self._PROJECTS}/{project_type}", params=_query(filters))
        return _parse(ProjectListOut, answer).items

    def get_project(self, project_type: str, project_id: str) -> ProjectOut:
        answer = self.request("GET", f"{self._PROJECTS}/{project_type}/{project_id}")
        return _parse(ProjectOut, answer)

    def project_status(self, project_type: str, project_id: str) -> ProjectStatusOut:
        """The project's phase and when it last changed."""
        path = f"{self._PROJECTS}/{project_type}/{project_id}/status"
        return _parse(ProjectStatusOut, self.request("GET", path))

    def update_project(
        self,
        project_type: str,
        project_id: str,
        body: dict[str, Any],
        *,
        if_match: str | None = None,
    ) -> ProjectOut:
        """Change the fields `body` holds (`if_match`: the ETag the change must apply to)."""
        path = f"{self._PROJECTS}/{project_type}/{project_id}"
        answer = self.request("PATCH", path, json=body, headers=_if_match(if_match))
        return _parse(ProjectOut, answer)

    def delete_project(
        self, project_type: str, project_id: str, *, if_match: str | None = None
    ) -> None:
        """Schedule the project's deletion (phase ``deleting``, then gone)."""
        path = f"{self._PROJECTS}/{project_type}/{project_id}"
        self.request("DELETE", path, headers=_if_match(if_match))

    def reset_project_credentials(
        self, project_type: str, project_id: str, *, if_match: str | None = None
    ) -> CredentialsOut:
        """A new password for the project's `admin` user (the old one stops working); the
        only copy."""
        path = f"{self._PROJECTS}/{project_type}/{project_id}/_reset-credentials"
        return _parse(CredentialsOut, self.request("POST", path, headers=_if_match(if_match)))

    def resume_project(
        self, project_type: str, project_id: str, *, if_match: str | None = None
    ) -> None:
        """Wake an idle-stopped project or resume a suspended one (a running one: nothing)."""
        path = f"{self._PROJECTS}/{project_type}/{project_id}/_resume"
        self.request("POST", path, headers=_if_match(if_match))

    def mint_project_token(self, project_type: str, project_id: str) -> ProjectTokenOut:
        """A short-lived bearer token for the project's Elasticsearch API (ours, as a
        deployment's `_token`, ADR 27)."""
        path = f"{self._PROJECTS}/{project_type}/{project_id}/_token"
        return _parse(ProjectTokenOut, self.request("POST", path))

    # --- domain claims ---------------------------------------------------------------------

    def list_domains(self, org_id: str) -> list[DomainOut]:
        answer = self.request("GET", f"/organizations/{org_id}/domains")
        return _parse(DomainsOut, answer).domains

    def add_domain(self, org_id: str, domain: str) -> DomainOut:
        body = {"domain": domain}
        answer = self.request("POST", f"/organizations/{org_id}/domains", json=body)
        return _parse(DomainOut, answer)

    def get_domain(self, org_id: str, domain: str) -> DomainOut:
        answer = self.request("GET", f"/organizations/{org_id}/domains/{domain}")
        return _parse(DomainOut, answer)

    def verify_domain(self, org_id: str, domain: str) -> DomainOut:
        answer = self.request("POST", f"/organizations/{org_id}/domains/{domain}/_verify")
        return _parse(DomainOut, answer)

    def remove_domain(self, org_id: str, domain: str) -> EmptyOut:
        answer = self.request("DELETE", f"/organizations/{org_id}/domains/{domain}")
        return _parse(EmptyOut, answer)

    # --- single sign-on --------------------------------------------------------------------

    def get_sso(self, org_id: str) -> SsoConfigurationOut:
        answer = self.request("GET", f"/organizations/{org_id}/sso")
        return _parse(SsoConfigurationOut, answer)

    def configure_sso(self, org_id: str, body: dict[str, Any]) -> SsoConfigurationOut:
        answer = self.request("PUT", f"/organizations/{org_id}/sso", json=body)
        return _parse(SsoConfigurationOut, answer)

    def remove_sso(self, org_id: str) -> EmptyOut:
        return _parse(EmptyOut, self.request("DELETE", f"/organizations/{org_id}/sso"))

    def list_role_mappings(self, org_id: str) -> list[RoleMappingOut]:
        answer = self.request("GET", f"/organizations/{org_id}/sso/role-mappings")
        return _parse(RoleMappingsOut, answer).role_mappings

    def create_role_mapping(self, org_id: str, body: dict[str, Any]) -> RoleMappingOut:
        path = f"/organizations/{org_id}/sso/role-mappings"
        return _parse(RoleMappingOut, self.request("POST", path, json=body))

    def remove_role_mapping(self, org_id: str, mapping_id: str) -> EmptyOut:
        path = f"/organizations/{org_id}/sso/role-mappings/{mapping_id}"
        return _parse(EmptyOut, self.request("DELETE", path))

    def set_enforcement(self, org_id: str, method: str | None) -> OrganizationOut:
        body = {"enforce_authentication_method": method}
        answer = self.request("PUT", f"/organizations/{org_id}", json=body)
        return _parse(OrganizationOut, answer)

    # --- traffic filters -----------------------------------------------------------------

    _TF = "/deployments/traffic-filter"

    def list_rulesets(
        self, *, region: str | None = None, include_associations: bool = False
    ) -> list[RulesetOut]:
        params: dict[str, Any] = {"include_associations": str(include_associations).lower()}
        if region:
            params["region"] = region
        answer = self.request("GET", f"{self._TF}/rulesets", params=params)
        return _parse(RulesetsOut, answer).rulesets

    def get_ruleset(self, ruleset_id: str, *, include_associations: bool = False) -> RulesetOut:
        params = {"include_associations": str(include_associations).lower()}
        answer = self.request("GET", f"{self._TF}/rulesets/{ruleset_id}", params=params)
        return _parse(RulesetOut, answer)

    def ruleset_history(self, ruleset_id: str) -> list[HistoryEntryOut]:
        answer = self.request("GET", f"{self._TF}/rulesets/{ruleset_id}/history")
        return _parse(HistoryOut, answer).history

    def create_ruleset(
        self, body: dict[str, Any], *, validate_only: bool = False, force: bool = False
    ) -> RulesetChange:
        params = _flags(validate_only=validate_only, force=force)
        answer = self.request("POST", f"{self._TF}/rulesets", json=body, params=params)
        return _parse(RulesetChange, answer)

    def update_ruleset(
        self,
        ruleset_id: str,
        body: dict[str, Any],
        *,
        version: int | None = None,
        validate_only: bool = False,
        force: bool = False,
    ) -> RulesetChange:
        params = _flags(validate_only=validate_only, force=force)
        if version is not None:
            params["version"] = version
        path = f"{self._TF}/rulesets/{ruleset_id}"
        return _parse(RulesetChange, self.request("PUT", path, json=body, params=params))

    def delete_ruleset(self, ruleset_id: str, *, ignore_associations: bool = False) -> EmptyOut:
        params = _flags(ignore_associations=ignore_associations)
        path = f"{self._TF}/rulesets/{ruleset_id}"
        return _parse(EmptyOut, self.request("DELETE", path, params=params))

    def associate_ruleset(
        self,
        ruleset_id: str,
        deployment_id: str,
        *,
        validate_only: bool = False,
        force: bool = False,
    ) -> AssociationChange:
        body = {"entity_type": "deployment", "id": deployment_id}
        params = _flags(validate_only=validate_only, force=force)
        path = f"{self._TF}/rulesets/{ruleset_id}/associations"
        return _parse(AssociationChange, self.request("POST", path, json=body, params=params))

    def disassociate_ruleset(
        self, ruleset_id: str, deployment_id: str, *, force: bool = False
    ) -> EmptyOut:
        path = f"{self._TF}/rulesets/{ruleset_id}/associations/deployment/{deployment_id}"
        return _parse(EmptyOut, self.request("DELETE", path, params=_flags(force=force)))

    def list_link_ids(self, *, region: str | None = None) -> list[ClaimedLinkIdOut]:
        params = {"region": region} if region else {}
        answer = self.request("GET", f"{self._TF}/link-ids", params=params)
        return _parse(ClaimedLinkIdsOut, answer).claimed_link_ids

    def claim_link_id(self, body: dict[str, Any]) -> ClaimedLinkIdOut:
        answer = self.request("POST", f"{self._TF}/link-ids/_claim", json=body)
        return _parse(ClaimedLinkIdOut, answer)

    def unclaim_link_id(self, body: dict[str, Any]) -> EmptyOut:
        answer = self.request("POST", f"{self._TF}/link-ids/_unclaim", json=body)
        return _parse(EmptyOut, answer)

    def static_ips(self) -> StaticIpsOut:
        return _parse(StaticIpsOut, self.request("GET", "/platform/static-ips"))

    def list_allocators(self) -> AllocatorOverviewOut:
        """The platform's allocators by zone (platform owners, ADR 31)."""
        answer = self.request("GET", "/platform/infrastructure/allocators")
        return _parse(AllocatorOverviewOut, answer)

    def get_allocator(self, allocator_id: str) -> AllocatorInfoOut:
        answer = self.request("GET", f"/platform/infrastructure/allocators/{allocator_id}")
        return _parse(AllocatorInfoOut, answer)

    # --- join tokens (ours, ADR 33) --------------------------------------------------------

    def create_join_token(
        self, role: str, *, ttl_s: int | None = None, name: str | None = None
    ) -> JoinTokenOut:
        """A token one host joins with as `role`; `token` in the answer is its only copy."""
        body: dict[str, Any] = {"role": role}
        if ttl_s is not None:
            body["ttl_s"] = ttl_s
        if name is not None:
            body["name"] = name
        return _parse(JoinTokenOut, self.request("POST", "/platform/join-tokens", json=body))


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(model: Any) -> TypeAdapter[Any]:
    if model not in _ADAPTERS:
        _ADAPTERS[model] = TypeAdapter(model)
    return _ADAPTERS[model]


def _parse(model: type[T] | Any, answer: Any) -> T:
    """`answer` (the JSON the API sent) as `model`: a response model, or a union of them."""
    parsed: T = _adapter(model).validate_python(answer)
    return parsed


def _stream_error(response: httpx.Response) -> ClientError:
    """The error of a streamed answer (read whole: an error body is small)."""
    try:
        errors = response.json().get("errors", [])
    except ValueError:
        errors = [{"code": "client.unreadable", "message": response.text[:200]}]
    return ClientError(response.status_code, errors)


def _query(params: dict[str, Any]) -> dict[str, Any]:
    """Query parameters of those given a value (None and empty lists left out)."""
    return {name: value for name, value in params.items() if value not in (None, [], ())}


def _if_match(etag: str | None) -> dict[str, str]:
    """The ``If-Match`` header, when an ETag is given."""
    return {"If-Match": etag} if etag else {}


def _flags(**flags: bool) -> dict[str, Any]:
    """Query parameters for the flags that are set."""
    return {name: "true" for name, value in flags.items() if value}
