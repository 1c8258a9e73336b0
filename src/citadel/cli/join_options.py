"""The options `citadel allocator`, `citadel gateway` and `citadel api` share to join a
platform from another host with a join token (ADR 33)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Join = Annotated[
    str | None,
    typer.Option(
        "--join",
        help="Join the platform whose control plane is at this URL (https://host:8443) "
        "before starting; once joined, the data directory keeps the certificate.",
    ),
]
JoinTokenFile = Annotated[
    Path | None,
    typer.Option("--join-token-file", help="The file holding the join token (used once)."),
]
CaFile = Annotated[
    Path | None,
    typer.Option("--ca-file", help="Trust the control plane's CA from this file (PEM)."),
]
CaSha256 = Annotated[
    str | None,
    typer.Option(
        "--ca-sha256",
        help="Trust the CA whose public-key pin is this (sha256:<hex>, printed by "
        "`citadel platform join-token`).",
    ),
]
JoinName = Annotated[
    str | None,
    typer.Option(
        "--join-name",
        help="The name this host joins under (default <role>-<host name>; must match a "
        "token minted with --name).",
    ),
]


def join_first(
    data_dir: Path,
    role: str,
    *,
    url: str | None,
    token_file: Path | None,
    ca_file: Path | None,
    ca_sha256: str | None,
    name: str | None,
    hostnames: tuple[str, ...] = (),
) -> None:
    """With `url`, join as `role` unless this data directory already did; print why not and
    exit 1 when it cannot."""
    if url is None:
        return
    from citadel.join.schemas import JoinRole
    from citadel.roots.component import NotReady
    from citadel.roots.join import join_once

    try:
        joined = join_once(
            data_dir,
            JoinRole(role),
            url=url,
            token_file=token_file,
            ca_file=ca_file,
            ca_sha256=ca_sha256,
            name=name,
            hostnames=hostnames,
        )
    except NotReady as exc:
        typer.echo(f"citadel {role}: cannot join: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Joined as {joined.role.value} {joined.name}; internal API {joined.internal_url}")
