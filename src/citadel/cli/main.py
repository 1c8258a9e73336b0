"""`citadel`: the entry point."""

from __future__ import annotations

import typer

from citadel.cli import (
    admin,
    allocator,
    audit,
    deployments,
    gateway,
    orgs,
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
app.add_typer(traffic_filters.app, name="traffic-filter")
app.add_typer(sso.app, name="sso")
app.command("static-ips")(traffic_filters.static_ips)


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
