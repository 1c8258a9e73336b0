"""The control plane's allocator watch (ADR 31): started beside the chores by the
control-plane root, under its lease, it moves a lost allocator's deployment to a healthy
allocator in another zone, after waiting one unhealthy interval first."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from citadel.allocators.models import Allocator
from citadel.config import Settings
from citadel.deployments.models import Deployment
from citadel.roots.control_plane import build
from tests.fixtures.builders import make_deployment, make_org, make_user


def _allocator(id: str, zone: str, seen: datetime) -> Allocator:
    return Allocator(
        id=id,
        address="10.0.0.1",
        zone=zone,
        capacity_mb=4096,
        registered_at=seen,
        last_seen_at=seen,
    )


def _placed_on(services, dep: str) -> str | None:
    with services.db.read() as session:
        return session.get(Deployment, dep).allocator_id


def test_the_watch_moves_a_lost_allocators_deployment_after_one_interval(services):
    now = datetime.now(UTC)
    with services.db.write() as session:
        session.add(_allocator("lost", "z1", now - timedelta(hours=1)))
        session.add(_allocator("alive", "z2", now + timedelta(hours=1)))  # beats "for an hour"
    org = make_org(services, make_user(services))
    dep = make_deployment(services, org)  # placed on "alive": the only healthy one
    with services.db.write() as session:
        session.get(Deployment, dep).allocator_id = "lost"
    settings = Settings(
        data_dir=services.settings.data_dir,
        database_url=services.settings.database_url,
        allocator_unhealthy_after_s=1.0,
        _env_file=None,
    )
    process = build(settings, admin_email=None)

    async def until_moved() -> float:
        started = time.monotonic()
        loop = asyncio.create_task(process.watch_allocators())
        try:
            while _placed_on(services, dep) != "alive":
                assert not loop.done(), loop
                await asyncio.sleep(0.05)
            return time.monotonic() - started
        finally:
            loop.cancel()

    try:
        took = asyncio.run(asyncio.wait_for(until_moved(), timeout=15))
    finally:
        process.close()

    assert took >= 1.0  # the first round waited one unhealthy interval
