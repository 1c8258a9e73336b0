"""The gateway's contract calls for projects against the control plane's own internal
application (real services and database, the gateway's real component certificate as the
TLS listener hands it over): the wake-up and the activity report mean what the gateway
takes them to mean."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from citadel.api.internal import create_internal_app
from citadel.contract.client import ComponentTls, ControlPlane
from citadel.contract.messages import (
    ComponentKind,
    ObservedState,
    ProjectActivity,
    ProjectSeen,
    WakeAnswer,
)
from citadel.deployments.lifecycle import Desired
from citadel.deployments.models import Deployment
from citadel.projects.models import Project
from citadel.use_cases.projects_runtime import sweep_idle_projects
from tests.fixtures.builders import SystemUnits, make_org, make_user
from tests.fixtures.idle_projects import TIMEOUT, make_project
from tests.fixtures.internal import PresentingCertificate, component_pem

UNUSED = Path("/nonexistent")  # the client below brings its own transport: no TLS files read


def _call(services, call):
    """Run `call(plane, client)` with the gateway's contract client over the internal app."""
    app = PresentingCertificate(
        create_internal_app(services), component_pem(services, ComponentKind.GATEWAY)
    )
    plane = ControlPlane("https://internal", ComponentTls(UNUSED, UNUSED, UNUSED))

    async def run():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, headers=plane.headers()) as client:
            return await call(plane, client)

    return asyncio.run(run())


def test_waking_a_stopped_project_answers_its_state_and_wants_it_running(services) -> None:
    org = make_org(services, make_user(services))
    pid = make_project(services, org, idle_s=TIMEOUT + 1)
    sweep_idle_projects(SystemUnits(services), idle_timeout_s=TIMEOUT, warm_memory_mb=None)
    with services.db.write() as session:
        instance = session.get(Deployment, pid)
        assert instance.desired_state == Desired.STOPPED
        instance.observed_state = ObservedState.STOPPED  # as the allocator reports it

    answer = _call(services, lambda plane, client: plane.wake_project(client, pid))

    assert answer == WakeAnswer(state=ObservedState.STOPPED)  # the gateway waits for its node
    with services.db.read() as session:
        assert session.get(Deployment, pid).desired_state == Desired.RUNNING


def test_waking_an_unknown_project_is_a_deleted_one(services) -> None:
    answer = _call(services, lambda plane, client: plane.wake_project(client, "0" * 32))
    assert answer.state is ObservedState.DELETED  # the gateway answers not running at once


def test_reported_activity_is_the_projects_latest_request(services) -> None:
    org = make_org(services, make_user(services))
    pid = make_project(services, org, idle_s=600)
    at = services.clock.now().timestamp() - 5
    activity = ProjectActivity(projects=(ProjectSeen(project_id=pid, last_request_at=at),))

    _call(services, lambda plane, client: plane.report_activity(client, activity))

    with services.db.read() as session:
        seen = session.get(Project, pid).last_request_at
    assert abs(seen.timestamp() - at) < 1
