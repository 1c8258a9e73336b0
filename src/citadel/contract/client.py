"""The one client of the internal API (ADR 17): mTLS with a component's certificate.

The allocator uses the synchronous calls (`allocations`, `report_status`, `node_certificate`,
`rewrap`); the gateway uses an asynchronous client from `client()` with `fetch_routes`,
`report_clients`, and for serverless projects `wake_project` and `report_activity`. Every
request carries the contract version; an answer without it, or with another, is refused as
`ContractMismatch`. `allocations` is conditional: the control plane
answers 304 while nothing changed and the last list is returned again.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from citadel.contract.messages import (
    CONTRACT_HEADER,
    CONTRACT_VERSION,
    PREFIX,
    Allocations,
    AllocatorHeartbeat,
    ComponentCertificateAnswer,
    ComponentCertificateRequest,
    GatewaySecurityEvents,
    NodeCertificate,
    NodeCertificateRequest,
    ObservedState,
    ProjectActivity,
    Rewrapped,
    RoutesSnapshot,
    SecurityEvents,
    SeenClients,
    StatusReport,
    WakeAnswer,
    to_json,
)

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class ComponentTls:
    """The platform CA and a component's client certificate (key PEM password-protected)."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    key_password: bytes | None = None

    def client_context(self) -> ssl.SSLContext:
        """The TLS client context that trusts the platform CA and presents the certificate:
        one object per `ComponentTls`, so a renewed certificate loaded into it (ADR 18)
        reaches every new connection of every client built over it."""
        return self._context

    @cached_property
    def _context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca_file))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(self.cert_file), str(self.key_file), password=self.key_password)
        return ctx


class ControlPlaneUnavailable(Exception):
    """The internal API did not answer, or answered with an error."""


class ContractMismatch(ControlPlaneUnavailable):
    """The other side speaks another version of the internal contract."""


@dataclass(frozen=True)
class RoutesFetch:
    """One conditional fetch of the routes: unchanged (304), or the document and its tag."""

    not_modified: bool
    body: bytes = b""
    etag: str | None = None


def check_version(response: httpx.Response) -> None:
    """Refuse an answer of another contract version (or of no version: not our API)."""
    spoken = response.headers.get(CONTRACT_HEADER)
    if spoken != str(CONTRACT_VERSION):
        raise ContractMismatch(
            f"{response.request.method} {response.request.url.path}: the control plane speaks "
            f"internal contract {spoken or 'none'}, this component speaks {CONTRACT_VERSION}"
        )


def parse(model: type[M], response: httpx.Response) -> M:
    """The answer as `model`, after the version check; a malformed one is unavailable."""
    check_version(response)
    try:
        return model.model_validate_json(response.content or b"{}")
    except ValidationError as exc:
        raise ControlPlaneUnavailable(
            f"{response.request.url.path}: not a {model.__name__} ({exc.error_count()} errors)"
        ) from exc


