"""`citadel allocator`: run each deployment's node in its sandbox, as the control plane asks."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from citadel.cli.join_options import CaFile, CaSha256, Join, JoinName, JoinTokenFile, join_first
from citadel.cli.options import DEFAULT_DATA_DIR, DataDir, LogLevel, LogLevelName

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
AllocatorId = Annotated[
    str | None,
    typer.Option(
        "--allocator-id",
        help="This allocator's id in the platform (default: the host name; `citadel up`'s "
        "is local).",
    ),
]
Zone = Annotated[
    str,
    typer.Option("--zone", help="The zone this host is in; deployments spread across zones."),
]
CapacityMb = Annotated[
    int | None,
    typer.Option(
        "--capacity-mb",
        min=0,
        help="Memory (MB) for nodes here; deployments' sizes take it (default: the machine's).",
    ),
]
AdvertiseAddress = Annotated[
    str,
    typer.Option(
        "--advertise-address",
        help="The address other hosts (gateways) reach this host's nodes at.",
    ),
]
NodePorts = Annotated[
    str | None,
    typer.Option(
        "--node-ports",
        metavar="LOW-HIGH",
        help="Ports each running node listens on at the advertise address, for gateways on "
        "other hosts (mTLS end to end; e.g. 20000-20999). Default: none, nodes are reached on "
        "their unix socket only.",
    ),
]


def allocator(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    interval: Interval = 0.25,
    wait: WaitFor = 60.0,
    key_check_interval: KeyCheckInterval = None,
    log_level: LogLevel = LogLevelName.INFO,
    join: Join = None,
    join_token_file: JoinTokenFile = None,
    ca_file: CaFile = None,
    ca_sha256: CaSha256 = None,
    join_name: JoinName = None,
    allocator_id: AllocatorId = None,
    zone: Zone = "local",
    capacity_mb: CapacityMb = None,
    advertise_address: AdvertiseAddress = "127.0.0.1",
    node_ports: NodePorts = None,
) -> None:
    """Keep the deployments' nodes running in their sandboxes (started by `citadel up`, or
    on another host after joining with --join)."""
    from citadel.config import load_settings
    from citadel.log import configure_logging, get_logger
    from citadel.roots import allocator as root
    from citadel.roots.component import NotReady

    log = get_logger(__name__)
    configure_logging(log_level.value)
    try:
        ports = root.node_port_range(node_ports)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--node-ports") from None
    join_first(
        data_dir,
        "allocator",
        url=join,
        token_file=join_token_file,
        ca_file=ca_file,
        ca_sha256=ca_sha256,
        name=join_name,
    )
    try:
        process = root.build(
            load_settings(data_dir=data_dir, log_level=log_level.value),
            wait_s=wait,
            key_check_interval_s=key_check_interval,
            identity=root.allocator_identity(
                allocator_id=allocator_id,
                zone=zone,
                capacity_mb=capacity_mb,
                advertise_address=advertise_address,
            ),
            node_ports=ports,
        )
    except NotReady as exc:
        typer.echo(f"citadel allocator: {exc}", err=True)
        raise typer.Exit(1) from None
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info("allocator.started", internal_url=process.internal_url)
    try:
        process.run(stop, interval=interval)
    finally:
        log.info("allocator.stopped")
