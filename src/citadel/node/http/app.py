"""The node's ASGI application: read, route, authenticate, authorize, handle, answer.

Handlers are synchronous (the store is SQLite) and run in a worker thread. Every response
carries ``X-Elastic-Product: Elasticsearch`` and ``application/json`` (``text/plain`` for
``_cat`` text), which is what the official clients check.

At the edge, before any handler: the route is matched and, when the route needs credentials
and the request announces a body that could cost more than uvicorn buffers anyway (over its
64 KiB flow-control window, of unknown length, or content-coded, which could inflate), the
caller is authenticated on the headers alone, so a 401 is answered before a byte of the body
is read (uvicorn then discards the rest). Other requests (no body, or a small plain one that
uvicorn has already read) are authenticated in their one worker-thread hop, as before.
Then the body is decoded (``Content-Encoding``, capped at `max_body` decoded bytes) and its
``Content-Type`` checked (`media_type`); the common parameters are taken off the query
(`output`). After: the response is rendered as those parameters ask and gzipped when the
client accepts it (`encoding`).

In the worker thread, before any privilege is checked, an ``es-security-runas-user`` header
swaps the caller's identity for the target's when the realm allows it (`Realm.run_as`).
Authentication, run-as and the route's privilege check are recorded in the security audit
trail (`citadel.node.security.audit`: it never blocks or fails a request), as is a 403 a
handler raises from a check of its own.
"""

from __future__ import annotations

import functools
import json
from typing import Any
from urllib.parse import parse_qsl

import anyio
import structlog

from citadel.node.errors import ContentTooLarge, EsError, Forbidden, Unauthenticated
from citadel.node.http.encoding import BodyDecoder, encode_response
from citadel.node.http.media_type import check_content_type
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.output import (
    ResponseOptions,
    error_response,
    parse_response_options,
    render,
    take_response_options,
)
from citadel.node.http.router import Route, Router
from citadel.node.http.task_actions import action_for, elasticsearch_action
from citadel.node.security.audit import AuditTrail
from citadel.node.security.realm import RUN_AS_HEADER
from citadel.node.tasks import Task, TaskManager

log = structlog.get_logger(__name__)

PRODUCT_HEADER = (b"x-elastic-product", b"Elasticsearch")
MAX_BODY = 100 * 1024 * 1024
PREREAD = 64 * 1024  # what uvicorn reads of a body before the app asks (HIGH_WATER_LIMIT)
WORKERS = 16


class NodeApp:
    """ASGI callable over a `Router` and a security realm."""

    def __init__(
        self,
        router: Router,
        realm: Any,
        *,
        tasks: TaskManager | None = None,
        max_body: int = MAX_BODY,
        audit: AuditTrail | None = None,
    ) -> None:
        self.router = router
        self.realm = realm
        self.tasks = tasks
        self.audit = audit or AuditTrail.disabled()
        self.max_body = max_body
        self.limiter = anyio.CapacityLimiter(WORKERS)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), True))
        options = parse_response_options(query)
        try:
            options, query = take_response_options(query, scope["path"])
            route, params = self.router.match(scope["method"], scope["path"])
            request = NodeRequest(
                method=scope["method"],
                path=scope["path"],
                params=params,
                query=query,
                headers=headers,
                body=b"",
            )
            if route.need.kind != "none" and _costly_body(headers):
                # credentials are checked on the headers, before the body is read (issue 17.2)
                request.identity = await anyio.to_thread.run_sync(
                    self._authenticate, request, limiter=self.limiter
                )
            request.body = await self._read_body(scope, receive, headers.get("content-encoding"))
            check_content_type(headers.get("content-type"), has_body=bool(request.body))
            # one hop to a worker thread: handle, then render and compress the answer there
            response, payload = await anyio.to_thread.run_sync(
                self._respond,
                route,
                request,
                options,
                headers.get("accept-encoding"),
                limiter=self.limiter,
            )
        except EsError as exc:
            response = error_response(exc, options)
            payload = _encode(response, options, headers.get("accept-encoding"), scope["path"])
        await _send(send, response, payload, head=scope["method"] == "HEAD")

    def _respond(
        self,
        route: Route,
        request: NodeRequest,
        options: ResponseOptions,
        accept_encoding: str | None,
    ) -> tuple[NodeResponse, bytes]:
        response = self._handle(route, request, options)
        return response, _encode(response, options, accept_encoding, request.path)

    async def _read_body(self, scope: dict[str, Any], receive: Any, coding: str | None) -> bytes:
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            raise ContentTooLarge(f"the request body is larger than {self.max_body} bytes")
        decoder = BodyDecoder(coding, self.max_body)
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise ContentTooLarge(f"the request body is larger than {self.max_body} bytes")
            decoder.feed(chunk)
            if not message.get("more_body"):
                break
        return decoder.finish()

    def _handle(self, route: Route, request: NodeRequest, options: ResponseOptions) -> NodeResponse:
        try:
            self._guard(route, request)
            task = self._track(route, request)
            granted = route.need.kind != "none"
            try:
                return route.handler(request)
            except Forbidden:  # a check of the handler's own (an item, an expanded index)
                granted = False
                self._access(route, request, granted=False)
                raise
            finally:
                if granted:  # recorded once the handler's own checks passed too
                    self._access(route, request, granted=True)
                if task is not None:
                    self.tasks.forget(task)  # type: ignore[union-attr]
        except Forbidden as exc:
            return error_response(_naming_action(exc, route), options)
        except EsError as exc:
            return error_response(exc, options)
        except Exception as exc:  # a bug: answer like Elasticsearch, log without the body
            log.error(
                "node.request_crashed",
                error_type=type(exc).__name__,
                sqlite_error=getattr(exc, "sqlite_errorname", None),  # IOERR_FSYNC, ...
                exc_info=exc,
            )
            return error_response(EsError("internal error"), options, cause=exc)

    def _track(self, route: Route, request: NodeRequest) -> Task | None:
        """Register the running request as a task (``_tasks``, ``_cat/tasks``)."""
        action = _action(route.method, route.pattern)
        if self.tasks is None or action is None:
            return None
        index = request.params.get("index")
        opaque = request.headers.get("x-opaque-id")
        return self.tasks.register(
            action,
            f"indices[{index}]" if index else "",
            cancellable=False,
            headers={"X-Opaque-Id": opaque} if opaque else None,
        )

    def _guard(self, route: Route, request: NodeRequest) -> None:
        need = route.need
        if need.kind == "none":
            return
        if request.identity is None:  # not yet authenticated before its body
            request.identity = self._authenticate(request)
        run_as = request.headers.get(RUN_AS_HEADER)
        if run_as is not None:  # authorized as the target from here on (realm.run_as)
            request.identity = self._run_as(request, run_as)
        try:
            if need.kind == "cluster":
                self.realm.require_cluster(request.identity, need.privilege)
            elif need.kind == "index":
                names = request.params.get(need.param or "index", "").split(",")
                self.realm.require_indices(request.identity, need.privilege, names)
        except Forbidden:
            self._access(route, request, granted=False)
            raise

    def _access(self, route: Route, request: NodeRequest, *, granted: bool) -> None:
        """Record ``access_granted`` or ``access_denied`` for the route's action on the
        indices its path names."""
        names = request.params.get(route.need.param or "index", "").split(",")
        record = self.audit.access_granted if granted else self.audit.access_denied
        record(request.identity, _action_name(route), request, names)

    def _authenticate(self, request: NodeRequest) -> Any:
        """The caller's identity (a 401 otherwise), audited either way."""
        try:
            identity = self.realm.authenticate(request.headers.get("authorization"))
        except Unauthenticated:
            self.audit.authentication_failed(request)
            raise
        self.audit.authentication_success(identity, request)
        return identity

    def _run_as(self, request: NodeRequest, target: str) -> Any:
        """The identity of `target` when the caller may run as them (a 403 otherwise),
        audited either way."""
        caller = request.identity
        try:
            identity = self.realm.run_as(caller, target)
        except Forbidden:
            self.audit.run_as_denied(caller, target, request)
            raise
        if identity is not caller:
            self.audit.run_as_granted(caller, target, request)
        return identity


