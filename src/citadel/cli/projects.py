"""`citadel project`: serverless projects through the API (an API key, CITADEL_API_KEY).

A project's type is part of every path (`/serverless/projects/{type}/{id}`); the commands that
take a project id find it themselves when `--type` is not given, by listing the three types.
Connection options and output are shared with the other API commands
(`citadel.cli.options.connected`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from citadel.cli.options import Connection, connected
from citadel.cli.render import Output, jsonable

if TYPE_CHECKING:
    from citadel.client.api import CitadelClient

app = typer.Typer(help="Serverless projects, through the API.", no_args_is_help=True)


class TypeName(StrEnum):
    """The project types (`citadel.projects.types.ProjectType`, not imported: `--help`
    loads no part of the server)."""

    ELASTICSEARCH = "elasticsearch"
    OBSERVABILITY = "observability"
    SECURITY = "security"


class OptimizedFor(StrEnum):
    """What an Elasticsearch project is optimized for (fixed at creation)."""

    GENERAL_PURPOSE = "general_purpose"
    VECTOR = "vector"


ProjectArg = Annotated[str, typer.Argument(help="The project id.")]
TypeOpt = Annotated[
    TypeName | None,
    typer.Option("--type", help="The project's type (default: found by listing the three)."),
]
EtagOpt = Annotated[
    str | None,
    typer.Option("--if-match", help='Only if the project is still at this ETag ("<revision>").'),
]

# The request fields the options set, for errors that name them.
API_NAMES = {
    "name": "--name",
    "alias": "--alias",
    "region_id": "--region",
    "optimized_for": "--optimized-for",
    "search_lake.search_power": "--search-power",
    "search_lake.boost_window": "--boost-window",
    "search_lake": "--search-power",
    "If-Match": "--if-match",
}


def _project_type(client: CitadelClient, project_id: str, given: TypeName | None) -> str:
    """`given`, else the type of the one project with this id among those the caller may
    list; none is the API's own 404, as a GET of an unknown project answers."""
    from citadel.client.api import ClientError

    if given is not None:
        return given.value
    for kind in TypeName:
        if any(item.id == project_id for item in client.list_projects(kind.value)):
            return kind.value
    raise ClientError(
        404,
        [{"code": "projects.not_found", "message": f"No project {project_id} of any type."}],
    )


def _facts(project: dict[str, Any]) -> list[tuple[str, str]]:
    """A project's identity and endpoints, as rows of a two-column table."""
    rows = [
        ("id", project["id"]),
        ("type", project.get("type", "")),
        ("name", project["name"]),
        ("alias", project["alias"]),
        ("region", project["region_id"]),
    ]
    rows += [(f"{app} endpoint", url) for app, url in project.get("endpoints", {}).items()]
    rows.append(("cloud_id", project.get("cloud_id", "")))
    return rows


def _fold(*names: str) -> Table:
    """A table whose cells wrap on a narrow terminal, never cut: an id, URL or cloud_id cut
    short with an ellipsis could not be copied."""
    table = Table()
    for name in names:
        table.add_column(name, overflow="fold")
    return table


def _table(rows: list[tuple[str, str]]) -> Table:
    table = _fold("field", "value")
    for field, value in rows:
        table.add_row(field, escape(str(value)))  # names are user text, never markup
    return table


@app.command("create")
@connected(api_names=API_NAMES)
def create(
    conn: Connection,
    project_type: Annotated[
        TypeName, typer.Option("--type", help="elasticsearch, observability or security.")
    ],
    name: Annotated[str, typer.Option("--name", help="The project's name.")],
    region: Annotated[str, typer.Option("--region", help="The region to run it in.")] = "local",
    alias: Annotated[
        str | None,
        typer.Option("--alias", help="Its endpoints' alias (default: derived from the name)."),
    ] = None,
    search_power: Annotated[
        int | None,
        typer.Option(
            "--search-power", help="Elasticsearch projects: 28-3000, more memory and CPU."
        ),
    ] = None,
    optimized_for: Annotated[
        OptimizedFor | None,
        typer.Option("--optimized-for", help="Elasticsearch projects: general_purpose or vector."),
    ] = None,
) -> None:
    """Create a project: no size or version to choose; prints its endpoints, cloud_id and the
    `admin` password once."""
    body: dict[str, Any] = {"name": name, "region_id": region}
    if alias:
        body["alias"] = alias
    if search_power is not None:
        body["search_lake"] = {"search_power": search_power}
    if optimized_for is not None:
        body["optimized_for"] = optimized_for.value
    with conn.client() as client:
        made = jsonable(client.create_project(project_type.value, body))
    credentials = made.get("credentials") or {}
    table = _table([*_facts(made), ("username", credentials.get("username", ""))])
    password = credentials.get("password")
    secrets = {f"{credentials['username']} password": password} if password else {}
    conn.emit(made, table, secrets=secrets)


