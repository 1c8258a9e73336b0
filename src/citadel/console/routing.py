"""Console routes render every failure as a page: a redirect, or the service error's status."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from citadel.audit.tags import TargetType
from citadel.console.web import Redirect, failure_page, redirect
from citadel.errors import CitadelError
from citadel.web.refusals import record_refusal

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
    record_refusal(
        request, exc, organization_id=org, target_type=TargetType.CONSOLE, template=template
    )
