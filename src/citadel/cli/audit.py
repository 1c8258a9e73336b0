"""`citadel audit`: check the audit log's hash chains; list the platform's own events.

Both commands run on the control plane's machine and read its data directory (the database
and the keyring) directly, as the platform operator: the platform chain holds what belongs to
no organization (sign-in attempts of unknown accounts and of users in no organization,
refusals of requests that name no existing organization). An organization's events are read
through the API or the console.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from citadel.cli.options import DEFAULT_DATA_DIR, DataDir, OutputOpt
from citadel.cli.render import Output, emit, err

app = typer.Typer(help="The audit log.", no_args_is_help=True)
out = Console()


@app.command("verify")
def verify(data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Recompute every chain; exit 1 if an event was modified, inserted or deleted."""
    from citadel.audit.service import verify_chains
    from citadel.bootstrap import build
    from citadel.config import load_settings

    services = build(load_settings(data_dir=data_dir))
    try:
        with services.db.read() as session:
            problems = verify_chains(session, services.keyring.audit_key)
    finally:
        services.close()
    if not problems:
        out.print("[green]audit log intact[/]")
        return
    for p in problems:
        out.print(f"[red]chain {p.chain} event {p.seq}: {p.problem}[/]")
    raise typer.Exit(1)


@app.command("list")
def list_events(
    platform: Annotated[
        bool,
        typer.Option(
            "--platform",
            help="The platform chain: events that belong to no organization (operator only: "
            "read from the data directory on this machine).",
        ),
    ] = False,
    action: Annotated[
        str | None, typer.Option("--action", help="Only events of this action.")
    ] = None,
    size: Annotated[
        int, typer.Option("--size", min=1, max=10000, help="How many events, newest first.")
    ] = 100,
    output: OutputOpt = Output.TABLE,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """The platform chain's newest events (an organization's: the API or the console)."""
    if not platform:
        err.print(
            "Only --platform is read here. An organization's events: "
            "GET /api/v1/organizations/{id}/audit-events, or the console's Audit page.",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(2)
    from citadel.audit.service import PLATFORM_CHAIN, EventFilter, chained_fields
    from citadel.audit.service import list_events as events_of
    from citadel.bootstrap import build
    from citadel.config import load_settings

    services = build(load_settings(data_dir=data_dir))
    try:
        with services.db.read() as session:
            rows = events_of(
                session,
                organization_id=PLATFORM_CHAIN,
                filters=EventFilter(action=action),
                after_seq=0,
                limit=size,
            )
            events = [chained_fields(e) | {"digest": e.digest} for e in rows]
    finally:
        services.close()
    table = Table()
    for name in ("seq", "when", "action", "outcome", "actor", "source", "target", "details"):
        table.add_column(name, overflow="fold")  # a narrow terminal wraps a cell, never cuts it
    for e in events:
        cells = [
            str(e["seq"]),
            e["occurred_at"],
            e["action"],
            e["outcome"],
            f"{e['actor_type']} {e['actor_id'] or ''}".strip(),
            e["source_ip"] or "",
            " ".join(filter(None, (e["target_type"], e["target_id"]))),
            ", ".join(f"{k}={v}" for k, v in sorted(e["details"].items())),
        ]
        table.add_row(*(escape(c) for c in cells))  # text as recorded, never markup
    emit(output, events, table)
