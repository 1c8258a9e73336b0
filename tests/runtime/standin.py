"""A STAND-IN for the control plane's internal API (ADR 9, ADR 17), for allocator tests.

It serves the contract's messages (`citadel.contract.messages`) over real mTLS (client
certificates from the platform CA required), admits only the allocator's certificate, checks
and states the contract version, answers 304 to an allocator that already has the current
allocations, and signs node CSRs with the real `citadel.pki.components` code; but it keeps
the allocations in memory (as the contract's JSON, so a test can change any field) to say
what should run. The real internal API is tested with the control plane; this keeps the
allocator's tests independent of its database.
"""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from pydantic import BaseModel, ValidationError

from citadel.contract.client import ComponentTls
from citadel.contract.messages import (
    CONTRACT_HEADER,
    CONTRACT_VERSION,
    Allocation,
    Allocations,
    ComponentKind,
    DesiredState,
    Empty,
    NodeCertificate,
    NodeCertificateRequest,
    SecurityEvents,
    SnapshotRepository,
    StatusReport,
    data_key_context,
    to_json,
)
from citadel.crypto.keyring import Keyring, open_keyring
from citadel.crypto.providers.local import LocalKeyFile
from citadel.pki.authority import ensure_api_certificate
from citadel.pki.components import (
    ComponentCertificate,
    component_kind_of,
    ensure_component_certificate,
    sign_node_certificate,
)


@dataclass
class StandInControlPlane:
    """Allocations in memory; status reports recorded in order."""

    data_dir: Path
    keyring: Keyring
    provider: LocalKeyFile
    allocations: dict[str, dict] = field(default_factory=dict)
    reports: list[tuple[str, dict]] = field(default_factory=list)
    security_events: list[tuple[str, dict]] = field(default_factory=list)  # as posted, in order
    version: int = 0
    url: str = ""
    up: bool = True
    not_modified: int = 0  # 304 answers given
    contract_version: int = CONTRACT_VERSION  # what it says it speaks (a test may change it)
    repository: SnapshotRepository | None = None  # the platform's snapshots (ADR 30); None: none
    _server: ThreadingHTTPServer | None = None

    def allocate(
        self,
        dep_id: str,
        uid: int,
        *,
        state: str = "running",
        password: str | None,
        size_mb: int | None = None,
    ) -> None:
        """Add a deployment with a fresh data key wrapped by the platform key."""
        wrapped = self.provider.wrap(os.urandom(32), context=data_key_context(dep_id))
        allocation = Allocation(
            id=dep_id,
            desired_state=DesiredState(state),
            sandbox_uid=uid,
            wrapped_data_key=wrapped,
            key_path=self.provider.describe().key_path,
            elastic_password=password,
            size_mb=size_mb,
        )
        self.allocations[dep_id] = to_json(allocation)
        self.version += 1

    def set_state(self, dep_id: str, state: str) -> None:
        self.allocations[dep_id]["desired_state"] = state
        self.version += 1

    def last_report(self, dep_id: str) -> dict | None:
        found = [r for i, r in self.reports if i == dep_id]
        return found[-1] if found else None

    def component(self, name: str) -> ComponentTls:
        cert: ComponentCertificate = ensure_component_certificate(self.data_dir, self.keyring, name)
        return ComponentTls(cert.ca_file, cert.cert_file, cert.key_file, cert.key_password)

    def document(self) -> Allocations:
        """What `GET /allocations` answers now (tests may have changed any field)."""
        deployments = tuple(Allocation.model_validate(a) for a in self.allocations.values())
        return Allocations(
            version=self.version, deployments=deployments, repository=self.repository
        )

    def start(self) -> None:
        server_cert = ensure_api_certificate(
            self.data_dir / "pki", self.keyring.barrier, b"pw", ["127.0.0.1"]
        )
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(server_cert.cert_file), str(server_cert.key_file), password=b"pw")
        ctx.load_verify_locations(str(server_cert.ca_file))
        ctx.verify_mode = ssl.CERT_REQUIRED
        plane = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def _send(
                self, status: int, body: BaseModel | dict | None, headers: dict | None = None
            ) -> None:
                data = b"" if body is None else json.dumps(_json(body)).encode()
                self.send_response(status)
                self.send_header(CONTRACT_HEADER, str(plane.contract_version))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _refused(self) -> bool:
                """Only the allocator, speaking this contract, while the plane is up."""
                if not plane.up:
                    self._send(503, {"errors": [{"code": "unavailable"}]})
                    return True
                der = self.connection.getpeercert(binary_form=True)
                pem = ssl.DER_cert_to_PEM_cert(der).encode() if der else b""
                if component_kind_of(pem) is not ComponentKind.ALLOCATOR:
                    self._send(403, {"errors": [{"code": "internal.component_not_allowed"}]})
                    return True
                if self.headers.get(CONTRACT_HEADER) != str(CONTRACT_VERSION):
                    self._send(400, {"errors": [{"code": "internal.contract_mismatch"}]})
                    return True
                return False

            def do_GET(self) -> None:
                if self._refused():
                    return
                # `?allocator=<id>` (ADR 31): everything here is this allocator's
                if self.path.split("?", 1)[0] != "/internal/v1/allocations":
                    self._send(404, {})
                    return
                body = to_json(plane.document())
                tag = '"' + hashlib.sha256(json.dumps(body).encode()).hexdigest()[:32] + '"'
                if self.headers.get("If-None-Match") == tag:
                    plane.not_modified += 1
                    self._send(304, None, {"ETag": tag})
                else:
                    self._send(200, body, {"ETag": tag})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length) or b"{}"
                if self._refused():
                    return
                parts = self.path.strip("/").split("/")
                if parts[:3] != ["internal", "v1", "deployments"] or len(parts) != 5:
                    self._send(404, {})
                    return
                dep_id, action = parts[3], parts[4]
                try:
                    if action == "status":
                        report = StatusReport.model_validate_json(raw)
                        plane.reports.append((dep_id, to_json(report)))
                        if report.elastic_password_applied and dep_id in plane.allocations:
                            plane.allocations[dep_id]["elastic_password"] = None
                        self._send(200, Empty())
                    elif action == "security-events":
                        posted = SecurityEvents.model_validate_json(raw)
                        plane.security_events.append((dep_id, to_json(posted)))
                        self._send(200, Empty())
                    elif action == "node-certificate":
                        csr = NodeCertificateRequest.model_validate_json(raw).csr.encode()
                        cert, ca = sign_node_certificate(plane.data_dir, plane.keyring, csr, dep_id)
                        self._send(200, NodeCertificate(certificate=cert.decode(), ca=ca.decode()))
                    else:
                        self._send(404, {})
                except ValidationError:
                    self._send(400, {"errors": [{"code": "root.invalid_data"}]})

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        self._server = server
        self.url = f"https://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _json(body: BaseModel | dict) -> object:
    return to_json(body) if isinstance(body, BaseModel) else body


def stand_in(data_dir: Path) -> StandInControlPlane:
    """A running stand-in with its own platform key and keyring under `data_dir`."""
    provider = LocalKeyFile.create_or_open(data_dir / "keys" / "platform.key")
    keyring = open_keyring(data_dir / "keys" / "keyring.wrapped", provider)
    plane = StandInControlPlane(data_dir, keyring, provider)
    plane.start()
    return plane
