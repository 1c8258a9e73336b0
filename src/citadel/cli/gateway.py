"""`citadel gateway`: TLS in front of the deployments' nodes (docs/adr/0009)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import signal
import ssl
import sys
from pathlib import Path
from typing import Annotated, TextIO

import typer
import uvloop

from citadel.cli.options import DEFAULT_DATA_DIR, DataDir, wait_for_endpoints
from citadel.config import load_settings
from citadel.crypto.keyring import open_keyring
from citadel.crypto.platform import has_platform_key, open_platform_key
from citadel.gateway.certificates import ensure_gateway_certificate, gateway_hostnames
from citadel.gateway.listener import ProxyListenerConfig
from citadel.gateway.proxy import Gateway, run, server_ssl_context, upstream_ssl_context
from citadel.gateway.proxy_protocol import Vendor
from citadel.gateway.snapshot import ControlPlane, SnapshotKeeper
from citadel.gateway.workers import run_workers, worker_count
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
ProxyPort = Annotated[
    int,
    typer.Option(
        "--proxy-port",
        envvar="CITADEL_GATEWAY_PROXY_PORT",
        help="Also listen for connections from load balancers that send a PROXY protocol "
        "header (0: no such listener).",
    ),
]
ProxyHost = Annotated[
    str | None,
    typer.Option(
        "--proxy-host",
        envvar="CITADEL_GATEWAY_PROXY_HOST",
        help="Listen address of the PROXY listener (default: --host).",
    ),
]
ProxyTrustedCidrs = Annotated[
    list[str],
    typer.Option(
        "--proxy-trusted-cidr",
        envvar="CITADEL_GATEWAY_PROXY_TRUSTED_CIDRS",
        help="The load balancers' addresses (CIDR; repeatable or comma-separated). Required "
        "with --proxy-port: any other peer is dropped unread.",
    ),
]
ProxyVendor = Annotated[
    Vendor | None,
    typer.Option(
        "--proxy-vendor",
        envvar="CITADEL_GATEWAY_PROXY_VENDOR",
        case_sensitive=False,
        help="Whose private-link TLV names the client's endpoint (none: no endpoint ids).",
    ),
]
ProxyV1 = Annotated[
    bool,
    typer.Option(
        "--proxy-v1/--no-proxy-v1",
        envvar="CITADEL_GATEWAY_PROXY_V1",
        help="Also accept the text PROXY v1 header.",
    ),
]
Workers = Annotated[
    int,
    typer.Option(
        "--workers",
        envvar="CITADEL_GATEWAY_WORKERS",
        min=0,
        help="Worker processes sharing the ports (SO_REUSEPORT); 0: one per CPU. More than "
        "one needs a fixed --port.",
    ),
]


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
    proxy_port: ProxyPort = 0,
    proxy_host: ProxyHost = None,
    proxy_trusted_cidr: ProxyTrustedCidrs = [],  # noqa: B006  (typer reads the default)
    proxy_vendor: ProxyVendor = None,
    proxy_v1: ProxyV1 = False,
    workers: Workers = 1,
) -> None:
    """Route HTTPS requests to the deployments' nodes (started by `citadel up`)."""
    proxy_listener = proxy_listener_config(
        proxy_port, proxy_host or host, proxy_trusted_cidr, proxy_vendor, allow_v1=proxy_v1
    )
    count = worker_count(workers)
    if count > 1 and not port:
        raise typer.BadParameter(
            "several workers share one fixed port: give --port", param_hint="--workers"
        )
    if count > 1 and proxy_listener is not None:
        proxy_listener = dataclasses.replace(proxy_listener, reuse_port=True)
    events = open(sys.stderr.fileno(), "w", buffering=1 << 16, closefd=False)  # noqa: SIM115
    configure_logging(log_level, stream=events)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per refresh otherwise
    settings = load_settings(data_dir=data_dir)
    keyring_file = data_dir / "keys" / "keyring.wrapped"
    if not has_platform_key(settings) or not keyring_file.exists():
        typer.echo("citadel gateway: the data directory has no platform key yet", err=True)
        raise typer.Exit(1)
    keyring = open_keyring(keyring_file, open_platform_key(settings))
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
    log.info(
        "gateway.started",
        port=port,
        proxy_port=proxy_listener.port if proxy_listener else None,
        domain=domain,
        control_plane=control_plane.internal_url if control_plane else None,
        workers=count,
    )

    def serve(index: int) -> None:
        # Worker 0 fetches (and persists) snapshots; the others follow the persisted file.
        proxy = Gateway(
            keeper if index == 0 else keeper.follower(),
            upstream_ssl,
            node_server_name="{id}." + NODE_DOMAIN,
            access_log=log_level.lower() in ("debug", "info"),
        )
        server = _serve(
            proxy, host, port, server_ssl, events, proxy_listener, count > 1, control_plane
        )
        try:
            uvloop.run(server)
            if index == 0:
                log.info("gateway.stopped")
        finally:
            events.flush()

    events.flush()  # nothing buffered may be written twice by the forked workers
    run_workers(count, serve)


def proxy_listener_config(
    port: int,
    host: str,
    trusted_cidrs: list[str],
    vendor: Vendor | None,
    *,
    allow_v1: bool,
) -> ProxyListenerConfig | None:
    """The PROXY listener's configuration from the options, or None without --proxy-port.
    Refuses (usage error, exit 2) a listener that would trust nobody or a malformed CIDR."""
    if not port:
        return None
    networks = []
    for text in (part.strip() for value in trusted_cidrs for part in value.split(",")):
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=True))
        except ValueError as exc:
            raise typer.BadParameter(
                f"{text!r} is not a network in CIDR form ({exc})",
                param_hint="--proxy-trusted-cidr",
            ) from None
    if not networks:
        raise typer.BadParameter(
            "--proxy-port needs the load balancers' networks: the PROXY listener believes the "
            "client address only from them",
            param_hint="--proxy-trusted-cidr",
        )
    return ProxyListenerConfig(
        port=port, host=host, trusted_cidrs=tuple(networks), vendor=vendor, allow_v1=allow_v1
    )


async def _serve(
    proxy: Gateway,
    host: str,
    port: int,
    server_ssl: ssl.SSLContext,
    events: TextIO,
    proxy_listener: ProxyListenerConfig | None = None,
    reuse_port: bool = False,
    reports_to: ControlPlane | None = None,
) -> None:
    task = asyncio.ensure_future(
        run(
            proxy,
            host,
            port,
            server_ssl,
            proxy_listener,
            reuse_port=reuse_port,
            reports_to=reports_to,
        )
    )
    loop = asyncio.get_running_loop()

    def flush_events() -> None:
        events.flush()
        loop.call_later(EVENT_FLUSH_S, flush_events)

    loop.call_later(EVENT_FLUSH_S, flush_events)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task
