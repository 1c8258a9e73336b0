"""Leases: one control-plane replica at a time does each kind of periodic work (ADR 32).

A lease is a row of `leases` named for the work (`chores`, `project-sweep`, ...): its
`holder` does the work until `expires_at`. `claim` is one conditional UPDATE (the holder
renews, anyone takes an expired lease) after an insert-if-absent, so it is atomic on SQLite
(writes are serialised, ``BEGIN IMMEDIATE``) and on PostgreSQL (a concurrent UPDATE of the
same row waits for the first and re-checks its WHERE against the committed row): of any
number of claimers, one wins. `hold` runs a periodic loop only while holding its lease and
renews it every round; a replica that dies stops renewing, and another takes the work over
once the lease has expired (at most `ttl_s` later).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from citadel.db.engine import Database, rows_changed
from citadel.kit.clock import Clock
from citadel.leases.models import Lease
from citadel.log import get_logger

log = get_logger(__name__)

LEASE_TTL_S = 30.0
"""How long a lease lasts unless renewed: a dead replica's work moves within this."""


def process_holder() -> str:
    """A holder id unique to this process: host name, pid and 48 random bits."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{secrets.token_hex(6)}"


def claim(session: Session, name: str, holder: str, ttl_s: float, now: datetime) -> bool:
    """Take or renew the lease `name` for `holder` until `now + ttl_s`; true if `holder` has
    it now (flushes; the caller commits). False while another holder's lease runs."""
    until = now + timedelta(seconds=ttl_s)
    taken = sa.update(Lease).where(
        Lease.name == name, sa.or_(Lease.holder == holder, Lease.expires_at < now)
    )
    if rows_changed(session, taken.values(holder=holder, expires_at=until)) == 1:
        return True
    if session.get(Lease, name) is not None:  # someone else's, still running
        return False
    try:
        with session.begin_nested():
            session.add(Lease(name=name, holder=holder, expires_at=until))
            session.flush()
    except IntegrityError:  # a concurrent claimer inserted it first
        return False
    return True


def release(session: Session, name: str, holder: str) -> bool:
    """Give the lease `name` up if `holder` has it (another replica may take it at once)."""
    return (
        rows_changed(session, sa.delete(Lease).where(Lease.name == name, Lease.holder == holder))
        == 1
    )


def holder_of(session: Session, name: str, now: datetime) -> str | None:
    """Who holds the lease `name` at `now`, if anyone."""
    lease = session.get(Lease, name)
    if lease is None or lease.expires_at < now:
        return None
    return lease.holder


class Leases:
    """This process's claims on the shared `leases` table (one holder id per process)."""

    def __init__(self, db: Database, clock: Clock, holder: str | None = None) -> None:
        self.db, self.clock = db, clock
        self.holder = holder or process_holder()

    def claim(self, name: str, ttl_s: float) -> bool:
        """`claim` in a transaction of its own."""
        with self.db.write() as session:
            return claim(session, name, self.holder, ttl_s, self.clock.now())

    def release(self, name: str) -> None:
        """`release` in a transaction of its own."""
        with self.db.write() as session:
            release(session, name, self.holder)

    async def hold(
        self,
        name: str,
        work: Callable[[], Awaitable[object]],
        *,
        interval_s: float,
        ttl_s: float = LEASE_TTL_S,
        first_delay_s: float = 0.0,
    ) -> None:
        """Run `work` every `interval_s` (the first round `first_delay_s` after this process
        takes the lease) while this process holds the lease `name`, until cancelled.

        The lease is claimed or renewed every third of `ttl_s`, whatever the interval, so a
        replica that dies is replaced within `ttl_s`; the replica that takes over starts its
        own rounds. A round runs beside the renewals (a long round keeps its lease). A round
        that fails is logged and the next runs as usual; on cancellation the lease is given up
        so another replica may take it at once."""
        loop = asyncio.get_running_loop()
        held, due, running = False, 0.0, None
        try:
            while True:
                try:
                    mine = await asyncio.to_thread(self.claim, name, ttl_s)
                except Exception:
                    log.exception("lease.claim_failed", lease=name)
                    mine = False
                if mine != held:
                    event = "lease.taken" if mine else "lease.lost"
                    log.info(event, lease=name, holder=self.holder)
                    held, due = mine, loop.time() + first_delay_s
                idle = running is None or running.done()
                if mine and idle and loop.time() >= due:
                    due = loop.time() + interval_s
                    running = asyncio.create_task(_round(name, self.holder, work))
                wait = ttl_s / 3
                if mine and running is not None and not running.done():
                    await asyncio.wait({running}, timeout=wait)  # renew by then at the latest
                    continue
                if mine:
                    wait = min(wait, max(due - loop.time(), 0.0))
                await asyncio.sleep(wait)
        finally:
            if running is not None:
                running.cancel()
            if held:
                try:
                    await asyncio.shield(asyncio.to_thread(self.release, name))
                except BaseException:  # best effort: the lease expires anyway
                    log.warning("lease.release_failed", lease=name)


async def _round(name: str, holder: str, work: Callable[[], Awaitable[object]]) -> None:
    log.debug("lease.round", lease=name, holder=holder)  # every round: a poll, not a change
    try:
        await work()
    except Exception:
        log.exception("lease.work_failed", lease=name)
