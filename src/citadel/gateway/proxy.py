"""The data path: asyncio protocols on uvloop, httptools parsing, pooled mTLS upstreams.

One `ClientConnection` per downstream TLS connection parses requests with httptools (llhttp,
strict), checks framing, routes and filters with `routing.decide` (on the connection's
`ConnectionContext`, worked out once when it was accepted; memoised per connection and
snapshot by `decisions.ConnectionDecisions`), and streams the request to a pooled
`UpstreamConnection` (TLS with the gateway's client certificate, over the node's unix socket or,
for a node on another host, over TCP to its `node_address`: ADR 31; the same pool either way,
keyed by where the node is reached, `Route.upstream`).
A connection keeps the upstream of its last response for its next request and gives it back
to the shared pool when it closes. The response streams back with hop-by-hop headers removed.
The gateway re-serialises every request head itself, so the node only ever sees one
unambiguous framing. No task per request: a task exists only while a new upstream connection
is being opened (or a request is held for a waking project). Costs per request are measured
in docs/adr/0013.

Serverless projects (ADR 28, 29): a project's `kb` host is answered by the gateway, its
`ingest` host forwards only bulk and index requests (`ingest`), and a request for a stopped
project is held while the control plane starts it (`wake`), then forwarded as any other;
each request forwarded to a project is remembered for the idle report (`activity`).

Limits (ADR 23): a connection past its client address's cap, a request past the address's
in-flight cap or the deployment's upstream budget, and a body with no Authorization header
are answered by the gateway (429, 401) and reach no node; a body past its deadline or below
its minimum rate is answered 408 by the connection's timer. Every answer is counted in the
worker's `WorkerStats` (`metrics`).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

import httptools
import structlog

from citadel.gateway.activity import ProjectRequests
from citadel.gateway.admission import UNKNOWN_CLIENT, Admission
from citadel.gateway.connection import ConnectionContext
from citadel.gateway.decisions import ConnectionDecisions
from citadel.gateway.ingest import ingest_verdict
from citadel.gateway.listener import ProxyListener, ProxyListenerConfig
from citadel.gateway.metrics import (
    LATENCY,
    LATENCY_BUCKETS_S,
    NO_DEPLOYMENT,
    RECEIVED,
    REQUESTS,
    SENT,
    WorkerStats,
    bucket_of,
)
from citadel.gateway.node_reach import split_node_address
from citadel.gateway.recent_clients import RecentClients
from citadel.gateway.request_ids import RequestIds
from citadel.gateway.responses import (
    RETRY_AFTER,
    WWW_AUTHENTICATE,
    RejectCode,
    error_response,
    traffic_filter_response,
)
from citadel.gateway.routing import INGEST, Decision, Reason, Route, RouteState
from citadel.gateway.security_events import DeniedConnections
from citadel.gateway.snapshot import ControlPlane, SnapshotKeeper
from citadel.gateway.unix_sockets import short_socket_path
from citadel.gateway.wake import MAX_HELD, MAX_HELD_PER_PROJECT, WakeOutcome, Waker

log = structlog.get_logger("citadel.gateway")

ALLOWED_METHODS = frozenset({b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS"})
ALLOW = b"allow: GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS"
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Set by the gateway, never taken from the client.
REQUEST_DROPPED = HOP_BY_HOP | {
    b"content-length",
    b"expect",
    b"forwarded",
    b"x-forwarded-for",
    b"x-forwarded-host",
    b"x-forwarded-proto",
    b"x-real-ip",
    b"x-request-id",
    b"x-found-cluster",
}
RESPONSE_DROPPED = HOP_BY_HOP | {b"content-length", b"server"}
_BODYLESS_STATUS = frozenset({204, 304})
# Decisions whose request goes on to a node: at once, or once its project is awake.
_FORWARDED = frozenset({Reason.FOUND, Reason.ASLEEP})


@dataclass(frozen=True)
class Limits:
    """Sizes, timeouts and caps; the defaults suit production, tests shorten the timeouts.

    The caps (`admission`) are one worker's: `citadel.roots.gateway` divides the settings'
    gateway-wide figures over the workers. A body must arrive within `body_deadline_s` and,
    once `body_rate_grace_s` have passed, at `body_min_rate` bytes per second on average;
    time the gateway itself stops reading (back-pressure from the node) does not count."""

    max_head_bytes: int = 16 * 1024
    max_headers: int = 100
    header_timeout_s: float = 10.0
    idle_timeout_s: float = 60.0
    body_timeout_s: float = 60.0
    connect_timeout_s: float = 5.0
    upstream_timeout_s: float = 120.0
    upstream_idle_s: float = 4.0  # below the node's keep-alive timeout (5 s)
    max_idle_per_deployment: int = 64
    max_buffered_bytes: int = 1024 * 1024
    max_connections_per_client: int = 256
    max_requests_per_client: int = 64
    max_upstreams_per_deployment: int = 1024  # below a node's 4,096 descriptors
    body_deadline_s: float = 300.0
    body_min_rate: int = 1024
    body_rate_grace_s: float = 10.0
    # Serverless projects: how long a request is held while its project wakes, and how many
    # may be held at once (per project, and in all).
    wake_timeout_s: float = 60.0
    max_held_per_project: int = MAX_HELD_PER_PROJECT
    max_held: int = MAX_HELD


class UpstreamFailure(StrEnum):
    """Why a forwarded request got no answer from its node: the access log's ``reason``."""

    CONNECT_TIMEOUT = "upstream_connect_timeout"
    CONNECT_FAILED = "upstream_connect_failed"
    CLOSED = "upstream_closed"
    PROTOCOL_ERROR = "upstream_protocol_error"


class _Reject(Exception):
    """Raised inside a parser callback to stop parsing and answer with a status."""

    def __init__(
        self, status: int, code: RejectCode, message: str, headers: tuple[bytes, ...] = ()
    ) -> None:
        super().__init__(code)
        self.status, self.code, self.message = status, code, message
        self.headers = headers


