"""`citadel up` and `citadel api`: run the control plane over HTTPS (the process itself is
`citadel.cli.control_plane`, imported when a command runs)."""

from __future__ import annotations

from typing import Annotated

import typer

from citadel.cli.options import DEFAULT_DATA_DIR, DataDir, LogLevel, LogLevelName

Host = Annotated[str, typer.Option("--host", envvar="CITADEL_API_HOST", help="Listen address.")]
Port = Annotated[int, typer.Option("--port", envvar="CITADEL_API_PORT", help="HTTPS port.")]
InternalPort = Annotated[
    int,
    typer.Option(
        "--internal-port",
        envvar="CITADEL_INTERNAL_PORT",
        help="HTTPS port of the internal API (mTLS: platform-CA client certificates only).",
    ),
]
GatewayPort = Annotated[
    int,
    typer.Option(
        "--gateway-port", envvar="CITADEL_GATEWAY_PORT", help="HTTPS port of the gateway."
    ),
]
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
    internal_port: InternalPort = 8444,
    gateway_port: GatewayPort = 9243,
    admin_email: AdminEmail = "admin@citadel.localhost",
    log_level: LogLevel = LogLevelName.INFO,
) -> None:
    """Start Citadel on embedded defaults: control plane, allocator and gateway, all TLS."""
    from citadel.cli.control_plane import serve

    serve(
        data_dir,
        host,
        port,
        internal_port,
        admin_email=admin_email,
        gateway_port=gateway_port,
        log_level=log_level.value,
    )


def api(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    host: Host = "127.0.0.1",
    port: Port = 8443,
    internal_port: InternalPort = 8444,
    log_level: LogLevel = LogLevelName.INFO,
) -> None:
    """Run only the control plane (for several replicas against PostgreSQL)."""
    from citadel.cli.control_plane import serve

    serve(data_dir, host, port, internal_port, admin_email=None, log_level=log_level.value)
