"""`citadel deployment`: deployments through the Cloud API (an API key, CITADEL_API_KEY).

Connection options and output are shared with the other API commands
(`citadel.cli.options.connected`).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from citadel.cli.options import Connection, connected
from citadel.cli.render import Output, err, jsonable

LATEST = "__latest_success__"  # the Cloud API's name of the latest successful snapshot

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
    "resources.elasticsearch[0].plan.transient.restore_snapshot.source_cluster_id": (
        "--restore-from"
    ),
    "resources.elasticsearch[0].plan.transient.restore_snapshot.snapshot_name": "--snapshot",
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
    restore_from: Annotated[
        str | None,
        typer.Option(
            "--restore-from",
            help="Fill it from a snapshot of this deployment (id) before its first start.",
        ),
    ] = None,
    snapshot: Annotated[
        str | None,
        typer.Option(
            "--snapshot", help="With --restore-from: the snapshot's name (default: the latest)."
        ),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until it runs.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds --wait waits.")] = 120,
) -> None:
    """Create a deployment; prints the `elastic` password once."""
    if snapshot and not restore_from:
        err.print("--snapshot names a snapshot of the deployment --restore-from names.")
        raise typer.Exit(2)
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
    if restore_from:
        restore = {"source_cluster_id": restore_from, "snapshot_name": snapshot or LATEST}
        es["plan"]["transient"] = {"restore_snapshot": restore}
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
        *_snapshot_rows(info),
    ):
        table.add_row(field, value)
    conn.emit(detail, table)


@app.command("snapshots")
@connected
def snapshots(
    conn: Connection,
    deployment_id: DeploymentArg,
) -> None:
    """The deployment's snapshots (the Cloud API's info.snapshots) and the restore it came
    back from; inside the deployment, _snapshot/found-snapshots lists each one."""
    with conn.client() as client:
        detail = jsonable(client.get_deployment(deployment_id))
    info = detail["resources"]["elasticsearch"][0]["info"]
    taken = info.get("snapshots") or {}
    table = Table("field", "value")
    for field in (
        "count",
        "healthy",
        "recent_success",
        "latest_status",
        "latest_successful_end_time",
        "latest_end_time",
    ):
        if field in taken:
            table.add_row(field, str(taken[field]))
    for field, value in _snapshot_rows(info)[2:]:
        table.add_row(field, value)
    body = {"snapshots": taken}
    if info.get("restored_from"):
        body["restored_from"] = info["restored_from"]
    conn.emit(body, table)


def _snapshot_rows(info: dict[str, Any]) -> list[tuple[str, str]]:
    """What `show` says of the deployment's snapshots and of the restore it came back from."""
    taken = info.get("snapshots") or {}
    health = "healthy" if taken.get("healthy", True) else "the latest scheduled one failed"
    rows = [
        ("snapshots", f"{taken.get('count', 0)} ({health})"),
        ("latest snapshot", taken.get("latest_successful_end_time", "none yet")),
    ]
    restored = info.get("restored_from") or {}
    if "snapshot_name" in restored:
        when = restored.get("taken_at", "?")
        rows.append(("restored from", f"snapshot {restored['snapshot_name']} taken at {when}"))
    pending = restored.get("pending")
    if pending:
        rows.append(
            ("restore", f"pending: {pending['snapshot_name']} of {pending['source_cluster_id']}")
        )
    return rows


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


# --- the deployment's SAML and OIDC realms ---------------------------------------------------

realm_app = typer.Typer(
    help="The deployment's own SAML and OpenID Connect realms (Elasticsearch's settings keys).",
    no_args_is_help=True,
)
app.add_typer(realm_app, name="realm")
RealmArg = Annotated[str, typer.Argument(help="The realm's name (unique in the deployment).")]
REALM_NAMES = {
    "type": "--type",
    "order": "--order",
    "enabled": "--enable/--disable",
    "settings": "--settings",
    'settings["idp.metadata.xml"]': "--idp-metadata",
    'settings["rp.client_secret"]': "--client-secret-stdin",
}


@realm_app.command("list")
@connected
def realm_list(conn: Connection, deployment_id: DeploymentArg) -> None:
    """The deployment's realms by order (an OIDC client secret is never shown)."""
    with conn.client() as client:
        realms = jsonable(client.list_deployment_realms(deployment_id))
    table = Table("name", "type", "order", "enabled", "settings")
    for realm in realms["realms"]:
        keys = ", ".join(sorted(realm["settings"]))
        table.add_row(
            escape(realm["name"]),
            realm["type"],
            str(realm["order"]),
            "yes" if realm["enabled"] else "no",
            escape(keys),
        )
    conn.emit(realms, table)


