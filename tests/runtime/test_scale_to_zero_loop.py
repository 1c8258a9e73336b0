"""The control plane's sweep loop (ADR 29): started beside the chores by the control-plane
root, it stops an idle project within a sweep interval, with the settings it was built with."""

from __future__ import annotations

import asyncio

from citadel.config import Settings
from citadel.deployments.lifecycle import Desired
from citadel.deployments.models import Deployment
from citadel.roots.control_plane import build
from tests.fixtures.builders import make_org, make_user
from tests.fixtures.idle_projects import make_project


def _desired(services, pid: str) -> str:
    with services.db.read() as session:
        return session.get(Deployment, pid).desired_state


def test_the_sweep_loop_stops_an_idle_project_within_an_interval(services):
    org = make_org(services, make_user(services))
    idle = make_project(services, org, idle_s=30)
    busy = make_project(services, org, idle_s=0)
    settings = Settings(
        data_dir=services.settings.data_dir,
        database_url=services.settings.database_url,
        project_idle_timeout_s=20,
        project_sweep_interval_s=0.2,
        _env_file=None,
    )
    process = build(settings, admin_email=None)

    async def until_stopped() -> None:
        loop = asyncio.create_task(process.sweep_projects())
        try:
            while _desired(services, idle) != Desired.STOPPED:
                assert not loop.done(), loop
                await asyncio.sleep(0.05)
        finally:
            loop.cancel()

    try:
        asyncio.run(asyncio.wait_for(until_stopped(), timeout=10))
    finally:
        process.close()

    assert _desired(services, busy) == Desired.RUNNING
