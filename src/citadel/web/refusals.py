"""The audit event of a refused request (401/403) or a failed attempt at a change, whichever
edge (API route or console page) refused it.

The event goes to the chain of the organization the request was against (the one the access
check decided on, or the one its path names), so the organization sees it in its own audit
log, API, console and export; a request against no existing organization goes to the platform
chain (`citadel audit list --platform`)."""

from __future__ import annotations

from starlette.requests import Request

from citadel.audit.service import Actor
from citadel.audit.tags import ActorType, AuditAction, Outcome, TargetType
from citadel.authn.principal import Caller
from citadel.errors import CitadelError
from citadel.log import get_logger
from citadel.orgs.models import Organization
from citadel.web.work import services_of

log = get_logger(__name__)


def record_refusal(
    request: Request,
    exc: CitadelError,
    *,
    organization_id: str | None,
    target_type: TargetType,
    template: str,
) -> None:
    """Audit a denied request (401/403) or a failed attempt at a change, by whoever made it,
    in `organization_id`'s chain if that organization exists (else the platform's); shared by
    the API and the console. A failure to audit is logged, never raised."""
    services = services_of(request)
    state = request.state
    caller: Caller | None = getattr(state, "caller", None)
    actor = (
        caller.actor
        if caller
        else Actor(ActorType.ANONYMOUS, None, None, state.source_ip, state.request_id)
    )
    denied = exc.status in (401, 403)
    try:
        with services.db.write() as session:
            known = organization_id and session.get(Organization, organization_id) is not None
            services.audit.record(
                session,
                actor=actor,
                action=AuditAction.REQUEST_DENIED if denied else AuditAction.REQUEST_FAILED,
                organization_id=organization_id if known else None,
                target_type=target_type,
                target_id=f"{request.method} {template}"[:255],
                outcome=Outcome.DENIED if denied else Outcome.FAILURE,
                details={"code": exc.code, "status": exc.status},
            )
    except Exception as failure:  # auditing must not turn a 4xx into a 500
        log.error("audit.record_failed", error_type=type(failure).__name__)
