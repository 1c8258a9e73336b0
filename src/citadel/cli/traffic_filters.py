"""`citadel traffic-filter`: network security policies through the API, and `static-ips`.

A change that would block the address the command runs from is refused by the API unless
`--force` is given; `--validate-only` shows what a change would block without making it.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from citadel.cli.options import Connection, connected
from citadel.cli.render import err, jsonable

app = typer.Typer(help="Traffic filters (network security policies).", no_args_is_help=True)

RulesetArg = Annotated[str, typer.Argument(help="The ruleset id.")]
DeploymentArg = Annotated[str, typer.Argument(help="The deployment id.")]
Sources = Annotated[
    list[str] | None,
    typer.Option(
        "--source",
        help="A rule (repeatable): an IP or CIDR (ip), a VPC endpoint id (vpce), a PSC "
        "connection id (gcp_private_service_connect_endpoint), or NAME/GUID "
        "(azure_private_endpoint).",
    ),
]
ValidateOnly = Annotated[
    bool, typer.Option("--validate-only", help="Change nothing; show what it would block.")
]
Force = Annotated[bool, typer.Option("--force", help="Apply even if it blocks your address.")]
Region = Annotated[str | None, typer.Option("--region", help="Only this region.")]

# The request fields and query parameters the options set, for errors that name them.
RULESET_NAMES = {
    "name": "--name",
    "description": "--description",
    "type": "--type",
    "region": "--region",
    "include_by_default": "--include-by-default",
    "rules": "--source",
    "validate_only": "--validate-only",
    "force": "--force",
    "ignore_associations": "--ignore-associations",
}
CLAIM_NAMES = {
    "region": "--region",
    "link_id": "--link-id",
    "azure_endpoint_name": "--azure-endpoint-name",
    "azure_endpoint_guid": "--azure-endpoint-guid",
}


def _rules(kind: str, sources: list[str]) -> list[dict[str, Any]]:
    if kind != "azure_private_endpoint":
        return [{"source": s} for s in sources]
    rules = []
    for text in sources:
        name, _, guid = text.partition("/")
        rules.append({"azure_endpoint_name": name, "azure_endpoint_guid": guid})
    return rules


def _ruleset_table(rows: list[dict[str, Any]]) -> Table:
    table = Table("id", "name", "type", "region", "default", "rules", "associations", "version")
    for row in rows:
        table.add_row(
            row["id"],
            row["name"],
            row["type"],
            row["region"],
            "yes" if row["include_by_default"] else "no",
            str(len(row["rules"])),
            str(row.get("total_associations", "")),
            str(row.get("version", "")),
        )
    return table


def _report(conn: Connection, answer: dict[str, Any]) -> None:
    """What a `--validate-only` change would block."""
    blocked = answer["would_block"]
    table = Table("would block", "address", "deployments")
    for item in blocked["your_addresses"]:
        table.add_row("your address", item["address"], ", ".join(item["deployments"]) or "-")
    for item in blocked["connected_clients"]:
        client = item["client_ip"] + (f" via {item['endpoint_id']}" if item["endpoint_id"] else "")
        table.add_row("connected client", client, item["deployment_id"])
    if not blocked["your_addresses"] and not blocked["connected_clients"]:
        table.add_row("nothing", "", "")
    conn.emit(answer, table)


@app.command("create")
@connected(api_names=RULESET_NAMES)
def create(
    conn: Connection,
    name: Annotated[str, typer.Option("--name", help="The ruleset's name.")],
    source: Sources = None,
    kind: Annotated[
        str,
        typer.Option(
            "--type",
            help="ip, vpce, gcp_private_service_connect_endpoint or azure_private_endpoint.",
        ),
    ] = "ip",
    region: Annotated[str, typer.Option("--region", help="The region it applies in.")] = "local",
    description: Annotated[str, typer.Option("--description", help="What it is for.")] = "",
    include_by_default: Annotated[
        bool, typer.Option("--include-by-default", help="Attach to new deployments of the region.")
    ] = False,
    validate_only: ValidateOnly = False,
    force: Force = False,
) -> None:
    """Create a ruleset."""
    body = {
        "name": name,
        "description": description,
        "type": kind,
        "region": region,
        "include_by_default": include_by_default,
        "rules": _rules(kind, source or []),
    }
    with conn.client() as api:
        answer = jsonable(api.create_ruleset(body, validate_only=validate_only, force=force))
    if validate_only:
        _report(conn, answer)
        return
    table = Table("id")
    table.add_row(answer["id"])
    conn.emit(answer, table)


@app.command("list")
@connected
def list_(
    conn: Connection,
    region: Region = None,
) -> None:
    """The organization's rulesets, with how many deployments each protects."""
    with conn.client() as api:
        rows = jsonable(api.list_rulesets(region=region, include_associations=True))
    conn.emit({"rulesets": rows}, _ruleset_table(rows))


