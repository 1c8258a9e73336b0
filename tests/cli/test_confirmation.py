"""Destructive commands ask first: `--yes` skips the question, a "no" does nothing, and with
no terminal to ask on (CI, a pipe) they refuse instead of waiting for an answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from citadel.bootstrap import Services
from citadel.cli.main import app
from citadel.traffic_filters.models import Ruleset
from tests.cli.conftest import LocalApi

DESTRUCTIVE = [
    ["deployment", "shutdown", "d" * 32],
    ["deployment", "delete", "d" * 32],
    ["traffic-filter", "delete", "r" * 32],
    ["traffic-filter", "unclaim-link", "--link-id", "vpce-0123"],
    ["sso", "remove", "--org", "o" * 32],
    ["sso", "domain", "remove", "example.com", "--org", "o" * 32],
    ["sso", "mapping", "remove", "m" * 32, "--org", "o" * 32],
]
CITADEL = str(Path(sys.executable).parent / "citadel")


@pytest.fixture
def unreachable_api(tmp_path: Path) -> Path:
    """A data directory whose `citadel up` is at a port nothing listens on: a command that
    gets as far as calling the API says it cannot reach it."""
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "endpoints.json").write_text(
        json.dumps({"api_url": "https://127.0.0.1:9/api/v1"})
    )
    return tmp_path


@pytest.mark.parametrize("command", DESTRUCTIVE, ids=" ".join)
def test_without_a_terminal_or_yes_a_destructive_command_refuses(
    command: list[str], unreachable_api: Path
) -> None:
    result = CliRunner().invoke(
        app, [*command, "--api-key", "k", "--data-dir", str(unreachable_api)]
    )

    assert result.exit_code == 2
    assert "pass --yes" in result.output
    assert "Cannot reach" not in result.output


@pytest.mark.parametrize("yes", ["--yes", "-y"])
@pytest.mark.parametrize("command", DESTRUCTIVE, ids=" ".join)
def test_yes_skips_the_question(command: list[str], yes: str, unreachable_api: Path) -> None:
    result = CliRunner().invoke(
        app, [*command, yes, "--api-key", "k", "--data-dir", str(unreachable_api)]
    )

    assert result.exit_code == 1
    assert "Cannot reach https://127.0.0.1:9/api/v1" in result.output


def _on_a_terminal(args: list[str], answer: bytes) -> subprocess.CompletedProcess[str]:
    """`citadel *args` with a pseudo-terminal as stdin, answering `answer`."""
    controller, terminal = os.openpty()
    try:
        process = subprocess.Popen(
            [CITADEL, *args], stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        os.close(terminal)
        os.write(controller, answer)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        os.close(controller)
    return subprocess.CompletedProcess(args, process.returncode, stdout.decode(), stderr.decode())


def test_on_a_terminal_no_does_nothing(unreachable_api: Path) -> None:
    deployment = "d" * 32
    args = ["deployment", "delete", deployment, "--api-key", "k"]
    result = _on_a_terminal([*args, "--data-dir", str(unreachable_api)], b"n\n")

    assert result.returncode == 1
    assert f"Delete deployment {deployment}" in result.stderr
    assert "Nothing done." in result.stderr
    assert "Cannot reach" not in result.stderr


def test_on_a_terminal_yes_goes_ahead(unreachable_api: Path) -> None:
    args = ["deployment", "shutdown", "d" * 32, "--api-key", "k"]
    result = _on_a_terminal([*args, "--data-dir", str(unreachable_api)], b"y\n")

    assert result.returncode == 1
    assert "Cannot reach https://127.0.0.1:9/api/v1" in result.stderr


def test_a_confirmed_delete_deletes(local_api: LocalApi, services: Services) -> None:
    made = local_api.run("traffic-filter", "create", "--name", "office", "--source", "192.0.2.1")
    assert made.exit_code == 0, made.output
    with services.db.read() as session:
        [ruleset_id] = session.scalars(sa.select(Ruleset.id)).all()

    deleted = local_api.run("traffic-filter", "delete", ruleset_id, "--yes")

    assert deleted.exit_code == 0, deleted.output
    gone = local_api.run("traffic-filter", "show", ruleset_id)
    assert gone.exit_code == 1
    assert "traffic_filter.not_found" in gone.output
