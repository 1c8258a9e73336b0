"""`_reset-credentials` on a running project answers once its node has the new password (the
old one no longer works then); on a stopped one, at once."""

from __future__ import annotations

from citadel.deployments import internal
from citadel.deployments.lifecycle import Observed
from citadel.deployments.models import Deployment
from citadel.projects.types import ProjectType
from citadel.use_cases.projects import reset_credentials
from tests.fixtures.builders import SystemUnits, make_org, make_project, make_user

ES = ProjectType.ELASTICSEARCH


def _observe(services, project_id: str, state: Observed, *, applied: bool = False) -> None:
    """What the allocator reports of the project's instance, through the real recording."""
    units = SystemUnits(services)
    with units.write() as ctx:
        internal.record_status(
            ctx,
            project_id,
            observed_state=state,
            healthy=state is Observed.RUNNING,
            detail="",
            password_applied=applied,
        )


def _pending(services, project_id: str) -> bool:
    with services.db.read() as session:
        instance = session.get(Deployment, project_id)
        return instance is not None and instance.elastic_password_sealed is not None


def test_a_running_projects_reset_waits_until_its_node_restarted_with_the_new_password(services):
    org = make_org(services, make_user(services))
    pid = make_project(services, org, ES, "rotated")
    _observe(services, pid, Observed.RUNNING, applied=True)  # its first password applied
    assert not _pending(services, pid)
    steps = [
        lambda: _observe(services, pid, Observed.INITIALIZING),  # the allocator restarts it
        lambda: None,
        lambda: _observe(services, pid, Observed.RUNNING, applied=True),
    ]
    slept: list[float] = []

    def allocator_meanwhile(seconds: float) -> None:
        slept.append(seconds)
        if steps:
            steps.pop(0)()

    _, username, password = reset_credentials(
        SystemUnits(services), org, ES, pid, if_match=None, sleep=allocator_meanwhile
    )
    assert (username, len(password) >= 24) == ("admin", True)
    assert len(slept) == 3  # answered right after the node reported the new password applied
    assert not _pending(services, pid)


def test_a_stopped_projects_reset_answers_at_once_its_node_starts_with_the_new_one(services):
    org = make_org(services, make_user(services))
    pid = make_project(services, org, ES, "asleep")
    _observe(services, pid, Observed.STOPPED)
    slept: list[float] = []
    reset_credentials(SystemUnits(services), org, ES, pid, if_match=None, sleep=slept.append)
    assert slept == []
    assert _pending(services, pid)  # handed to the node at its next start
