"""`citadel`: the entry point.

Every command group is registered here, but a command imports what it runs on (the server,
the database, the client) when it runs: building the command line, `--help` and `--version`
load Typer and the option declarations only (benchmarks/cli_startup.py measures it).
"""

from __future__ import annotations

from typing import Annotated

import typer

from citadel.cli import (
    admin,
    allocator,
    audit,
    deployments,
    gateway,
    orgs,
    platform,
    projects,
    server,
    sso,
    traffic_filters,
)

app = typer.Typer(
    name="citadel",
    help="Citadel: self-hosted, secure-by-default search deployments.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("up")(server.up)
app.command("api")(server.api)
app.command("allocator")(allocator.allocator)
app.command("gateway")(gateway.gateway)
app.add_typer(admin.app, name="admin")
app.add_typer(audit.app, name="audit")
app.add_typer(orgs.app, name="org")
app.add_typer(deployments.app, name="deployment")
app.add_typer(projects.app, name="project")
app.add_typer(traffic_filters.app, name="traffic-filter")
app.add_typer(sso.app, name="sso")
app.add_typer(platform.app, name="platform")
app.command("static-ips")(traffic_filters.static_ips)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"citadel {version('citadel')}")
        raise typer.Exit()


@app.callback()
def citadel(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Citadel: self-hosted, secure-by-default search deployments."""


@app.command(
    "node",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def node(ctx: typer.Context) -> None:
    """Run one deployment node (normally started by the allocator; see --help)."""
    from citadel.node.main import main as node_main

    raise typer.Exit(node_main(list(ctx.args)))


if __name__ == "__main__":
    app()
