"""Which running projects the sweep stops (ADR 29): the pure decision, rule by rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from citadel.projects.idle import (
    MIN_WARM_S,
    RunningProject,
    Stop,
    StopReason,
    last_active,
    to_stop,
)

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
TIMEOUT = 900.0


def running(pid: str, idle_s: float, memory_mb: int = 512) -> RunningProject:
    return RunningProject(pid, memory_mb, NOW - timedelta(seconds=idle_s))


def ids(stops: list[Stop]) -> list[str]:
    return [s.project_id for s in stops]


def test_a_project_idle_past_the_timeout_is_stopped() -> None:
    stops = to_stop([running("a", 901)], now=NOW, idle_timeout_s=TIMEOUT, warm_memory_mb=None)

    assert stops == [Stop("a", StopReason.IDLE, 901.0)]


def test_a_project_idle_exactly_the_timeout_is_stopped() -> None:
    stops = to_stop([running("a", 900)], now=NOW, idle_timeout_s=TIMEOUT, warm_memory_mb=None)

    assert ids(stops) == ["a"]


def test_a_project_with_a_recent_request_keeps_running() -> None:
    stops = to_stop([running("a", 899)], now=NOW, idle_timeout_s=TIMEOUT, warm_memory_mb=None)

    assert stops == []


def test_only_the_idle_ones_of_several_are_stopped() -> None:
    projects = [running("a", 10), running("b", 1000), running("c", 5000)]

    stops = to_stop(projects, now=NOW, idle_timeout_s=TIMEOUT, warm_memory_mb=None)

    assert ids(stops) == ["b", "c"]


def test_without_a_budget_any_number_may_stay_warm() -> None:
    projects = [running(str(i), 60, memory_mb=8192) for i in range(50)]

    assert to_stop(projects, now=NOW, idle_timeout_s=TIMEOUT, warm_memory_mb=None) == []


def test_over_the_budget_the_longest_idle_is_stopped_first() -> None:
    projects = [running("recent", 60), running("oldest", 600), running("middle", 300)]

    stops = to_stop(projects, now=NOW, idle_timeout_s=TIMEOUT, warm_memory_mb=1024)

    assert stops == [Stop("oldest", StopReason.WARM_BUDGET, 600.0)]


def test_the_budget_stops_as_many_as_it_takes_to_fit() -> None:
    projects = [running("a", 100, 2048), running("b", 200, 512), running("c", 300, 512)]

    stops = to_stop(projects, now=NOW, idle_timeout_s=TIMEOUT, warm_memory_mb=2048)

    assert ids(stops) == ["c", "b"]


def test_projects_stopped_as_idle_make_room_in_the_budget() -> None:
    projects = [running("idle", 1000, 1024), running("warm", 100, 1024)]

    stops = to_stop(projects, now=NOW, idle_timeout_s=TIMEOUT, warm_memory_mb=1024)

    assert stops == [Stop("idle", StopReason.IDLE, 1000.0)]


def test_a_project_with_a_request_in_the_last_seconds_is_never_stopped_for_the_budget() -> None:
    projects = [running("busy", MIN_WARM_S - 1, 4096), running("also-busy", 1, 4096)]

    assert to_stop(projects, now=NOW, idle_timeout_s=TIMEOUT, warm_memory_mb=1024) == []


def test_the_budget_passes_over_busy_projects_and_stays_exceeded() -> None:
    projects = [running("quiet", 120, 512), running("busy", 2, 4096)]

    stops = to_stop(projects, now=NOW, idle_timeout_s=TIMEOUT, warm_memory_mb=1024)

    assert ids(stops) == ["quiet"]


def test_a_project_still_starting_is_never_stopped_however_idle() -> None:
    starting = RunningProject("a", 512, NOW - timedelta(hours=1), serving=False)

    assert to_stop([starting], now=NOW, idle_timeout_s=TIMEOUT, warm_memory_mb=None) == []
    assert to_stop([starting], now=NOW, idle_timeout_s=TIMEOUT, warm_memory_mb=256) == []


def test_a_starting_projects_memory_counts_against_the_budget() -> None:
    starting = RunningProject("starting", 1024, NOW, serving=False)
    projects = [starting, running("a", 120, 512)]

    fits = to_stop(projects[1:], now=NOW, idle_timeout_s=TIMEOUT, warm_memory_mb=1024)
    crowded = to_stop(projects, now=NOW, idle_timeout_s=TIMEOUT, warm_memory_mb=1024)

    assert fits == []
    assert ids(crowded) == ["a"]


def test_equal_idleness_is_broken_by_id_so_every_replica_agrees() -> None:
    projects = [running("b", 100), running("a", 100)]

    stops = to_stop(projects, now=NOW, idle_timeout_s=TIMEOUT, warm_memory_mb=512)

    assert ids(stops) == ["a"]


def test_last_activity_is_the_latest_moment_given() -> None:
    created, woken = NOW - timedelta(days=1), NOW - timedelta(seconds=5)

    assert last_active(None, woken, created) == woken
    assert last_active(None, None, created) == created


def test_last_activity_needs_at_least_one_moment() -> None:
    with pytest.raises(ValueError, match="creation time"):
        last_active(None, None)