def _setting(text: str) -> tuple[str, Any]:
    """``key=value``; the value read as JSON when it is JSON (``true``, ``["a","b"]``)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise typer.BadParameter(f"{text!r} is not key=value", param_hint="--set")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


@realm_app.command("put")
@connected(api_names=REALM_NAMES)
def realm_put(
    conn: Connection,
    deployment_id: DeploymentArg,
    name: RealmArg,
    realm_type: Annotated[str, typer.Option("--type", help="saml or oidc.")],
    order: Annotated[int, typer.Option("--order", help="Its place in the realm chain.")],
    settings_file: Annotated[
        Path | None,
        typer.Option("--settings", help="A JSON object of the realm's settings ('-': stdin)."),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="One setting, key=value (repeatable; after --settings)."),
    ] = None,
    idp_metadata: Annotated[
        Path | None,
        typer.Option("--idp-metadata", help="SAML: the IdP's metadata XML file."),
    ] = None,
    client_secret_stdin: Annotated[
        bool,
        typer.Option(
            "--client-secret-stdin", help="OIDC: read rp.client_secret from standard input."
        ),
    ] = False,
    enabled: Annotated[
        bool, typer.Option("--enable/--disable", help="Whether the realm signs anyone in.")
    ] = True,
) -> None:
    """Create or replace one realm. A replaced OIDC realm given no secret keeps its own."""
    settings: dict[str, Any] = {}
    if settings_file is not None:
        text = sys.stdin.read() if str(settings_file) == "-" else settings_file.read_text()
        loaded = json.loads(text)
        if not isinstance(loaded, dict):
            raise typer.BadParameter("must hold a JSON object", param_hint="--settings")
        settings |= loaded
    settings |= dict(_setting(item) for item in set_ or [])
    if idp_metadata is not None:
        settings["idp.metadata.xml"] = idp_metadata.read_text()
    if client_secret_stdin:
        settings["rp.client_secret"] = sys.stdin.readline().rstrip("\n")
    body = {"type": realm_type, "order": order, "enabled": enabled, "settings": settings}
    with conn.client() as client:
        realm = jsonable(client.put_deployment_realm(deployment_id, name, body))
    table = Table("name", "type", "order", "enabled")
    table.add_row(escape(realm["name"]), realm["type"], str(realm["order"]), str(realm["enabled"]))
    conn.emit(realm, table)


@realm_app.command("delete")
@connected(confirm="Delete realm {name} of deployment {deployment_id}? Its users lose access.")
def realm_delete(conn: Connection, deployment_id: DeploymentArg, name: RealmArg) -> None:
    """Remove one realm: its users can no longer sign in to the deployment."""
    with conn.client() as client:
        client.delete_deployment_realm(deployment_id, name)
    conn.emit({"deleted": name}, f"Realm {name} deleted.")


# --- the deployment's security audit trail ---------------------------------------------------

AUDIT_NAMES = {
    "action": "--action",
    "principal": "--user",
    "realm": "--realm",
    "since": "--since",
    "until": "--until",
    "index": "--index",
    "cursor": "--cursor",
    "size": "--size",
    "enabled": "--enable/--disable",
    "include": "--include",
    "exclude": "--exclude",
    "ignore_filters": "--ignore-filters",
}
_RELATIVE = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _instant(text: str | None, option: str) -> str | None:
    """An ISO 8601 instant as given, or ``15m``/``2h``/``7d`` ago (from this machine's clock)."""
    from datetime import UTC, datetime, timedelta

    if text is None:
        return None
    unit = _RELATIVE.get(text[-1:])
    if unit is not None and text[:-1].isdigit():
        return (datetime.now(UTC) - timedelta(**{unit: int(text[:-1])})).isoformat()
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter("an ISO 8601 time or 15m, 2h, 7d", param_hint=option) from None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).isoformat()


def _names(values: list[str] | None) -> list[str] | None:
    """Repeated and comma-separated values as one list (None when the option was not given)."""
    if values is None:
        return None
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


