"""The API commands share one bundle of connection options and show answers one way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from pydantic import BaseModel, Field
from typer.testing import CliRunner

from citadel.cli.main import app
from citadel.cli.render import jsonable

BUNDLE = {"--api-key", "--api-url", "--ca-file", "--request-timeout", "--output", "--data-dir"}
# Commands that work on the data directory or run a process, not through the API.
LOCAL = {"up", "api", "allocator", "gateway", "node", "admin", "audit"}


def _api_commands() -> list[tuple[str, Any]]:
    found = []

    def walk(prefix: str, command: Any) -> None:
        if hasattr(command, "commands"):  # a group
            for name, sub in command.commands.items():
                if not prefix and name in LOCAL:
                    continue
                walk(f"{prefix} {name}".strip(), sub)
        else:
            found.append((prefix, command))

    walk("", typer.main.get_command(app))
    return found


def test_every_api_command_takes_the_same_connection_options() -> None:
    commands = _api_commands()
    assert len(commands) > 25  # deployment, traffic-filter, static-ips, sso, org
    for name, command in commands:
        options = {opt for param in command.params for opt in param.opts}
        assert options >= BUNDLE, name


def test_without_api_url_or_a_local_citadel_up_the_command_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["deployment", "list", "--api-key", "k", "--data-dir", str(tmp_path)]
    )

    assert result.exit_code == 2
    assert "is `citadel up` running?" in result.output


def test_the_endpoints_file_of_the_data_directory_names_the_api(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    # A port nothing listens on: the command gets as far as connecting, and fails there.
    (tmp_path / "run" / "endpoints.json").write_text(
        json.dumps({"api_url": "https://127.0.0.1:9/api/v1"})
    )
    result = CliRunner().invoke(app, ["org", "show", "--api-key", "k", "--data-dir", str(tmp_path)])

    assert result.exit_code == 1
    assert "Cannot reach https://127.0.0.1:9/api/v1" in result.output


class _Claim(BaseModel):
    domain: str
    last_error: str | None = None
    links: dict[str, str] = Field(default_factory=dict, alias="_links")


@pytest.mark.parametrize(
    ("answer", "shown"),
    [
        ({"id": "a", "n": [1, 2]}, {"id": "a", "n": [1, 2]}),
        ([{"id": "a"}], [{"id": "a"}]),
        (_Claim(domain="example.com"), {"domain": "example.com"}),
        (
            [_Claim.model_validate({"domain": "a.example", "_links": {"self": "/x"}})],
            [{"domain": "a.example", "_links": {"self": "/x"}}],
        ),
        (
            {"domains": [_Claim(domain="b.example", last_error=None)]},
            {"domains": [{"domain": "b.example", "last_error": None}]},
        ),
    ],
)
def test_answers_are_shown_as_the_api_sent_them_models_or_json(answer, shown) -> None:
    assert jsonable(answer) == shown


# Commands of every group, including those that once demanded --api-url (`org show`).
FINDING = [
    ["org", "show"],
    ["deployment", "list"],
    ["sso", "show"],
    ["sso", "domain", "list", "--org", "o" * 32],
    ["static-ips"],
    ["traffic-filter", "list"],
]


@pytest.fixture
def local_up(tmp_path: Path) -> Path:
    """A data directory whose `citadel up` is at port 9 (nothing listens there)."""
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "endpoints.json").write_text(
        json.dumps({"api_url": "https://127.0.0.1:9/api/v1"})
    )
    return tmp_path


@pytest.mark.parametrize("command", FINDING, ids=" ".join)
def test_the_environment_comes_before_the_endpoints_file(command, local_up: Path) -> None:
    result = CliRunner().invoke(
        app,
        [*command, "--api-key", "k", "--data-dir", str(local_up)],
        env={"CITADEL_API_URL": "https://127.0.0.1:7/api/v1"},
    )

    assert result.exit_code == 1
    assert "Cannot reach https://127.0.0.1:7/api/v1" in result.output


FLAG_URL = "https://127.0.0.1:5/api/v1"


@pytest.mark.parametrize("command", FINDING, ids=" ".join)
def test_the_flag_comes_before_the_environment(command, local_up: Path) -> None:
    result = CliRunner().invoke(
        app,
        [*command, "--api-key", "k", "--data-dir", str(local_up), "--api-url", FLAG_URL],
        env={"CITADEL_API_URL": "https://127.0.0.1:7/api/v1"},
    )

    assert result.exit_code == 1
    assert "Cannot reach https://127.0.0.1:5/api/v1" in result.output


@pytest.mark.parametrize("command", FINDING, ids=" ".join)
def test_without_flag_or_environment_the_endpoints_file_names_the_api(
    command, local_up: Path
) -> None:
    result = CliRunner().invoke(
        app,
        [*command, "--api-key", "k", "--data-dir", str(local_up)],
        env={"CITADEL_API_URL": None},
    )

    assert result.exit_code == 1
    assert "Cannot reach https://127.0.0.1:9/api/v1" in result.output
