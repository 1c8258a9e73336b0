"""The control plane's process behind `citadel up` and `citadel api`: its two HTTPS listeners
(public and internal, mTLS), the endpoints file, and the children `citadel up` supervises.

Imported when one of those commands runs, not when the command line is built: it loads the
whole server (uvicorn, the process root and everything it wires).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import typer
import uvicorn
from rich.console import Console

from citadel.bootstrap import Services, first_organization_id
from citadel.cli.supervise import Child, runtime_children
from citadel.config import load_settings
from citadel.log import configure_logging
from citadel.node.serving import GracefulServer
from citadel.roots import control_plane as root
from citadel.roots import names

console = Console(stderr=False)


def serve(
    data_dir: Path,
    host: str,
    port: int,
    internal_port: int,
    *,
    admin_email: str | None,
    gateway_port: int | None = None,
    log_level: str = "info",
) -> None:
    """Serve until a signal; `log_level` is this process's and its children's."""
    settings = load_settings(
        data_dir=data_dir,
        api_host=host,
        api_port=port,
        internal_port=internal_port,
        gateway_port=gateway_port,
    )
    configure_logging(log_level)
    try:
        process = root.build(settings, admin_email=admin_email)
    except root.WrongPlatform as exc:
        typer.echo(f"citadel: refusing to start: {exc}", err=True)
        raise typer.Exit(1) from None
    services, cert = process.services, process.certificate
    if process.first_owner is not None:
        _announce_owner(process.first_owner.email, process.first_owner.password)
    console.print(f"Invitations are mailed through {services.mailer.describe()}.")
    url_host = _url_host(host, settings.public_hostname)
    api_url = f"https://{url_host}:{port}/api/v1"
    endpoints = {
        "api_url": api_url,
        "internal_url": f"https://{url_host}:{internal_port}",
        "console_url": f"https://{_url_host(host, settings.public_hostname)}:{port}/",
        "ca_file": str(cert.ca_file.resolve()),
        "organization_id": first_organization_id(services),
        "pid": os.getpid(),
    }
    children = []
    if gateway_port is not None:
        endpoints["gateway_url"] = f"https://{url_host}:{gateway_port}"
        domain, regions = settings.deployment_domain, settings.regions
        if unreachable := names.unreachable_regions(
            domain, regions, listen_host=host, port=gateway_port
        ):
            console.print(f"[bold yellow]{names.unreachable_message(domain, unreachable)}[/]")
        children = runtime_children(
            data_dir,
            host=host,
            gateway_port=gateway_port,
            domain=settings.deployment_domain,
            regions=settings.regions,
            log_level=log_level,
        )
    tls: dict[str, Any] = {
        "log_level": "warning",
        "server_header": False,
        "proxy_headers": False,
        "timeout_keep_alive": 30,
    }
    # The root builds both TLS contexts (Mozilla intermediate, the internal one mTLS) and
    # renews their certificate in place; uvicorn serves the very context objects.
    public = uvicorn.Config(
        process.public_app,
        host=host,
        port=port,
        ssl_context_factory=lambda _config, _default: process.public_tls,
        **tls,
    )
    internal = uvicorn.Config(
        process.internal_app,
        host=host,
        port=internal_port,
        ssl_context_factory=lambda _config, _default: process.internal_tls,
        http=process.internal_http,
        **tls,
    )
    process.start_metrics()
    try:
        servers = [_Server(public), _Server(internal)]
        asyncio.run(
            serve_together(
                servers,
                services,
                endpoints,
                children,
                background=[
                    process.renewer.run,
                    process.chores,
                    process.sweep_projects,
                    process.watch_allocators,
                ],
            )
        )
    finally:
        process.close()


class _Server(GracefulServer):
    """One listener of several in the process: a signal to one ends them all."""

    peers: list[_Server]

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.peers = []

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        for server in self.peers or [self]:
            uvicorn.Server.handle_exit(server, sig, frame)


async def serve_together(
    servers: list[_Server],
    services: Services,
    endpoints: dict,
    children: list[Child],
    *,
    background: Sequence[Callable[[], Coroutine[Any, Any, None]]] = (),
) -> None:
    """Serve every listener; announce the endpoints once all listen, then start the children
    (allocator, gateway) and the `background` loops (certificate renewal, chores); stop them
    all and remove the endpoints at the end."""
    for server in servers:
        server.peers = servers
    tasks = [asyncio.create_task(s.serve()) for s in servers]
    supervised: list[asyncio.Task[None]] = []
    run_dir = services.settings.data_dir / "run"
    path = run_dir / "endpoints.json"
    try:
        while not all(s.started for s in servers):
            if any(t.done() for t in tasks):  # one could not listen: stop the others
                for s in servers:
                    s.should_exit = True
                break
            await asyncio.sleep(0.02)
        else:
            _announce(run_dir, path, endpoints)
            supervised = [asyncio.create_task(c.keep_running()) for c in children]
            supervised += [asyncio.create_task(loop()) for loop in background]
        await asyncio.gather(*tasks)
    finally:
        for child in children:
            await child.stop()
        for task in supervised:
            task.cancel()
        path.unlink(missing_ok=True)


def _announce(run_dir: Path, path: Path, endpoints: dict) -> None:
    run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(endpoints, indent=2))
    tmp.replace(path)
    console.print(f"[bold green]Citadel is up[/] · API {endpoints['api_url']}")
    console.print(f"Internal API (mTLS): {endpoints['internal_url']}")
    if "gateway_url" in endpoints:
        console.print(f"Gateway (deployments): {endpoints['gateway_url']}")
    console.print(f"CA certificate: {endpoints['ca_file']}")
    console.print(f"Organization: {endpoints['organization_id']}")
    console.print(f"Endpoints written to {path}")


def _url_host(host: str, public_hostname: str) -> str:
    if host in ("0.0.0.0", "::"):
        return public_hostname
    return f"[{host}]" if ":" in host else host


def _announce_owner(email: str, password: str | None) -> None:
    console.print(f"Created the first Organization owner: [bold]{email}[/]")
    if password is not None:
        console.print(f"Password (shown once): [bold]{password}[/]")
    console.print("Sign in with it; you will enrol a second factor at the first sign-in.")