@app.command("audit")
@connected(api_names=AUDIT_NAMES)
def audit(
    conn: Connection,
    deployment_id: DeploymentArg,
    action: Annotated[
        list[str] | None,
        typer.Option("--action", help="Only these event types (repeat, or comma-separated)."),
    ] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only this principal.")] = None,
    realm: Annotated[str | None, typer.Option("--realm", help="Only this realm.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="From this time (ISO 8601, or 15m, 2h, 7d ago).")
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="Before this time.")] = None,
    index: Annotated[
        str | None, typer.Option("--index", help="Only events on an index containing this.")
    ] = None,
    size: Annotated[
        int, typer.Option("--size", min=1, max=1000, help="How many events, newest first.")
    ] = 100,
    cursor: Annotated[
        str | None, typer.Option("--cursor", help="The next_cursor of the page before.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The page as JSON.")] = False,
    ndjson: Annotated[
        bool,
        typer.Option("--ndjson", help="Every match, one Elasticsearch audit JSON line each."),
    ] = False,
) -> None:
    """The deployment's security audit events (authentication, access, run-as, connection
    refusals, security changes), newest first."""
    filters: dict[str, Any] = {
        "action": _names(action),
        "principal": user,
        "realm": realm,
        "since": _instant(since, "--since"),
        "until": _instant(until, "--until"),
        "index": index,
    }
    with conn.client() as client:
        if ndjson:
            for line in client.export_deployment_audit(deployment_id, **filters):
                typer.echo(line)
            return
        page = jsonable(
            client.list_deployment_audit(deployment_id, **filters, size=size, cursor=cursor)
        )
    if as_json or conn.output is Output.JSON:
        conn.emit(page)
        return
    table = Table()
    for name in ("time (UTC)", "event", "user", "realm", "origin", "indices", "request"):
        table.add_column(name, overflow="fold")  # a narrow terminal wraps a cell, never cuts it
    for e in page["events"]:
        table.add_row(  # text as the node recorded it, never markup
            *(
                escape(str(v))
                for v in (
                    e["at"][:19].replace("T", " "),  # UTC, to the second
                    e["action"],
                    e.get("principal", ""),
                    e.get("realm", ""),
                    e.get("origin_address", ""),
                    ",".join(e["indices"]),
                    e.get("request_id", ""),
                )
            )
        )
    notes = []
    if page.get("next_cursor"):
        notes.append(f"older: --cursor {page['next_cursor']}")
    if page["dropped_events"]:
        notes.append(f"{page['dropped_events']} events dropped by the node")
    table.caption = "; ".join(notes) or None
    conn.emit(page, table)


def _ignore_filters(text: str | None) -> dict[str, Any] | None:
    """``--ignore-filters`` as JSON text, or ``@file`` holding it."""
    import json
    from pathlib import Path

    if text is None:
        return None
    source = Path(text[1:]).read_text() if text.startswith("@") else text
    try:
        value = json.loads(source)
    except ValueError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="--ignore-filters") from None
    if not isinstance(value, dict):
        raise typer.BadParameter("a JSON object of policies", param_hint="--ignore-filters")
    return value


@app.command("audit-settings")
@connected(api_names=AUDIT_NAMES)
def audit_settings(
    conn: Connection,
    deployment_id: DeploymentArg,
    enable: Annotated[
        bool | None,
        typer.Option("--enable/--disable", help="Record the audit trail, or stop."),
    ] = None,
    include: Annotated[
        list[str] | None,
        typer.Option(
            "--include",
            help="Event types to record (Elasticsearch's names, or _all; repeat or "
            "comma-separated). --include '' goes back to the default set.",
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", help="Event types never recorded ('' for none)."),
    ] = None,
    ignore_filters: Annotated[
        str | None,
        typer.Option(
            "--ignore-filters",
            help='Policies of events not recorded, as JSON or @file: {"name": {"users": '
            '["kibana_system"], "indices": [".monitoring-*"]}} ({} for none).',
        ),
    ] = None,
) -> None:
    """Show what the deployment's node records, or change it (options left out keep their
    value); the node picks a change up within a minute."""
    body: dict[str, Any] = {
        "enabled": enable,
        "include": _names(include),
        "exclude": _names(exclude),
        "ignore_filters": _ignore_filters(ignore_filters),
    }
    body = {k: v for k, v in body.items() if v is not None}
    with conn.client() as client:
        if body:
            settings = jsonable(client.update_deployment_audit_settings(deployment_id, body))
        else:
            settings = jsonable(client.get_deployment_audit_settings(deployment_id))
    table = Table("setting", "value")
    for name, value in (
        ("enabled", "yes" if settings["enabled"] else "no"),
        ("include", ", ".join(settings["include"]) or "(the default set)"),
        ("exclude", ", ".join(settings["exclude"]) or "(none)"),
        ("ignore_filters", _json_text(settings["ignore_filters"]) or "(none)"),
        ("dropped_events", str(settings["dropped_events"])),
    ):
        table.add_row(name, escape(value))
    conn.emit(settings, table)


def _json_text(value: dict[str, Any]) -> str:
    import json

    return json.dumps(value, separators=(",", ":")) if value else ""
