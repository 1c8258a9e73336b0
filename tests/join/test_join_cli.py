"""`citadel platform join-token` against the served API (tests/cli/conftest.py, whose
organization is the first made: the platform's): the token printed whole once with the CA pin
and the command to run on the new host, the token in -o json, a duration for --ttl, and a
refusal for anyone but a platform owner."""

from __future__ import annotations

import json

from citadel.bootstrap import Services
from citadel.join.host import ca_pin_of
from tests.cli.conftest import LocalApi, local_api
from tests.cli.test_platform_allocators import printed
from tests.fixtures.builders import make_api_key, make_org, make_user

__all__ = ["local_api"]  # the fixture: the served API with the platform's organization
NARROW = {"COLUMNS": "40"}


def test_the_token_is_printed_whole_with_the_pin_and_the_command(
    local_api: LocalApi, services: Services
) -> None:
    result = local_api.run(
        "platform", "join-token", "--role", "gateway", "--name", "gw-b", env=NARROW
    )
    assert result.exit_code == 0, result.output
    lines = printed(result.stdout)
    [token_line] = [line for line in lines if line.startswith("join token (shown once): ")]
    assert token_line.removeprefix("join token (shown once): ").startswith("cjt_")
    pin = ca_pin_of((local_api.data_dir / "pki" / "ca.crt").read_bytes())
    assert f"CA pin: {pin}" in lines
    assert any(f"--ca-sha256 {pin} --join-name gw-b" in line for line in lines)


def test_json_carries_the_token_and_ttl_takes_a_duration(
    local_api: LocalApi, services: Services
) -> None:
    result = local_api.run(
        "platform", "join-token", "--role", "allocator", "--ttl", "2h", "-o", "json"
    )
    assert result.exit_code == 0, result.output
    minted = json.loads("\n".join(printed(result.stdout)))
    assert minted["token"].startswith("cjt_")
    assert minted["role"] == "allocator"


def test_a_bad_duration_is_a_usage_error(local_api: LocalApi) -> None:
    result = local_api.run("platform", "join-token", "--role", "allocator", "--ttl", "soon")
    assert result.exit_code == 2
    assert "--ttl" in result.output


def test_an_owner_of_another_organization_is_refused(
    local_api: LocalApi, services: Services
) -> None:
    services.clock.advance(seconds=1)
    other = make_org(services, make_user(services), name="Customer")
    stranger = LocalApi(local_api.data_dir, other, make_api_key(services, other))
    result = stranger.run("platform", "join-token", "--role", "allocator")
    assert result.exit_code == 1
    assert "platform.forbidden" in result.output
