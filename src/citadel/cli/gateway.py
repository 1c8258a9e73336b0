"""`citadel gateway`: TLS in front of the deployments' nodes (docs/adr/0009)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
import sys
from pathlib import Path
from typing import Annotated, TextIO

import typer
import uvloop

from citadel.cli.options import DEFAULT_DATA_DIR, DataDir, wait_for_endpoints
from citadel.crypto.keyring import open_keyring
from citadel.crypto.providers.local import LocalKeyFile
from citadel.gateway.certificates import ensure_gateway_certificate, gateway_hostnames
from citadel.gateway.proxy import Gateway, run, server_ssl_context, upstream_ssl_context
from citadel.gateway.snapshot import ControlPlane, SnapshotKeeper
from citadel.log import configure_logging, get_logger
from citadel.pki.components import NODE_DOMAIN, ensure_component_certificate

log = get_logger(__name__)
EVENT_FLUSH_S = 0.5  # request events are buffered and written at most this late

Host = Annotated[str, typer.Option("--host", envvar="CITADEL_GATEWAY_HOST", help="Listen address.")]
Port = Annotated[int, typer.Option("--port", envvar="CITADEL_GATEWAY_PORT", help="HTTPS port.")]
Domain = Annotated[
    str,
    typer.Option(
        "--domain",
        envvar="CITADEL_GATEWAY_DOMAIN",
        help="Deployments answer at <id-or-alias>.<region>.<domain>.",
    ),
]
Regions = Annotated[
    list[str], typer.Option("--region", help="Regions in the certificate (repeatable).")
]
CertFile = Annotated[
    Path | None, typer.Option("--cert", help="Your own certificate (PEM) instead of one issued.")
]
KeyFile = Annotated[Path | None, typer.Option("--key", help="The key of --cert (PEM).")]
WaitFor = Annotated[
    float,
    typer.Option(
        "--wait",
        help="Seconds to wait for the control plane's endpoints.json before serving from the "
        "persisted snapshot alone.",
    ),
]
LogLevel = Annotated[str, typer.Option("--log-level", help="info logs every request.")]


def gateway(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    host: Host = "127.0.0.1",
    port: Port = 9243,
    domain: Domain = "citadel.localhost",
    region: Regions = ["local"],  # noqa: B006  (typer reads the default)
    cert: CertFile = None,
    key: KeyFile = None,
    wait: WaitFor = 10.0,
    log_level: LogLevel = "info",
) -> None:
    """Route HTTPS requests to the deployments' nodes (started by `citadel up`)."""
    events = open(sys.stderr.fileno(), "w", buffering=1 << 16, closefd=False)  # noqa: SIM115
    configure_logging(log_level, stream=events)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per refresh otherwise
    key_file = data_dir / "keys" / "platform.key"
    keyring_file = data_dir / "keys" / "keyring.wrapped"
    if not key_file.exists() or not keyring_file.exists():
        typer.echo("citadel gateway: the data directory has no platform key yet", err=True)
        raise typer.Exit(1)
    keyring = open_keyring(keyring_file, LocalKeyFile(key_file))
    component = ensure_component_certificate(data_dir, keyring, "gateway")
    if cert is not None and key is not None:
        server_ssl = server_ssl_context(str(cert), str(key), None)
    else:
        issued = ensure_gateway_certificate(
            data_dir / "pki",
            keyring.barrier,
            keyring.tls_key_password(),
            gateway_hostnames(domain, region),
        )
        server_ssl = server_ssl_context(
            str(issued.cert_file), str(issued.key_file), issued.key_password
        )
    upstream_ssl = upstream_ssl_context(
        str(component.ca_file),
        str(component.cert_file),
        str(component.key_file),
        component.key_password,
    )
    endpoints = wait_for_endpoints(data_dir, wait)
    if endpoints is None:
        log.warning("gateway.no_control_plane", detail="serving the persisted snapshot")
        endpoints = {}
    control_plane = None
    if endpoints.get("internal_url"):
        control_plane = ControlPlane(
            endpoints["internal_url"],
            Path(endpoints.get("ca_file") or component.ca_file),
            component.cert_file,
            component.key_file,
            component.key_password,
        )
    keeper = SnapshotKeeper(data_dir / "gateway" / "snapshot.json", control_plane)
    proxy = Gateway(
        keeper,
        upstream_ssl,
        node_server_name="{id}." + NODE_DOMAIN,
        access_log=log_level.lower() in ("debug", "info"),
    )
    log.info(
        "gateway.started",
        port=port,
        domain=domain,
        control_plane=control_plane.internal_url if control_plane else None,
    )
    try:
        uvloop.run(_serve(proxy, host, port, server_ssl, events))
        log.info("gateway.stopped")
    finally:
        events.flush()


async def _serve(
    proxy: Gateway, host: str, port: int, server_ssl: ssl.SSLContext, events: TextIO
) -> None:
    task = asyncio.ensure_future(run(proxy, host, port, server_ssl))
    loop = asyncio.get_running_loop()

    def flush_events() -> None:
        events.flush()
        loop.call_later(EVENT_FLUSH_S, flush_events)

    loop.call_later(EVENT_FLUSH_S, flush_events)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task
