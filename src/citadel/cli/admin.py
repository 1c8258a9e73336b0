"""`citadel admin`: break-glass commands that work on the data directory, not the network."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from citadel.authz.roles import RoleId
from citadel.cli.options import DEFAULT_DATA_DIR, DataDir

app = typer.Typer(help="Local administration (needs the data directory).", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


@app.command("create-api-key")
def create_api_key(
    org: Annotated[str, typer.Option("--org", help="Organization id.")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    role: Annotated[
        str,
        typer.Option("--role", help="An organization role: organization-admin or billing-admin."),
    ] = "organization-admin",
    expiration: Annotated[
        str, typer.Option("--expiration", help="Duration such as 1d or 12h (default 1d).")
    ] = "1d",
    description: Annotated[
        str, typer.Option("--description", help="What the key is for (shown in key listings).")
    ] = "break-glass key (citadel admin)",
) -> None:
    """Print a new Cloud API key for an organization (audited as the platform)."""
    from citadel.api_keys.service import issue
    from citadel.authz.assignments import Assignment
    from citadel.authz.decide import Grant
    from citadel.bootstrap import build
    from citadel.config import load_settings
    from citadel.db.migrate import upgrade
    from citadel.errors import CitadelError
    from citadel.orgs.service import load as load_org

    try:
        role_id = RoleId(role)
    except ValueError:
        err.print(f"Unknown role {role!r}.")
        raise typer.Exit(2) from None
    if role_id.scope_kind.value != "organization":
        err.print(
            "Break-glass keys carry an organization role (organization-admin or billing-admin)."
        )
        raise typer.Exit(2)
    services = build(load_settings(data_dir=data_dir))
    try:
        upgrade(services.db.engine)
        with services.db.write() as session:
            ctx = services.context(session, services.system_caller())
            load_org(session, org)
            issued = issue(
                ctx,
                org,
                description=description,
                expiration=expiration,
                granted=[Assignment(Grant(org, role_id, all=True))],
                created_by=None,
            )
    except CitadelError as exc:
        err.print(f"{exc.code}: {exc.message}")
        raise typer.Exit(1) from None
    finally:
        services.close()
    out.print(issued.text, highlight=False, soft_wrap=True)


@app.command("rotate-token-key")
def rotate_token_key(data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Make a new signing key for deployment tokens now (ADR 27): it is published at once and
    signs a minute later; the old key stays published until its last token has expired.
    Audited as a platform event."""
    from citadel.bootstrap import build
    from citadel.config import load_settings
    from citadel.db.migrate import upgrade
    from citadel.use_cases.deployment_tokens import rotate_token_keys
    from citadel.web.work import Work

    services = build(load_settings(data_dir=data_dir))
    try:
        upgrade(services.db.engine)
        done = rotate_token_keys(Work(services, services.system_caller()), force=True)
    finally:
        services.close()
    if done.make is None:
        out.print("A new key is already waiting to sign; nothing done.")
        return
    starts = done.make.active_from.isoformat(timespec="seconds")
    out.print(f"Key generation {done.make.generation} made; it signs from {starts}.")
