"""`citadel gateway`: TLS in front of the deployments' nodes (docs/adr/0009)."""

from __future__ import annotations

import dataclasses
import ipaddress
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from citadel.cli.join_options import CaFile, CaSha256, Join, JoinName, JoinTokenFile, join_first
from citadel.cli.options import DEFAULT_DATA_DIR, DataDir, LogLevel, LogLevelName
from citadel.gateway.proxy_protocol import Vendor  # stdlib only: the options' choices

if TYPE_CHECKING:
    from citadel.gateway.listener import ProxyListenerConfig

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
    log_level: LogLevel = LogLevelName.INFO,
    proxy_port: ProxyPort = 0,
    proxy_host: ProxyHost = None,
    proxy_trusted_cidr: ProxyTrustedCidrs = [],  # noqa: B006  (typer reads the default)
    proxy_vendor: ProxyVendor = None,
    proxy_v1: ProxyV1 = False,
    workers: Workers = 1,
    join: Join = None,
    join_token_file: JoinTokenFile = None,
    ca_file: CaFile = None,
    ca_sha256: CaSha256 = None,
    join_name: JoinName = None,
) -> None:
    """Route HTTPS requests to the deployments' nodes (started by `citadel up`, or on another
    host after joining with --join)."""
    from citadel.config import load_settings
    from citadel.gateway.workers import worker_count
    from citadel.log import configure_logging, get_logger
    from citadel.roots import gateway as root
    from citadel.roots.component import NotReady

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
    join_first(
        data_dir,
        "gateway",
        url=join,
        token_file=join_token_file,
        ca_file=ca_file,
        ca_sha256=ca_sha256,
        name=join_name,
    )
    events = open(sys.stderr.fileno(), "w", buffering=1 << 16, closefd=False)  # noqa: SIM115
    configure_logging(log_level.value, stream=events)
    options = root.GatewayOptions(
        host=host,
        port=port,
        domain=domain,
        regions=region,
        cert_file=cert,
        key_file=key,
        wait_s=wait,
        access_log=log_level in (LogLevelName.DEBUG, LogLevelName.INFO),
        proxy_listener=proxy_listener,
        workers=count,
    )
    try:
        process = root.build(load_settings(data_dir=data_dir), options)
    except NotReady as exc:
        typer.echo(f"citadel gateway: {exc}", err=True)
        raise typer.Exit(1) from None
    get_logger(__name__).info(
        "gateway.started",
        port=port,
        proxy_port=proxy_listener.port if proxy_listener else None,
        domain=domain,
        control_plane=process.control_plane.internal_url if process.control_plane else None,
        workers=count,
    )
    process.run(events)


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
    from citadel.gateway.listener import ProxyListenerConfig

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