@app.command("show")
@connected
def show(
    conn: Connection,
    ruleset_id: RulesetArg,
    history: Annotated[bool, typer.Option("--history", help="Every version.")] = False,
) -> None:
    """One ruleset: its rules and associations (or its history)."""
    with conn.client() as api:
        if history:
            versions = jsonable(api.ruleset_history(ruleset_id))
            table = Table("version", "changed at", "by", "rules")
            for v in versions:
                by = f"{v['changed_by']['type']} {v['changed_by']['id'] or ''}".strip()
                rules = str(len(v["ruleset"]["rules"]))
                table.add_row(str(v["version"]), v["changed_at"], by, rules)
            conn.emit({"history": versions}, table)
            return
        row = jsonable(api.get_ruleset(ruleset_id, include_associations=True))
    table = Table("rule", "source", "description")
    for rule in row["rules"]:
        where = rule.get("source") or (
            f"{rule.get('azure_endpoint_name')}/{rule.get('azure_endpoint_guid')}"
        )
        table.add_row(rule["id"], where, rule.get("description", ""))
    for association in row.get("associations", []):
        table.add_row("associated", association["id"], association["entity_type"])
    conn.emit(row, table)


@app.command("update")
@connected(api_names=RULESET_NAMES)
def update(
    conn: Connection,
    ruleset_id: RulesetArg,
    source: Sources = None,
    name: Annotated[str | None, typer.Option("--name", help="A new name.")] = None,
    description: Annotated[
        str | None, typer.Option("--description", help="A new description.")
    ] = None,
    include_by_default: Annotated[
        bool | None,
        typer.Option(
            "--include-by-default/--no-include-by-default",
            help="Attach (or not) to new deployments of the region.",
        ),
    ] = None,
    validate_only: ValidateOnly = False,
    force: Force = False,
) -> None:
    """Change a ruleset: what is given replaces what is there (`--source` replaces every
    rule). Refused if someone else changed it since it was read."""
    with conn.client() as api:
        current = jsonable(api.get_ruleset(ruleset_id))
        body = {
            "name": name if name is not None else current["name"],
            "description": description if description is not None else current["description"],
            "type": current["type"],
            "region": current["region"],
            "include_by_default": current["include_by_default"]
            if include_by_default is None
            else include_by_default,
            "rules": _rules(current["type"], source)
            if source
            else [{k: v for k, v in r.items() if k != "id"} for r in current["rules"]],
        }
        answer = jsonable(
            api.update_ruleset(
                ruleset_id,
                body,
                version=current["version"],
                validate_only=validate_only,
                force=force,
            )
        )
    if validate_only:
        _report(conn, answer)
        return
    table = Table("id", "updated")
    table.add_row(ruleset_id, "yes")
    conn.emit(answer, table)


@app.command("delete")
@connected(api_names=RULESET_NAMES, confirm="Delete traffic filter ruleset {ruleset_id}?")
def delete(
    conn: Connection,
    ruleset_id: RulesetArg,
    ignore_associations: Annotated[
        bool, typer.Option("--ignore-associations", help="Delete even while associated.")
    ] = False,
) -> None:
    """Delete a ruleset (refused while associated, unless --ignore-associations)."""
    with conn.client() as api:
        answer = jsonable(api.delete_ruleset(ruleset_id, ignore_associations=ignore_associations))
    table = Table("id", "deleted")
    table.add_row(ruleset_id, "yes")
    conn.emit(answer, table)


