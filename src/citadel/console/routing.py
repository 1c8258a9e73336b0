"""Console routes render every failure as a page: a redirect, or the service error's status."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from citadel.audit.service import Actor
from citadel.audit.tags import AuditAction, Outcome
from citadel.authn.principal import Caller
from citadel.console.web import Redirect, failure_page, redirect, services_of
from citadel.errors import CitadelError
from citadel.log import get_logger

log = get_logger(__name__)
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class ConsoleRoute(APIRoute):
    """A page route: `Redirect` becomes a 303, a `CitadelError` an error page (and, when it
    is a denial or a failed change, an audit event, as the API records them)."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                response = await handler(request)
            except Redirect as leave:
                return redirect(leave.location)
            except CitadelError as exc:
                await run_in_threadpool(_audit, request, exc)
                return failure_page(request, getattr(request.state, "visitor", None), exc)
            shown = getattr(request.state, "console_error", None)
            if shown is not None:  # a form that showed a service error above itself
                await run_in_threadpool(_audit, request, shown)
            return response

        return guarded


def console_router() -> APIRouter:
    """A router of console pages (kept out of the API's OpenAPI document)."""
    return APIRouter(route_class=ConsoleRoute, include_in_schema=False)


def _audit(request: Request, exc: CitadelError) -> None:
    if exc.keeps_writes:
        return
    if request.method == "GET" and exc.status not in (401, 403):
        return
    visitor = getattr(request.state, "visitor", None)
    org = visitor.organization_id if visitor else None
    route = request.scope.get("route")
    template = getattr(route, "path", request.url.path)
    record_refusal(request, exc, organization_id=org, target_type="console", template=template)


def record_refusal(
    request: Request,
    exc: CitadelError,
    *,
    organization_id: str | None,
    target_type: str,
    template: str,
) -> None:
    """Audit a denied request (401/403) or a failed attempt at a change, by whoever made it;
    shared by the API and the console. A failure to audit is logged, never raised."""
    services = services_of(request)
    state = request.state
    caller: Caller | None = getattr(state, "caller", None)
    actor = (
        caller.actor
        if caller
        else Actor("anonymous", None, None, state.source_ip, state.request_id)
    )
    denied = exc.status in (401, 403)
    try:
        with services.db.write() as session:
            services.audit.record(
                session,
                actor=actor,
                action=AuditAction.REQUEST_DENIED if denied else AuditAction.REQUEST_FAILED,
                organization_id=organization_id,
                target_type=target_type,
                target_id=f"{request.method} {template}"[:255],
                outcome=Outcome.DENIED if denied else Outcome.FAILURE,
                details={"code": exc.code, "status": exc.status},
            )
    except Exception as failure:  # auditing must not turn a 4xx into a 500
        log.error("audit.record_failed", error_type=type(failure).__name__)
