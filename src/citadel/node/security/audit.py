"""The node's security audit trail: Elasticsearch's audit events, kept in memory until the
allocator collects them (issue 18, item 6).

Events are Elasticsearch's audit JSON objects (``"@timestamp"``, ``"event.type"``,
``"event.action"``, ``"user.name"``, ``"user.realm"``, ``"origin.address"``, ``"request.id"``,
``"action"``, ``"indices"`` ...). They never carry a password, a token, an API key secret, a
query string or a request body: a failed sign-in names the user (from a Basic header) or the
API key id, nothing else.

What is recorded follows the deployment's `AuditSettings` (Elasticsearch's
``xpack.security.audit.*``), read from `settings_source` at each event (the node's
`SecurityConfig`; it changes without a restart):

- ``enabled`` false (the default): nothing is recorded.
- ``include``: the event types recorded; empty means Elasticsearch's default set, every type
  except ``authentication_success`` (`DEFAULT_INCLUDE`); ``_all`` means every type.
- ``exclude``: types never recorded, applied after ``include``.
- ``ignore_filters``: ``{policy: {users|realms|actions|roles|indices: [patterns]}}`` with
  ``*`` and ``?`` wildcards. An event is ignored when one policy matches it: each field the
  policy names must match every value the event has for it (all its roles, all its indices;
  for users and realms both the authenticating and the run-as user); an event without a value
  for a field is matched as the empty string, which only ``""`` or ``*`` matches, as in
  Elasticsearch. Fields a policy does not name match anything.

Delivery: events wait in a bounded buffer (`CAPACITY`, default 10,000) numbered by a sequence
that starts at 1 at each node start. The allocator reads them with ``GET /_citadel/audit?after=
<seq>`` (its per-start metrics token required, answered like a path the node does not have
otherwise); asking with ``after=N`` also acknowledges, and so forgets, every event up to N
(at-least-once: an allocator that restarts asks from 0 and may post some events twice). When
the buffer is full a new event is dropped and counted (``dropped``, since the node started);
a request is never delayed, failed or answered differently because of the audit trail: every
method catches its own errors, and recording is an append under a short lock, no I/O.
"""

from __future__ import annotations

import functools
import hmac
import json
import re
import secrets
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from citadel.contract.messages import AuditSettings
from citadel.kit.clock import Clock, SystemClock

if TYPE_CHECKING:
    from citadel.node.http.messages import NodeRequest, NodeResponse
    from citadel.node.http.router import Router

log = structlog.get_logger(__name__)

AUDIT_PATH = "/_citadel/audit"
TOKEN_HEADER = "x-citadel-metrics-token"  # noqa: S105 - a header name (the metrics route's)
CAPACITY = 10_000
PAGE = 5_000  # events per collection answer (the control plane takes as many per post)
PAGE_BYTES = 4 * 1024 * 1024  # and about this much JSON
MAX_EVENT_BYTES = 16 * 1024  # an event's JSON; a larger change is replaced by a marker
MAX_INDICES = 100  # index names kept on one event

EVENT_TYPES = (
    "authentication_success",
    "authentication_failed",
    "access_granted",
    "access_denied",
    "run_as_granted",
    "run_as_denied",
    "connection_denied",
    "security_config_change",
    "anonymous_access_denied",
    "tampered_request",
)
DEFAULT_INCLUDE = frozenset(EVENT_TYPES) - {"authentication_success"}
"""Elasticsearch's default ``events.include``: everything but ``authentication_success``."""
FILTER_FIELDS = ("users", "realms", "actions", "roles", "indices")


# --- what to record (pure) ---------------------------------------------------------------


@dataclass(frozen=True)
class IgnorePolicy:
    """One ``ignore_filters.<name>`` policy: a pattern per field it names."""

    name: str
    patterns: Mapping[str, re.Pattern[str]]

    def matches(self, values: Mapping[str, Sequence[str]]) -> bool:
        """Whether every field this policy names matches all of the event's values."""
        for field, pattern in self.patterns.items():
            found = values.get(field) or ("",)
            if not all(pattern.fullmatch(v) for v in found):
                return False
        return True


@dataclass(frozen=True)
class AuditPolicy:
    """`AuditSettings` compiled once per change: which types, which ignore policies."""

    enabled: bool
    events: frozenset[str]
    ignore: tuple[IgnorePolicy, ...] = ()

    def wants(self, event_type: str) -> bool:
        """Whether an event of `event_type` may be recorded (before the ignore filters)."""
        return self.enabled and event_type in self.events

    def ignores(self, values: Mapping[str, Sequence[str]]) -> bool:
        """Whether one ignore policy matches an event with these field values."""
        return any(policy.matches(values) for policy in self.ignore)


