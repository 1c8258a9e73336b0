"""The allocator's side of the internal API (ADR 9): mTLS with its component certificate."""

from __future__ import annotations

import base64
import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx

from citadel.crypto.providers.connection import Connection
from citadel.runtime.reconcile import DesiredState


@dataclass(frozen=True)
class ComponentTls:
    """The platform CA and a component's client certificate (key PEM password-protected)."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    key_password: bytes | None = None

    def client_context(self) -> ssl.SSLContext:
        """A TLS client context that trusts the platform CA and presents the certificate."""
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca_file))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(self.cert_file), str(self.key_file), password=self.key_password)
        return ctx


@dataclass(frozen=True)
class Allocation:
    """One deployment the control plane wants placed."""

    id: str
    region: str
    desired_state: DesiredState
    sandbox_uid: int
    wrapped_data_key: bytes | None
    key_path: str | None
    elastic_password: str | None
    key_connection: Connection | None = None  # a customer key's manager; None: the platform's

    @classmethod
    def from_json(cls, item: dict) -> Allocation:
        wrapped = item.get("wrapped_data_key")
        return cls(
            id=str(item["id"]),
            region=str(item.get("region", "local")),
            desired_state=DesiredState(item["desired_state"]),
            sandbox_uid=int(item["sandbox_uid"]),
            wrapped_data_key=base64.b64decode(wrapped) if wrapped else None,
            key_path=item.get("key_path"),
            elastic_password=item.get("elastic_password"),
            key_connection=_connection(item.get("key_connection")),
        )


def _connection(item: dict | None) -> Connection | None:
    if not item:
        return None
    secret = item.get("secret")
    return Connection(
        settings={str(k): str(v) for k, v in (item.get("settings") or {}).items()},
        secret=base64.b64decode(secret) if secret else None,
        timeout_s=float(item.get("timeout_s", 5.0)),
    )


@dataclass(frozen=True)
class Allocations:
    """A versioned snapshot of what should run."""

    version: int
    deployments: tuple[Allocation, ...]


@dataclass(frozen=True)
class NodeCertificate:
    """What the control plane signed for a node, and the CA the node trusts for clients."""

    certificate_pem: bytes
    ca_pem: bytes


@dataclass(frozen=True)
class StatusReport:
    """What the allocator tells the control plane about one deployment."""

    observed_state: str
    healthy: bool
    detail: str = ""
    elastic_password_applied: bool = False


class ControlPlaneUnavailable(Exception):
    """The internal API did not answer, or answered with an error."""


class ControlPlane:
    """A client of ``/internal/v1`` over mTLS."""

    def __init__(self, internal_url: str, tls: ComponentTls, *, timeout: float = 10.0) -> None:
        self._http = httpx.Client(
            base_url=internal_url.rstrip("/"), verify=tls.client_context(), timeout=timeout
        )

    def close(self) -> None:
        self._http.close()

    def allocations(self) -> Allocations:
        """``GET /internal/v1/allocations``."""
        body = self._call("GET", "/internal/v1/allocations")
        return Allocations(
            version=int(body.get("version", 0)),
            deployments=tuple(Allocation.from_json(d) for d in body.get("deployments", [])),
        )

    def node_certificate(self, deployment_id: str, csr_pem: bytes) -> NodeCertificate:
        """``POST /internal/v1/deployments/{id}/node-certificate`` with a CSR."""
        body = self._call(
            "POST",
            f"/internal/v1/deployments/{deployment_id}/node-certificate",
            json={"csr": csr_pem.decode()},
        )
        return NodeCertificate(body["certificate"].encode(), body["ca"].encode())

    def report_status(self, deployment_id: str, report: StatusReport) -> None:
        """``POST /internal/v1/deployments/{id}/status``."""
        self._call(
            "POST",
            f"/internal/v1/deployments/{deployment_id}/status",
            json={
                "observed_state": report.observed_state,
                "healthy": report.healthy,
                "detail": report.detail,
                "elastic_password_applied": report.elastic_password_applied,
            },
        )

    def rewrap(self, deployment_id: str) -> dict:
        """``POST /internal/v1/deployments/{id}/encryption/_rewrap``: the key has a newer
        version at its provider; the control plane re-wraps the data key under it."""
        return self._call("POST", f"/internal/v1/deployments/{deployment_id}/encryption/_rewrap")

    def _call(self, method: str, path: str, **kwargs: object) -> dict:
        try:
            response = self._http.request(method, path, **kwargs)  # type: ignore[arg-type]
        except (httpx.HTTPError, ssl.SSLError, OSError) as exc:
            raise ControlPlaneUnavailable(f"{method} {path}: {exc}") from exc
        if response.status_code >= 400:
            raise ControlPlaneUnavailable(f"{method} {path}: HTTP {response.status_code}")
        try:
            return response.json() if response.content else {}
        except ValueError as exc:
            raise ControlPlaneUnavailable(f"{method} {path}: not JSON") from exc
