"""`citadel deployment token` against the served API: the token alone on its line for
scripts, the whole answer with --json; `citadel admin rotate-token-key` on the data dir."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from citadel.cli.main import app
from citadel.deployment_tokens.claims import audience
from tests.cli.conftest import LocalApi
from tests.conftest import BACKEND
from tests.deployment_tokens.helpers import served_jwks, verify
from tests.fixtures.builders import make_deployment

# The API serving the CLI runs in this process: its log lines land in the captured output.
_SERVER_LOG = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[")


def printed(stdout: str) -> list[str]:
    """What the command printed, without the served API's log lines."""
    return [line for line in stdout.splitlines() if not _SERVER_LOG.match(line)]


def test_the_token_is_printed_alone_on_its_line(local_api: LocalApi, client, services) -> None:
    dep = make_deployment(services, local_api.org_id)
    result = local_api.run("deployment", "token", dep, env={"COLUMNS": "40"})
    assert result.exit_code == 0, result.output
    (line,) = printed(result.stdout)
    claims = verify(line, served_jwks(client), audience=audience(dep))
    assert claims["roles"] == ["superuser"]


def test_json_gives_the_whole_answer(local_api: LocalApi, client, services) -> None:
    dep = make_deployment(services, local_api.org_id)
    result = local_api.run("deployment", "token", dep, "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads("\n".join(printed(result.stdout)))
    assert answer["deployment_id"] == dep
    assert answer["token_type"] == "Bearer"
    assert answer["expires_in"] == 300
    verify(answer["token"], served_jwks(client), audience=answer["audience"])


def test_an_unknown_deployment_is_an_error_naming_it(local_api: LocalApi) -> None:
    result = local_api.run("deployment", "token", "0" * 32)
    assert result.exit_code != 0
    assert "deployments.deployment_not_found" in result.output


@pytest.mark.skipif(BACKEND != "sqlite", reason="the command opens the data dir's own database")
def test_admin_rotate_token_key_makes_a_successor(services, client) -> None:
    data_dir = services.settings.data_dir
    first = CliRunner().invoke(app, ["admin", "rotate-token-key", "--data-dir", str(data_dir)])
    assert first.exit_code == 0, first.output
    assert "Key generation 1 made" in first.stdout
    second = CliRunner().invoke(app, ["admin", "rotate-token-key", "--data-dir", str(data_dir)])
    assert "Key generation 2 made" in second.stdout
    assert len(served_jwks(client)["keys"]) == 2
