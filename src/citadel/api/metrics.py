"""The control plane's Prometheus series: HTTP requests, sign-ins and audit writes.

Every label is bounded. Requests are counted by listener (``public``, ``internal``), method (the
standard ones, else ``OTHER``), route *template* (``/api/v1/orgs/{organization_id}``: the matched
route's path, never the raw path; a request no route matched is ``unmatched``) and status.

Sign-ins and audit writes are counted at the edge of the database, not in the domain packages:
`AuditCounter` listens to the sessions of the control plane's engine and, when a transaction
commits, counts the audit events it wrote (by action family and outcome) and the sign-ins among
them (password or SSO, outcome, and for a failure its reason). A transaction that rolls back
counts nothing. A sign-in writes one event per chain of the user's organizations; it is counted
once per transaction.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy import event
from sqlalchemy.orm import Session

from citadel.audit.models import AuditEvent
from citadel.audit.tags import AuditAction

UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
SIGNIN_METHODS = {AuditAction.SIGNIN.value: "password", AuditAction.SSO_SIGNIN.value: "sso"}
_REASON = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
_PENDING = "citadel.metrics.audit_events"


class ControlPlaneMetrics:
    """The control plane's instruments, in its own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "citadel_http_requests",
            "HTTP requests answered, by listener, method, route template and status.",
            ["listener", "method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "citadel_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by listener, method and "
            "route template.",
            ["listener", "method", "route"],
            registry=registry,
        )
        self.signins = Counter(
            "citadel_signins",
            "Sign-ins by method (password, sso), outcome and, for a failure, its reason.",
            ["method", "outcome", "reason"],
            registry=registry,
        )
        self.audit_events = Counter(
            "citadel_audit_events_written",
            "Audit events committed, by action family (the action's first word) and outcome.",
            ["family", "outcome"],
            registry=registry,
        )

    def middleware(self, app: Any, listener: str) -> RequestMetricsMiddleware:
        """`app` wrapped to count and time its requests under `listener`."""
        return RequestMetricsMiddleware(app, metrics=self, listener=listener)


class RequestMetricsMiddleware:
    """Pure ASGI: counts and times each HTTP request by its route template and status. Add it
    outermost, so the route the router matched is in the scope when the request ends."""

    def __init__(self, app: Any, *, metrics: ControlPlaneMetrics, listener: str) -> None:
        self.app = app
        self.metrics = metrics
        self.listener = listener

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0

        async def counting_send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, counting_send)
        finally:
            elapsed = time.perf_counter() - started
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            route = route_template(scope)
            m = self.metrics
            m.requests.labels(self.listener, method, route, str(status or 500)).inc()
            m.latency.labels(self.listener, method, route).observe(elapsed)


def route_template(scope: dict[str, Any]) -> str:
    """The template of the route that answered (a mount: its prefix), else ``unmatched``."""
    # FastAPI keeps an included router's route without its prefix; the full template is in
    # the route context it settled on.
    effective = (scope.get("fastapi") or {}).get("effective_route_context")
    route = scope.get("route")
    path = getattr(effective, "path", None) or getattr(route, "path_format", None)
    if isinstance(path, str) and path:
        return path
    if "endpoint" in scope and scope.get("app_root_path") is not None:
        return str(scope.get("root_path", "")) + "/*"  # a mounted application (static files)
    return UNMATCHED


class AuditCounter:
    """Counts the audit events and sign-ins that transactions on `engine` commit."""

    def __init__(self, engine: sa.Engine, metrics: ControlPlaneMetrics) -> None:
        self._pool = engine.pool
        self._metrics = metrics
        self._listeners: list[tuple[str, Callable[..., None]]] = [
            ("after_flush", self._after_flush),
            ("after_commit", self._after_commit),
            ("after_rollback", self._after_rollback),
        ]

    def install(self) -> None:
        """Start listening (every `Session`; only this engine's are counted)."""
        for name, listener in self._listeners:
            event.listen(Session, name, listener)

    def remove(self) -> None:
        """Stop listening."""
        for name, listener in self._listeners:
            if event.contains(Session, name, listener):
                event.remove(Session, name, listener)

    def _ours(self, session: Session) -> bool:
        bind = session.bind
        return bind is not None and getattr(bind, "pool", None) is self._pool

    def _after_flush(self, session: Session, _context: Any) -> None:
        if not self._ours(session):
            return
        written = [obj for obj in session.new if isinstance(obj, AuditEvent)]
        if written:
            pending = session.info.setdefault(_PENDING, [])
            pending += [(e.action, e.outcome, dict(e.details or {})) for e in written]

    def _after_commit(self, session: Session) -> None:
        pending = session.info.pop(_PENDING, None)
        if not pending:
            return
        signins = set()
        for action, outcome, details in pending:
            family = action.split(".", 1)[0]
            self._metrics.audit_events.labels(family, outcome).inc()
            method = SIGNIN_METHODS.get(action)
            if method is not None:
                reason = str(details.get("reason") or "none") if outcome != "success" else "none"
                signins.add((method, outcome, reason if _REASON.match(reason) else "other"))
        for method, outcome, reason in signins:
            self._metrics.signins.labels(method, outcome, reason).inc()

    def _after_rollback(self, session: Session) -> None:
        session.info.pop(_PENDING, None)
