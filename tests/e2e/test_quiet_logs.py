"""Quiet logs (issue 16): at info, an idle platform's polls log nothing, and a change logs
one line.

`citadel up` runs at debug so that polls can be counted (each poll of the internal API is a
debug line): the test waits for a number of polls, not seconds. What `--log-level info`
prints is the events at info and above (structlog filters the same events by level);
`tests/test_log_levels.py` checks that the HTTP client's own poll lines are off at info.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import admin_key, citadel_up, trust, wait_for_gateway

pytestmark = pytest.mark.e2e

POLLS = 12  # of each internal route (the allocator's and the gateway's), per phase
INTERNAL = ("/internal/v1/allocations", "/internal/v1/routes")


def _events(log_path: Path) -> list[dict]:
    """The JSON events written so far (other lines: the console's banner, httpx at debug)."""
    events = []
    for line in log_path.read_text(errors="replace").splitlines():
        if line.startswith("{") and line.endswith("}"):
            events.append(json.loads(line))
    return events


def _wait_for(log_path: Path, seen, what: str, *, after: int = 0) -> int:
    """Wait until `seen(events after index `after`)`; returns the count of events then."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        events = _events(log_path)
        if seen(events[after:]):
            return len(events)
        time.sleep(0.1)
    pytest.fail(f"never saw {what}:\n{log_path.read_text()[-5000:]}")


def _polled(events: list[dict]) -> bool:
    """Every internal route was polled `POLLS` times and answered (200 or 304)."""
    counts = Counter(
        e["route"]
        for e in events
        if e["event"] == "http.request" and e["level"] == "debug" and e["status"] in (200, 304)
    )
    return all(counts[route] >= POLLS for route in INTERNAL)


def _info(events: list[dict]) -> list[dict]:
    """What `--log-level info` prints, but for the test's own public API requests."""
    return [
        e
        for e in events
        if e["level"] != "debug"
        and not (e["event"] == "http.request" and not e["route"].startswith("/internal/"))
    ]


def _installed(version: int):
    def seen(events: list[dict]) -> bool:
        return any(
            e["event"] == "gateway.snapshot.installed" and e["version"] == version for e in events
        )

    return seen


def test_idle_polls_log_nothing_at_info_and_a_shutdown_logs_one_line_per_change(
    services, data_dir: Path, postgres_url, tmp_path: Path
):
    if not Path("/usr/bin/bwrap").exists():
        pytest.skip("bubblewrap not available")
    services.close()
    log_path = tmp_path / "citadel-up.log"
    with citadel_up(data_dir, postgres_url, tmp_path, CITADEL_LOG_LEVEL="debug") as started:
        endpoints, _, env = started
        wait_for_gateway(endpoints)
        api = endpoints["api_url"]
        headers = {"Authorization": f"ApiKey {admin_key(data_dir, endpoints, env)}"}

        def show(deployment: str) -> dict:
            url = f"{api}/deployments/{deployment}"
            shown = httpx.get(url, headers=headers, verify=trust(endpoints))
            return shown.json()["resources"]["elasticsearch"][0]["info"]

        def settled(deployment: str, status: str) -> int:
            """Wait until the deployment shows `status`; its version then."""
            deadline = time.monotonic() + 120
            while (info := show(deployment))["status"] != status:
                assert time.monotonic() < deadline, info
                time.sleep(0.25)
            return info["metadata"]["version"]

        body = {"name": "quiet", "resources": {"elasticsearch": [{"ref_id": "main-elasticsearch"}]}}
        made = httpx.post(f"{api}/deployments", json=body, headers=headers, verify=trust(endpoints))
        assert made.status_code == 201, made.text
        deployment = made.json()["id"]
        version = settled(deployment, "started")
        mark = _wait_for(log_path, _installed(version), f"snapshot version {version}")

        # Idle, a deployment running: polls go on, at debug only.
        _wait_for(log_path, _polled, f"{POLLS} polls of each route", after=mark)
        assert _info(_events(log_path)[mark:]) == []
        assert "HTTP Request:" in log_path.read_text()  # the children log at debug too

        # A change: one line for each thing that changed, and no poll line.
        mark = len(_events(log_path))
        stopped = httpx.post(
            f"{api}/deployments/{deployment}/_shutdown", headers=headers, verify=trust(endpoints)
        )
        assert stopped.status_code == 200, stopped.text
        version = settled(deployment, "stopped")
        seen = _wait_for(log_path, _installed(version), f"snapshot version {version}", after=mark)
        _wait_for(log_path, _polled, f"{POLLS} more polls of each route", after=seen)
        changes = _info(_events(log_path)[mark:])

    lines = Counter((e["event"], e.get("deployment_id"), e.get("version")) for e in changes)
    assert [line for line, count in lines.items() if count > 1] == []
    events = [e["event"] for e in changes]
    assert events.count("allocator.node_stopped") == 1
    assert events.count("allocator.volume_closed") == 1
    assert not [e for e in changes if e["event"] == "http.request"]
    assert set(events) <= {
        "gateway.snapshot.installed",
        "allocator.node_stopped",
        "allocator.volume_closed",
    }, changes
