"""Options shared by several commands: the data directory, and the one bundle of connection
options every API command takes.

An API command is written as ``def show(conn: Connection, deployment_id: ...)`` and
decorated with `connected`: the decorator adds ``--api-key``, ``--api-url``, ``--ca-file``,
``--request-timeout``, ``--output`` and ``--data-dir`` to its command line, hands it a
`Connection` and turns an error answer (or none) into a message on stderr and exit status 1.
Without ``--api-url``, the URL and CA of a local `citadel up` are read from
``<data-dir>/run/endpoints.json``.
"""

from __future__ import annotations

import functools
import inspect
import json
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.table import Table

from citadel.cli.render import Output, emit, err
from citadel.client.api import CitadelClient, ClientError

DataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        envvar="CITADEL_DATA_DIR",
        help="Where Citadel keeps its database, keys and certificates.",
    ),
]
DEFAULT_DATA_DIR = Path("./citadel-data")

ApiKey = Annotated[
    str, typer.Option("--api-key", envvar="CITADEL_API_KEY", help="A Cloud API key.")
]
ApiUrl = Annotated[
    str | None,
    typer.Option(
        "--api-url",
        envvar="CITADEL_API_URL",
        help="The API, ending in /api/v1 (default: the local `citadel up` of --data-dir).",
    ),
]
CaFile = Annotated[
    str | None,
    typer.Option(
        "--ca-file",
        envvar="CITADEL_CA_FILE",
        help="The CA certificate to trust (default: the local `citadel up`'s platform CA).",
    ),
]
RequestTimeout = Annotated[
    float,
    typer.Option(
        "--request-timeout", envvar="CITADEL_REQUEST_TIMEOUT", help="Seconds per API request."
    ),
]
OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="json or table.")]


@dataclass(frozen=True)
class Connection:
    """Where the API is, how to trust it, who calls it, and how to show its answers."""

    api_key: str
    output: Output = Output.TABLE
    data_dir: Path = DEFAULT_DATA_DIR
    api_url: str | None = None
    ca_file: str | None = None
    request_timeout: float = 30.0

    def client(self) -> CitadelClient:
        """A client for `api_url`, or for the local `citadel up` of `data_dir`."""
        api_url, ca_file = self.api_url, self.ca_file
        if api_url is None:
            path = self.data_dir / "run" / "endpoints.json"
            if not path.is_file():
                err.print(f"No --api-url and no {path}: is `citadel up` running?")
                raise typer.Exit(2)
            endpoints = json.loads(path.read_text())
            api_url = endpoints["api_url"]
            ca_file = ca_file or endpoints.get("ca_file")
        return CitadelClient(
            api_url, api_key=self.api_key, ca_file=ca_file, timeout=self.request_timeout
        )

    def emit(self, value: Any, table: Table | str | None = None) -> None:
        """Print an answer as `--output` asks (see `citadel.cli.render.emit`)."""
        emit(self.output, value, table)


_KW = inspect.Parameter.KEYWORD_ONLY
_OPTIONS = [
    inspect.Parameter("api_key", _KW, annotation=ApiKey),
    inspect.Parameter("output", _KW, annotation=OutputOpt, default=Output.TABLE),
    inspect.Parameter("data_dir", _KW, annotation=DataDir, default=DEFAULT_DATA_DIR),
    inspect.Parameter("api_url", _KW, annotation=ApiUrl, default=None),
    inspect.Parameter("ca_file", _KW, annotation=CaFile, default=None),
    inspect.Parameter("request_timeout", _KW, annotation=RequestTimeout, default=30.0),
]


def connected(command: Callable[..., None]) -> Callable[..., None]:
    """`command` with the connection options on its command line (after its own), called
    with a `Connection` first; an error answer, or no answer, is printed and exits 1."""
    hints = typing.get_type_hints(command, include_extras=True)
    own = list(inspect.signature(command).parameters.values())[1:]
    own = [p.replace(annotation=hints[p.name]) for p in own]
    clash = {p.name for p in own} & {p.name for p in _OPTIONS}
    if clash:
        raise TypeError(f"{command.__name__} declares connection options itself: {clash}")

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        conn = Connection(**{p.name: kwargs.pop(p.name) for p in _OPTIONS if p.name in kwargs})
        try:
            command(conn, *args, **kwargs)
        except ClientError as exc:
            err.print(str(exc))
            raise typer.Exit(1) from None
        except httpx.TransportError as exc:
            err.print(f"Cannot reach {exc.request.url}: {exc}")
            raise typer.Exit(1) from None

    parameters = own + _OPTIONS
    run.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in parameters}
    return run