class ControlPlane:
    """A client of ``/internal/v1`` over mTLS, as one component."""

    def __init__(self, internal_url: str, tls: ComponentTls, *, timeout: float = 10.0) -> None:
        base = internal_url.rstrip("/")
        self.internal_url = base.removesuffix(PREFIX)
        self.tls = tls
        self.timeout = timeout
        self._http: httpx.Client | None = None
        self._allocations: Allocations | None = None
        self._allocations_tag: str | None = None

    @property
    def routes_url(self) -> str:
        """Where the gateway fetches its snapshot."""
        return f"{self.internal_url}{PREFIX}/routes"

    @property
    def clients_url(self) -> str:
        """Where the gateway reports the clients it has seen (the lockout guard reads them)."""
        return f"{self.internal_url}{PREFIX}/gateway/clients"

    @property
    def activity_url(self) -> str:
        """Where the gateway reports the projects it forwarded requests to (idle stops)."""
        return f"{self.internal_url}{PREFIX}/gateway/activity"

    @staticmethod
    def headers() -> dict[str, str]:
        """The headers every request carries: the contract version."""
        return {CONTRACT_HEADER: str(CONTRACT_VERSION)}

    def ssl_context(self) -> ssl.SSLContext:
        """The component's TLS client context."""
        return self.tls.client_context()

    # -- the allocator (synchronous) ----------------------------------------------------

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def allocations(self, *, allocator: str | None = None) -> Allocations:
        """``GET /allocations``, conditional on the last answer's tag; with `allocator` only
        the deployments placed on it (ADR 31). One client asks for one allocator's."""
        headers = {"If-None-Match": self._allocations_tag} if self._allocations_tag else {}
        params = {"allocator": allocator} if allocator is not None else None
        response = self._send("GET", "/allocations", headers=headers, params=params)
        if response.status_code == 304 and self._allocations is not None:
            check_version(response)
            return self._allocations
        answer = parse(Allocations, self._ok(response))
        self._allocations = answer
        self._allocations_tag = response.headers.get("etag")
        return answer

    def heartbeat(self, allocator_id: str, beat: AllocatorHeartbeat) -> None:
        """``POST /allocators/{id}/heartbeat``: this allocator's address, zone and capacity."""
        path = f"/allocators/{allocator_id}/heartbeat"
        check_version(self._ok(self._send("POST", path, json=to_json(beat))))

    def node_certificate(self, deployment_id: str, csr_pem: bytes) -> NodeCertificate:
        """``POST /deployments/{id}/node-certificate`` with a CSR."""
        body = NodeCertificateRequest(csr=csr_pem.decode())
        path = f"/deployments/{deployment_id}/node-certificate"
        return parse(NodeCertificate, self._ok(self._send("POST", path, json=to_json(body))))

    def component_certificate(self, csr_pem: bytes) -> ComponentCertificateAnswer:
        """``POST /components/certificate``: this joined component's next certificate, over
        the CSR's key (ADR 33)."""
        body = ComponentCertificateRequest(csr=csr_pem.decode())
        answer = self._ok(self._send("POST", "/components/certificate", json=to_json(body)))
        return parse(ComponentCertificateAnswer, answer)

    def gateway_server_certificate(self, csr_pem: bytes) -> ComponentCertificateAnswer:
        """``POST /gateway/server-certificate``: a joined gateway's listener certificate,
        over the CSR's key, for the names the control plane decides (ADR 33)."""
        body = ComponentCertificateRequest(csr=csr_pem.decode())
        answer = self._ok(self._send("POST", "/gateway/server-certificate", json=to_json(body)))
        return parse(ComponentCertificateAnswer, answer)

    def report_status(self, deployment_id: str, report: StatusReport) -> None:
        """``POST /deployments/{id}/status``."""
        path = f"/deployments/{deployment_id}/status"
        check_version(self._ok(self._send("POST", path, json=to_json(report))))

    def send_security_events(self, deployment_id: str, events: SecurityEvents) -> None:
        """``POST /deployments/{id}/security-events``: audit events collected from the
        deployment's node."""
        path = f"/deployments/{deployment_id}/security-events"
        check_version(self._ok(self._send("POST", path, json=to_json(events))))

    def rewrap(self, deployment_id: str) -> Rewrapped:
        """``POST /deployments/{id}/encryption/_rewrap``: the key has a newer version at its
        provider; the control plane re-wraps the data key under it."""
        path = f"/deployments/{deployment_id}/encryption/_rewrap"
        return parse(Rewrapped, self._ok(self._send("POST", path)))

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self._http is None:
            self._http = httpx.Client(
                base_url=self.internal_url + PREFIX,
                verify=self.tls.client_context(),
                timeout=self.timeout,
                headers=self.headers(),
            )
        try:
            return self._http.request(method, path, **kwargs)
        except (httpx.HTTPError, ssl.SSLError, OSError) as exc:
            raise ControlPlaneUnavailable(f"{method} {path}: {exc}") from exc

    @staticmethod
    def _ok(response: httpx.Response) -> httpx.Response:
        if response.status_code >= 400:
            if response.headers.get(CONTRACT_HEADER, str(CONTRACT_VERSION)) != str(
                CONTRACT_VERSION
            ):
                check_version(response)
            code = _error_code(response)
            raise ControlPlaneUnavailable(
                f"{response.request.method} {response.request.url.path}: "
                f"HTTP {response.status_code}{f' {code}' if code else ''}"
            )
        return response

    # -- the gateway (asynchronous) -----------------------------------------------------

    def client(self) -> httpx.AsyncClient:
        """The gateway's mTLS client (routes and client reports share it)."""
        return httpx.AsyncClient(verify=self.ssl_context(), timeout=5.0, headers=self.headers())

    async def fetch_routes(self, client: httpx.AsyncClient, etag: str | None) -> RoutesFetch:
        """``GET /routes``, conditional on `etag`; raises `httpx.HTTPError` or
        `ControlPlaneUnavailable` on failure."""
        headers = {"If-None-Match": etag} if etag else {}
        response = await client.get(self.routes_url, headers={**self.headers(), **headers})
        if response.status_code == 304:
            check_version(response)
            return RoutesFetch(True)
        response.raise_for_status()
        check_version(response)
        return RoutesFetch(False, response.content, response.headers.get("etag"))

    async def send_gateway_security_events(
        self, client: httpx.AsyncClient, events: GatewaySecurityEvents
    ) -> None:
        """``POST /gateway/security-events``; raises `httpx.HTTPError` on failure."""
        url = f"{self.internal_url}{PREFIX}/gateway/security-events"
        response = await client.post(url, json=to_json(events), headers=self.headers())
        response.raise_for_status()

    async def report_clients(self, client: httpx.AsyncClient, report: SeenClients) -> None:
        """``POST /gateway/clients``; raises `httpx.HTTPError` on failure."""
        response = await client.post(self.clients_url, json=to_json(report), headers=self.headers())
        response.raise_for_status()

    async def wake_project(self, client: httpx.AsyncClient, project_id: str) -> WakeAnswer:
        """``POST /projects/{id}/wake``: start a stopped project (a no-op for a running one).
        A project that does not exist or is being deleted (404) is answered as deleted;
        raises `httpx.HTTPError` or `ControlPlaneUnavailable` (refused, or not our API)."""
        url = f"{self.internal_url}{PREFIX}/projects/{project_id}/wake"
        response = await client.post(url, headers=self.headers())
        if response.status_code == 404:
            check_version(response)
            return WakeAnswer(state=ObservedState.DELETED)
        return parse(WakeAnswer, self._ok(response))

    async def report_activity(self, client: httpx.AsyncClient, activity: ProjectActivity) -> None:
        """``POST /gateway/activity``; raises `httpx.HTTPError` or `ControlPlaneUnavailable`
        on failure."""
        response = await client.post(
            self.activity_url, json=to_json(activity), headers=self.headers()
        )
        check_version(self._ok(response))


def parse_routes(body: bytes) -> RoutesSnapshot:
    """A routes document (raises `pydantic.ValidationError`)."""
    return RoutesSnapshot.model_validate_json(body)


def _error_code(response: httpx.Response) -> str:
    try:
        errors = response.json().get("errors") or [{}]
        return str(errors[0].get("code") or "")
    except (ValueError, AttributeError, IndexError):
        return ""
