"""Recording, reading and verifying audit events."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from citadel.audit.chain import GENESIS, link
from citadel.audit.models import AuditChainHead, AuditEvent
from citadel.audit.tags import ActorType, AuditAction, Outcome, TargetType
from citadel.kit.clock import Clock
from citadel.kit.ids import new_id

PLATFORM_CHAIN = "platform"


@dataclass(frozen=True)
class Actor:
    """Who acted, with what credential, from where, in which request."""

    actor_type: ActorType
    actor_id: str | None = None
    credential_id: str | None = None
    source_ip: str | None = None
    request_id: str | None = None


SYSTEM = Actor(actor_type=ActorType.SYSTEM)


@dataclass(frozen=True)
class AuditLog:
    """Appends events to per-organization chains (`platform` for events of no organization)."""

    key: bytes = field(repr=False)
    clock: Clock

    def record(
        self,
        session: Session,
        *,
        actor: Actor,
        action: AuditAction,
        organization_id: str | None,
        target_type: TargetType | None = None,
        target_id: str | None = None,
        outcome: Outcome = Outcome.SUCCESS,
        details: dict[str, Any] | None = None,
    ) -> AuditEvent:
        """Append one event inside the caller's transaction."""
        chain = organization_id or PLATFORM_CHAIN
        head = _lock_head(session, chain)
        event = AuditEvent(
            id=new_id(),
            chain=chain,
            seq=head.seq + 1,
            occurred_at=self.clock.now(),
            organization_id=organization_id,
            actor_type=str(actor.actor_type),
            actor_id=actor.actor_id,
            credential_id=actor.credential_id,
            source_ip=actor.source_ip,
            request_id=actor.request_id,
            action=str(action),
            target_type=None if target_type is None else str(target_type),
            target_id=target_id,
            outcome=str(outcome),
            details=details or {},
            prev_digest=head.digest,
        )
        event.digest = link(self.key, head.digest, chained_fields(event))
        head.seq, head.digest = event.seq, event.digest
        session.add(event)
        session.flush()
        return event


def chained_fields(event: AuditEvent) -> dict[str, Any]:
    """The fields the digest covers (all of them but the digest itself)."""
    return {
        "id": event.id,
        "chain": event.chain,
        "seq": event.seq,
        "occurred_at": event.occurred_at.isoformat(),
        "organization_id": event.organization_id,
        "actor_type": event.actor_type,
        "actor_id": event.actor_id,
        "credential_id": event.credential_id,
        "source_ip": event.source_ip,
        "request_id": event.request_id,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "outcome": event.outcome,
        "details": event.details,
    }


def _lock_head(session: Session, chain: str) -> AuditChainHead:
    stmt = sa.select(AuditChainHead).where(AuditChainHead.chain == chain).with_for_update()
    head = session.scalars(stmt).one_or_none()
    if head is None:
        head = AuditChainHead(chain=chain, seq=0, digest=GENESIS)
        session.add(head)
        session.flush()
    return head


@dataclass(frozen=True)
class EventFilter:
    """What `list_events` narrows to."""

    action: str | None = None
    actor_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def list_events(
    session: Session, *, organization_id: str, filters: EventFilter, after_seq: int, limit: int
) -> list[AuditEvent]:
    """Events of one organization, newest first, strictly before sequence `after_seq`."""
    stmt = sa.select(AuditEvent).where(AuditEvent.chain == organization_id)
    if after_seq:
        stmt = stmt.where(AuditEvent.seq < after_seq)
    if filters.action:
        stmt = stmt.where(AuditEvent.action == filters.action)
    if filters.actor_id:
        stmt = stmt.where(AuditEvent.actor_id == filters.actor_id)
    if filters.since:
        stmt = stmt.where(AuditEvent.occurred_at >= filters.since)
    if filters.until:
        stmt = stmt.where(AuditEvent.occurred_at < filters.until)
    return list(session.scalars(stmt.order_by(AuditEvent.seq.desc()).limit(limit)))


@dataclass(frozen=True)
class ChainProblem:
    """Where verification found the chain broken."""

    chain: str
    seq: int
    problem: str


def verify_chains(session: Session, key: bytes) -> list[ChainProblem]:
    """Recompute every chain; report modified, inserted, reordered or deleted events."""
    problems: list[ChainProblem] = []
    heads = {h.chain: h for h in session.scalars(sa.select(AuditChainHead))}
    chains = set(heads) | set(session.scalars(sa.select(AuditEvent.chain).distinct()))
    for chain in sorted(chains):
        last_seq, last_digest = 0, GENESIS
        for event in _events_of(session, chain):
            if event.seq != last_seq + 1:
                problems.append(ChainProblem(chain, last_seq + 1, "missing event"))
            if event.prev_digest != last_digest:
                problems.append(ChainProblem(chain, event.seq, "broken link"))
            expected = link(key, event.prev_digest, chained_fields(event))
            if not hmac.compare_digest(expected, event.digest):
                problems.append(ChainProblem(chain, event.seq, "event modified"))
            last_seq, last_digest = event.seq, event.digest
        head = heads.get(chain)
        if head is None or head.seq != last_seq or head.digest != last_digest:
            problems.append(ChainProblem(chain, last_seq, "chain head does not match last event"))
    return problems


def _events_of(session: Session, chain: str) -> Iterator[AuditEvent]:
    stmt = sa.select(AuditEvent).where(AuditEvent.chain == chain).order_by(AuditEvent.seq)
    yield from session.scalars(stmt.execution_options(yield_per=1000))
