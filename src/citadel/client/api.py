"""`CitadelClient`: the Cloud API over HTTPS, verifying the platform CA."""

from __future__ import annotations

import ssl
from typing import Any

import httpx


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
    ) -> None:
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"ApiKey {api_key}"
        elif token:
            headers["Authorization"] = f"Bearer {token}"
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
        """Call the API; raise `ClientError` on an error answer."""
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                errors = response.json().get("errors", [])
            except ValueError:
                errors = [{"code": "client.unreadable", "message": response.text[:200]}]
            raise ClientError(response.status_code, errors)
        return response.json() if response.content else {}

    def login(self, email: str, password: str, totp_code: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"username": email, "password": password}
        if totp_code:
            body["totp_code"] = totp_code
        return self.request("POST", "/users/auth/_login", json=body)

    def whoami(self) -> dict[str, Any]:
        return self.request("GET", "/users/auth")

    def list_organizations(self) -> list[dict[str, Any]]:
        return self.request("GET", "/organizations")["organizations"]

    def get_organization(self, org_id: str) -> dict[str, Any]:
        return self.request("GET", f"/organizations/{org_id}")

    def list_members(self, org_id: str) -> list[dict[str, Any]]:
        return self.request("GET", f"/organizations/{org_id}/members")["members"]

    def invite(
        self, org_id: str, emails: list[str], *, expires_in: str | None = None, roles: Any = None
    ) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"emails": emails}
        if expires_in:
            body["expires_in"] = expires_in
        if roles is not None:
            body["role_assignments"] = roles
        return self.request("POST", f"/organizations/{org_id}/invitations", json=body)[
            "invitations"
        ]

    def create_api_key(
        self, description: str, *, expiration: str | None = None, roles: Any = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"description": description}
        if expiration:
            body["expiration"] = expiration
        if roles is not None:
            body["role_assignments"] = roles
        return self.request("POST", "/users/auth/keys", json=body)

    def list_api_keys(self) -> list[dict[str, Any]]:
        return self.request("GET", "/users/auth/keys")["keys"]

    # --- deployments ---------------------------------------------------------------------

    def create_deployment(
        self,
        body: dict[str, Any],
        *,
        request_id: str | None = None,
        validate_only: bool = False,
    ) -> dict[str, Any]:
        """Create a deployment; the answer carries the `elastic` password (only copy)."""
        params: dict[str, Any] = {}
        if request_id:
            params["request_id"] = request_id
        if validate_only:
            params["validate_only"] = "true"
        return self.request("POST", "/deployments", json=body, params=params)

    def list_deployments(self) -> list[dict[str, Any]]:
        return self.request("GET", "/deployments")["deployments"]

    def get_deployment(self, deployment_id: str) -> dict[str, Any]:
        return self.request("GET", f"/deployments/{deployment_id}")

    def update_deployment(self, deployment_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request(
            "PUT", f"/deployments/{deployment_id}", json={"prune_orphans": False, **body}
        )

    def shutdown_deployment(self, deployment_id: str) -> dict[str, Any]:
        return self.request("POST", f"/deployments/{deployment_id}/_shutdown")

    def delete_deployment(self, deployment_id: str) -> dict[str, Any]:
        return self.request("DELETE", f"/deployments/{deployment_id}")

    def reset_elastic_password(
        self, deployment_id: str, ref_id: str = "main-elasticsearch"
    ) -> dict[str, Any]:
        return self.request(
            "POST", f"/deployments/{deployment_id}/elasticsearch/{ref_id}/_reset-password"
        )

    # --- domain claims ---------------------------------------------------------------------

    def list_domains(self, org_id: str) -> list[dict[str, Any]]:
        return self.request("GET", f"/organizations/{org_id}/domains")["domains"]

    def add_domain(self, org_id: str, domain: str) -> dict[str, Any]:
        body = {"domain": domain}
        return self.request("POST", f"/organizations/{org_id}/domains", json=body)

    def get_domain(self, org_id: str, domain: str) -> dict[str, Any]:
        return self.request("GET", f"/organizations/{org_id}/domains/{domain}")

    def verify_domain(self, org_id: str, domain: str) -> dict[str, Any]:
        return self.request("POST", f"/organizations/{org_id}/domains/{domain}/_verify")

    def remove_domain(self, org_id: str, domain: str) -> dict[str, Any]:
        return self.request("DELETE", f"/organizations/{org_id}/domains/{domain}")

    # --- single sign-on --------------------------------------------------------------------

    def get_sso(self, org_id: str) -> dict[str, Any]:
        return self.request("GET", f"/organizations/{org_id}/sso")

    def configure_sso(self, org_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("PUT", f"/organizations/{org_id}/sso", json=body)

    def remove_sso(self, org_id: str) -> dict[str, Any]:
        return self.request("DELETE", f"/organizations/{org_id}/sso")

    def list_role_mappings(self, org_id: str) -> list[dict[str, Any]]:
        return self.request("GET", f"/organizations/{org_id}/sso/role-mappings")["role_mappings"]

    def create_role_mapping(self, org_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", f"/organizations/{org_id}/sso/role-mappings", json=body)

    def remove_role_mapping(self, org_id: str, mapping_id: str) -> dict[str, Any]:
        return self.request("DELETE", f"/organizations/{org_id}/sso/role-mappings/{mapping_id}")

    def set_enforcement(self, org_id: str, method: str | None) -> dict[str, Any]:
        body = {"enforce_authentication_method": method}
        return self.request("PUT", f"/organizations/{org_id}", json=body)

    # --- traffic filters -----------------------------------------------------------------

    _TF = "/deployments/traffic-filter"

    def list_rulesets(
        self, *, region: str | None = None, include_associations: bool = False
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"include_associations": str(include_associations).lower()}
        if region:
            params["region"] = region
        return self.request("GET", f"{self._TF}/rulesets", params=params)["rulesets"]

    def get_ruleset(self, ruleset_id: str, *, include_associations: bool = False) -> dict:
        params = {"include_associations": str(include_associations).lower()}
        return self.request("GET", f"{self._TF}/rulesets/{ruleset_id}", params=params)

    def ruleset_history(self, ruleset_id: str) -> list[dict[str, Any]]:
        return self.request("GET", f"{self._TF}/rulesets/{ruleset_id}/history")["history"]

    def create_ruleset(
        self, body: dict[str, Any], *, validate_only: bool = False, force: bool = False
    ) -> dict[str, Any]:
        params = _flags(validate_only=validate_only, force=force)
        return self.request("POST", f"{self._TF}/rulesets", json=body, params=params)

    def update_ruleset(
        self,
        ruleset_id: str,
        body: dict[str, Any],
        *,
        version: int | None = None,
        validate_only: bool = False,
        force: bool = False,
    ) -> dict[str, Any]:
        params = _flags(validate_only=validate_only, force=force)
        if version is not None:
            params["version"] = version
        path = f"{self._TF}/rulesets/{ruleset_id}"
        return self.request("PUT", path, json=body, params=params)

    def delete_ruleset(self, ruleset_id: str, *, ignore_associations: bool = False) -> dict:
        params = _flags(ignore_associations=ignore_associations)
        return self.request("DELETE", f"{self._TF}/rulesets/{ruleset_id}", params=params)

    def associate_ruleset(
        self,
        ruleset_id: str,
        deployment_id: str,
        *,
        validate_only: bool = False,
        force: bool = False,
    ) -> dict[str, Any]:
        body = {"entity_type": "deployment", "id": deployment_id}
        params = _flags(validate_only=validate_only, force=force)
        path = f"{self._TF}/rulesets/{ruleset_id}/associations"
        return self.request("POST", path, json=body, params=params)

    def disassociate_ruleset(
        self, ruleset_id: str, deployment_id: str, *, force: bool = False
    ) -> dict[str, Any]:
        path = f"{self._TF}/rulesets/{ruleset_id}/associations/deployment/{deployment_id}"
        return self.request("DELETE", path, params=_flags(force=force))

    def list_link_ids(self, *, region: str | None = None) -> list[dict[str, Any]]:
        params = {"region": region} if region else {}
        return self.request("GET", f"{self._TF}/link-ids", params=params)["claimed_link_ids"]

    def claim_link_id(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", f"{self._TF}/link-ids/_claim", json=body)

    def unclaim_link_id(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", f"{self._TF}/link-ids/_unclaim", json=body)

    def static_ips(self) -> dict[str, Any]:
        return self.request("GET", "/platform/static-ips")


def _flags(**flags: bool) -> dict[str, Any]:
    """Query parameters for the flags that are set."""
    return {name: "true" for name, value in flags.items() if value}
