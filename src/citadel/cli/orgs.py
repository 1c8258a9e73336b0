"""`citadel org`: the organization through the Cloud API (needs CITADEL_API_KEY)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from citadel.client.api import CitadelClient, ClientError

app = typer.Typer(help="Your organization, through the API.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)

ApiUrl = Annotated[str, typer.Option("--api-url", envvar="CITADEL_API_URL")]
ApiKey = Annotated[str, typer.Option("--api-key", envvar="CITADEL_API_KEY")]
CaFile = Annotated[str, typer.Option("--ca-file", envvar="CITADEL_CA_FILE")]


def _client(api_url: str, api_key: str, ca_file: str) -> CitadelClient:
    return CitadelClient(api_url, api_key=api_key, ca_file=ca_file)


@app.command("show")
def show(api_url: ApiUrl, api_key: ApiKey, ca_file: CaFile) -> None:
    """The organizations the key belongs to."""
    with _client(api_url, api_key, ca_file) as client:
        try:
            orgs = client.list_organizations()
        except ClientError as exc:
            err.print(str(exc))
            raise typer.Exit(1) from None
    for org in orgs:
        out.print(f"{org['id']}  {org['name']}")


@app.command("members")
def members(org: str, api_url: ApiUrl, api_key: ApiKey, ca_file: CaFile) -> None:
    """Members of an organization with their visible roles."""
    with _client(api_url, api_key, ca_file) as client:
        try:
            rows = client.list_members(org)
        except ClientError as exc:
            err.print(str(exc))
            raise typer.Exit(1) from None
    table = Table("user id", "email", "member since", "roles")
    for m in rows:
        ra = m.get("role_assignments", {})
        roles = [a["role_id"] for kind in ("organization", "deployment") for a in ra.get(kind, [])]
        table.add_row(m["user_id"], m.get("email", ""), m["member_since"], ", ".join(roles))
    out.print(table)


@app.command("invite")
def invite(
    org: str,
    emails: list[str],
    api_url: ApiUrl,
    api_key: ApiKey,
    ca_file: CaFile,
    expires_in: Annotated[str, typer.Option("--expires-in")] = "72h",
) -> None:
    """Invite people; prints each acceptance token (deliver it to the invitee)."""
    with _client(api_url, api_key, ca_file) as client:
        try:
            invitations = client.invite(org, emails, expires_in=expires_in)
        except ClientError as exc:
            err.print(str(exc))
            raise typer.Exit(1) from None
    for inv in invitations:
        out.print(f"{inv['email']}  {inv['token']}  expires {inv['expires_at']}")
