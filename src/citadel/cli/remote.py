"""What the API-calling commands share: options, the client, error display, output.

Without `--api-url`, the URL and CA of a local `citadel up` are read from
`<data-dir>/run/endpoints.json`. Every command takes `--output json|table`.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from citadel.client.api import CitadelClient, ClientError

out = Console(soft_wrap=True)
err = Console(stderr=True)


class Output(StrEnum):
    JSON = "json"
    TABLE = "table"


ApiUrl = Annotated[str | None, typer.Option("--api-url", envvar="CITADEL_API_URL")]
ApiKey = Annotated[str, typer.Option("--api-key", envvar="CITADEL_API_KEY")]
CaFile = Annotated[str | None, typer.Option("--ca-file", envvar="CITADEL_CA_FILE")]
OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="json or table.")]


def client(data_dir: Path, api_url: str | None, api_key: str, ca_file: str | None) -> CitadelClient:
    """A client for `--api-url`, or for the local `citadel up` of `data_dir`."""
    if api_url is None:
        path = data_dir / "run" / "endpoints.json"
        if not path.is_file():
            err.print(f"No --api-url and no {path}: is `citadel up` running?")
            raise typer.Exit(2)
        endpoints = json.loads(path.read_text())
        api_url = endpoints["api_url"]
        ca_file = ca_file or endpoints.get("ca_file")
    return CitadelClient(api_url, api_key=api_key, ca_file=ca_file)


def call(api: CitadelClient, method: str, *args: Any, **kwargs: Any) -> Any:
    """`api.<method>(...)`; an error answer is printed and exits 1."""
    try:
        return getattr(api, method)(*args, **kwargs)
    except ClientError as exc:
        err.print(str(exc))
        raise typer.Exit(1) from None


def emit(output: Output, value: Any, table: Table | None = None) -> None:
    if output is Output.JSON or table is None:
        out.print_json(json.dumps(value))
    else:
        out.print(table)
