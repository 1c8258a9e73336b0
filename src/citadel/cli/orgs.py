"""`citadel org`: the organization through the Cloud API (needs CITADEL_API_KEY)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from citadel.cli.options import Connection, connected
from citadel.cli.render import jsonable

app = typer.Typer(help="Your organization, through the API.", no_args_is_help=True)

OrgArg = Annotated[str, typer.Argument(help="The organization id.")]


@app.command("show")
@connected
def show(conn: Connection) -> None:
    """The organizations the key belongs to."""
    with conn.client() as api:
        orgs = jsonable(api.list_organizations())
    conn.emit({"organizations": orgs}, "\n".join(f"{org['id']}  {org['name']}" for org in orgs))


@app.command("members")
@connected
def members(conn: Connection, org: OrgArg) -> None:
    """Members of an organization with their visible roles."""
    with conn.client() as api:
        rows = jsonable(api.list_members(org))
    table = Table("user id", "email", "member since", "roles")
    for m in rows:
        ra = m.get("role_assignments", {})
        roles = [a["role_id"] for kind in ("organization", "deployment") for a in ra.get(kind, [])]
        table.add_row(m["user_id"], m.get("email", ""), m["member_since"], ", ".join(roles))
    conn.emit({"members": rows}, table)


@app.command("invite")
@connected(api_names={"emails": "EMAILS", "expires_in": "--expires-in"})
def invite(
    conn: Connection,
    org: OrgArg,
    emails: Annotated[list[str], typer.Argument(help="The invitees' email addresses.")],
    expires_in: Annotated[
        str, typer.Option("--expires-in", help="How long the invitations stay valid (72h, 7d).")
    ] = "72h",
) -> None:
    """Invite people; prints each acceptance token once (deliver it to the invitee)."""
    with conn.client() as api:
        invitations = jsonable(api.invite(org, emails, expires_in=expires_in))
    table = Table("email", "expires")
    for i in invitations:
        table.add_row(i["email"], i["expires_at"])
    tokens = {f"invitation token for {i['email']}": i["token"] for i in invitations}
    conn.emit({"invitations": invitations}, table, secrets=tokens)
