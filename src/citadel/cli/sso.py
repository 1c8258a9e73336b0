"""`citadel sso`: single sign-on through the API; `citadel sso domain` claims domains.

A claim is proved by publishing its verification code as a TXT record at
`_citadel_domain_challenge.<domain>` and running `citadel sso domain verify <domain>`.
Without `--org`, the organization is the API key's (when it belongs to exactly one).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from citadel.cli import remote
from citadel.cli.options import DEFAULT_DATA_DIR, DataDir
from citadel.cli.remote import ApiKey, ApiUrl, CaFile, Output, OutputOpt, err
from citadel.client.api import CitadelClient

app = typer.Typer(help="Single sign-on: claimed domains.", no_args_is_help=True)
domain_app = typer.Typer(help="Domains the organization claims (DNS TXT proof).")
app.add_typer(domain_app, name="domain", no_args_is_help=True)

DomainArg = Annotated[str, typer.Argument(help="The domain (example.com).")]
Org = Annotated[
    str | None,
    typer.Option("--org", envvar="CITADEL_ORG", help="The organization id (default: the key's)."),
]


def _org(api: CitadelClient, org: str | None) -> str:
    if org is not None:
        return org
    orgs = remote.call(api, "list_organizations")
    if len(orgs) != 1:
        err.print("The key belongs to several organizations: name one with --org.")
        raise typer.Exit(2)
    return orgs[0]["id"]


def _table(rows: list[dict[str, Any]]) -> Table:
    table = Table("domain", "status", "TXT record", "value", "last error")
    for row in rows:
        v = row["verification"]
        table.add_row(
            row["domain"], row["status"], v["record_name"], v["value"], row["last_error"] or ""
        )
    return table


@domain_app.command("add")
def add(
    domain: DomainArg,
    api_key: ApiKey,
    org: Org = None,
    output: OutputOpt = Output.TABLE,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    api_url: ApiUrl = None,
    ca_file: CaFile = None,
) -> None:
    """Claim a domain; prints the TXT record to publish."""
    with remote.client(data_dir, api_url, api_key, ca_file) as api:
        row = remote.call(api, "add_domain", _org(api, org), domain)
    remote.emit(output, row, _table([row]))


@domain_app.command("verify")
def verify(
    domain: DomainArg,
    api_key: ApiKey,
    org: Org = None,
    output: OutputOpt = Output.TABLE,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    api_url: ApiUrl = None,
    ca_file: CaFile = None,
) -> None:
    """Look for the published code in DNS; on success the claim is verified."""
    with remote.client(data_dir, api_url, api_key, ca_file) as api:
        row = remote.call(api, "verify_domain", _org(api, org), domain)
    remote.emit(output, row, _table([row]))


@domain_app.command("list")
def list_(
    api_key: ApiKey,
    org: Org = None,
    output: OutputOpt = Output.TABLE,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    api_url: ApiUrl = None,
    ca_file: CaFile = None,
) -> None:
    """The organization's claims, pending and verified."""
    with remote.client(data_dir, api_url, api_key, ca_file) as api:
        rows = remote.call(api, "list_domains", _org(api, org))
    remote.emit(output, {"domains": rows}, _table(rows))


@domain_app.command("remove")
def remove(
    domain: DomainArg,
    api_key: ApiKey,
    org: Org = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    api_url: ApiUrl = None,
    ca_file: CaFile = None,
) -> None:
    """Drop a claim, pending or verified."""
    with remote.client(data_dir, api_url, api_key, ca_file) as api:
        remote.call(api, "remove_domain", _org(api, org), domain)
    remote.out.print(f"Removed {domain}.")