@app.command("list")
@connected
def list_(
    conn: Connection,
    project_type: Annotated[
        TypeName | None, typer.Option("--type", help="Only projects of this type.")
    ] = None,
) -> None:
    """The projects this key may read, of one type or of all three."""
    kinds = [project_type] if project_type else list(TypeName)
    with conn.client() as client:
        items = [item for kind in kinds for item in jsonable(client.list_projects(kind.value))]
    table = _fold("id", "type", "name", "alias", "region", "elasticsearch")
    for item in items:
        table.add_row(
            item["id"],
            item["type"],
            escape(item["name"]),
            item["alias"],
            item["region_id"],
            item.get("endpoints", {}).get("elasticsearch", ""),
        )
    conn.emit({"items": items}, table)


@app.command("show")
@connected
def show(conn: Connection, project_id: ProjectArg, project_type: TypeOpt = None) -> None:
    """One project: endpoints, cloud_id and its phase (initializing, initialized, ...)."""
    with conn.client() as client:
        kind = _project_type(client, project_id, project_type)
        project = jsonable(client.get_project(kind, project_id))
        status = jsonable(client.project_status(kind, project_id))
    rows = _facts(project)
    rows.insert(5, ("phase", status["phase"]))
    search_lake = project.get("search_lake") or {}
    for field in ("search_power", "boost_window"):
        if search_lake.get(field) is not None:
            rows.append((field, str(search_lake[field])))
    filters = ", ".join(f["id"] for f in project.get("traffic_filters") or [])
    rows.append(("traffic_filters", filters or "(none)"))
    conn.emit({**project, "status": status}, _table(rows))


@app.command("update")
@connected(api_names=API_NAMES)
def update(
    conn: Connection,
    project_id: ProjectArg,
    project_type: TypeOpt = None,
    name: Annotated[str | None, typer.Option("--name", help="A new name.")] = None,
    alias: Annotated[
        str | None,
        typer.Option("--alias", help="A new alias: the old endpoint host names stop working."),
    ] = None,
    search_power: Annotated[
        int | None, typer.Option("--search-power", help="Elasticsearch projects: 28-3000.")
    ] = None,
    boost_window: Annotated[
        int | None,
        typer.Option("--boost-window", help="Elasticsearch projects: days of data kept hot."),
    ] = None,
    if_match: EtagOpt = None,
) -> None:
    """Change a project's name, alias or search settings (options left out keep their value)."""
    body: dict[str, Any] = {}
    if name is not None:
        body["name"] = name
    if alias is not None:
        body["alias"] = alias
    search_lake = {
        k: v
        for k, v in (("search_power", search_power), ("boost_window", boost_window))
        if v is not None
    }
    if search_lake:
        body["search_lake"] = search_lake
    if not body:
        raise typer.BadParameter(
            "give at least one of --name, --alias, --search-power, --boost-window"
        )
    with conn.client() as client:
        kind = _project_type(client, project_id, project_type)
        project = jsonable(client.update_project(kind, project_id, body, if_match=if_match))
    conn.emit(project, _table(_facts(project)))


@app.command("delete")
@connected(api_names=API_NAMES, confirm="Delete project {project_id} and its data?")
def delete(
    conn: Connection, project_id: ProjectArg, project_type: TypeOpt = None, if_match: EtagOpt = None
) -> None:
    """Delete a project: phase `deleting`, then gone with its data key."""
    with conn.client() as client:
        kind = _project_type(client, project_id, project_type)
        client.delete_project(kind, project_id, if_match=if_match)
    conn.emit(
        {"id": project_id, "type": kind, "phase": "deleting"}, f"Project {project_id}: deleting."
    )


@app.command("reset-credentials")
@connected(api_names=API_NAMES)
def reset_credentials(
    conn: Connection, project_id: ProjectArg, project_type: TypeOpt = None, if_match: EtagOpt = None
) -> None:
    """A new password for the project's `admin` user, shown once; the old one stops working."""
    with conn.client() as client:
        kind = _project_type(client, project_id, project_type)
        done = jsonable(client.reset_project_credentials(kind, project_id, if_match=if_match))
    table = _fold("project", "username")
    table.add_row(project_id, done["username"])
    conn.emit(done, table, secrets={f"{done['username']} password": done["password"]})


@app.command("resume")
@connected(api_names=API_NAMES)
def resume(
    conn: Connection, project_id: ProjectArg, project_type: TypeOpt = None, if_match: EtagOpt = None
) -> None:
    """Start an idle-stopped or suspended project now (a running one stays as it is)."""
    with conn.client() as client:
        kind = _project_type(client, project_id, project_type)
        client.resume_project(kind, project_id, if_match=if_match)
        status = jsonable(client.project_status(kind, project_id))
    conn.emit(
        {"id": project_id, "type": kind, **status},
        f"Project {project_id}: {status['phase']}.",
    )


@app.command("token")
@connected
def token(
    conn: Connection,
    project_id: ProjectArg,
    project_type: TypeOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="The whole answer (roles, expiry), not the token alone.")
    ] = False,
) -> None:
    """A short-lived bearer token for the project's Elasticsearch API, alone on its line:
    ``curl -H "Authorization: Bearer $(citadel project token ID)" https://...``."""
    with conn.client() as client:
        kind = _project_type(client, project_id, project_type)
        minted = jsonable(client.mint_project_token(kind, project_id))
    if as_json or conn.output is Output.JSON:
        conn.emit(minted)
        return
    typer.echo(minted["token"])
