"""The clients gateways report seeing, kept in the database for the lockout guard.

Gateways POST what they saw (internal API) every few seconds, to whichever control-plane
replica answers; every replica's guard reads the same `recent_clients` rows (ADR 32). An entry
counts for `ttl_s` after it was last seen; older rows are deleted by the chores.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from citadel.db.engine import Database
from citadel.traffic_filters.models import RecentClient
from citadel.traffic_filters.seen import SeenClient

__all__ = ["RecentClients", "SeenClient", "forget_before", "record_seen", "seen_since"]

NO_ENDPOINT = ""
"""`recent_clients.endpoint_id` of a client that came through no private-link endpoint."""


def record_seen(session: Session, clients: Iterable[SeenClient]) -> None:
    """Store what a gateway saw; an entry already seen later (by another gateway) stays."""
    for client in clients:
        key = (client.deployment_id, client.client_ip, client.endpoint_id or NO_ENDPOINT)
        row = session.get(RecentClient, key, with_for_update=True)
        if row is None:
            session.add(
                RecentClient(
                    deployment_id=key[0],
                    client_ip=key[1],
                    endpoint_id=key[2],
                    last_seen=client.last_seen,
                    connected=client.connected,
                )
            )
            session.flush()
        elif row.last_seen <= client.last_seen:
            row.last_seen, row.connected = client.last_seen, client.connected
    session.flush()


def seen_since(session: Session, horizon: float) -> list[SeenClient]:
    """Every client last seen at `horizon` or later."""
    rows = session.scalars(sa.select(RecentClient).where(RecentClient.last_seen >= horizon))
    return [
        SeenClient(r.deployment_id, r.client_ip, r.endpoint_id or None, r.last_seen, r.connected)
        for r in rows
    ]


def forget_before(session: Session, horizon: float) -> None:
    """Delete the clients last seen before `horizon`."""
    session.execute(sa.delete(RecentClient).where(RecentClient.last_seen < horizon))


class RecentClients:
    """The lockout guard's view of recent clients, shared by every replica through `db`."""

    def __init__(
        self, db: Database, ttl_s: float = 600.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self.clock = clock

    def report(self, clients: Iterable[SeenClient]) -> None:
        """Store a gateway's report (a transaction of its own)."""
        clients = list(clients)
        for attempt in range(3):  # two gateways inserting the same new client at once
            try:
                with self.db.write() as session:
                    record_seen(session, clients)
                return
            except IntegrityError:
                if attempt == 2:
                    raise

    def current(self) -> list[SeenClient]:
        """Every client seen within `ttl_s`."""
        with self.db.read() as session:
            return seen_since(session, self.clock() - self.ttl_s)

    def forget_expired(self) -> None:
        """Delete the clients not seen within `ttl_s`."""
        with self.db.write() as session:
            forget_before(session, self.clock() - self.ttl_s)
