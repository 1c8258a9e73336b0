"""`citadel platform`: the platform's own infrastructure, for owners of the platform
organization (issue 20): its allocators, and join tokens for hosts that join it."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from citadel.cli.options import Connection, connected
from citadel.cli.render import jsonable

app = typer.Typer(
    help="The platform's infrastructure: allocators, join tokens.", no_args_is_help=True
)


class JoinRoleName(StrEnum):
    """What a host joins as (the values of `citadel.join.schemas.JoinRole`)."""

    ALLOCATOR = "allocator"
    GATEWAY = "gateway"
    API = "api"


@app.command("join-token")
@connected(api_names={"role": "--role", "ttl_s": "--ttl", "name": "--name"})
def join_token(
    conn: Connection,
    role: Annotated[JoinRoleName, typer.Option("--role", help="What the host joins as.")],
    ttl: Annotated[
        str | None,
        typer.Option("--ttl", help="How long the token stays usable (30m, 1h, 2d; default 1h)."),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", help="The only name a host may join under with this token."),
    ] = None,
) -> None:
    """Mint a token one host joins the platform with (platform owners); printed once, with
    the CA pin the host checks the control plane against (ADR 33)."""
    from citadel.kit.durations import InvalidDuration, parse_duration

    ttl_s = None
    if ttl is not None:
        try:
            ttl_s = int(parse_duration(ttl).total_seconds())
        except InvalidDuration:
            raise typer.BadParameter(f"{ttl!r} is not a duration", param_hint="--ttl") from None
    with conn.client() as api:
        minted = jsonable(api.create_join_token(role.value, ttl_s=ttl_s, name=name))
    command = (
        f"citadel {role.value} --join <control-plane URL> --join-token-file <file> "
        f"--ca-sha256 {minted['ca_sha256']}"
    )
    if name:
        command += f" --join-name {name}"
    text = "\n".join(
        [
            f"Join token for role {role.value}, expires {minted['expires_at']}",
            f"CA pin: {minted['ca_sha256']}",
            "On the new host, put the token in a file (mode 0600) and run:",
            f"  {command}",
        ]
    )
    conn.emit(minted, text, secrets={"join token": minted["token"]})


@app.command("allocators")
@connected
def allocators(
    conn: Connection,
    allocator_id: Annotated[
        str | None, typer.Argument(help="One allocator's id (default: all of them).")
    ] = None,
) -> None:
    """The platform's allocators (platform owners): zone, address, health, memory used of
    total, and the deployments placed on each (ADR 31)."""
    from rich.table import Table

    with conn.client() as api:
        if allocator_id is None:
            answer = jsonable(api.list_allocators())
            found = [a for zone in answer["zones"] for a in zone["allocators"]]
        else:
            answer = jsonable(api.get_allocator(allocator_id))
            found = [answer]
    table = Table()
    for name in ("allocator", "zone", "address", "status", "memory MB", "deployments"):
        table.add_column(name, overflow="fold")  # a narrow terminal wraps a cell, never cuts it
    for item in found:
        status = item["status"]
        health = "healthy" if status["connected"] else "unhealthy (no heartbeat)"
        memory = item["capacity"]["memory"]
        placed = ", ".join(i["cluster_id"] for i in item["instances"]) or "-"
        table.add_row(
            item["allocator_id"],
            item["zone_id"],
            item["host_ip"],
            health,
            f"{memory['used']} / {memory['total']}",
            placed,
        )
    conn.emit(answer, table)
