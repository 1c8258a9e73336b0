"""Leases (ADR 32): one holder at a time for each kind of periodic work, on both backends."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta

from citadel.kit.clock import SystemClock
from citadel.leases.service import Leases, claim, holder_of, release


def test_a_free_lease_goes_to_the_first_claimer(services):
    now = services.clock.now()
    with services.db.write() as session:
        assert claim(session, "chores", "a", 30, now)
        assert not claim(session, "chores", "b", 30, now)
        assert holder_of(session, "chores", now) == "a"


def test_the_holder_renews_its_lease(services):
    now = services.clock.now()
    with services.db.write() as session:
        assert claim(session, "chores", "a", 30, now)
        assert claim(session, "chores", "a", 30, now + timedelta(seconds=20))
        assert not claim(session, "chores", "b", 30, now + timedelta(seconds=40))


def test_an_expired_lease_goes_to_another_claimer(services):
    now = services.clock.now()
    with services.db.write() as session:
        assert claim(session, "chores", "a", 30, now)
        later = now + timedelta(seconds=31)
        assert holder_of(session, "chores", later) is None
        assert claim(session, "chores", "b", 30, later)
        assert not claim(session, "chores", "a", 30, later)


def test_a_released_lease_is_free_at_once(services):
    now = services.clock.now()
    with services.db.write() as session:
        assert claim(session, "chores", "a", 30, now)
        assert not release(session, "chores", "b")
        assert release(session, "chores", "a")
        assert claim(session, "chores", "b", 30, now)


def test_of_many_concurrent_claimers_one_wins(services):
    """Each claimer in its own thread and transaction, all started together, on a free lease
    and then on an expired one."""
    for round_, now in enumerate((services.clock.now(), services.clock.now() + timedelta(hours=1))):
        start = threading.Barrier(8)
        won: list[str] = []

        def claimer(holder: str, now=now, start=start, won=won) -> None:
            start.wait()
            with services.db.write() as session:
                if claim(session, "race", holder, 30, now):
                    won.append(holder)

        threads = [threading.Thread(target=claimer, args=(f"h{round_}-{i}",)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 1, won
        with services.db.read() as session:
            assert holder_of(session, "race", now) == won[0]


def test_only_the_holder_runs_the_work_and_another_takes_over_when_it_stops(services):
    """Two processes' `Leases` over one database: the work runs in one; cancelling it (a
    replica stopping) releases the lease, and the other takes the work over."""
    ran: list[str] = []
    one = Leases(services.db, SystemClock(), holder="one")
    two = Leases(services.db, SystemClock(), holder="two")

    def work_of(name: str):
        async def work() -> None:
            ran.append(name)

        return work

    async def scenario() -> None:
        first = asyncio.create_task(one.hold("chores", work_of("one"), interval_s=0.1, ttl_s=3))
        await asyncio.sleep(0.3)
        second = asyncio.create_task(two.hold("chores", work_of("two"), interval_s=0.1, ttl_s=3))
        await asyncio.sleep(0.5)
        assert set(ran) == {"one"}
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
        await asyncio.sleep(1.5)  # the second claims again every ttl/3 = 1 s
        second.cancel()
        await asyncio.gather(second, return_exceptions=True)

    asyncio.run(scenario())

    assert ran[0] == "one"
    assert "two" in ran
    assert ran.index("two") > max(i for i, n in enumerate(ran) if n == "one")


def test_a_holder_that_died_is_replaced_once_its_lease_expires(services):
    """A holder that stops renewing without releasing (kill -9): another replica's loop takes
    the work over once the lease has expired, not before."""
    ran: list[float] = []
    clock = SystemClock()
    with services.db.write() as session:
        assert claim(session, "chores", "dead", 1.5, clock.now())
    taken_at = time.monotonic()
    two = Leases(services.db, clock, holder="two")

    async def work() -> None:
        ran.append(time.monotonic() - taken_at)

    async def scenario() -> None:
        loop = asyncio.create_task(two.hold("chores", work, interval_s=0.1, ttl_s=1.5))
        await asyncio.sleep(3.0)
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)

    asyncio.run(scenario())

    assert ran, "the lease was never taken over"
    assert 1.4 <= ran[0] < 3.0  # not before the dead holder's lease expired
