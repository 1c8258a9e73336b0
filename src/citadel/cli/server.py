"""`citadel up` and `citadel api`: run the control plane over HTTPS."""

from __future__ import annotations

import json
import os
import ssl
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console

from citadel.api.app import create_app
from citadel.bootstrap import (
    Services,
    api_certificate,
    build,
    ensure_first_organization,
    first_organization_id,
)
from citadel.cli.options import DEFAULT_DATA_DIR, DataDir
from citadel.config import load_settings
from citadel.db.migrate import upgrade
from citadel.log import configure_logging
from citadel.node.serving import GracefulServer

console = Console(stderr=False)

Host = Annotated[str, typer.Option("--host", envvar="CITADEL_API_HOST", help="Listen address.")]
Port = Annotated[int, typer.Option("--port", envvar="CITADEL_API_PORT", help="HTTPS port.")]
AdminEmail = Annotated[
    str,
    typer.Option(
        "--admin-email",
        envvar="CITADEL_ADMIN_EMAIL",
        help="Email of the first Organization owner (first start only).",
    ),
]


def up(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    host: Host = "127.0.0.1",
    port: Port = 8443,
    admin_email: AdminEmail = "admin@citadel.localhost",
) -> None:
    """Start Citadel on embedded defaults: HTTPS control plane, SQLCipher, local key file."""
    _serve(data_dir, host, port, admin_email=admin_email)


def api(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    host: Host = "127.0.0.1",
    port: Port = 8443,
) -> None:
    """Run only the control plane (for several replicas against PostgreSQL)."""
    _serve(data_dir, host, port, admin_email=None)


def _serve(data_dir: Path, host: str, port: int, *, admin_email: str | None) -> None:
    settings = load_settings(data_dir=data_dir, api_host=host, api_port=port)
    configure_logging(settings.log_level)
    services = build(settings)
    upgrade(services.db.engine)
    cert = api_certificate(services)
    if admin_email is not None:
        first = ensure_first_organization(
            services, admin_email=admin_email, password_file=settings.bootstrap_password_file
        )
        if first is not None:
            _announce_owner(first.email, first.password)
    api_url = f"https://{_url_host(host, settings.public_hostname)}:{port}/api/v1"
    endpoints = {
        "api_url": api_url,
        "console_url": f"https://{_url_host(host, settings.public_hostname)}:{port}/",
        "ca_file": str(cert.ca_file.resolve()),
        "organization_id": first_organization_id(services),
        "pid": os.getpid(),
    }
    config = uvicorn.Config(
        create_app(services),
        host=host,
        port=port,
        ssl_certfile=str(cert.cert_file),
        ssl_keyfile=str(cert.key_file),
        ssl_keyfile_password=cert.key_password.decode(),
        ssl_ciphers="ECDHE+AESGCM:ECDHE+CHACHA20",
        log_level="warning",
        server_header=False,
        proxy_headers=False,
        timeout_keep_alive=30,
    )
    server = _Server(config, services, endpoints)
    server.run()


class _Server(GracefulServer):
    """Announces the endpoints once the socket listens; removes them on the way out."""

    def __init__(self, config: uvicorn.Config, services: Services, endpoints: dict) -> None:
        super().__init__(config)
        self.services = services
        self.endpoints = endpoints
        self.run_dir = services.settings.data_dir / "run"

    async def startup(self, sockets=None) -> None:  # type: ignore[no-untyped-def]
        await super().startup(sockets=sockets)
        _harden(self)
        self.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.run_dir / "endpoints.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.endpoints, indent=2))
        tmp.replace(path)
        console.print(f"[bold green]Citadel is up[/] · API {self.endpoints['api_url']}")
        console.print(f"CA certificate: {self.endpoints['ca_file']}")
        console.print(f"Organization: {self.endpoints['organization_id']}")
        console.print(f"Endpoints written to {path}")

    async def shutdown(self, sockets=None) -> None:  # type: ignore[no-untyped-def]
        await super().shutdown(sockets=sockets)
        (self.run_dir / "endpoints.json").unlink(missing_ok=True)
        self.services.close()


def _harden(server: uvicorn.Server) -> None:
    """TLS 1.2 minimum on every listening socket's context (uvicorn builds it)."""
    ctx = getattr(server.config, "ssl", None)
    if isinstance(ctx, ssl.SSLContext):
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2


def _url_host(host: str, public_hostname: str) -> str:
    if host in ("0.0.0.0", "::"):
        return public_hostname
    return f"[{host}]" if ":" in host else host


def _announce_owner(email: str, password: str | None) -> None:
    console.print(f"Created the first Organization owner: [bold]{email}[/]")
    if password is not None:
        console.print(f"Password (shown once): [bold]{password}[/]")
    console.print("Sign in with it; you will enrol a second factor at the first sign-in.")
