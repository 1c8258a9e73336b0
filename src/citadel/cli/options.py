"""Options shared by several commands: the data directory, and the one bundle of connection
options every API command takes.

An API command is written as ``def show(conn: Connection, deployment_id: ...)`` and
decorated with `connected`: the decorator adds ``--api-key``, ``--api-url``, ``--ca-file``,
``--request-timeout``, ``--output`` and ``--data-dir`` to its command line, hands it a
`Connection` and turns an error answer (or none) into a message on stderr and exit status 1.

The API is found one way for every command: ``--api-url``, else ``CITADEL_API_URL``, else the
URL (and CA) a local `citadel up` wrote to ``<data-dir>/run/endpoints.json``.

``connected(api_names={...})`` declares which CLI option sets which request field or query
parameter, so an error answer that names one speaks of the option (``--force``, not
``force=true``); ``connected(confirm="Delete {deployment_id}?")`` makes a destructive command
ask first, adds ``--yes``/``-y`` to skip the question, and refuses without a terminal to ask.

The client (httpx, pydantic, the API's schemas) is imported when a command runs, not when the
command line is built: ``citadel --help`` stays quick.
"""

from __future__ import annotations

import enum
import functools
import inspect
import json
import sys
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from citadel.cli.render import Output, emit, err, error_message

if TYPE_CHECKING:
    from rich.table import Table

    from citadel.client.api import CitadelClient

DataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        envvar="CITADEL_DATA_DIR",
        help="Where Citadel keeps its database, keys and certificates.",
    ),
]
DEFAULT_DATA_DIR = Path("./citadel-data")


class LogLevelName(enum.StrEnum):
    """What `--log-level` accepts (the same as `citadel.log.LEVELS`)."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


LogLevel = Annotated[
    LogLevelName,
    typer.Option(
        "--log-level",
        envvar="CITADEL_LOG_LEVEL",
        case_sensitive=False,
        help="info: one line per change (and per public request); debug: every poll too.",
    ),
]

ApiKey = Annotated[
    str, typer.Option("--api-key", envvar="CITADEL_API_KEY", help="A Cloud API key.")
]
ApiUrl = Annotated[
    str | None,
    typer.Option(
        "--api-url",
        envvar="CITADEL_API_URL",
        help="The API, ending in /api/v1 (without it or CITADEL_API_URL: the local "
        "`citadel up` of --data-dir, from its run/endpoints.json).",
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
Yes = Annotated[
    bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (needed without a TTY).")
]


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
        """A client for `api_url` (--api-url, else CITADEL_API_URL), or for the local
        `citadel up` of `data_dir` (its run/endpoints.json)."""
        from citadel.client.api import CitadelClient

        api_url, ca_file = self.api_url, self.ca_file
        if api_url is None:
            path = self.data_dir / "run" / "endpoints.json"
            if not path.is_file():
                err.print(
                    f"No --api-url, no CITADEL_API_URL and no {path}: is `citadel up` running?"
                )
                raise typer.Exit(2)
            endpoints = json.loads(path.read_text())
            api_url = endpoints["api_url"]
            ca_file = ca_file or endpoints.get("ca_file")
        return CitadelClient(
            api_url, api_key=self.api_key, ca_file=ca_file, timeout=self.request_timeout
        )

    def emit(
        self,
        value: Any,
        table: Table | str | None = None,
        *,
        secrets: Mapping[str, str] | None = None,
    ) -> None:
        """Print an answer as `--output` asks, one-time `secrets` whole on their own lines
        (see `citadel.cli.render.emit`)."""
        emit(self.output, value, table, secrets=secrets)


_KW = inspect.Parameter.KEYWORD_ONLY
_OPTIONS = [
    inspect.Parameter("api_key", _KW, annotation=ApiKey),
    inspect.Parameter("output", _KW, annotation=OutputOpt, default=Output.TABLE),
    inspect.Parameter("data_dir", _KW, annotation=DataDir, default=DEFAULT_DATA_DIR),
    inspect.Parameter("api_url", _KW, annotation=ApiUrl, default=None),
    inspect.Parameter("ca_file", _KW, annotation=CaFile, default=None),
    inspect.Parameter("request_timeout", _KW, annotation=RequestTimeout, default=30.0),
]
_YES = inspect.Parameter("yes", _KW, annotation=Yes, default=False)


def confirm(question: str, *, yes: bool) -> None:
    """Ask `question` on the terminal unless `yes`; without a terminal, refuse (exit 2)
    rather than wait for an answer that cannot come; a "no" aborts (exit 1)."""
    if yes:
        return
    if not sys.stdin.isatty():
        err.print(f"{question} Not confirmed: pass --yes (no terminal to ask on).", markup=False)
        raise typer.Exit(2)
    if not typer.confirm(question, default=False, err=True):
        err.print("Nothing done.")
        raise typer.Exit(1)


@typing.overload
def connected(command: Callable[..., None], /) -> Callable[..., None]: ...
@typing.overload
def connected(
    *, api_names: Mapping[str, str] | None = None, confirm: str | None = None
) -> Callable[[Callable[..., None]], Callable[..., None]]: ...
def connected(
    command: Callable[..., None] | None = None,
    /,
    *,
    api_names: Mapping[str, str] | None = None,
    confirm: str | None = None,
) -> Any:
    """`command` with the connection options on its command line (after its own), called
    with a `Connection` first; an error answer, or no answer, is printed and exits 1.

    `api_names` maps request fields and query parameters (``force``, ``rules``,
    ``settings.byok.key_resource_path``) to the options that set them, for error messages;
    `confirm` is a question (formatted with the command's arguments) asked before it runs.
    """
    if command is None:
        return functools.partial(_connect, api_names=dict(api_names or {}), question=confirm)
    return _connect(command, api_names={}, question=None)


def _connect(
    command: Callable[..., None], *, api_names: dict[str, str], question: str | None
) -> Callable[..., None]:
    hints = typing.get_type_hints(command, include_extras=True)
    own = list(inspect.signature(command).parameters.values())[1:]
    own = [p.replace(annotation=hints[p.name]) for p in own]
    options = _OPTIONS + ([_YES] if question is not None else [])
    clash = {p.name for p in own} & {p.name for p in options}
    if clash:
        raise TypeError(f"{command.__name__} declares connection options itself: {clash}")

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        if question is not None:
            yes = kwargs.pop("yes", False)
            confirm(question.format(**kwargs), yes=yes)
        conn = Connection(**{p.name: kwargs.pop(p.name) for p in _OPTIONS if p.name in kwargs})
        import httpx

        from citadel.client.api import ClientError

        try:
            command(conn, *args, **kwargs)
        except ClientError as exc:
            err.print(
                error_message(exc.status, exc.errors, api_names), markup=False, highlight=False
            )
            raise typer.Exit(1) from None
        except httpx.TransportError as exc:
            err.print(f"Cannot reach {exc.request.url}: {exc}", markup=False, highlight=False)
            raise typer.Exit(1) from None

    parameters = own + options
    run.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in parameters}
    return run
