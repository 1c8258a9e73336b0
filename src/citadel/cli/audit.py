"""`citadel audit`: check the audit log's hash chains."""

from __future__ import annotations

import typer
from rich.console import Console

from citadel.cli.options import DEFAULT_DATA_DIR, DataDir

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
