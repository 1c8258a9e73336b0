"""The command line itself: every option and argument explains itself, `--version` answers,
and building the command line (`--help`) loads no part of the server."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import click
import typer
from typer.testing import CliRunner

from citadel.cli.main import app

# `node` hands its arguments to the node's own parser (citadel.node.main), which has its help.
PASSED_THROUGH = {"node"}


def _commands() -> list[tuple[str, click.Command]]:
    found = []

    def walk(prefix: str, command: click.Command) -> None:
        found.append((prefix or "citadel", command))
        for name, sub in getattr(command, "commands", {}).items():
            if name not in PASSED_THROUGH:
                walk(f"{prefix} {name}".strip(), sub)

    walk("", typer.main.get_command(app))
    return found


def test_every_option_and_argument_has_help() -> None:
    commands = _commands()
    assert len(commands) > 40
    missing = [
        f"{name} {param.name}"
        for name, command in commands
        for param in command.params
        if not getattr(param, "help", None)
    ]
    assert missing == []


def test_every_command_says_what_it_does() -> None:
    assert [name for name, command in _commands() if not command.help] == []


def test_version_is_the_installed_distribution() -> None:
    result = CliRunner().invoke(app, ["--version"])

    assert result.exit_code == 0
    assert result.output == f"citadel {version('citadel')}\n"


SERVER_PARTS = {
    "fastapi",
    "starlette",
    "sqlalchemy",
    "sqlcipher3",
    "uvicorn",
    "tantivy",
    "cryptography",
    "httpx",
    "structlog",
    "jinja2",
    "pydantic_settings",
    "citadel.bootstrap",
    "citadel.roots",
    "citadel.node",
    "citadel.client",
    "citadel.db",
    "citadel.crypto",
}
LOADED = """
import sys
from citadel.cli.main import app
try:
    app(sys.argv[1:])
except SystemExit:
    pass
print("\\n".join(sys.modules))
"""


def _loaded_by(*args: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", LOADED, *args], capture_output=True, text=True, check=True
    )
    return {
        part
        for module in result.stdout.splitlines()
        for part in SERVER_PARTS
        if module == part or module.startswith(f"{part}.")
    }


def test_help_loads_no_part_of_the_server() -> None:
    assert _loaded_by("--help") == set()


def test_a_command_s_help_loads_no_part_of_the_server() -> None:
    assert _loaded_by("deployment", "list", "--help") == set()
    assert _loaded_by("up", "--help") == set()
