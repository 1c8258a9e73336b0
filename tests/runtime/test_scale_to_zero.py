"""Scale to zero, the control plane's side (ADR 29): the sweep stops idle projects' instances,
a gateway's wake-up starts them again, the gateways' activity reports keep them warm. On the
test database (SQLCipher, or PostgreSQL with ``CITADEL_TEST_DATABASE=postgresql``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from citadel.audit.models import AuditEvent
from citadel.contract.messages import ObservedState, ProjectActivity, ProjectSeen
from citadel.deployments import internal as deployments_internal
from citadel.deployments.lifecycle import Desired, Observed
from citadel.deployments.models import Deployment
from citadel.projects.errors import ProjectNotFound
from citadel.projects.idle import MIN_WARM_S, StopReason
from citadel.projects.models import Project
from citadel.use_cases.projects_runtime import (
    record_activity,
    sweep_idle_projects,
    wake_project,
)
from tests.fixtures.builders import SystemUnits, make_deployment, make_org, make_user
from tests.fixtures.idle_projects import TIMEOUT, make_project


@pytest.fixture
def org(services) -> str:
    return make_org(services, make_user(services))


@pytest.fixture
def units(services) -> SystemUnits:
    return SystemUnits(services)


def sweep(units, warm_memory_mb: int | None = None):
    return sweep_idle_projects(units, idle_timeout_s=TIMEOUT, warm_memory_mb=warm_memory_mb)


def state(services, pid: str) -> tuple[str, bool, int]:
    """The instance's desired state, the project's idle_stopped flag and its revision."""
    with services.db.read() as session:
        project, instance = session.get(Project, pid), session.get(Deployment, pid)
        return instance.desired_state, project.idle_stopped, project.revision


def events(services, action: str) -> list[AuditEvent]:
    with services.db.read() as session:
        stmt = sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        return list(session.scalars(stmt))


def last_request(services, pid: str) -> datetime | None:
    with services.db.read() as session:
        return session.get(Project, pid).last_request_at


# --- the sweep ---------------------------------------------------------------------------------


def test_a_project_idle_past_the_timeout_is_stopped_and_marked_idle_stopped(services, units, org):
    pid = make_project(services, org, idle_s=TIMEOUT + 1)

    (stop,) = sweep(units)

    assert (stop.project_id, stop.reason) == (pid, StopReason.IDLE)
    desired, idle_stopped, _ = state(services, pid)
    assert (desired, idle_stopped) == (Desired.STOPPED, True)


def test_the_stop_is_audited_as_the_platforms(services, units, org):
    pid = make_project(services, org, idle_s=TIMEOUT + 60)

    sweep(units)

    (event,) = events(services, "project.idle_stopped")
    assert (event.actor_type, event.target_type, event.target_id) == ("system", "project", pid)
    assert event.organization_id == org
    assert event.details == {"reason": "idle", "idle_s": 960, "memory_mb": 512}


def test_a_stop_gives_the_allocator_and_the_gateway_a_new_version(services, units, org):
    make_project(services, org, idle_s=TIMEOUT + 1)
    with units.read() as ctx:
        before = deployments_internal.allocation_version(ctx)

    sweep(units)

    with units.read() as ctx:
        assert deployments_internal.allocation_version(ctx) > before


def test_the_stop_leaves_the_projects_etag_alone(services, units, org):
    pid = make_project(services, org, idle_s=TIMEOUT + 1)
    _, _, revision = state(services, pid)

    sweep(units)

    assert state(services, pid)[2] == revision


def test_a_project_with_a_recent_request_keeps_running(services, units, org):
    pid = make_project(services, org, idle_s=TIMEOUT - 1)

    assert sweep(units) == []
    assert state(services, pid)[:2] == (Desired.RUNNING, False)
    assert events(services, "project.idle_stopped") == []


def test_a_project_still_initializing_is_never_stopped(services, units, org):
    pid = make_project(services, org, phase="initializing", idle_s=10 * TIMEOUT)

    assert sweep(units) == []
    assert state(services, pid)[0] == Desired.RUNNING


def test_a_suspended_project_is_left_to_its_key(services, units, org):
    pid = make_project(services, org, phase="suspended", idle_s=10 * TIMEOUT)

    assert sweep(units) == []
    assert state(services, pid)[0] == Desired.RUNNING


def test_deployments_are_never_swept(services, units, org):
    dep = make_deployment(services, org)
    services.clock.advance(days=30)

    assert sweep(units) == []
    with services.db.read() as session:
        assert session.get(Deployment, dep).desired_state == Desired.RUNNING


def test_a_project_without_any_request_is_idle_from_when_it_came_up(services, units, org):
    pid = make_project(services, org)
    with services.db.write() as session:
        row = session.get(Project, pid)
        row.last_request_at = None
        row.phase_changed_at = services.clock.now() - timedelta(seconds=60)

    assert sweep(units) == []
    services.clock.advance(seconds=TIMEOUT)
    assert [s.project_id for s in sweep(units)] == [pid]


def test_over_the_warm_budget_the_longest_idle_project_is_stopped(services, units, org):
    recent = make_project(services, org, idle_s=60)
    oldest = make_project(services, org, idle_s=600)

    (stop,) = sweep(units, warm_memory_mb=512)

    assert (stop.project_id, stop.reason) == (oldest, StopReason.WARM_BUDGET)
    assert state(services, recent)[0] == Desired.RUNNING
    (event,) = events(services, "project.idle_stopped")
    assert event.details["reason"] == "warm_budget"


def test_an_initializing_project_counts_against_the_warm_budget(services, units, org):
    make_project(services, org, phase="initializing", memory_mb=1024)
    warm = make_project(services, org, idle_s=120)

    assert [s.project_id for s in sweep(units, warm_memory_mb=1024)] == [warm]


def test_the_warm_budget_never_stops_a_project_serving_now(services, units, org):
    make_project(services, org, idle_s=MIN_WARM_S - 5, memory_mb=4096)

    assert sweep(units, warm_memory_mb=1024) == []


def test_a_second_sweep_finds_nothing_more_to_stop(services, units, org):
    make_project(services, org, idle_s=TIMEOUT + 1)
    sweep(units)

    assert sweep(units) == []
    assert len(events(services, "project.idle_stopped")) == 1


# --- waking --------------------------------------------------------------------------------------


def test_waking_a_stopped_project_has_its_instance_run_again(services, units, org):
    pid = make_project(services, org, idle_s=TIMEOUT + 1)
    sweep(units)

    answer = wake_project(units, pid)

    assert answer == ObservedState.RUNNING  # the allocator has not seen the stop yet
    assert state(services, pid)[:2] == (Desired.RUNNING, False)
    (event,) = events(services, "project.woken")
    assert (event.actor_type, event.target_id) == ("system", pid)
    assert event.details["cause"] == "held_request"


def test_waking_answers_the_instances_observed_state(services, units, org):
    pid = make_project(services, org, idle_s=TIMEOUT + 1)
    sweep(units)
    with units.write() as ctx:
        deployments_internal.record_status(
            ctx,
            pid,
            observed_state=Observed.STOPPED,
            healthy=False,
            detail="",
            password_applied=False,
        )

    assert wake_project(units, pid) == ObservedState.STOPPED


def test_a_woken_project_is_not_stopped_before_it_had_a_chance_to_serve(services, units, org):
    pid = make_project(services, org, idle_s=TIMEOUT + 1)
    sweep(units)

    wake_project(units, pid)
    services.clock.advance(seconds=TIMEOUT - 1)

    assert sweep(units) == []
    services.clock.advance(seconds=1)
    assert [s.project_id for s in sweep(units)] == [pid]


def report(units, pid: str, observed: Observed) -> None:
    """The allocator's status report of the project's instance."""
    with units.write() as ctx:
        deployments_internal.record_status(
            ctx, pid, observed_state=observed, healthy=False, detail="", password_applied=False
        )


def test_a_woken_project_still_starting_is_not_stopped_however_long_its_start(services, units, org):
    pid = make_project(services, org, idle_s=TIMEOUT + 1)
    sweep(units)
    report(units, pid, Observed.STOPPED)
    wake_project(units, pid)
    report(units, pid, Observed.INITIALIZING)

    services.clock.advance(seconds=10 * TIMEOUT)

    assert sweep(units) == []
    assert state(services, pid)[0] == Desired.RUNNING


def test_coming_up_counts_as_activity(services, units, org):
    pid = make_project(services, org, idle_s=TIMEOUT + 1)
    sweep(units)
    wake_project(units, pid)
    report(units, pid, Observed.STOPPED)
    services.clock.advance(seconds=TIMEOUT + 30)  # a very slow start
    report(units, pid, Observed.RUNNING)

    assert sweep(units) == []  # the request that woke it is being served now
    services.clock.advance(seconds=TIMEOUT)
    assert [s.project_id for s in sweep(units)] == [pid]


def test_a_woken_project_is_not_stopped_for_the_warm_budget_at_once(services, units, org):
    pid = make_project(services, org, idle_s=TIMEOUT + 1)
    sweep(units)

    wake_project(units, pid)

    assert sweep(units, warm_memory_mb=256) == []


def test_waking_a_running_project_changes_nothing_the_allocator_sees(services, units, org):
    pid = make_project(services, org, idle_s=5)
    with units.read() as ctx:
        before = deployments_internal.allocation_version(ctx)

    assert wake_project(units, pid) == ObservedState.RUNNING

    with units.read() as ctx:
        assert deployments_internal.allocation_version(ctx) == before
    assert events(services, "project.woken") == []


def test_waking_an_unknown_project_is_not_found(units):
    with pytest.raises(ProjectNotFound):
        wake_project(units, "0" * 32)


def test_waking_a_project_being_deleted_is_not_found(services, units, org):
    pid = make_project(services, org, idle_s=TIMEOUT + 1)
    sweep(units)
    with services.db.write() as session:
        session.get(Project, pid).phase = "deleting"
        session.get(Deployment, pid).desired_state = Desired.DELETED

    with pytest.raises(ProjectNotFound):
        wake_project(units, pid)
    assert state(services, pid)[0] == Desired.DELETED


def test_a_deployment_cannot_be_woken_as_a_project(services, units, org):
    dep = make_deployment(services, org, stopped=True)

    with pytest.raises(ProjectNotFound):
        wake_project(units, dep)


# --- activity ------------------------------------------------------------------------------------


def epoch(moment: datetime) -> float:
    return moment.timestamp()


def test_a_reported_request_keeps_a_project_warm(services, units, org):
    pid = make_project(services, org, idle_s=TIMEOUT - 10)
    services.clock.advance(seconds=20)
    seen = services.clock.now() - timedelta(seconds=1)

    moved = record_activity(
        units, ProjectActivity(projects=(ProjectSeen(project_id=pid, last_request_at=epoch(seen)),))
    )

    assert moved == 1
    assert last_request(services, pid) == seen
    assert sweep(units) == []


def test_an_older_report_never_moves_the_last_request_back(services, units, org):
    pid = make_project(services, org, idle_s=10)
    stored = last_request(services, pid)

    old = epoch(stored - timedelta(minutes=5))
    moved = record_activity(
        units, ProjectActivity(projects=(ProjectSeen(project_id=pid, last_request_at=old),))
    )

    assert moved == 0
    assert last_request(services, pid) == stored


def test_the_latest_of_several_reports_for_one_project_is_kept(services, units, org):
    pid = make_project(services, org, idle_s=600)
    now = services.clock.now()
    seen = [now - timedelta(seconds=s) for s in (30, 2, 300)]

    record_activity(
        units,
        ProjectActivity(
            projects=tuple(ProjectSeen(project_id=pid, last_request_at=epoch(m)) for m in seen)
        ),
    )

    assert last_request(services, pid) == now - timedelta(seconds=2)


def test_a_time_ahead_of_the_control_planes_clock_counts_as_now(services, units, org):
    pid = make_project(services, org, idle_s=600)
    ahead = epoch(services.clock.now() + timedelta(days=365))

    record_activity(
        units, ProjectActivity(projects=(ProjectSeen(project_id=pid, last_request_at=ahead),))
    )

    assert last_request(services, pid) == services.clock.now()


def test_unknown_projects_and_times_that_are_no_times_are_passed_over(services, units, org):
    pid = make_project(services, org, idle_s=600)
    stored = last_request(services, pid)
    report = ProjectActivity(
        projects=(
            ProjectSeen(project_id="0" * 32, last_request_at=epoch(services.clock.now())),
            ProjectSeen(project_id=pid, last_request_at=float("nan")),
            ProjectSeen(project_id=pid, last_request_at=1e300),
            ProjectSeen(project_id=pid, last_request_at=-5.0),
        )
    )

    assert record_activity(units, report) == 0
    assert last_request(services, pid) == stored


def test_activity_is_not_a_change_the_allocator_or_the_etag_sees(services, units, org):
    pid = make_project(services, org, idle_s=600)
    with units.read() as ctx:
        before = deployments_internal.allocation_version(ctx)
    revision = state(services, pid)[2]
    now = epoch(services.clock.now())

    record_activity(
        units, ProjectActivity(projects=(ProjectSeen(project_id=pid, last_request_at=now),))
    )

    with units.read() as ctx:
        assert deployments_internal.allocation_version(ctx) == before
    assert state(services, pid)[2] == revision


def test_the_clock_of_reports_is_utc_epoch_seconds(services, units, org):
    pid = make_project(services, org, idle_s=600)
    moment = services.clock.now().replace(microsecond=0) - timedelta(seconds=3)

    record_activity(
        units,
        ProjectActivity(
            projects=(ProjectSeen(project_id=pid, last_request_at=moment.timestamp()),)
        ),
    )

    assert last_request(services, pid) == moment.astimezone(UTC)


def test_a_request_forwarded_while_the_project_was_stopping_undoes_the_stop(services, units, org):
    pid = make_project(services, org, idle_s=TIMEOUT + 1)
    sweep(units)
    just_now = epoch(services.clock.now())

    record_activity(
        units,
        ProjectActivity(projects=(ProjectSeen(project_id=pid, last_request_at=just_now),)),
    )

    assert state(services, pid)[:2] == (Desired.RUNNING, False)
    (event,) = events(services, "project.woken")
    assert event.details["cause"] == "request_while_stopping"


def test_a_stopped_project_with_no_newer_request_stays_stopped(services, units, org):
    pid = make_project(services, org, idle_s=TIMEOUT + 1)
    sweep(units)
    stale = epoch(last_request(services, pid))

    record_activity(
        units, ProjectActivity(projects=(ProjectSeen(project_id=pid, last_request_at=stale),))
    )

    assert state(services, pid)[:2] == (Desired.STOPPED, True)
