"""`citadel sso`: organization single sign-on through the API.

`citadel sso domain` claims domains: publish the verification code as a TXT record at
`_citadel_domain_challenge.<domain>` and run `citadel sso domain verify <domain>`.
`citadel sso configure` registers the IdP (fields or its metadata file) and prints the SP
details to give it; `citadel sso mapping` maps IdP groups to roles; `citadel sso enforce off`
is the break-glass with an Organization-owner API key (turning enforcement on needs your own
SSO sign-in, so an API key cannot). Without `--org`, the organization is the API key's.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from citadel.authz.roles import RoleId, ScopeKind
from citadel.cli.options import Connection, connected
from citadel.cli.render import err, jsonable

if TYPE_CHECKING:
    from citadel.client.api import CitadelClient

app = typer.Typer(
    help="Single sign-on: claimed domains, the IdP, role mappings, enforcement.",
    no_args_is_help=True,
)
domain_app = typer.Typer(help="Domains the organization claims (DNS TXT proof).")
app.add_typer(domain_app, name="domain", no_args_is_help=True)
mapping_app = typer.Typer(help="Role mappings: IdP groups to roles, at every SSO sign-in.")
app.add_typer(mapping_app, name="mapping", no_args_is_help=True)

DomainArg = Annotated[str, typer.Argument(help="The domain (example.com).")]
Org = Annotated[
    str | None,
    typer.Option("--org", envvar="CITADEL_ORG", help="The organization id (default: the key's)."),
]


def _org(api: CitadelClient, org: str | None) -> str:
    if org is not None:
        return org
    orgs = jsonable(api.list_organizations())
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
@connected(api_names={"domain": "DOMAIN"})
def add(
    conn: Connection,
    domain: DomainArg,
    org: Org = None,
) -> None:
    """Claim a domain; prints the TXT record to publish."""
    with conn.client() as api:
        row = jsonable(api.add_domain(_org(api, org), domain))
    conn.emit(row, _table([row]))


@domain_app.command("verify")
@connected
def verify(
    conn: Connection,
    domain: DomainArg,
    org: Org = None,
) -> None:
    """Look for the published code in DNS; on success the claim is verified."""
    with conn.client() as api:
        row = jsonable(api.verify_domain(_org(api, org), domain))
    conn.emit(row, _table([row]))


@domain_app.command("list")
@connected
def list_(
    conn: Connection,
    org: Org = None,
) -> None:
    """The organization's claims, pending and verified."""
    with conn.client() as api:
        rows = jsonable(api.list_domains(_org(api, org)))
    conn.emit({"domains": rows}, _table(rows))


@domain_app.command("remove")
@connected(confirm="Drop the organization's claim on {domain}?")
def remove(
    conn: Connection,
    domain: DomainArg,
    org: Org = None,
) -> None:
    """Drop a claim, pending or verified."""
    with conn.client() as api:
        answer = jsonable(api.remove_domain(_org(api, org), domain))
    conn.emit(answer, f"Removed {domain}.")


# --- the IdP and the SP ----------------------------------------------------------------------


def _sso_table(sso: dict[str, Any]) -> Table:
    table = Table("setting", "value")
    idp, sp = sso["identity_provider"], sso["service_provider"]
    for name, value in [
        ("enabled", str(sso["enabled"]).lower()),
        ("enforced", str(sso["enforced"]).lower()),
        ("generation", str(sso["generation"])),
        ("IdP entity id", idp["entity_id"]),
        ("IdP SSO URL", idp["sso_url"]),
        ("SP entity id", sp["entity_id"]),
        ("SP ACS URL", sp["acs_url"]),
        ("SP metadata URL", sp["metadata_url"]),
        ("SSO login URL", sp["login_url"]),
    ]:
        table.add_row(name, value)
    return table


@app.command("show")
@connected
def show(
    conn: Connection,
    org: Org = None,
) -> None:
    """The IdP the organization trusts and the SP details to give it."""
    with conn.client() as api:
        sso = jsonable(api.get_sso(_org(api, org)))
    conn.emit(sso, _sso_table(sso))


@app.command("configure")
@connected(
    api_names={
        "login_prefix": "--login-prefix",
        "idp_metadata": "--idp-metadata",
        "idp_entity_id": "--idp-entity-id",
        "idp_sso_url": "--idp-sso-url",
        "idp_certificates": "--idp-certificate",
        "enabled": "--disabled",
        "rotate_sp_key": "--rotate-sp-key",
    }
)
def configure(
    conn: Connection,
    login_prefix: Annotated[
        str, typer.Option(help="The login URL's prefix: lowercase letters, digits, hyphens.")
    ],
    idp_metadata: Annotated[
        Path | None, typer.Option(help="The IdP's SAML metadata file (instead of the fields).")
    ] = None,
    idp_entity_id: Annotated[str | None, typer.Option(help="The IdP's entity id.")] = None,
    idp_sso_url: Annotated[str | None, typer.Option(help="The IdP's SSO URL.")] = None,
    idp_certificate: Annotated[
        list[Path] | None,
        typer.Option(help="The IdP's signing certificate, PEM (twice during a rollover)."),
    ] = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Configure, but off.")] = False,
    rotate_sp_key: Annotated[bool, typer.Option(help="Generate a new SP signing key.")] = False,
    org: Org = None,
) -> None:
    """Register (or change) the IdP; prints the SP entity id, ACS URL and login URL."""
    body: dict[str, Any] = {
        "login_prefix": login_prefix,
        "enabled": not disabled,
        "rotate_sp_key": rotate_sp_key,
    }
    if idp_metadata is not None:
        body["idp_metadata"] = idp_metadata.read_text()
    if idp_entity_id is not None:
        body["idp_entity_id"] = idp_entity_id
    if idp_sso_url is not None:
        body["idp_sso_url"] = idp_sso_url
    if idp_certificate:
        body["idp_certificates"] = [path.read_text() for path in idp_certificate]
    with conn.client() as api:
        sso = jsonable(api.configure_sso(_org(api, org), body))
    conn.emit(sso, _sso_table(sso))


