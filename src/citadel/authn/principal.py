"""The authenticated caller of a request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from citadel.audit.service import Actor
from citadel.audit.tags import ActorType
from citadel.authz.decide import Subject


class PrincipalKind(StrEnum):
    USER = "user"
    API_KEY = "api_key"


@dataclass(frozen=True)
class Principal:
    """A signed-in user (through a session) or an API key, with what it may do."""

    kind: PrincipalKind
    credential_id: str
    subject: Subject
    user_id: str | None = None
    email: str | None = None
    key_organization_id: str | None = None
    expires_at: datetime | None = None
    via_cookie: bool = False
    mfa_enrollment_only: bool = False


@dataclass(frozen=True)
class Caller:
    """A principal (or nobody) plus where the request came from."""

    principal: Principal | None
    source_ip: str
    request_id: str
    system: bool = False

    @property
    def actor(self) -> Actor:
        """How the audit log names this caller."""
        p = self.principal
        if self.system:
            return Actor(ActorType.SYSTEM, None, None, self.source_ip, self.request_id)
        if p is None:
            return Actor(ActorType.ANONYMOUS, None, None, self.source_ip, self.request_id)
        actor_id = p.user_id if p.kind is PrincipalKind.USER else p.credential_id
        kind = ActorType(p.kind.value)  # a principal kind is an actor type of the same name
        return Actor(kind, actor_id, p.credential_id, self.source_ip, self.request_id)

    @property
    def subject(self) -> Subject:
        """The authorization subject; anonymous callers belong to nothing."""
        if self.principal is None:
            return Subject(frozenset(), ())
        return self.principal.subject
