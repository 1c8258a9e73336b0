"""`citadel deployment`: deployments through the Cloud API (an API key, CITADEL_API_KEY).

Connection options and output are shared with the other API commands
(`citadel.cli.options.connected`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from citadel.cli.options import Connection, connected
from citadel.cli.render import Output, err, jsonable

if TYPE_CHECKING:
    from citadel.client.api import CitadelClient

app = typer.Typer(help="Deployments, through the API.", no_args_is_help=True)


DeploymentArg = Annotated[str, typer.Argument(help="The deployment id.")]

# The request fields the options of `create` set, for errors that name them.
CREATE_NAMES = {
    "name": "--name",
    "alias": "--alias",
    "region": "--region",
    "version": "--version",
    "resources": "--size",
    "resources.elasticsearch[0].region": "--region",
    "resources.elasticsearch[0].plan.elasticsearch.version": "--version",
    "settings.byok.key_resource_path": "--key",
    "settings": "--key",
    "request_id": "--request-id",
}


def _status(detail: dict[str, Any]) -> str:
    return detail["resources"]["elasticsearch"][0]["info"]["status"]


@app.command("create")
@connected(api_names=CREATE_NAMES)
def create(
    conn: Connection,
    name: Annotated[str, typer.Option("--name", help="The deployment's name.")] = "search",
    alias: Annotated[
        str | None, typer.Option("--alias", help="A DNS-friendly alias for its endpoint.")
    ] = None,
    region: Annotated[str, typer.Option("--region", help="The region to run it in.")] = "local",
    version: Annotated[
        str | None, typer.Option("--version", help="The Elasticsearch version (default: latest).")
    ] = None,
    size: Annotated[int, typer.Option("--size", help="Memory in MiB.")] = 1024,
    request_id: Annotated[
        str | None,
        typer.Option("--request-id", help="An idempotency key: a retry creates nothing twice."),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            help="A customer-managed key (pkcs11:…, vault-transit://…, kmip://…, arn:aws:kms:…) "
            "in one of the organization's key managers.",
        ),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until it runs.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds --wait waits.")] = 120,
) -> None:
    """Create a deployment; prints the `elastic` password once."""
    es: dict[str, Any] = {
        "ref_id": "main-elasticsearch",
        "region": region,
        "plan": {
            "cluster_topology": [
                {"id": "hot_content", "size": {"value": size, "resource": "memory"}}
            ],
            "elasticsearch": {"version": version} if version else {},
        },
    }
    body: dict[str, Any] = {"name": name, "region": region, "resources": {"elasticsearch": [es]}}
    if alias:
        body["alias"] = alias
    if version:
        body["version"] = version
    if key:
        body["settings"] = {"byok": {"key_resource_path": key}}
    with conn.client() as client:
        made = jsonable(client.create_deployment(body, request_id=request_id))
        if wait:
            _wait_running(client, made["id"], timeout, quiet=conn.output is Output.JSON)
    resource = made["resources"][0]
    credentials = resource.get("credentials", {})
    table = Table("id", "name", "cloud_id", "username")
    table.add_row(
        made["id"], made["name"], resource.get("cloud_id", ""), credentials.get("username", "")
    )
    password = credentials.get("password")
    if password is None:  # the same --request-id again: the password was shown the first time
        table.caption = "The password was shown when it was created."
    secrets = {f"{credentials['username']} password": password} if password else {}
    conn.emit(made, table, secrets=secrets)


def _wait_running(
    client: CitadelClient, deployment_id: str, timeout: float, *, quiet: bool
) -> None:
    deadline = time.monotonic() + timeout
    with err.status("Starting the deployment…", spinner="dots") as spinner:
        while True:
            detail = jsonable(client.get_deployment(deployment_id))
            status = _status(detail)
            if not quiet:
                spinner.update(f"Deployment {deployment_id[:8]}: {status}")
            if detail["healthy"] and status == "started":
                return
            if time.monotonic() > deadline:
                err.print(f"Still {status} after {timeout:.0f} s.")
                raise typer.Exit(3)
            time.sleep(0.5)


@app.command("list")
@connected
def list_(
    conn: Connection,
) -> None:
    """The deployments this key may read."""
    with conn.client() as client:
        rows = jsonable(client.list_deployments())
    table = Table("id", "name", "region", "cloud_id")
    for row in rows:
        resource = row["resources"][0] if row["resources"] else {}
        table.add_row(row["id"], row["name"], resource.get("region", ""), resource.get("cloud_id"))
    conn.emit({"deployments": rows}, table)


@app.command("show")
@connected
def show(
    conn: Connection,
    deployment_id: DeploymentArg,
) -> None:
    """One deployment: status, health, endpoint, cloud_id."""
    with conn.client() as client:
        detail = jsonable(client.get_deployment(deployment_id))
    info = detail["resources"]["elasticsearch"][0]["info"]
    table = Table("field", "value")
    for field, value in (
        ("id", detail["id"]),
        ("name", detail["name"]),
        ("alias", detail.get("alias", "")),
        ("status", info["status"]),
        ("healthy", str(detail["healthy"])),
        ("url", info["metadata"].get("service_url", "")),
        ("cloud_id", info["metadata"].get("cloud_id", "")),
    ):
        table.add_row(field, value)
    conn.emit(detail, table)


@app.command("shutdown")
@connected(confirm="Shut deployment {deployment_id} down?")
def shutdown(
    conn: Connection,
    deployment_id: DeploymentArg,
) -> None:
    """Stop a deployment (its data stays until it is deleted)."""
    with conn.client() as client:
        done = jsonable(client.shutdown_deployment(deployment_id))
    table = Table("id", "name", "shutdown")
    table.add_row(done["id"], done["name"], "requested")
    conn.emit(done, table)


@app.command("delete")
@connected(confirm="Delete deployment {deployment_id} and destroy its data key?")
def delete(
    conn: Connection,
    deployment_id: DeploymentArg,
) -> None:
    """Delete a shut-down deployment; its data key is destroyed (the data is unreadable)."""
    with conn.client() as client:
        done = jsonable(client.delete_deployment(deployment_id))
    table = Table("id", "name", "deleted")
    table.add_row(done["id"], done["name"], "yes (data key destroyed)")
    conn.emit(done, table)


@app.command("reset-password")
@connected
def reset_password(
    conn: Connection,
    deployment_id: DeploymentArg,
    ref_id: Annotated[
        str, typer.Option("--ref-id", help="The Elasticsearch resource's ref_id.")
    ] = "main-elasticsearch",
) -> None:
    """A new password for the `elastic` user, shown once."""
    with conn.client() as client:
        done = jsonable(client.reset_elastic_password(deployment_id, ref_id))
    table = Table("deployment", "username")
    table.add_row(deployment_id, done["username"])
    conn.emit(done, table, secrets={f"{done['username']} password": done["password"]})


@app.command("token")
@connected
def token(
    conn: Connection,
    deployment_id: DeploymentArg,
    as_json: Annotated[
        bool, typer.Option("--json", help="The whole answer (roles, expiry), not the token alone.")
    ] = False,
) -> None:
    """A short-lived bearer token for the deployment's Elasticsearch API, alone on its line:
    ``curl -H "Authorization: Bearer $(citadel deployment token ID)" https://...``."""
    with conn.client() as client:
        minted = jsonable(client.mint_deployment_token(deployment_id))
    if as_json or conn.output is Output.JSON:
        conn.emit(minted)
        return
    typer.echo(minted["token"])