@app.command("remove")
@connected(confirm="Forget the organization's IdP and SP key (SSO sign-in stops)?")
def remove_sso(
    conn: Connection,
    org: Org = None,
) -> None:
    """Forget the IdP and the SP key (turn enforcement off first)."""
    with conn.client() as api:
        answer = jsonable(api.remove_sso(_org(api, org)))
    conn.emit(answer, "SSO removed.")


class Switch(StrEnum):
    ON = "on"
    OFF = "off"


@app.command("enforce")
@connected
def enforce(
    conn: Connection,
    switch: Annotated[Switch, typer.Argument(help="on: SAML only; off: every sign-in method.")],
    org: Org = None,
) -> None:
    """Turn SSO enforcement off (the break-glass) or on (needs an SSO session, not a key)."""
    method = "saml" if switch is Switch.ON else None
    with conn.client() as api:
        answer = jsonable(api.set_enforcement(_org(api, org), method))
    conn.emit(answer, f"SSO enforcement is {switch.value}.")


# --- role mappings ----------------------------------------------------------------------------


def _roles(org_id: str, specs: list[str]) -> dict[str, Any]:
    """`organization-admin`, `deployment-viewer` (all) or `deployment-viewer:<id>,<id>`; a
    project role (`elasticsearch-viewer:<id>`) goes under `project.<type>` with `project_ids`."""
    out: dict[str, Any] = {}
    for spec in specs:
        role, _, ids = spec.partition(":")
        try:
            kind = RoleId(role).scope_kind
        except ValueError:
            err.print(f"Unknown role {role!r}: one of {', '.join(r.value for r in RoleId)}.")
            raise typer.Exit(2) from None
        if kind is ScopeKind.ORGANIZATION:
            out.setdefault("organization", []).append({"role_id": role, "organization_id": org_id})
            continue
        entry: dict[str, Any] = {"role_id": role, "organization_id": org_id}
        ids_name = "deployment_ids" if kind is ScopeKind.DEPLOYMENT else "project_ids"
        if ids:
            entry[ids_name] = [i for i in ids.split(",") if i]
        else:
            entry["all"] = True
        if kind is ScopeKind.DEPLOYMENT:
            out.setdefault("deployment", []).append(entry)
        else:
            out.setdefault("project", {}).setdefault(kind.value, []).append(entry)
    return out


def _assignments(by_kind: dict[str, Any]) -> list[dict[str, Any]]:
    """Every assignment of a `role_assignments` object (projects' grouped by type)."""
    out: list[dict[str, Any]] = []
    for kind, items in by_kind.items():
        if kind == "project":
            out += [a for typed in (items or {}).values() for a in typed or []]
        else:
            out += items or []
    return out


def _mapping_table(rows: list[dict[str, Any]]) -> Table:
    table = Table("id", "name", "rule", "roles")
    for row in rows:
        rule = f"{row['rule']['match']}: {', '.join(row['rule']['groups'])}"
        roles = [a["role_id"] for a in _assignments(row["role_assignments"])]
        table.add_row(row["id"], row["name"], rule, ", ".join(roles))
    return table


@mapping_app.command("add")
@connected(
    api_names={
        "name": "NAME",
        "rule.groups": "--group",
        "rule.match": "--match",
        "rule": "--group",
        "role_assignments": "--role",
    }
)
def add_mapping(
    conn: Connection,
    name: Annotated[str, typer.Argument(help="A unique name.")],
    group: Annotated[list[str], typer.Option(help="A group pattern (* matches anything).")],
    role: Annotated[
        list[str],
        typer.Option(
            help="organization-admin, deployment-viewer, deployment-viewer:<ids>, "
            "elasticsearch-viewer:<project ids>..."
        ),
    ],
    match: Annotated[str, typer.Option(help="all: every pattern; any: one of them.")] = "any",
    org: Org = None,
) -> None:
    """Map IdP groups to roles (refused if no one would remain Organization owner)."""
    with conn.client() as api:
        org_id = _org(api, org)
        body = {
            "name": name,
            "rule": {"match": match, "groups": group},
            "role_assignments": _roles(org_id, role),
        }
        row = jsonable(api.create_role_mapping(org_id, body))
    conn.emit(row, _mapping_table([row]))


@mapping_app.command("list")
@connected
def list_mappings(
    conn: Connection,
    org: Org = None,
) -> None:
    """The organization's role mappings."""
    with conn.client() as api:
        rows = jsonable(api.list_role_mappings(_org(api, org)))
    conn.emit({"role_mappings": rows}, _mapping_table(rows))


@mapping_app.command("remove")
@connected(confirm="Remove role mapping {mapping_id}?")
def remove_mapping(
    conn: Connection,
    mapping_id: Annotated[str, typer.Argument(help="The mapping's id.")],
    org: Org = None,
) -> None:
    """Remove a mapping (refused if no one would remain Organization owner)."""
    with conn.client() as api:
        answer = jsonable(api.remove_role_mapping(_org(api, org), mapping_id))
    conn.emit(answer, f"Removed {mapping_id}.")
