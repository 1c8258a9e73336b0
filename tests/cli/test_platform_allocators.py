"""`citadel platform allocators` against the served API (tests/cli/conftest.py): a table of
the allocators with their placements, JSON as the API sent it, and a refusal for anyone but
a platform owner (the conftest's organization is the first one made: the platform's)."""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from citadel.bootstrap import Services
from citadel.cli.main import app
from citadel.contract.messages import ComponentKind
from tests.cli.conftest import LocalApi
from tests.fixtures.builders import make_api_key, make_deployment, make_org, make_user
from tests.fixtures.internal import as_component

WIDE = {"COLUMNS": "200"}
_SERVER_LOG = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[")


def printed(stdout: str) -> list[str]:
    """What the command printed, without the served API's log lines."""
    return [line for line in stdout.splitlines() if not _SERVER_LOG.match(line)]


def table_rows(lines: list[str]) -> list[list[str]]:
    """The cells of a Rich table's rows, each cell's wrapped pieces joined again (without
    spaces): a row's continuation lines have an empty first cell."""
    rows: list[list[str]] = []
    for line in lines:
        if "│" not in line:
            continue
        cells = [c.strip().replace(" ", "") for c in line.strip().strip("│").split("│")]
        if cells[0] or not rows:
            rows.append(cells)
        else:
            rows[-1] = [a + b for a, b in zip(rows[-1], cells, strict=True)]
    return rows


def register(services: Services, allocator_id: str, zone: str, capacity_mb: int) -> None:
    with as_component(services, ComponentKind.ALLOCATOR) as internal:
        body = {"address": "10.1.0.7", "zone": zone, "capacity_mb": capacity_mb}
        answered = internal.post(f"/internal/v1/allocators/{allocator_id}/heartbeat", json=body)
        assert answered.status_code == 200, answered.text


def test_the_table_shows_each_allocator_with_its_memory_and_deployments(
    local_api: LocalApi, services: Services
) -> None:
    register(services, "host-a", "zone-1", 4096)
    dep = make_deployment(services, local_api.org_id)

    result = local_api.run("platform", "allocators", env=WIDE)

    assert result.exit_code == 0, result.output
    (row,) = [r for r in table_rows(printed(result.stdout)) if r[0] == "host-a"]
    assert row[1:5] == ["zone-1", "10.1.0.7", "healthy", "1024/4096"]
    assert dep in row[5]  # whole: a narrow terminal wraps a cell, never cuts it


def test_json_is_the_apis_answer(local_api: LocalApi, services: Services) -> None:
    register(services, "host-a", "zone-1", 4096)
    register(services, "host-b", "zone-2", 2048)

    listed = local_api.run("platform", "allocators", "-o", "json")
    one = local_api.run("platform", "allocators", "host-b", "-o", "json")

    assert listed.exit_code == 0, listed.output
    zones = json.loads("\n".join(printed(listed.stdout)))["zones"]
    assert [(z["zone_id"], [a["allocator_id"] for a in z["allocators"]]) for z in zones] == [
        ("zone-1", ["host-a"]),
        ("zone-2", ["host-b"]),
    ]
    assert one.exit_code == 0, one.output
    shown = json.loads("\n".join(printed(one.stdout)))
    assert shown["capacity"]["memory"] == {"total": 2048, "used": 0}


def test_someone_who_is_not_a_platform_owner_is_refused(
    local_api: LocalApi, services: Services
) -> None:
    elsewhere = make_org(services, make_user(services), "Elsewhere")
    key = make_api_key(services, elsewhere)

    result = CliRunner().invoke(
        app,
        ["platform", "allocators", "--data-dir", str(local_api.data_dir), "--api-key", key],
    )

    assert result.exit_code == 1
    assert "platform's owners" in result.output