def compile_policy(settings: AuditSettings) -> AuditPolicy:
    """`settings` as an `AuditPolicy`; unknown event types and malformed policies are left
    out (the control plane validates them; the node never fails on them)."""
    include = set(settings.include) or set(DEFAULT_INCLUDE)
    if "_all" in include:
        include = set(EVENT_TYPES)
    events = frozenset(include & set(EVENT_TYPES)) - set(settings.exclude)
    ignore = []
    for name, body in sorted(settings.ignore_filters.items()):
        if not isinstance(body, Mapping):
            continue
        patterns = {}
        for field in FILTER_FIELDS:
            given = body.get(field)
            if isinstance(given, str):
                given = [given]
            if isinstance(given, list) and given and all(isinstance(p, str) for p in given):
                patterns[field] = wildcard_pattern(given)
        if patterns:
            ignore.append(IgnorePolicy(str(name), patterns))
    return AuditPolicy(settings.enabled, events, tuple(ignore))


def wildcard_pattern(patterns: Iterable[str]) -> re.Pattern[str]:
    """One regular expression matching any of `patterns` (``*`` any run, ``?`` one
    character, everything else literal)."""
    parts = []
    for pattern in patterns:
        pieces = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
        parts.append("".join(pieces))
    return re.compile("|".join(f"(?:{p})" for p in parts), re.DOTALL)


