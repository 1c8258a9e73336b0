"""`citadel deployment audit` and `citadel deployment audit-settings` against the real API on
loopback (`tests.cli.conftest.local_api`)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from citadel.cli import render
from tests.cli.conftest import LocalApi
from tests.deployment_audit.conftest import audit_event, ship
from tests.fixtures.builders import make_deployment

# The served API logs in this process: its lines land in the captured output too.
_SERVER_LOG = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[")


def printed(stdout: str) -> list[str]:
    """What the command printed (the served API's log lines left out)."""
    return [line for line in stdout.splitlines() if not _SERVER_LOG.match(line)]


def printed_json(stdout: str) -> Any:
    return json.loads("\n".join(printed(stdout)))


def test_audit_lists_newest_first_with_filters(local_api: LocalApi, services, monkeypatch) -> None:
    dep = make_deployment(services, local_api.org_id)
    now = services.clock.now()
    ship(
        services,
        dep,
        [
            audit_event("authentication_failed", at=now - timedelta(hours=3), user="mallory"),
            audit_event("access_denied", at=now - timedelta(minutes=2), user="bob"),
            audit_event("access_granted", at=now - timedelta(minutes=1), user="alice"),
        ],
        dropped=2,
    )

    # the CLI's console takes its width once (COLUMNS, when the first test that prints imports
    # it): make it wide here, or a narrow one folds the long cells over several lines
    monkeypatch.setattr(render.out, "_width", 200)
    table = local_api.run("deployment", "audit", dep)
    assert table.exit_code == 0, table.output
    assert table.stdout.index("access_granted") < table.stdout.index("access_denied")
    assert "2 events dropped by the node" in table.stdout

    recent = local_api.run("deployment", "audit", dep, "--since", "1h", "--json")
    assert [e["principal"] for e in printed_json(recent.stdout)["events"]] == ["alice", "bob"]

    denied = local_api.run(
        "deployment",
        "audit",
        dep,
        "--action",
        "access_denied,authentication_failed",
        "--user",
        "mallory",
        "--json",
    )
    assert [e["action"] for e in printed_json(denied.stdout)["events"]] == ["authentication_failed"]


def test_audit_ndjson_prints_every_event_as_the_node_wrote_it(local_api: LocalApi, services):
    dep = make_deployment(services, local_api.org_id)
    now = services.clock.now()
    events = [audit_event(at=now - timedelta(seconds=i), request_id=f"e{i}") for i in range(3)]
    ship(services, dep, events)

    result = local_api.run("deployment", "audit", dep, "--ndjson")

    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in printed(result.stdout)] == events


def test_audit_names_the_option_of_a_refused_filter(local_api: LocalApi, services) -> None:
    dep = make_deployment(services, local_api.org_id)

    result = local_api.run("deployment", "audit", dep, "--action", "access_grunted")

    assert result.exit_code == 1
    assert "--action" in result.stderr


def test_audit_settings_shows_changes_and_keeps_what_is_left_out(local_api: LocalApi, services):
    dep = make_deployment(services, local_api.org_id)

    shown = local_api.run("deployment", "audit-settings", dep)
    assert shown.exit_code == 0, shown.output
    assert "(the default set)" in shown.stdout

    changed = local_api.run(
        "deployment",
        "audit-settings",
        dep,
        "--enable",
        "--include",
        "access_denied",
        "--include",
        "run_as_denied",
        "--ignore-filters",
        '{"kibana": {"users": ["kibana_system"]}}',
        "--output",
        "json",
    )
    assert changed.exit_code == 0, changed.output
    assert printed_json(changed.stdout)["include"] == ["access_denied", "run_as_denied"]

    again = local_api.run("deployment", "audit-settings", dep, "--disable", "-o", "json")
    settings = printed_json(again.stdout)
    assert settings["enabled"] is False
    assert settings["include"] == ["access_denied", "run_as_denied"]
    assert settings["ignore_filters"] == {"kibana": {"users": ["kibana_system"]}}

    reset = local_api.run("deployment", "audit-settings", dep, "--include", "", "-o", "json")
    assert printed_json(reset.stdout)["include"] == []


def test_audit_settings_names_the_option_of_a_refused_value(local_api: LocalApi, services):
    dep = make_deployment(services, local_api.org_id)

    result = local_api.run("deployment", "audit-settings", dep, "--exclude", "everything")

    assert result.exit_code == 1
    assert "--exclude" in result.stderr