def _costly_body(headers: dict[str, str]) -> bool:
    """Whether the headers announce a body that could cost more to read than uvicorn's flow
    control buffers before the app asks (RFC 9112, section 6.3): of unknown length (chunked),
    over `PREREAD`, or content-coded (a small gzip inflates to up to `max_body`)."""
    if "transfer-encoding" in headers:
        return True
    if headers.get("content-encoding", "identity").strip().lower() != "identity":
        return True
    length = headers.get("content-length", "").strip()
    return bool(length) and (not length.isdigit() or int(length) > PREREAD)


@functools.cache
def _action(method: str, pattern: str) -> str | None:
    return action_for(method, pattern)


_UNAUTHORIZED = "action is unauthorized for "


def _naming_action(exc: Forbidden, route: Route) -> Forbidden:
    """The 403 as Elasticsearch words it, naming the action it refuses: ``action
    [indices:data/read/search] is unauthorized for user [...]``. The realm's checks do not know
    the action, the route does; where Elasticsearch's name is not known (the node would make
    one up in its shape), the message names none."""
    action = elasticsearch_action(route.method, route.pattern)
    if action is None or not exc.reason.startswith(_UNAUTHORIZED):
        return exc
    reason = f"action [{action}] is unauthorized for {exc.reason.removeprefix(_UNAUTHORIZED)}"
    return Forbidden(reason, **exc.extra)


def _action_name(route: Route) -> str:
    """The action an audit event names: Elasticsearch's, or the route for a self-tracked one."""
    return _action(route.method, route.pattern) or f"{route.method} {route.pattern}"


def _encode(
    response: NodeResponse, options: ResponseOptions, accept_encoding: str | None, path: str
) -> bytes:
    """The answer's bytes (its content-coding headers added to `response`)."""
    # Security answers (API keys, tokens) are never compressed: no length oracle on secrets.
    compressible = not path.startswith("/_security")
    payload, headers = encode_response(
        render(response, options), accept_encoding, compressible=compressible
    )
    response.headers.update(headers)
    return payload


async def _send(send: Any, response: NodeResponse, payload: bytes, *, head: bool) -> None:
    headers = [
        (b"content-type", response.content_type.encode()),
        (b"content-length", str(len(payload)).encode()),
        PRODUCT_HEADER,
        *((k.lower().encode(), v.encode()) for k, v in response.headers.items()),
    ]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else payload})


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def dumps(value: Any) -> str:
    """Compact JSON (used by ``_cat`` and tests)."""
    return json.dumps(value, separators=(",", ":"))