def filter_values(event: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """What the ignore filters look at in an event."""
    users = [event.get("user.name"), event.get("user.run_as.name")]
    realms = [event.get("user.realm"), event.get("user.run_as.realm")]
    return {
        "users": tuple(str(u) for u in users if u is not None),
        "realms": tuple(str(r) for r in realms if r is not None),
        "actions": (str(event["action"]),) if event.get("action") else (),
        "roles": tuple(str(r) for r in event.get("user.roles") or ()),
        "indices": tuple(str(i) for i in event.get("indices") or ()),
    }


# --- the trail ---------------------------------------------------------------------------


def _never_raises(method: Callable[..., None]) -> Callable[..., None]:
    """The audit trail must never fail a request: an error is logged and the event lost."""

    @functools.wraps(method)
    def guarded(self: AuditTrail, *args: Any, **kwargs: Any) -> None:
        try:
            method(self, *args, **kwargs)
        except Exception as exc:
            self._failed(exc)

    return guarded


class AuditTrail:
    """The node's audit events in a bounded buffer, filtered by the deployment's settings."""

    def __init__(
        self,
        settings_source: Callable[[], AuditSettings],
        *,
        clock: Clock | None = None,
        capacity: int = CAPACITY,
        node_name: str | None = None,
    ) -> None:
        self._source = settings_source
        self._clock = clock or SystemClock()
        self.capacity = capacity
        self._node_name = node_name
        self._lock = threading.Lock()
        self._events: deque[dict[str, Any]] = deque()
        self._seq = 0
        self.dropped = 0
        self._settings: AuditSettings | None = None
        self._policy = AuditPolicy(False, frozenset())
        self._errors = 0

    @classmethod
    def disabled(cls) -> AuditTrail:
        """A trail that records nothing (a node assembled without security settings)."""
        return cls(AuditSettings)

    # -- the events (Elasticsearch's names and fields) -----------------------------------

    @_never_raises
    def authentication_success(self, identity: Any, request: NodeRequest) -> None:
        """A request's credentials were accepted."""
        if self._wants("authentication_success"):
            event = self._rest("authentication_success", request)
            event.update(_user_fields(identity))
            event["realm"] = event.get("user.realm")
            self._record(event)

    @_never_raises
    def authentication_failed(
        self, request: NodeRequest, principal: str | None = None, realm: str | None = None
    ) -> None:
        """A request's credentials were refused (``anonymous_access_denied`` when it had
        none)."""
        header = request.headers.get("authorization") or ""
        if not header.strip():
            if self._wants("anonymous_access_denied"):
                self._record(self._rest("anonymous_access_denied", request))
            return
        if not self._wants("authentication_failed"):
            return
        event = self._rest("authentication_failed", request)
        claimed = {"user.name": principal} if principal else _claimed_principal(header)
        if claimed.get("user.name"):
            event["user.name"] = claimed["user.name"]
        if claimed.get("apikey.id"):
            event["apikey.id"] = claimed["apikey.id"]
        if realm:
            event["realm"] = realm
        self._record(event)

    @_never_raises
    def access_granted(
        self, identity: Any, action: str, request: NodeRequest, indices: Iterable[str] = ()
    ) -> None:
        """An authenticated caller may perform `action` (on `indices`)."""
        if self._wants("access_granted"):
            self._record(self._transport("access_granted", identity, action, request, indices))

    @_never_raises
    def access_denied(
        self, identity: Any, action: str, request: NodeRequest, indices: Iterable[str] = ()
    ) -> None:
        """An authenticated caller may not perform `action` (on `indices`)."""
        if self._wants("access_denied"):
            self._record(self._transport("access_denied", identity, action, request, indices))

    @_never_raises
    def run_as_granted(self, identity: Any, target: str, request: NodeRequest) -> None:
        """`identity` (authenticated) may act as `target`."""
        if self._wants("run_as_granted"):
            self._record(self._run_as("run_as_granted", identity, target, request))

    @_never_raises
    def run_as_denied(self, identity: Any, target: str, request: NodeRequest) -> None:
        """`identity` (authenticated) may not act as `target`."""
        if self._wants("run_as_denied"):
            self._record(self._run_as("run_as_denied", identity, target, request))

    @_never_raises
    def security_config_change(
        self, identity: Any, action: str, request: NodeRequest, change: Mapping[str, Any]
    ) -> None:
        """Users, roles, role mappings, API keys or privileges were changed: `action` is
        Elasticsearch's (``put_user``, ``delete_role``, ``create_apikey``...), `change` its
        description (``{"put": {"user": {...}}}``), never a password or a secret."""
        if not self._wants("security_config_change"):
            return
        event = self._base("security_config_change", action)
        event.update(_user_fields(identity))
        event.update(_origin(request))
        event.update(change)
        if len(_dumps(event)) > MAX_EVENT_BYTES:
            for key in change:
                event[key] = {"truncated": True}
        self._record(event)

    @_never_raises
    def config_changed(
        self,
        request: NodeRequest,
        response: NodeResponse,
        describe: Callable[[NodeRequest, NodeResponse], list[tuple[str, dict[str, Any]]]],
    ) -> None:
        """The ``security_config_change`` events of a successful security API call, as
        `describe` (`citadel.node.security.config_changes`) tells them."""
        if not self._wants("security_config_change"):
            return
        for action, change in describe(request, response):
            self.security_config_change(request.identity, action, request, change)

    # -- collection ------------------------------------------------------------------------

    def collect(self, after: int, limit: int = PAGE, max_bytes: int = PAGE_BYTES) -> dict[str, Any]:
        """Forget the events up to `after` (acknowledged), answer the next ones (at most
        `limit` and about `max_bytes` of JSON, each with its ``seq``), the dropped count since
        start and the cursor to ask after next."""
        with self._lock:
            while self._events and self._events[0]["seq"] <= after:
                self._events.popleft()
            waiting = [e for _, e in zip(range(limit), self._events, strict=False)]
            dropped = self.dropped
        events: list[dict[str, Any]] = []
        size = 0
        for event in waiting:  # sized outside the lock: recording never waits on this
            size += len(_dumps(event))
            if events and size > max_bytes:
                break
            events.append(event)
        following = events[-1]["seq"] if events else max(after, 0)
        return {"events": events, "dropped": dropped, "next": following}

    def pending(self) -> int:
        """Events waiting to be collected."""
        with self._lock:
            return len(self._events)

    def instrument(self, router: Router, token: str | None) -> None:
        """Add ``GET /_citadel/audit`` (the allocator's, with its per-start `token`) and the
        ``security_config_change`` events of the security write routes to `router`."""
        from citadel.node.http.router import NONE
        from citadel.node.security.config_changes import audited

        router.routes = [audited(route, self) for route in router.routes]
        router.add("GET", AUDIT_PATH, functools.partial(self._answer, token), NONE)

    def _answer(self, token: str | None, request: NodeRequest) -> NodeResponse:
        from citadel.node.http.messages import NodeResponse
        from citadel.node.http.router import NoRoute

        given = request.headers.get(TOKEN_HEADER, "")
        if token is None or not hmac.compare_digest(given.encode(), token.encode()):
            # exactly what the router answers for a path it does not have
            raise NoRoute(f"no handler found for uri [{request.path}] and method [GET]")
        raw = request.query.get("after", "0")
        after = int(raw) if raw.isdigit() else 0
        return NodeResponse(body=self.collect(after))

    # -- building ----------------------------------------------------------------------

    def _wants(self, event_type: str) -> bool:
        settings = self._source()
        if settings is not self._settings:
            if settings != self._settings:
                self._policy = compile_policy(settings)
            self._settings = settings
        return self._policy.wants(event_type)

    def _base(self, event_type: str, action: str) -> dict[str, Any]:
        now = self._clock.now().astimezone(UTC)
        event: dict[str, Any] = {
            "@timestamp": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "event.type": event_type,
            "event.action": action,
        }
        if self._node_name:
            event["node.name"] = self._node_name
        return event

    def _rest(self, action: str, request: NodeRequest) -> dict[str, Any]:
        event = self._base("rest", action)
        event.update(_origin(request))
        return event

    def _transport(
        self,
        action_type: str,
        identity: Any,
        action: str,
        request: NodeRequest,
        indices: Iterable[str],
    ) -> dict[str, Any]:
        event = self._base("transport", action_type)
        event.update(_user_fields(identity))
        event.update(_origin(request))
        event["action"] = action
        names = [i for i in indices if i][:MAX_INDICES]
        if names:
            event["indices"] = names
        return event

    def _run_as(
        self, action_type: str, identity: Any, target: str, request: NodeRequest
    ) -> dict[str, Any]:
        event = self._base("transport", action_type)
        event.update(_user_fields(identity))
        event["user.run_as.name"] = target
        event.update(_origin(request))
        event["action"] = "run_as"
        return event

    def _record(self, event: dict[str, Any]) -> None:
        policy = self._policy
        if policy.ignore and policy.ignores(filter_values(event)):
            return
        with self._lock:
            if len(self._events) >= self.capacity:
                self.dropped += 1
                return
            self._seq += 1
            event["seq"] = self._seq
            self._events.append(event)

    def _failed(self, exc: Exception) -> None:
        self._errors += 1
        if self._errors == 1 or self._errors % 1000 == 0:
            log.error("node.audit_event_failed", error_type=type(exc).__name__, count=self._errors)


class AuditCollector(Collector):
    """The trail's series on the node's metrics (``GET /_citadel/metrics``): events waiting
    for the allocator and events dropped since the node started."""

    def __init__(self, trail: AuditTrail) -> None:
        self._trail = trail

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "citadel_node_audit_events_pending",
            "Security audit events waiting for the allocator to collect them.",
            value=self._trail.pending(),
        )
        dropped = CounterMetricFamily(
            "citadel_node_audit_events_dropped",
            "Security audit events dropped because the buffer was full, since the node started.",
        )
        dropped.add_metric([], self._trail.dropped)
        yield dropped


