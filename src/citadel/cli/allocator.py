"""`citadel allocator`: run each deployment's node in its sandbox, as the control plane asks."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated

import typer

from citadel.cli.options import DEFAULT_DATA_DIR, DataDir, wait_for_endpoints
from citadel.config import load_settings
from citadel.crypto.keyring import open_keyring
from citadel.crypto.platform import has_platform_key, open_platform_key
from citadel.log import configure_logging, get_logger
from citadel.pki.components import ensure_component_certificate
from citadel.runtime.allocator import Allocator
from citadel.runtime.control_plane import ComponentTls, ControlPlane
from citadel.runtime.sandbox import BubblewrapSandbox

log = get_logger(__name__)

Interval = Annotated[
    float, typer.Option("--interval", help="Seconds between two reconcile passes.")
]
KeyCheckInterval = Annotated[
    float | None,
    typer.Option(
        "--key-check-interval",
        help="Seconds between two checks of every deployment's key "
        "(default CITADEL_KEY_CHECK_INTERVAL_S, else 60).",
    ),
]
WaitFor = Annotated[
    float,
    typer.Option("--wait", help="Seconds to wait for the control plane's endpoints.json."),
]


def allocator(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    interval: Interval = 0.25,
    wait: WaitFor = 60.0,
    key_check_interval: KeyCheckInterval = None,
) -> None:
    """Keep the deployments' nodes running in their sandboxes (started by `citadel up`)."""
    configure_logging("info")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll otherwise
    reason = BubblewrapSandbox.available()
    if reason is not None:
        typer.echo(f"citadel allocator: cannot sandbox nodes: {reason}", err=True)
        raise typer.Exit(1)
    endpoints = wait_for_endpoints(data_dir, wait)
    if endpoints is None:
        typer.echo(f"citadel allocator: no internal_url in {data_dir}/run/endpoints.json", err=True)
        raise typer.Exit(1)
    settings = load_settings(data_dir=data_dir)
    keyring_file = data_dir / "keys" / "keyring.wrapped"
    if not has_platform_key(settings) or not keyring_file.exists():
        typer.echo("citadel allocator: the data directory has no platform key yet", err=True)
        raise typer.Exit(1)
    provider = open_platform_key(settings)
    keyring = open_keyring(keyring_file, provider)
    cert = ensure_component_certificate(data_dir, keyring, "allocator")
    tls = ComponentTls(cert.ca_file, cert.cert_file, cert.key_file, cert.key_password)
    control_plane = ControlPlane(endpoints["internal_url"], tls)
    runner = Allocator(
        data_dir=data_dir,
        control_plane=control_plane,
        key_provider=provider,
        sandbox=BubblewrapSandbox(),
        client_tls=tls,
        key_check_interval_s=key_check_interval or settings.key_check_interval_s,
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info("allocator.started", internal_url=endpoints["internal_url"])
    try:
        runner.run(stop, interval=interval)
    finally:
        control_plane.close()
        log.info("allocator.stopped")
