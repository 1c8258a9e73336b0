"""Where a deployment runs: pure placement and recovery decisions, no I/O (ADR 31).

An allocator is a candidate for a deployment when it is healthy (a heartbeat within
``allocator_unhealthy_after_s``) and its free memory (capacity less the sizes of the
non-deleted deployments placed on it, a project's instance with its memory) is at least the
deployment's size. Among candidates: the zone holding the fewest of the organization's
deployments first (an organization's deployments spread across zones), then the most free
memory, then the allocator id (a stable answer). No candidate: the deployment stays unplaced
and is placed when room appears.

Recovery: a deployment whose allocator is unhealthy is placed the same way, preferring an
allocator in another zone than the one it was lost in (a zone that lost one host may be
losing more); when no other zone has room, any healthy allocator with room will do. It comes
back from its latest snapshot; one that has none comes back empty (its data is lost, and it
says so).

Placing several deployments at once (`place_all`) takes each one's memory before deciding
the next, so a batch never over-commits an allocator.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum


@dataclass(frozen=True)
class Host:
    """An allocator as placement sees it: its zone, capacity and the memory already placed."""

    id: str
    zone: str
    capacity_mb: int
    used_mb: int = 0
    healthy: bool = True

    @property
    def free_mb(self) -> int:
        """Memory not yet placed (never negative: a resize may over-commit, ADR 31)."""
        return max(0, self.capacity_mb - self.used_mb)


@dataclass(frozen=True)
class Request:
    """A deployment to place: its organization, its size and, when it was lost with its
    allocator, the zone to avoid."""

    deployment_id: str
    organization_id: str
    size_mb: int
    avoid_zone: str | None = None


@dataclass(frozen=True)
class Placement:
    """The decision for one request: the allocator, or None when no allocator has room."""

    deployment_id: str
    allocator_id: str | None
    zone: str | None = None


class RestoreChoice(StrEnum):
    """What a deployment lost with its allocator comes back with."""

    OWN_LATEST = "own_latest"  # its own latest snapshot, security included
    PENDING = "pending"  # the restore it was created with and never made (its source's)
    NONE = "none"  # no snapshot at all: it starts empty, its data lost


@dataclass(frozen=True)
class Lost:
    """A deployment on an unhealthy allocator: its request, whether it has a snapshot of its
    own, and whether a restore it was created with is still to be made."""

    request: Request
    allocator_id: str
    has_snapshot: bool
    restore_pending: bool = False

    @property
    def restore(self) -> RestoreChoice:
        if self.has_snapshot:
            return RestoreChoice.OWN_LATEST
        return RestoreChoice.PENDING if self.restore_pending else RestoreChoice.NONE


@dataclass(frozen=True)
class Recovery:
    """How a deployment lost with its allocator comes back: where (None: nowhere has room
    yet; placed when room appears) and from what."""

    deployment_id: str
    lost_allocator_id: str
    allocator_id: str | None
    restore: RestoreChoice

    @property
    def detail(self) -> str:
        """What the deployment reports until its new allocator reports otherwise."""
        lost = f"allocator {self.lost_allocator_id} lost"
        if self.restore is RestoreChoice.NONE:
            return f"{lost}; no snapshot: data lost, starting empty"
        source = (
            "the latest snapshot"
            if self.restore is RestoreChoice.OWN_LATEST
            else "the snapshot it was created from"
        )
        if self.allocator_id is None:
            return f"{lost}; waiting for an allocator with room to restore {source}"
        return f"{lost}; restoring from {source}"


@dataclass
class _Ledger:
    """Hosts and the organizations' deployments per zone, updated as a batch is placed."""

    hosts: dict[str, Host]
    spread: Counter[tuple[str, str]] = field(default_factory=Counter)

    def take(self, host: Host, request: Request) -> None:
        self.hosts[host.id] = replace(host, used_mb=host.used_mb + request.size_mb)
        self.spread[(request.organization_id, host.zone)] += 1


def is_healthy(last_seen_at: datetime, now: datetime, unhealthy_after_s: float) -> bool:
    """An allocator is healthy while its last heartbeat is at most `unhealthy_after_s` old."""
    return now - last_seen_at <= timedelta(seconds=unhealthy_after_s)


def choose(
    request: Request, hosts: Iterable[Host], spread: Mapping[tuple[str, str], int]
) -> Host | None:
    """The allocator for `request`, or None when no healthy allocator has room. `spread`
    counts each organization's deployments per zone."""
    fits = [h for h in hosts if h.healthy and h.free_mb >= request.size_mb]
    elsewhere = [h for h in fits if h.zone != request.avoid_zone]
    if request.avoid_zone is not None and elsewhere:
        fits = elsewhere
    if not fits:
        return None
    org = request.organization_id
    return min(fits, key=lambda h: (spread.get((org, h.zone), 0), -h.free_mb, h.id))


def place_all(
    requests: Sequence[Request],
    hosts: Iterable[Host],
    spread: Mapping[tuple[str, str], int] | None = None,
) -> list[Placement]:
    """Decide each request in order, each taking its memory (and its place in its
    organization's spread) before the next is decided."""
    ledger = _Ledger({h.id: h for h in hosts}, Counter(spread or {}))
    decided = []
    for request in requests:
        host = choose(request, ledger.hosts.values(), ledger.spread)
        if host is None:
            decided.append(Placement(request.deployment_id, None))
            continue
        ledger.take(host, request)
        decided.append(Placement(request.deployment_id, host.id, host.zone))
    return decided


def recover(
    lost: Sequence[Lost],
    hosts: Iterable[Host],
    spread: Mapping[tuple[str, str], int] | None = None,
) -> list[Recovery]:
    """Where each deployment lost with its allocator comes back (another zone when one has
    room), and whether from a snapshot."""
    placed = place_all([item.request for item in lost], hosts, spread)
    return [
        Recovery(
            deployment_id=item.request.deployment_id,
            lost_allocator_id=item.allocator_id,
            allocator_id=decision.allocator_id,
            restore=item.restore,
        )
        for item, decision in zip(lost, placed, strict=True)
    ]
