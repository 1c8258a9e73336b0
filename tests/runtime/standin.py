"""A STAND-IN for the control plane's internal API (ADR 9), for allocator tests.

It serves the same JSON as ``/internal/v1`` over real mTLS (client certificates from the
platform CA required) and signs node CSRs with the real `citadel.pki.components` code, but
keeps the allocations in memory so a test can say what should run. The real internal API is
tested with the control plane; this keeps the allocator's tests independent of its database.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from citadel.crypto.keyring import Keyring, open_keyring
from citadel.crypto.providers.local import LocalKeyFile
from citadel.pki.authority import ensure_api_certificate
from citadel.pki.components import (
    ComponentCertificate,
    ensure_component_certificate,
    sign_node_certificate,
)
from citadel.runtime.control_plane import ComponentTls


@dataclass
class StandInControlPlane:
    """Allocations in memory; status reports recorded in order."""

    data_dir: Path
    keyring: Keyring
    provider: LocalKeyFile
    allocations: dict[str, dict] = field(default_factory=dict)
    reports: list[tuple[str, dict]] = field(default_factory=list)
    version: int = 0
    url: str = ""
    up: bool = True
    _server: ThreadingHTTPServer | None = None

    def allocate(self, dep_id: str, uid: int, *, state: str = "running", password: str | None):
        """Add a deployment with a fresh data key wrapped by the platform key."""
        wrapped = self.provider.wrap(os.urandom(32), context=f"deployment:{dep_id}".encode())
        self.allocations[dep_id] = {
            "id": dep_id,
            "region": "local",
            "desired_state": state,
            "sandbox_uid": uid,
            "wrapped_data_key": base64.b64encode(wrapped).decode(),
            "key_path": self.provider.describe().key_path,
            "elastic_password": password,
        }
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

            def _send(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if not plane.up:
                    self._send(503, {"errors": [{"code": "unavailable"}]})
                elif self.path == "/internal/v1/allocations":
                    body = {
                        "version": plane.version,
                        "deployments": list(plane.allocations.values()),
                    }
                    self._send(200, json.loads(json.dumps(body)))
                else:
                    self._send(404, {})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                parts = self.path.strip("/").split("/")
                if not plane.up:
                    self._send(503, {})
                elif parts[:3] == ["internal", "v1", "deployments"] and parts[4] == "status":
                    plane.reports.append((parts[3], body))
                    if body.get("elastic_password_applied") and parts[3] in plane.allocations:
                        plane.allocations[parts[3]]["elastic_password"] = None
                    self._send(200, {})
                elif (
                    parts[:3] == ["internal", "v1", "deployments"]
                    and parts[4] == "node-certificate"
                ):
                    cert, ca = sign_node_certificate(
                        plane.data_dir, plane.keyring, body["csr"].encode(), parts[3]
                    )
                    self._send(200, {"certificate": cert.decode(), "ca": ca.decode()})
                else:
                    self._send(404, {})

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        self._server = server
        self.url = f"https://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def stand_in(data_dir: Path) -> StandInControlPlane:
    """A running stand-in with its own platform key and keyring under `data_dir`."""
    provider = LocalKeyFile.create_or_open(data_dir / "keys" / "platform.key")
    keyring = open_keyring(data_dir / "keys" / "keyring.wrapped", provider)
    plane = StandInControlPlane(data_dir, keyring, provider)
    plane.start()
    return plane
