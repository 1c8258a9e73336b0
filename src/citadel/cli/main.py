"""`citadel`: the entry point."""

from __future__ import annotations

import typer

from citadel.cli import admin, audit, orgs, server

app = typer.Typer(
    name="citadel",
    help="Citadel: self-hosted, secure-by-default search deployments.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("up")(server.up)
app.command("api")(server.api)
app.add_typer(admin.app, name="admin")
app.add_typer(audit.app, name="audit")
app.add_typer(orgs.app, name="org")

if __name__ == "__main__":
    app()