# The gateway's own answers' reasons (the `RejectCode` is their type): what happened, and
# what to do about it. Constants, so `responses` renders each body once.
_MALFORMED = "The request is not well-formed HTTP/1.1; the connection is closed."
_NO_UPGRADE = "Protocol upgrades (WebSocket, HTTP/2 over cleartext) are not supported."
_HEAD_TOO_LARGE = "The request headers are larger than the gateway accepts."
_UPSTREAM_TIMEOUT = (
    "The deployment did not answer in time; retry, and check the deployment's health if this "
    "persists."
)
_UPSTREAM_REASONS = {
    RejectCode.UPSTREAM_TIMEOUT: (
        "The deployment could not be reached in time; it may be starting or overloaded. Retry "
        "shortly."
    ),
    RejectCode.UPSTREAM_UNAVAILABLE: (
        "The deployment could not be reached; it may be restarting. Retry shortly."
    ),
    RejectCode.UPSTREAM_PROTOCOL_ERROR: (
        "The deployment's answer was not valid HTTP; retry, and report it if this persists."
    ),
}
_NOT_FOUND = (
    "No deployment matches this request's host name or X-Found-Cluster header; check the "
    "deployment's endpoint or Cloud ID."
)
_NOT_RUNNING = (
    "The deployment is not serving: it is starting, stopping, stopped or being deleted. Its "
    "state is shown in the console and the deployments API."
)
_MISDIRECTED = (
    "The TLS server name (SNI) names neither the deployment the request is for nor the "
    "gateway; use the deployment's endpoint for both SNI and Host."
)
_MISSING_CREDENTIALS = (
    "The request has a body but no Authorization header; send credentials (Basic or ApiKey)."
)
_DUPLICATE_AUTHORIZATION = "The request has more than one Authorization header; send one."
_ANONYMOUS_WAKE = (
    "The project is stopped and the request has no Authorization header; send credentials "
    "(Basic or ApiKey): an anonymous request does not start a project."
)
_DUPLICATE_FOUND_CLUSTER = "The request has more than one X-Found-Cluster header; send one."
_TOO_MANY_CONNECTIONS = (
    "Too many open connections from this client address; close idle ones or reuse them."
)
_TOO_MANY_REQUESTS = "Too many requests in flight from this client address; retry shortly."
_DEPLOYMENT_BUSY = "The deployment has too many requests in flight; retry shortly."
_BODY_DEADLINE = "The request body did not arrive in time; the connection is closed."
_BODY_TOO_SLOW = "The request body arrives too slowly; the connection is closed."
_KIBANA = (
    "Kibana is not part of Citadel: a project's kb endpoint serves nothing. Use the project's "
    "elasticsearch endpoint (<alias>.es.<region>.<domain>) for the Elasticsearch APIs."
)
_NOT_INGEST = (
    "The ingest endpoint accepts bulk and index requests only (/_bulk, /{index}/_bulk, "
    "/{index}/_doc, /{index}/_doc/{id}, /{index}/_create/{id}); use the project's "
    "elasticsearch endpoint for other requests."
)
_INGEST_METHOD = (
    "The ingest endpoint does not take this method at this path; the Allow header lists the "
    "ones it takes."
)
_WAKE_BUSY = (
    "The project is starting and too many requests are already waiting for it; retry shortly."
)
_WAKE_TIMEOUT = "The project is starting and was not ready in time; retry shortly."
_WAKE_FAILED = (
    "The project is stopped and could not be started now (the platform did not answer); "
    "retry shortly."
)
_PROJECT_NOT_RUNNING = (
    "The project is not serving: it is being created, deleted or suspended. Its phase is "
    "shown in the console and the serverless projects API."
)