@app.command("associate")
@connected(api_names=RULESET_NAMES)
def associate(
    conn: Connection,
    ruleset_id: RulesetArg,
    deployment_id: DeploymentArg,
    validate_only: ValidateOnly = False,
    force: Force = False,
) -> None:
    """Apply a ruleset to a deployment (it filters within a second)."""
    with conn.client() as api:
        answer = jsonable(
            api.associate_ruleset(
                ruleset_id,
                deployment_id,
                validate_only=validate_only,
                force=force,
            )
        )
    if validate_only:
        _report(conn, answer)
        return
    table = Table("ruleset", "deployment", "associated")
    table.add_row(ruleset_id, deployment_id, "yes")
    conn.emit(answer, table)


@app.command("disassociate")
@connected(api_names=RULESET_NAMES)
def disassociate(
    conn: Connection,
    ruleset_id: RulesetArg,
    deployment_id: DeploymentArg,
    force: Force = False,
) -> None:
    """Remove a ruleset from a deployment (other rulesets may still filter it)."""
    with conn.client() as api:
        answer = jsonable(api.disassociate_ruleset(ruleset_id, deployment_id, force=force))
    table = Table("ruleset", "deployment", "associated")
    table.add_row(ruleset_id, deployment_id, "no")
    conn.emit(answer, table)


def _claim_body(
    region: str, link_id: str | None, azure_name: str | None, azure_guid: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"region": region}
    for key, value in (
        ("link_id", link_id),
        ("azure_endpoint_name", azure_name),
        ("azure_endpoint_guid", azure_guid),
    ):
        if value is not None:
            body[key] = value
    return body


LinkId = Annotated[
    str | None,
    typer.Option("--link-id", help="VPC endpoint id, PSC connection id, or Azure LINKID."),
]
AzureName = Annotated[
    str | None, typer.Option("--azure-endpoint-name", help="The Azure private endpoint's name.")
]
AzureGuid = Annotated[
    str | None, typer.Option("--azure-endpoint-guid", help="The Azure private endpoint's GUID.")
]
ClaimRegion = Annotated[str, typer.Option("--region", help="The region of the endpoint.")]


def _claimed(conn: Connection, body: dict[str, Any], answer: Any, *, claimed: bool) -> None:
    table = Table("region", "link id", "claimed")
    table.add_row(body["region"], body.get("link_id", ""), "yes" if claimed else "no")
    conn.emit(answer, table)


@app.command("claim-link")
@connected(api_names=CLAIM_NAMES)
def claim_link(
    conn: Connection,
    region: ClaimRegion = "local",
    link_id: LinkId = None,
    azure_endpoint_name: AzureName = None,
    azure_endpoint_guid: AzureGuid = None,
) -> None:
    """Claim a private-link endpoint id: no other organization can use it."""
    body = _claim_body(region, link_id, azure_endpoint_name, azure_endpoint_guid)
    with conn.client() as api:
        answer = jsonable(api.claim_link_id(body))
    _claimed(conn, body, answer, claimed=True)


@app.command("unclaim-link")
@connected(api_names=CLAIM_NAMES, confirm="Give up the claim on this endpoint id?")
def unclaim_link(
    conn: Connection,
    region: ClaimRegion = "local",
    link_id: LinkId = None,
    azure_endpoint_name: AzureName = None,
    azure_endpoint_guid: AzureGuid = None,
) -> None:
    """Give a claimed endpoint id up."""
    body = _claim_body(region, link_id, azure_endpoint_name, azure_endpoint_guid)
    with conn.client() as api:
        answer = jsonable(api.unclaim_link_id(body))
    _claimed(conn, body, answer, claimed=False)


@connected
def static_ips(
    conn: Connection,
    region: Region = None,
) -> None:
    """The platform's published ingress and egress addresses per region."""
    with conn.client() as api:
        answer = jsonable(api.static_ips())
    regions = answer["regions"]
    if region is not None:
        if region not in regions:
            err.print(f"No region {region}; there are: {', '.join(regions)}")
            raise typer.Exit(1)
        regions = {region: regions[region]}
        answer = {"regions": regions}
    table = Table("region", "ingress", "egress")
    for name, ips in regions.items():
        table.add_row(name, ", ".join(ips["ingress"]) or "-", ", ".join(ips["egress"]) or "-")
    conn.emit(answer, table)
