"""Which deployment a request is for, and whether its client may reach it (pure: no I/O).

A request names its deployment by SNI `<id-or-alias>.<region>.<domain>`, else by its Host
header in the same form (port stripped), else by `X-Found-Cluster: <id>` as managed clouds'
proxies accept. Once a deployment is found, its traffic filter decides on the connection's
client (address and private-link endpoint); a blocked client gets the gateway's 403 whatever
the deployment's state, so it learns nothing more. The table and its filters are compiled
once per snapshot; a lookup is dictionary hits plus one `Filter.decide`.

A serverless project (ADR 28) answers at `<alias-or-id>.<app>.<region>.<domain>` for each of
its applications (`es`, `kb`, `apm`, `ingest`); the decision carries the application, so the
data path can keep `ingest` to bulk and index requests (`citadel.gateway.ingest`). Its filter
decides first, as for a deployment. Then `kb` is answered by the gateway (Kibana is not part
of Citadel), and a project that is not running but may be woken (`Project.wakes`) is `ASLEEP`:
the data path holds the request while the control plane starts it (`citadel.gateway.wake`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from citadel.traffic_filters.matching import (
    OPEN,
    Client,
    Filter,
    RulesetRules,
    Verdict,
    compile_all,
)


class Reason(StrEnum):
    """Why a request was or was not forwarded."""

    FOUND = "found"
    UNKNOWN_DEPLOYMENT = "unknown_deployment"
    NOT_RUNNING = "not_running"
    MISDIRECTED = "misdirected"
    FILTERED = "filtered"
    # Decided by the data path after routing (never by `decide`): the request is answered by
    # the gateway and reaches no node.
    UNAUTHENTICATED = "unauthenticated"  # a body without an Authorization header
    CLIENT_BUSY = "client_busy"  # its client address has too many requests in flight
    DEPLOYMENT_BUSY = "deployment_busy"  # the deployment's upstream budget is spent
    # Serverless projects (issue 19).
    ASLEEP = "asleep"  # a project that is not running but may be woken: held, then forwarded
    KIBANA = "kibana_not_served"  # a project's `kb` host: Kibana is not part of Citadel
    # Decided by the data path: an `ingest` host takes bulk and index requests only.
    NOT_INGEST = "not_ingest"  # no ingest request at this path
    INGEST_METHOD = "ingest_method"  # an ingest path, but not with this method
    # Decided by the data path while holding an ASLEEP request.
    WAKE_BUSY = "wake_busy"  # too many requests held already (for the project or in all)
    WAKE_TIMEOUT = "wake_timeout"  # the project did not come up within the wake timeout
    WAKE_FAILED = "wake_failed"  # the control plane did not answer the wake


class RouteState(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"
    LOCKED = "locked"  # the customer's key is unavailable: `detail` says why


ES, KB, APM, INGEST = "es", "kb", "apm", "ingest"
APPS = frozenset({ES, KB, APM, INGEST})
# A project that is coming up anyway is held even when the control plane did not mark it
# wakeable: a request arriving during a cold start another request began waits for it too.
_COMING_UP = frozenset({"initializing", "restarting"})


@dataclass(frozen=True, slots=True)
class Project:
    """What makes a route a serverless project's: its type, alias, applications (each a host
    `<alias>.<app>.<region>.<domain>`) and whether the gateway may wake it."""

    type: str
    alias: str
    apps: tuple[str, ...] = (ES,)
    wake: bool = False

    def wakes(self, state: str) -> bool:
        """Whether a request for it in `state` (not running) is held while it starts."""
        if state in (RouteState.LOCKED, "deleted", "failed"):
            return False
        return self.wake or state in _COMING_UP


@dataclass(frozen=True, slots=True)
class Route:
    """One deployment (or project instance) as the gateway sees it, with the ids of its
    filtering rulesets. Its node is reached at `node_address` (``host:port`` on its
    allocator's host, ADR 31) when that is set, else on the unix socket `node_socket`."""

    id: str
    alias: str | None
    region: str
    state: str
    node_socket: str
    rulesets: tuple[str, ...] = ()
    detail: str = ""
    project: Project | None = None
    node_address: str = ""

    @property
    def upstream(self) -> str:
        """Where the node is reached: the key of the upstream pool and budget."""
        return self.node_address or self.node_socket


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of routing: a route to forward to, or a status with a reason; with the
    traffic filter's verdict whenever a deployment was found, and the application a
    project's host names (`es` when a project is named by id alone)."""

    reason: Reason
    route: Route | None = None
    verdict: Verdict | None = None
    app: str | None = None

    @property
    def status(self) -> int:
        return _STATUS[self.reason]


_STATUS = {
    Reason.FOUND: 200,
    Reason.UNKNOWN_DEPLOYMENT: 404,
    Reason.NOT_RUNNING: 503,
    Reason.MISDIRECTED: 421,
    Reason.FILTERED: 403,
    Reason.UNAUTHENTICATED: 401,
    Reason.CLIENT_BUSY: 429,
    Reason.DEPLOYMENT_BUSY: 429,
    Reason.ASLEEP: 503,
    Reason.KIBANA: 404,
    Reason.NOT_INGEST: 400,
    Reason.INGEST_METHOD: 405,
    Reason.WAKE_BUSY: 503,
    Reason.WAKE_TIMEOUT: 503,
    Reason.WAKE_FAILED: 503,
}
UNKNOWN = Decision(Reason.UNKNOWN_DEPLOYMENT)
MISDIRECTED = Decision(Reason.MISDIRECTED)
_MISSING = "missing"  # a ruleset type no filter knows: it filters and matches nothing


@dataclass(frozen=True)
class RouteTable:
    """Routes by `<id-or-alias>.<region>` (deployments), `<id-or-alias>.<app>.<region>`
    (projects) and by id, and each route's compiled filter; compiled once from a snapshot."""

    version: int
    domain: str
    routes: tuple[Route, ...] = ()
    rulesets: Mapping[str, RulesetRules] = field(default_factory=dict)
    _by_label: dict[str, Route] = field(default_factory=dict, repr=False)
    _by_id: dict[str, Route] = field(default_factory=dict, repr=False)
    _by_app_label: dict[str, tuple[Route, str]] = field(default_factory=dict, repr=False)
    _filters: dict[str, Filter] = field(default_factory=dict, repr=False, compare=False)
    _suffix: str = ""

    @classmethod
    def compile(
        cls,
        version: int,
        domain: str,
        routes: tuple[Route, ...],
        rulesets: Mapping[str, RulesetRules] | None = None,
    ) -> RouteTable:
        """Index the routes and compile every deployment's filter (shared between
        deployments with the same rulesets). Raises ValueError on a malformed rule source."""
        by_label: dict[str, Route] = {}
        by_id: dict[str, Route] = {}
        by_app_label: dict[str, tuple[Route, str]] = {}
        projects = [route for route in routes if route.project is not None]
        for route in routes:
            by_id[route.id] = route
            if route.project is None:
                by_label[f"{route.id}.{route.region}"] = route
        for route in projects:
            for app in route.project.apps:  # type: ignore[union-attr]
                by_app_label[f"{route.id}.{app}.{route.region}"] = (route, app)
        for route in routes:
            if route.project is None and route.alias:
                # An alias never shadows a deployment id.
                by_label.setdefault(f"{route.alias.lower()}.{route.region}", route)
        for route in projects:
            alias = route.project.alias.lower()  # type: ignore[union-attr]
            for app in route.project.apps:  # type: ignore[union-attr]
                by_app_label.setdefault(f"{alias}.{app}.{route.region}", (route, app))
        rulesets = dict(rulesets or {})
        associated = {route.id: route.rulesets for route in routes if route.rulesets}
        known = rulesets
        missing = {i for ids in associated.values() for i in ids if i not in rulesets}
        if missing:
            # A ruleset the document lacks filters and matches nobody: fail closed.
            known = {**rulesets, **{i: RulesetRules(i, _MISSING, (_MISSING,)) for i in missing}}
        filters = compile_all(known, associated) if associated else {}
        domain = domain.lower().strip(".")
        return cls(
            version, domain, routes, rulesets, by_label, by_id, by_app_label, filters, "." + domain
        )

    def by_host(self, host: str) -> Route | None:
        """The route for a host name `<id-or-alias>.<region>.<domain>` or
        `<id-or-alias>.<app>.<region>.<domain>` (no port)."""
        found = self.lookup(host)
        return found[0] if found is not None else None

    def lookup(self, host: str) -> tuple[Route, str | None] | None:
        """The route a host name names, with the project application it names (None for a
        deployment's host)."""
        host = host.lower().rstrip(".")
        if not host.endswith(self._suffix):
            return None
        label = host[: -len(self._suffix)]
        dots = label.count(".")
        if dots == 1:
            route = self._by_label.get(label)
            return (route, None) if route is not None else None
        if dots == 2:
            return self._by_app_label.get(label)
        return None

    def by_id(self, deployment_id: str) -> Route | None:
        return self._by_id.get(deployment_id.strip().lower())

    def filter_for(self, deployment_id: str) -> Filter:
        """The deployment's compiled traffic filter; `OPEN` when no ruleset is associated."""
        return self._filters.get(deployment_id, OPEN)


def host_without_port(host: str) -> str:
    """`name:443` → `name`; `[::1]:443` → `::1`."""
    if host.startswith("["):
        end = host.find("]")
        return host[1:end] if end > 0 else host
    colon = host.rfind(":")
    return host[:colon] if colon >= 0 else host


def names_gateway(table: RouteTable, sni: str, server_names: frozenset[str]) -> bool:
    """Whether a TLS server name is the gateway's own rather than a deployment's: the
    domain, `<region>.<domain>` (one label: a Cloud ID's host), or one of `server_names`."""
    name = sni.lower().rstrip(".")
    if name in server_names or name == table.domain:
        return True
    label, dot, rest = name.partition(".")
    return bool(dot) and bool(label) and rest == table.domain


def decide(
    table: RouteTable,
    *,
    sni: str | None,
    host: str | None,
    found_cluster: str | None,
    client: Client,
    server_names: frozenset[str] = frozenset({"localhost"}),
) -> Decision:
    """Route by SNI, else Host, else X-Found-Cluster, then filter on the client; says why.

    A server name that is neither a known deployment's nor the gateway's own
    (`names_gateway`) routes nowhere: a request it carries to a deployment named by Host or
    X-Found-Cluster is misdirected (421), never served (issue 17.10)."""
    by_sni = table.lookup(sni) if sni else None
    by_host = table.lookup(host_without_port(host)) if host else None
    if sni and by_sni is None and not names_gateway(table, sni, server_names):
        if by_host is not None or (found_cluster and table.by_id(found_cluster) is not None):
            return MISDIRECTED
        return UNKNOWN
    if by_sni is not None:
        if by_host is not None and by_host != by_sni:
            return MISDIRECTED  # another deployment, or another application of the project
        return _admit(table, *by_sni, client)
    if by_host is not None:
        return _admit(table, *by_host, client)
    if found_cluster:
        route = table.by_id(found_cluster)
        if route is not None:
            return _admit(table, route, ES if route.project is not None else None, client)
    return UNKNOWN


def _admit(table: RouteTable, route: Route, app: str | None, client: Client) -> Decision:
    verdict = table.filter_for(route.id).decide(client)
    if not verdict.allowed:
        return Decision(Reason.FILTERED, route, verdict, app)
    if app == KB:
        return Decision(Reason.KIBANA, route, verdict, app)
    if route.state != RouteState.RUNNING:
        project = route.project
        if project is not None and project.wakes(route.state):
            return Decision(Reason.ASLEEP, route, verdict, app)
        return Decision(Reason.NOT_RUNNING, route, verdict, app)
    return Decision(Reason.FOUND, route, verdict, app)