def server_ssl_context(cert_file: str, key_file: str, password: bytes | None) -> ssl.SSLContext:
    """TLS 1.2 minimum, AEAD ciphers with forward secrecy only, HTTP/1.1 by ALPN."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.load_cert_chain(cert_file, key_file, password=password)
    ctx.set_alpn_protocols(["http/1.1"])
    ctx.sni_callback = _remember_sni
    return ctx


def upstream_ssl_context(
    ca_file: str, cert_file: str, key_file: str, password: bytes | None
) -> ssl.SSLContext:
    """The gateway as a client of the nodes: platform CA, component certificate."""
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_file, key_file, password=password)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def _remember_sni(ssl_object: ssl.SSLObject, server_name: str | None, _: object) -> None:
    ssl_object.citadel_sni = server_name  # type: ignore[attr-defined]


class Gateway:
    """Shared state of one gateway process: routes, upstream pool, limits, counters.

    `server_names` are the TLS server names that are the gateway's own besides the domain and
    `<region>.<domain>` (`routing.names_gateway`): a balancer's name, for instance."""

    def __init__(
        self,
        keeper: SnapshotKeeper,
        upstream_ssl: ssl.SSLContext,
        *,
        limits: Limits | None = None,
        node_server_name: str = "{id}.node.citadel.internal",
        access_log: bool = True,
        server_names: frozenset[str] = frozenset({"localhost"}),
    ) -> None:
        self.keeper = keeper
        self.upstream_ssl = upstream_ssl
        self.limits = limits = limits or Limits()
        self.node_server_name = node_server_name
        self.access_log = access_log  # off: only refusals and failures are logged
        self.server_names = frozenset(name.lower().rstrip(".") for name in server_names)
        self.admission = Admission(
            max_connections_per_client=limits.max_connections_per_client,
            max_requests_per_client=limits.max_requests_per_client,
            max_upstreams_per_deployment=limits.max_upstreams_per_deployment,
        )
        self.stats = WorkerStats()
        self.upstreams: dict[str, set[UpstreamConnection]] = {}  # open, by `Route.upstream`
        self.idle: dict[str, deque[UpstreamConnection]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.connecting: set[asyncio.Future[None]] = set()
        self.clients = RecentClients()
        self.denied = DeniedConnections()  # traffic-filter refusals, for the audit trail
        self.request_ids = RequestIds()
        self.activity = ProjectRequests()  # projects forwarded to, for the idle report
        self.waker = Waker(
            self.stats,
            timeout_s=limits.wake_timeout_s,
            max_held_per_project=limits.max_held_per_project,
            max_held=limits.max_held,
            current_route=lambda deployment_id: self.keeper.table.by_id(deployment_id),
        )

    async def serve(
        self, host: str, port: int, server_ssl: ssl.SSLContext, *, reuse_port: bool = False
    ) -> asyncio.AbstractServer:
        """Listen for TLS clients; with `reuse_port` beside the other workers' listeners
        (SO_REUSEPORT: the kernel spreads new connections over the workers)."""
        self.loop = asyncio.get_running_loop()
        return await self.loop.create_server(
            lambda: ClientConnection(self),
            host,
            port,
            ssl=server_ssl,
            backlog=1024,
            ssl_handshake_timeout=self.limits.header_timeout_s,
            reuse_port=reuse_port or None,
        )

    async def serve_proxy(
        self, config: ProxyListenerConfig, server_ssl: ssl.SSLContext
    ) -> ProxyListener:
        """Start the PROXY-protocol listener: the same TLS and HTTP, behind a balancer."""
        self.loop = asyncio.get_running_loop()
        listener = ProxyListener(
            config,
            lambda context: ClientConnection(self, context),
            server_ssl,
            ssl_handshake_timeout=self.limits.header_timeout_s,
        )
        await listener.start()
        return listener

    # --- upstream pool -------------------------------------------------------------
    def take_idle(self, route: Route) -> UpstreamConnection | None:
        idle = self.idle.get(route.upstream)
        if not idle:
            return None
        assert self.loop is not None
        now = self.loop.time()
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < self.limits.upstream_idle_s:
                return conn
            conn.close()
        return None

    def give_back(self, conn: UpstreamConnection) -> None:
        assert self.loop is not None
        idle = self.idle.setdefault(conn.upstream, deque())
        if conn.closed or len(idle) >= self.limits.max_idle_per_deployment:
            conn.close()
            return
        conn.owner = None
        conn.reclaimable = True
        conn.idle_since = self.loop.time()
        idle.append(conn)

    def forget(self, conn: UpstreamConnection) -> None:
        idle = self.idle.get(conn.upstream)
        if idle and conn in idle:
            idle.remove(conn)

    def close_idle(self) -> None:
        """Close pooled upstream connections (at shutdown)."""
        for idle in self.idle.values():
            while idle:
                idle.pop().close()

    def reserve_upstream(self, upstream: str) -> bool:
        """Room for one more connection to this node (`Route.upstream`) within its budget,
        if need be by closing one that is idle (pooled, or kept by a client connection). The
        reservation passes to the connection `connect` opens, or is released if it fails."""
        if self.admission.reserve_upstream(upstream):
            return True
        for conn in self.upstreams.get(upstream, ()):
            if conn.owner is None and conn.reclaimable and not conn.closed:
                conn.close()  # releases its place (and leaves this loop: the set changed)
                return self.admission.reserve_upstream(upstream)
        return False

    def upstream_opened(self, conn: UpstreamConnection) -> None:
        """A connection `reserve_upstream` made room for is open: it holds the place."""
        conn.counted = True
        self.upstreams.setdefault(conn.upstream, set()).add(conn)
        self.stats.upstream_connections += 1

    def upstream_closed(self, conn: UpstreamConnection) -> None:
        """An open connection closed: its place is free (once, however often it is called)."""
        if not conn.counted:
            return
        conn.counted = False
        self.admission.release_upstream(conn.upstream)
        self.stats.upstream_connections -= 1
        open_ = self.upstreams.get(conn.upstream)
        if open_ is not None:
            open_.discard(conn)
            if not open_:
                del self.upstreams[conn.upstream]

    async def connect(self, route: Route) -> UpstreamConnection:
        """Open a connection to the route's node, on a place `reserve_upstream` made: over
        TCP to its `node_address` when it has one (a node on another host), else on its
        unix socket; the same TLS (the gateway's client certificate, the node's name)."""
        assert self.loop is not None
        made: list[UpstreamConnection] = []

        def protocol() -> UpstreamConnection:
            conn = UpstreamConnection(self, route.upstream)
            made.append(conn)
            return conn

        server_name = self.node_server_name.format(id=route.id)
        timeout = self.limits.connect_timeout_s
        try:
            if route.node_address:
                host, port = split_node_address(route.node_address)
                _, conn = await asyncio.wait_for(
                    self.loop.create_connection(
                        protocol,
                        host,
                        port,
                        ssl=self.upstream_ssl,
                        server_hostname=server_name,
                        ssl_handshake_timeout=timeout,
                    ),
                    timeout,
                )
            else:
                with short_socket_path(route.node_socket) as path:
                    _, conn = await asyncio.wait_for(
                        self.loop.create_unix_connection(
                            protocol,
                            path,
                            ssl=self.upstream_ssl,
                            server_hostname=server_name,
                            ssl_handshake_timeout=timeout,
                        ),
                        timeout,
                    )
        except BaseException:
            if not any(c.counted for c in made):
                self.admission.release_upstream(route.upstream)
            raise
        return conn


class UpstreamConnection(asyncio.Protocol):
    """One TLS connection to a node; parses responses and hands them to its owner."""

    def __init__(self, gateway: Gateway, upstream: str) -> None:
        self.gateway = gateway
        self.upstream = upstream  # where its node is reached (`Route.upstream`)
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.owner: ClientConnection | None = None
        self.closed = False
        self.idle_since = 0.0
        self.counted = False  # holds a place in the deployment's upstream budget
        self.reclaimable = False  # idle (pooled or kept): may be closed to make room
        self._headers: list[tuple[bytes, bytes]] = []
        self._reason = b""
        self._out: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's SSL transport
        self.gateway.upstream_opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.gateway.upstream_closed(self)
        if self.owner is not None:
            owner, self.owner = self.owner, None
            owner.upstream_lost(self)
        else:
            self.gateway.forget(self)

    def close(self) -> None:
        self.closed = True
        self.owner = None
        self.gateway.upstream_closed(self)
        if self.transport is not None:
            self.transport.close()

    def write(self, data: bytes) -> None:
        """Queue bytes for the node; `flush` sends them as one TLS write."""
        self._out.append(data)

    def flush(self) -> None:
        if self._out and self.transport is not None and not self.closed:
            self.transport.write(b"".join(self._out) if len(self._out) > 1 else self._out[0])
        self._out.clear()

    def reset_parser(self) -> None:
        """After a bodiless response (HEAD, 204, 304) the parser may expect a body."""
        self.parser = httptools.HttpResponseParser(self)

    def pause_writing(self) -> None:
        if self.owner is not None:
            self.owner.pause_reading()

    def resume_writing(self) -> None:
        if self.owner is not None:
            self.owner.resume_reading()

    def data_received(self, data: bytes) -> None:
        owner = self.owner
        if owner is None:
            self.close()  # bytes nobody asked for: this connection is out of step
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.owner = None
            self.close()
            owner.upstream_failed(UpstreamFailure.PROTOCOL_ERROR)
        owner.flush()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._headers = []

    def on_status(self, status: bytes) -> None:
        self._reason = status

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self.owner is not None:
            self.owner.response_head(
                self.parser.get_status_code(), self._reason, self._headers, self
            )

    def on_body(self, body: bytes) -> None:
        if self.owner is not None:
            self.owner.response_body(body)

    def on_message_complete(self) -> None:
        if self.owner is not None:
            self.owner.response_complete(self, self.parser.should_keep_alive())


class _Exchange:
    """One request and its response."""

    __slots__ = (
        "admitted",
        "authorized",
        "chunked",
        "connection_named",
        "content_length",
        "decision",
        "expect_continue",
        "forward",
        "forwarded_at",
        "found_cluster",
        "head_size",
        "headers",
        "held",
        "holds",
        "host",
        "http_10",
        "keep_alive",
        "latency",
        "method",
        "pending",
        "request_done",
        "request_id",
        "response_chunked",
        "response_started",
        "response_until_close",
        "started",
        "status",
        "upstream",
        "url",
    )

    def __init__(self, started: float, request_id: str) -> None:
        self.method = b""
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.forward: list[tuple[bytes, bytes]] = []  # (lowercase name, header line)
        self.connection_named: set[bytes] = set()
        self.head_size = 0
        self.request_id = request_id
        self.started = started
        self.decision: Decision | None = None
        self.keep_alive = True
        self.chunked = False
        self.content_length: bytes | None = None
        self.pending: list[bytes] = []
        self.request_done = False
        self.upstream: UpstreamConnection | None = None
        self.response_started = False
        self.response_chunked = False
        self.response_until_close = False
        self.status = 0
        self.expect_continue = False
        self.host: str | None = None
        self.found_cluster: str | None = None
        self.http_10 = False
        self.authorized = False  # one Authorization header
        self.admitted = False  # counted in its client's requests in flight
        self.forwarded_at = 0.0  # loop time it was sent on to its node
        self.latency = -1.0  # from then to the node's response head; -1: not answered by one
        self.held: asyncio.Future[None] | None = None  # waiting for its project to wake
        self.holds = 0  # how often it was held (a node dying under it is waited for once more)


_PEER_NOT_YET_KNOWN = ConnectionContext.direct(None)  # until connection_made reads it


class ClientConnection(asyncio.Protocol):
    """One downstream connection: parse, check, route, filter, forward, in order.

    `context` is given by the PROXY listener; on the direct listener it is the socket peer."""

    def __init__(self, gateway: Gateway, context: ConnectionContext | None = None) -> None:
        self.gateway = gateway
        self.limits = gateway.limits
        self.loop = gateway.loop or asyncio.get_event_loop()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.context = context or _PEER_NOT_YET_KNOWN
        self.log_fields = context.log_fields() if context else {}
        self.forwarded_for = b"x-forwarded-for: unknown\r\nx-forwarded-proto: https"
        self.reached: list[str] = []  # deployments this connection was admitted to
        self.sni: str | None = None
        self.decisions = ConnectionDecisions(None, self.context.client)
        self.kept: UpstreamConnection | None = None  # idle upstream kept for the next request
        self.parsing: _Exchange | None = None  # the request whose bytes are arriving
        self.queue: deque[_Exchange] = deque()  # parsed heads, served in order
        self.last_activity = 0.0
        self.head_started: float | None = None
        self.head_bytes = 0
        self.closing = False
        self.reading_paused = False
        self.write_paused = False
        self._timer: asyncio.TimerHandle | None = None
        self._out: list[bytes] = []
        self.admission = gateway.admission
        self.in_flight = gateway.admission.requests  # requests in flight per client address
        self.max_in_flight = gateway.limits.max_requests_per_client
        self.stats = gateway.stats
        # The stats cell of the last answer, with its decision and status: the next answer
        # with the same ones counts there without a lookup.
        self._cell: list[float] = []
        self._cell_decision: Decision | None = None
        self._cell_status = -1
        self.client_key = UNKNOWN_CLIENT  # the client address the caps count by
        self.counted = False  # counted in its client's connections
        self.over_capacity = False  # past its client's connection cap: answered 429
        self.received = 0  # bytes from the client since the last answer was counted
        self.sent = 0  # bytes to the client since the last answer was counted
        self.body_started: float | None = None  # loop time the current body began
        self.body_bytes = 0
        self.paused_at = 0.0
        self.paused_s = 0.0  # of the current body, time reading was paused by the gateway

    # --- connection --------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's SSL transport
        if self.context.peer_ip is None:
            peer = transport.get_extra_info("peername")
            self.context = ConnectionContext.direct(
                str(peer[0]) if isinstance(peer, tuple) else None
            )
            self.log_fields = self.context.log_fields()
        client_ip = (self.context.client.ip or "unknown").encode()
        self.forwarded_for = b"x-forwarded-for: %s\r\nx-forwarded-proto: https" % client_ip
        ssl_object = transport.get_extra_info("ssl_object")
        self.sni = getattr(ssl_object, "citadel_sni", None)
        # SNI and client are fixed from here on: decisions are cached per connection
        self.decisions = ConnectionDecisions(
            self.sni, self.context.client, self.gateway.server_names
        )
        self.client_key = self.context.client.ip or UNKNOWN_CLIENT
        self.counted = self.admission.open_connection(self.client_key)
        self.over_capacity = not self.counted
        self.stats.client_connections += 1
        self.last_activity = self.loop.time()
        self._arm_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        if self._timer is not None:
            self._timer.cancel()
        if self.transport is not None:
            self.stats.client_connections -= 1
        if self.counted:
            self.counted = False
            self.admission.close_connection(self.client_key)
        for deployment_id in self.reached:
            self.gateway.clients.disconnected(deployment_id, self.context.client)
        self.reached.clear()
        if self.kept is not None:
            kept, self.kept = self.kept, None
            self.gateway.give_back(kept)  # idle and in step: other connections may use it
        for exchange in self.queue:
            self._release(exchange)
            if exchange.held is not None:
                exchange.held.cancel()  # its place among the held is free at once
            if exchange.upstream is not None:
                exchange.upstream.close()  # a half-done exchange: never reuse it
                exchange.upstream = None
        self.queue.clear()

    def pause_writing(self) -> None:
        self.write_paused = True
        up = self.queue[0].upstream if self.queue else None
        if up is not None and up.transport is not None:
            up.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        up = self.queue[0].upstream if self.queue else None
        if up is not None and up.transport is not None:
            up.transport.resume_reading()

    def pause_reading(self) -> None:
        if not self.reading_paused and self.transport is not None and not self.closing:
            self.reading_paused = True
            self.paused_at = self.loop.time()
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.reading_paused and self.transport is not None and not self.closing:
            self.reading_paused = False
            self.paused_s += self.loop.time() - self.paused_at
            self.transport.resume_reading()

    # --- timeouts: one timer per connection --------------------------------------
    def _arm_timer(self) -> None:
        tick = min(self.limits.header_timeout_s, 1.0) / 2
        self._timer = self.loop.call_later(tick, self._on_tick)

    def _on_tick(self) -> None:
        if self.closing:
            return
        now = self.loop.time()
        idle_for = now - self.last_activity
        front = self.queue[0] if self.queue else None
        limits = self.limits
        body_s = self._body_seconds(now)
        if self.head_started is not None and now - self.head_started > limits.header_timeout_s:
            self._fail_connection(
                408,
                RejectCode.HEADER_TIMEOUT,
                "The request headers did not arrive in time; the connection is closed.",
            )
        elif body_s is not None and body_s > limits.body_deadline_s:
            self._fail_connection(408, RejectCode.BODY_TIMEOUT, _BODY_DEADLINE)
        elif (
            body_s is not None
            and body_s > limits.body_rate_grace_s
            and self.body_bytes < limits.body_min_rate * body_s
        ):
            self._fail_connection(408, RejectCode.BODY_TOO_SLOW, _BODY_TOO_SLOW)
        elif (
            self.parsing is not None
            and self.head_started is None
            and (idle_for > limits.body_timeout_s)
        ):
            self._fail_connection(
                408,
                RejectCode.BODY_TIMEOUT,
                "The request body did not arrive in time; the connection is closed.",
            )
        elif front is not None and front.held is None and idle_for > limits.upstream_timeout_s:
            self._fail_connection(504, RejectCode.UPSTREAM_TIMEOUT, _UPSTREAM_TIMEOUT)
        elif front is None and self.parsing is None and idle_for > limits.idle_timeout_s:
            self._close()
        else:
            self._arm_timer()

    def _body_seconds(self, now: float) -> float | None:
        """How long the current request body has been arriving, less the time the gateway
        paused reading it; None between bodies."""
        if self.body_started is None:
            return None
        paused = self.paused_s + (now - self.paused_at if self.reading_paused else 0.0)
        return now - self.body_started - paused

    # --- request parsing -----------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.received += len(data)
        self._parse(data)
        self.flush()

    def _parse(self, data: bytes) -> None:
        self.last_activity = self.loop.time()
        if self.head_started is not None or self.parsing is None:
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except _Reject as exc:
            self._reject(exc)
            return
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__ or exc.__cause__
            if isinstance(cause, _Reject):
                self._reject(cause)
            else:
                self._reject(_Reject(400, RejectCode.MALFORMED, _MALFORMED))
            return
        except httptools.HttpParserUpgrade:
            self._reject(_Reject(400, RejectCode.UPGRADE, _NO_UPGRADE))
            return
        except httptools.HttpParserInvalidMethodError:
            self._reject(_Reject(400, RejectCode.MALFORMED, _MALFORMED))
            return
        except httptools.HttpParserError:
            self._reject(_Reject(400, RejectCode.MALFORMED, _MALFORMED))
            return
        if self.head_started is not None and self.head_bytes > self.limits.max_head_bytes * 2:
            self._reject(_Reject(431, RejectCode.HEADER_TOO_LARGE, _HEAD_TOO_LARGE))

    def on_message_begin(self) -> None:
        if self.head_started is None:
            self.head_started = self.loop.time()
        self.parsing = _Exchange(time.monotonic(), self.gateway.request_ids.next())

    def on_url(self, url: bytes) -> None:
        ex = self.parsing
        assert ex is not None
        ex.url += url
        ex.head_size += len(url)
        if ex.head_size > self.limits.max_head_bytes:
            raise _Reject(
                414,
                RejectCode.URI_TOO_LONG,
                "The request URI is too long; send large queries in the request body.",
            )

    def on_header(self, name: bytes, value: bytes) -> None:
        ex = self.parsing
        assert ex is not None
        ex.headers.append((name, value))
        ex.head_size += len(name) + len(value) + 4
        if len(ex.headers) > self.limits.max_headers:
            raise _Reject(
                431,
                RejectCode.TOO_MANY_HEADERS,
                "The request has more headers than the gateway accepts.",
            )
        if ex.head_size > self.limits.max_head_bytes:
            raise _Reject(431, RejectCode.HEADER_TOO_LARGE, _HEAD_TOO_LARGE)

    def on_headers_complete(self) -> None:
        ex = self.parsing
        assert ex is not None
        if self.over_capacity:
            raise _Reject(
                429, RejectCode.TOO_MANY_CONNECTIONS, _TOO_MANY_CONNECTIONS, (RETRY_AFTER,)
            )
        self.head_started = None
        self.head_bytes = 0
        parser = self.parser
        ex.method = parser.get_method()
        ex.http_10 = parser.get_http_version() != "1.1"
        ex.keep_alive = parser.should_keep_alive()
        self._check_head(ex)
        decision = self.decisions.decide(self.gateway.keeper.table, ex.host, ex.found_cluster)
        if decision.app == INGEST and decision.reason in _FORWARDED:
            ingest = ingest_verdict(ex.method, ex.url)
            if not ingest.allowed:
                reason = Reason.INGEST_METHOD if ingest.methods else Reason.NOT_INGEST
                decision = Decision(reason, decision.route, decision.verdict, decision.app)
        has_body = ex.chunked or (ex.content_length is not None and ex.content_length != b"0")
        if has_body:
            self.body_started = self.paused_at = self.loop.time()
            self.body_bytes = 0
            self.paused_s = 0.0
            if not ex.authorized and decision.reason in _FORWARDED:
                # Anonymous access is no feature: the node never reads such a body.
                decision = Decision(Reason.UNAUTHENTICATED, decision.route, decision.verdict)
        if not ex.authorized and decision.reason is Reason.ASLEEP:
            # The node would answer 401: an anonymous request never wakes a project.
            decision = Decision(Reason.UNAUTHENTICATED, decision.route, decision.verdict)
        ex.decision = decision
        self.queue.append(ex)
        if len(self.queue) == 1:
            self._start(ex)

    def _check_head(self, ex: _Exchange) -> None:
        if parser_version_bad(self.parser.get_http_version()):
            raise _Reject(505, RejectCode.HTTP_VERSION, "Only HTTP/1.1 and HTTP/1.0 are supported.")
        if ex.method not in ALLOWED_METHODS:
            raise _Reject(
                405,
                RejectCode.METHOD_NOT_ALLOWED,
                "The method is not allowed; use GET, HEAD, POST, PUT, DELETE, PATCH or OPTIONS.",
                (ALLOW,),
            )
        if not ex.url.startswith(b"/"):
            raise _Reject(
                400,
                RejectCode.TARGET,
                "The request target must be a path, not an absolute URL or '*'.",
            )
        content_lengths, transfer_encodings, hosts = [], [], []
        authorizations = 0
        forward = ex.forward
        for name, value in ex.headers:
            lname = name.lower()
            if lname not in REQUEST_DROPPED:
                forward.append((lname, name + b": " + value))
                if lname == b"host":
                    hosts.append(value)
                elif lname == b"authorization":
                    authorizations += 1
            elif lname == b"connection":
                ex.connection_named.update(t.strip().lower() for t in value.split(b","))
            elif lname == b"content-length":
                content_lengths.append(value)
            elif lname == b"transfer-encoding":
                transfer_encodings.append(value)
            elif lname == b"x-found-cluster":
                if ex.found_cluster is not None:  # never first- or last-wins
                    raise _Reject(400, RejectCode.DUPLICATE_FOUND_CLUSTER, _DUPLICATE_FOUND_CLUSTER)
                ex.found_cluster = value.decode("latin-1")
            elif lname == b"expect":
                if value.strip().lower() != b"100-continue":
                    raise _Reject(
                        417,
                        RejectCode.EXPECTATION,
                        "The only expectation supported is 'Expect: 100-continue'.",
                    )
                ex.expect_continue = True
            elif lname == b"upgrade":
                raise _Reject(400, RejectCode.UPGRADE, _NO_UPGRADE)
        if transfer_encodings and content_lengths:
            raise _Reject(
                400,
                RejectCode.FRAMING,
                "The request has both Content-Length and Transfer-Encoding; send one.",
            )
        if len(content_lengths) > 1:
            raise _Reject(
                400, RejectCode.FRAMING, "The request has more than one Content-Length header."
            )
        if content_lengths:
            value = content_lengths[0].strip()
            if not value.isdigit() or len(value) > 15:
                raise _Reject(
                    400, RejectCode.FRAMING, "The request's Content-Length is not a number."
                )
            ex.content_length = value
        if transfer_encodings:
            if (
                len(transfer_encodings) != 1
                or transfer_encodings[0].strip().lower() != b"chunked"
                or ex.http_10
            ):
                raise _Reject(
                    400, RejectCode.FRAMING, "The only transfer encoding supported is 'chunked'."
                )
            ex.chunked = True
        if authorizations > 1:  # which credentials would the node check? Neither.
            raise _Reject(
                401,
                RejectCode.DUPLICATE_AUTHORIZATION,
                _DUPLICATE_AUTHORIZATION,
                (WWW_AUTHENTICATE,),
            )
        ex.authorized = authorizations == 1
        if len(hosts) > 1:
            raise _Reject(400, RejectCode.HOST, "The request has more than one Host header.")
        if hosts:
            ex.host = hosts[0].decode("latin-1")
        elif not ex.http_10:
            raise _Reject(
                400, RejectCode.HOST, "The request has no Host header; HTTP/1.1 requires one."
            )

    def on_body(self, body: bytes) -> None:
        self.body_bytes += len(body)
        ex = self.parsing
        if ex is None or ex.decision is None or ex.decision.reason not in _FORWARDED:
            return  # the body of a request answered by the gateway itself is discarded
        data = b"%x\r\n%s\r\n" % (len(body), body) if ex.chunked else body
        if ex.upstream is not None:
            ex.upstream.write(data)
        else:
            ex.pending.append(data)
            if sum(map(len, ex.pending)) > self.limits.max_buffered_bytes:
                self.pause_reading()

    def on_message_complete(self) -> None:
        ex = self.parsing
        self.parsing = None
        self.body_started = None
        if ex is None:
            return
        ex.request_done = True
        if ex.chunked and ex.decision is not None and ex.decision.reason in _FORWARDED:
            if ex.upstream is not None:
                ex.upstream.write(b"0\r\n\r\n")
            else:
                ex.pending.append(b"0\r\n\r\n")
        if len(self.queue) > 1:
            self.pause_reading()  # pipelined: let the earlier responses catch up
        decision = ex.decision
        if (
            self.queue
            and self.queue[0] is ex
            and decision
            and decision.reason not in _FORWARDED
            and ex.held is None
        ):
            self._start(ex)  # its body is read (and dropped): answer, keep the connection

    # --- serving -------------------------------------------------------------------
    def _start(self, ex: _Exchange) -> None:
        """Begin serving the exchange at the front of the queue."""
        decision = ex.decision
        assert decision is not None
        self.last_activity = now = self.loop.time()
        if decision.reason is Reason.ASLEEP:
            self._hold(ex, decision)
            return
        if decision.reason is not Reason.FOUND:
            if ex.request_done:
                self._answer(ex, decision)
            return  # answered once its body has been read past
        route = decision.route
        assert route is not None
        in_flight, key = self.in_flight, self.client_key
        count = in_flight.get(key, 0)
        if count >= self.max_in_flight:
            self._refuse(ex, Reason.CLIENT_BUSY)
            return
        in_flight[key] = count + 1
        ex.admitted = True
        upstream = self._kept_for(route) or self.gateway.take_idle(route)
        if upstream is None and not self.gateway.reserve_upstream(route.upstream):
            self._refuse(ex, Reason.DEPLOYMENT_BUSY)
            return
        if route.id not in self.reached:
            self.reached.append(route.id)
            self.gateway.clients.connected(route.id, self.context.client)
        if route.project is not None and ex.authorized:
            self.gateway.activity.forwarded(route.id)  # anonymous requests keep nothing warm
        if ex.expect_continue:
            ex.expect_continue = False  # once, even if a woken project's request is held again
            self._write(b"HTTP/1.1 100 Continue\r\n\r\n")
        ex.forwarded_at = now
        if upstream is not None:
            self._attach(ex, upstream)
        else:
            task = asyncio.ensure_future(self._connect(ex, route))
            self.gateway.connecting.add(task)
            task.add_done_callback(self.gateway.connecting.discard)

    def _hold(self, ex: _Exchange, decision: Decision) -> None:
        """Hold a request for a stopped project while it wakes (`wake`): forwarded once its
        node accepts, answered 503 if it does not in time or too many are held already. Its
        body, if any, is buffered meanwhile as for a request waiting for its upstream."""
        route = decision.route
        assert route is not None
        waker = self.gateway.waker
        if not waker.hold(route.id):
            self._stop_holding(ex, Decision(Reason.WAKE_BUSY, route, decision.verdict))
            return
        held = asyncio.ensure_future(self._wait_awake(ex, decision, probe=ex.holds == 0))
        ex.held = held
        ex.holds += 1
        held.add_done_callback(lambda _: waker.release(route.id))

    async def _wait_awake(self, ex: _Exchange, decision: Decision, *, probe: bool) -> None:
        route = decision.route
        assert route is not None
        try:
            outcome = await self.gateway.waker.ready(route, probe=probe)
        finally:
            ex.held = None
        if self.closing or not self.queue or self.queue[0] is not ex:
            return
        if outcome is WakeOutcome.READY:
            # Decided afresh: a snapshot installed meanwhile (a filter changed) applies.
            fresh = self.decisions.decide(self.gateway.keeper.table, ex.host, ex.found_cluster)
            if (
                fresh.reason in _FORWARDED
                and fresh.route is not None
                and fresh.route.id == route.id
            ):
                ex.decision = Decision(Reason.FOUND, fresh.route, fresh.verdict, fresh.app)
                self._start(ex)
            else:
                self._stop_holding(ex, fresh)
        elif outcome is WakeOutcome.WONT_RUN:
            self._stop_holding(ex, Decision(Reason.NOT_RUNNING, route, decision.verdict))
        elif outcome is WakeOutcome.TIMED_OUT:
            self._stop_holding(ex, Decision(Reason.WAKE_TIMEOUT, route, decision.verdict))
        else:
            self._stop_holding(ex, Decision(Reason.WAKE_FAILED, route, decision.verdict))
        self.flush()

    def _hold_again(self, ex: _Exchange, route: Route) -> None:
        """A project's node refused the connection, or (woken) accepted and failed it before
        anything was sent (it was stopping, or restarting): hold the request (once more), so
        the wake starts the node again and the request waits for it, instead of a 502."""
        if self.closing or not self.queue or self.queue[0] is not ex:
            return
        self._release(ex)
        decision = ex.decision
        assert decision is not None
        ex.decision = Decision(Reason.ASLEEP, route, decision.verdict, decision.app)
        self._hold(ex, ex.decision)
        self.flush()

    def _stop_holding(self, ex: _Exchange, decision: Decision) -> None:
        """Answer a held (or never held) request by the gateway: at once, or once the rest
        of its body has been read past (and dropped)."""
        ex.decision = decision
        ex.pending.clear()
        if ex.request_done:
            self._answer(ex, decision)
        else:
            self.resume_reading()

    def _refuse(self, ex: _Exchange, reason: Reason) -> None:
        """Answer a routed request by the gateway instead of forwarding it (a limit): at
        once, or once its body has been read past (and dropped)."""
        self._release(ex)
        decision = ex.decision
        assert decision is not None
        ex.decision = Decision(reason, decision.route, decision.verdict)
        if ex.request_done:
            self._answer(ex, ex.decision)

    def _release(self, ex: _Exchange) -> None:
        """The exchange is no longer in flight: its client may have another."""
        if ex.admitted:
            ex.admitted = False
            self.admission.end_request(self.client_key)

    def _kept_for(self, route: Route) -> UpstreamConnection | None:
        """The upstream this connection's last response came on, if it leads to the same
        node and is still fresh; otherwise it goes back to the shared pool."""
        kept = self.kept
        if kept is None:
            return None
        self.kept = None
        if (
            kept.upstream == route.upstream
            and not kept.closed
            and self.loop.time() - kept.idle_since < self.limits.upstream_idle_s
        ):
            return kept
        self.gateway.give_back(kept)
        return None

    def _keep(self, upstream: UpstreamConnection) -> None:
        """Keep a finished upstream for this connection's next request (no pool round trip
        per request); the one kept before goes back to the pool."""
        if self.kept is not None:
            self.gateway.give_back(self.kept)
        upstream.owner = None
        upstream.reclaimable = True
        upstream.idle_since = self.loop.time()
        self.kept = upstream

    async def _connect(self, ex: _Exchange, route: Route) -> None:
        try:
            upstream = await self.gateway.connect(route)
        except TimeoutError:
            self._upstream_error(
                ex, 504, RejectCode.UPSTREAM_TIMEOUT, UpstreamFailure.CONNECT_TIMEOUT
            )
            return
        except (OSError, ssl.SSLError) as exc:
            log.warning(
                "gateway.upstream.connect_failed",
                deployment_id=route.id,
                error=type(exc).__name__,
                request_id=ex.request_id,
            )
            if ex.holds <= 1 and route.project is not None:
                # A project's node that is not there (stopping, restarting for a new password,
                # crashed) is woken and waited for, once, rather than answered 502.
                self._hold_again(ex, route)
                return
            self._upstream_error(
                ex, 502, RejectCode.UPSTREAM_UNAVAILABLE, UpstreamFailure.CONNECT_FAILED
            )
            return
        if self.closing or not self.queue or self.queue[0] is not ex:
            upstream.close()
            return
        self._attach(ex, upstream)
        self.flush()

    def _attach(self, ex: _Exchange, upstream: UpstreamConnection) -> None:
        ex.upstream = upstream
        upstream.owner = self
        upstream.reclaimable = False
        upstream.write(self._request_head(ex))
        if ex.pending:
            upstream.write(b"".join(ex.pending))
            ex.pending.clear()
            self.resume_reading()

    def _request_head(self, ex: _Exchange) -> bytes:
        parts = [b"%s %s HTTP/1.1" % (ex.method, ex.url)]
        named = ex.connection_named
        if named:
            parts += [line for lname, line in ex.forward if lname not in named]
        else:
            parts += [line for _, line in ex.forward]
        if ex.chunked:
            parts.append(b"transfer-encoding: chunked")
        elif ex.content_length is not None:
            parts.append(b"content-length: " + ex.content_length)
        if ex.host is None:
            parts.append(b"host: gateway")
        parts.append(self.forwarded_for)
        parts.append(b"x-request-id: " + ex.request_id.encode())
        return b"\r\n".join(parts) + b"\r\n\r\n"

    def response_head(
        self, status: int, reason: bytes, headers: list, upstream: UpstreamConnection
    ) -> None:
        ex = self.queue[0] if self.queue else None
        if ex is None or ex.upstream is not upstream:
            return
        self.last_activity = now = self.loop.time()
        ex.latency = now - ex.forwarded_at
        ex.status = status
        ex.response_started = True
        parts = [b"HTTP/1.1 %d %s" % (status, reason)]
        connection_named: set[bytes] | None = None
        chunked = False
        lengths = []
        for name, value in headers:
            lname = name.lower()
            if lname in RESPONSE_DROPPED:
                if lname == b"connection":
                    named = {t.strip().lower() for t in value.split(b",")}
                    connection_named = (
                        named if connection_named is None else connection_named | named
                    )
                elif lname == b"transfer-encoding":
                    chunked = True
                elif lname == b"content-length":
                    lengths.append(name + b": " + value)
                continue
            parts.append(name + b": " + value)
        if connection_named:
            connection_named -= RESPONSE_DROPPED  # "keep-alive", "close": dropped already
        if connection_named:  # rare: drop the other headers the Connection header names
            parts[1:] = [
                name + b": " + value
                for name, value in headers
                if (lname := name.lower()) not in RESPONSE_DROPPED and lname not in connection_named
            ]
        has_length = bool(lengths)
        if has_length and not chunked:
            parts += lengths
        bodiless = ex.method == b"HEAD" or status in _BODYLESS_STATUS or status < 200
        if not bodiless and not has_length:
            if ex.http_10:
                ex.response_until_close = True
                ex.keep_alive = False
            else:
                ex.response_chunked = True
                parts.append(b"transfer-encoding: chunked")
            if not chunked:
                ex.response_until_close = True  # the node frames by closing
        parts.append(b"x-request-id: " + ex.request_id.encode())
        if not ex.keep_alive or not ex.request_done:
            # A response before the request body ended: finish it, then close.
            ex.keep_alive = ex.keep_alive and ex.request_done
        if not ex.keep_alive:
            parts.append(b"connection: close")
        elif ex.http_10:
            parts.append(b"connection: keep-alive")
        self._write(b"\r\n".join(parts) + b"\r\n\r\n")
        if bodiless:
            upstream.reset_parser()
            self.response_complete(upstream, True)

    def response_body(self, body: bytes) -> None:
        ex = self.queue[0]
        self.last_activity = self.loop.time()
        if ex.response_chunked:
            self._write(b"%x\r\n%s\r\n" % (len(body), body))
        else:
            self._write(body)

    def response_complete(self, upstream: UpstreamConnection, reusable: bool) -> None:
        ex = self.queue[0] if self.queue else None
        if ex is None or ex.upstream is not upstream:
            return
        if ex.response_chunked:
            self._write(b"0\r\n\r\n")
        ex.upstream = None
        if reusable and ex.request_done and not upstream.closed:
            self._keep(upstream)
        else:
            upstream.close()
        self._finish(ex, close=not ex.keep_alive)

    def upstream_lost(self, upstream: UpstreamConnection) -> None:
        ex = self.queue[0] if self.queue else None
        if ex is None or ex.upstream is not upstream:
            return
        ex.upstream = None
        if ex.response_started:
            if ex.response_until_close:
                if ex.response_chunked:
                    self._write(b"0\r\n\r\n")
                self._finish(ex, close=not ex.keep_alive)
                self.flush()
            else:
                self._finish(ex, close=True)  # truncated: the client must see it
            return
        self._upstream_error(ex, 502, RejectCode.UPSTREAM_UNAVAILABLE, UpstreamFailure.CLOSED)

    def upstream_failed(self, reason: UpstreamFailure) -> None:
        ex = self.queue[0] if self.queue else None
        if ex is None:
            return
        ex.upstream = None
        if ex.response_started:
            self._finish(ex, close=True)
        else:
            self._upstream_error(ex, 502, RejectCode.UPSTREAM_PROTOCOL_ERROR, reason)

    def _upstream_error(
        self, ex: _Exchange, status: int, code: RejectCode, reason: UpstreamFailure
    ) -> None:
        if self.closing or not self.queue or self.queue[0] is not ex:
            return
        ex.status = status
        message = _UPSTREAM_REASONS[code]
        self._write(error_response(status, code, message, request_id=ex.request_id, close=True))
        self.stats.answer(code)
        self._log(ex, reason.value)
        self._close()

    def _answer(self, ex: _Exchange, decision: Decision) -> None:
        """The gateway answers by itself: filtered, unknown deployment, not running,
        misdirected. Nothing reaches a node."""
        ex.status = decision.status
        close = not ex.keep_alive or not ex.request_done
        if not ex.request_done:
            ex.keep_alive = False  # do not wait for a body nobody will read
        if decision.reason is Reason.FILTERED:
            client = self.decisions.client
            if decision.route is not None:  # the deployment's audit trail: connection_denied
                rule = decision.verdict.value if decision.verdict is not None else "FILTERED"
                self.gateway.denied.record(decision.route.id, client, rule, ex.request_id)
            self._write(traffic_filter_response(client, request_id=ex.request_id, close=close))
            self.stats.answer(RejectCode.TRAFFIC_FILTERED)
            self._finish(ex, close=close)
            return
        headers: tuple[bytes, ...] = ()
        if decision.reason is Reason.UNAUTHENTICATED:
            code, message = RejectCode.MISSING_CREDENTIALS, _MISSING_CREDENTIALS
            if not (ex.chunked or ex.content_length not in (None, b"0")):
                message = _ANONYMOUS_WAKE
            headers = (WWW_AUTHENTICATE,)
        elif decision.reason is Reason.CLIENT_BUSY:
            code, message = RejectCode.TOO_MANY_REQUESTS, _TOO_MANY_REQUESTS
            headers = (RETRY_AFTER,)
        elif decision.reason is Reason.DEPLOYMENT_BUSY:
            code, message = RejectCode.DEPLOYMENT_BUSY, _DEPLOYMENT_BUSY
            headers = (RETRY_AFTER,)
        elif decision.reason is Reason.UNKNOWN_DEPLOYMENT:
            code, message = RejectCode.DEPLOYMENT_NOT_FOUND, _NOT_FOUND
        elif decision.reason is Reason.KIBANA:
            code, message = RejectCode.KIBANA_NOT_SERVED, _KIBANA
        elif decision.reason is Reason.NOT_INGEST:
            code, message = RejectCode.INGEST_ONLY, _NOT_INGEST
        elif decision.reason is Reason.INGEST_METHOD:
            code, message = RejectCode.INGEST_METHOD, _INGEST_METHOD
            methods = ingest_verdict(ex.method, ex.url).methods
            headers = (b"allow: " + ", ".join(methods).encode(),)
        elif decision.reason is Reason.WAKE_BUSY:
            code, message = RejectCode.PROJECT_WAKE_BUSY, _WAKE_BUSY
            headers = (RETRY_AFTER,)
        elif decision.reason is Reason.WAKE_TIMEOUT:
            code, message = RejectCode.PROJECT_WAKE_TIMEOUT, _WAKE_TIMEOUT
            headers = (RETRY_AFTER,)
        elif decision.reason is Reason.WAKE_FAILED:
            code, message = RejectCode.PROJECT_WAKE_FAILED, _WAKE_FAILED
            headers = (RETRY_AFTER,)
        elif decision.reason is Reason.NOT_RUNNING and _locked(decision):
            code = RejectCode.DEPLOYMENT_LOCKED
            message = (
                "The deployment is locked: its customer-managed encryption key is unavailable "
                f"({decision.route.detail or 'no reason given'}). An organization admin can "  # type: ignore[union-attr]
                "restore access to the key; the deployment serves again once it is usable."
            )
        elif (
            decision.reason is Reason.NOT_RUNNING
            and decision.route is not None
            and decision.route.project is not None
        ):
            code, message = RejectCode.DEPLOYMENT_NOT_RUNNING, _PROJECT_NOT_RUNNING
        elif decision.reason is Reason.NOT_RUNNING:
            code, message = RejectCode.DEPLOYMENT_NOT_RUNNING, _NOT_RUNNING
        else:
            code, message = RejectCode.MISDIRECTED, _MISDIRECTED
        self._write(
            error_response(
                ex.status, code, message, request_id=ex.request_id, close=close, headers=headers
            )
        )
        self.stats.answer(code)
        self._finish(ex, close=close)

    def _finish(self, ex: _Exchange, *, close: bool) -> None:
        if self.queue and self.queue[0] is ex:
            self.queue.popleft()
        if ex.admitted:
            ex.admitted = False
            in_flight, key = self.in_flight, self.client_key
            left = in_flight.get(key, 1) - 1
            if left:
                in_flight[key] = left
            else:
                del in_flight[key]
        decision = ex.decision
        self._log(ex, decision.reason.value if decision else "rejected")
        self.last_activity = self.loop.time()
        if close:
            self._close()
            return
        if self.queue:
            self._start(self.queue[0])
        else:
            self.resume_reading()

    def _log(self, ex: _Exchange, reason: str) -> None:
        """Count the answered exchange (and its bytes) and log it, unless the access log is
        off and it was forwarded."""
        decision, status = ex.decision, ex.status
        if decision is self._cell_decision and status == self._cell_status:
            cell = self._cell
        else:
            cell = self._stats_cell(decision, status)
            self._cell, self._cell_decision, self._cell_status = cell, decision, status
        cell[REQUESTS] += 1
        cell[RECEIVED] += self.received
        cell[SENT] += self.sent
        self.received = self.sent = 0
        latency = ex.latency
        if latency >= 0:
            cell[LATENCY + bucket_of(LATENCY_BUCKETS_S, latency)] += 1
            cell[-1] += latency
        if not self.gateway.access_log and reason == "found":
            return
        route = decision.route if decision is not None else None
        verdict = decision.verdict if decision is not None else None
        log.info(
            "gateway.request",
            request_id=ex.request_id,
            deployment_id=route.id if route else None,
            reason=reason,
            decision=None if verdict is None else "allow" if verdict.allowed else "deny",
            filter_reason=verdict.value if verdict is not None else None,
            status=ex.status,
            method=ex.method.decode("latin-1"),
            duration_ms=round((time.monotonic() - ex.started) * 1000, 2),
            **self.log_fields,
        )

    # --- errors and closing ----------------------------------------------------------
    def _reject(self, exc: _Reject) -> None:
        """A request the gateway will not forward: answer (when in order) and close."""
        self.pause_reading()
        ex = self.parsing or _Exchange(time.monotonic(), self.gateway.request_ids.next())
        ex.status = exc.status
        if self.queue and self.queue[0] is not ex:
            # Earlier responses are still in flight; after them, close without answering.
            self.queue[-1].keep_alive = False
        else:
            answer = error_response(
                exc.status,
                exc.code,
                exc.message,
                request_id=ex.request_id,
                close=True,
                headers=exc.headers,
            )
            self._write(answer)
            self._count_refusal(None, exc.status, exc.code)
            self._close()
        log.info(
            "gateway.rejected",
            request_id=ex.request_id,
            reason=exc.code.value,
            status=exc.status,
            **self.log_fields,
        )

    def _fail_connection(self, status: int, code: RejectCode, message: str) -> None:
        front = self.queue[0] if self.queue else None
        if front is not None and front.response_started:
            self._close()
            return
        request_id = front.request_id if front else self.gateway.request_ids.next()
        self._write(error_response(status, code, message, request_id=request_id, close=True))
        self._count_refusal(front, status, code)
        log.info(
            "gateway.rejected",
            request_id=request_id,
            reason=code.value,
            status=status,
            **self.log_fields,
        )
        if front is not None and front.upstream is not None:
            front.upstream.close()
            front.upstream = None
        self._close()

    def _count_refusal(self, ex: _Exchange | None, status: int, code: RejectCode) -> None:
        """Count an answer that ends the connection, outside `_finish`."""
        cell = self._stats_cell(ex.decision if ex is not None else None, status)
        cell[REQUESTS] += 1
        cell[RECEIVED] += self.received
        cell[SENT] += self.sent
        self.received = self.sent = 0
        self.stats.answer(code)

    def _stats_cell(self, decision: Decision | None, status: int) -> list[float]:
        route = decision.route if decision is not None else None
        verdict = decision.verdict if decision is not None else None
        return self.stats.cell(
            route.id if route is not None else NO_DEPLOYMENT, status, verdict or ""
        )

    def _write(self, data: bytes) -> None:
        """Queue bytes for the client; `flush` sends them as one TLS write."""
        self.sent += len(data)
        self._out.append(data)

    def flush(self) -> None:
        """Send what is queued, to the client and to the front exchange's node."""
        out = self._out
        if out:
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(b"".join(out) if len(out) > 1 else out[0])
            out.clear()
        if self.queue:
            upstream = self.queue[0].upstream
            if upstream is not None:
                upstream.flush()

    def _close(self) -> None:
        self.flush()
        self.closing = True
        for exchange in self.queue:  # answered or abandoned: no longer in flight
            self._release(exchange)
        if self.transport is not None:
            self.transport.close()


def _locked(decision: Decision) -> bool:
    return decision.route is not None and decision.route.state == RouteState.LOCKED


def parser_version_bad(version: str) -> bool:
    return version not in ("1.1", "1.0")


async def run(
    gateway: Gateway,
    host: str,
    port: int,
    server_ssl: ssl.SSLContext,
    proxy_listener: ProxyListenerConfig | None = None,
    *,
    reuse_port: bool = False,
    reports_to: ControlPlane | None = None,
) -> None:
    """Serve until cancelled (and the PROXY listener beside, when configured), refreshing
    the snapshot and reporting recent clients alongside (to `reports_to`, by default the
    control plane the snapshot comes from)."""
    server = await gateway.serve(host, port, server_ssl, reuse_port=reuse_port)
    listener = None
    if proxy_listener is not None:
        listener = await gateway.serve_proxy(proxy_listener, server_ssl)
    keeper = gateway.keeper
    reports_to = reports_to or keeper.control_plane
    background: list[asyncio.Future[None]] = []
    control_client = reports_to.client() if reports_to else None
    fetch_client = control_client if keeper.control_plane is not None else None
    background.append(asyncio.ensure_future(keeper.refresh_forever(fetch_client)))
    if control_client is not None and reports_to is not None:
        url = reports_to.clients_url
        gateway.waker.bind(reports_to, control_client)
        background.append(
            asyncio.ensure_future(gateway.activity.report_forever(reports_to, control_client))
        )
        background.append(
            asyncio.ensure_future(gateway.clients.report_forever(control_client, url))
        )
        background.append(
            asyncio.ensure_future(gateway.denied.send_forever(control_client, reports_to))
        )
    log.info("gateway.listening", host=host, port=port, routes=len(keeper.table.routes))
    try:
        await server.serve_forever()
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if control_client is not None:
            await control_client.aclose()
        if listener is not None:
            listener.close()
        server.close()
        gateway.close_idle()