def _user_fields(identity: Any) -> dict[str, Any]:
    """``user.*``, ``authentication.type`` and ``apikey.*`` of an identity; with run-as, the
    authenticating user is ``user.*`` and the effective one ``user.run_as.*``."""
    if identity is None:
        return {}
    by = getattr(identity, "authenticated_by", None)
    actor = by if by is not None else identity
    out: dict[str, Any] = {
        "user.name": actor.username,
        "user.realm": _realm_name(actor),
        "user.roles": list(identity.roles),
        "authentication.type": str(getattr(actor, "authentication_type", "realm")).upper(),
    }
    if by is not None:
        out["user.run_as.name"] = identity.username
        out["user.run_as.realm"] = _realm_name(identity)
    if getattr(actor, "api_key_id", None):
        out["apikey.id"] = actor.api_key_id
        if actor.api_key_name:
            out["apikey.name"] = actor.api_key_name
    return out


def _realm_name(identity: Any) -> str:
    named = getattr(identity, "realm_name", None)
    if named:
        return str(named)
    from citadel.node.security.realm import REALM_NAMES

    return REALM_NAMES.get(identity.realm, identity.realm)


def _origin(request: NodeRequest) -> dict[str, Any]:
    """Where the request came from and which it is. The gateway sets ``X-Forwarded-For`` (the
    client it saw) and ``X-Request-Id`` and drops a client's own; a request without an id
    gets one here, so its events share it."""
    headers = request.headers
    request_id = headers.get("x-request-id")
    if not request_id:
        request_id = headers["x-request-id"] = secrets.token_urlsafe(16)
    out: dict[str, Any] = {
        "origin.type": "rest",
        "url.path": request.path,
        "request.method": request.method,
        "request.id": request_id,
    }
    forwarded = headers.get("x-forwarded-for")
    if forwarded:
        out["origin.address"] = forwarded.split(",")[0].strip()
    opaque = headers.get("x-opaque-id")
    if opaque:
        out["opaque_id"] = opaque[:256]
    return out


def _claimed_principal(header: str) -> dict[str, str]:
    """Who a refused Authorization header claims to be: a Basic user's name or an API key's
    id; never the secret part, nothing for a bearer token."""
    import base64
    import binascii

    scheme, _, value = header.strip().partition(" ")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return {}
    name, sep, _secret = decoded.partition(":")
    if not sep:
        return {}
    if scheme.lower() == "basic":
        return {"user.name": name[:256]}
    if scheme.lower() == "apikey":
        return {"apikey.id": name[:256]}
    return {}


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)
