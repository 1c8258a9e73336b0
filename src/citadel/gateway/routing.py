"""Which deployment a request is for, and whether its client may reach it (pure: no I/O).

A request names its deployment by SNI `<id-or-alias>.<region>.<domain>`, else by its Host
header in the same form (port stripped), else by `X-Found-Cluster: <id>` as managed clouds'
proxies accept. Once a deployment is found, its traffic filter decides on the connection's
client (address and private-link endpoint); a blocked client gets the gateway's 403 whatever
the deployment's state, so it learns nothing more. The table and its filters are compiled
once per snapshot; a lookup is dictionary hits plus one `Filter.decide`.
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


class RouteState(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"
    LOCKED = "locked"  # the customer's key is unavailable: `detail` says why


@dataclass(frozen=True, slots=True)
class Route:
    """One deployment as the gateway sees it, with the ids of its filtering rulesets."""

    id: str
    alias: str | None
    region: str
    state: str
    node_socket: str
    rulesets: tuple[str, ...] = ()
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of routing: a route to forward to, or a status with a reason; with the
    traffic filter's verdict whenever a deployment was found."""

    reason: Reason
    route: Route | None = None
    verdict: Verdict | None = None

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
}
UNKNOWN = Decision(Reason.UNKNOWN_DEPLOYMENT)
MISDIRECTED = Decision(Reason.MISDIRECTED)
_MISSING = "missing"  # a ruleset type no filter knows: it filters and matches nothing


@dataclass(frozen=True)
class RouteTable:
    """Routes by `<id-or-alias>.<region>` and by id, and each deployment's compiled filter;
    compiled once from a snapshot."""

    version: int
    domain: str
    routes: tuple[Route, ...] = ()
    rulesets: Mapping[str, RulesetRules] = field(default_factory=dict)
    _by_label: dict[str, Route] = field(default_factory=dict, repr=False)
    _by_id: dict[str, Route] = field(default_factory=dict, repr=False)
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
        for route in routes:
            by_id[route.id] = route
            by_label[f"{route.id}.{route.region}"] = route
        for route in routes:
            if route.alias:
                # An alias never shadows a deployment id.
                by_label.setdefault(f"{route.alias.lower()}.{route.region}", route)
        rulesets = dict(rulesets or {})
        associated = {route.id: route.rulesets for route in routes if route.rulesets}
        known = rulesets
        missing = {i for ids in associated.values() for i in ids if i not in rulesets}
        if missing:
            # A ruleset the document lacks filters and matches nobody: fail closed.
            known = {**rulesets, **{i: RulesetRules(i, _MISSING, (_MISSING,)) for i in missing}}
        filters = compile_all(known, associated) if associated else {}
        domain = domain.lower().strip(".")
        return cls(version, domain, routes, rulesets, by_label, by_id, filters, "." + domain)

    def by_host(self, host: str) -> Route | None:
        """The route for a host name `<id-or-alias>.<region>.<domain>` (no port)."""
        host = host.lower().rstrip(".")
        if not host.endswith(self._suffix):
            return None
        label = host[: -len(self._suffix)]
        if label.count(".") != 1:
            return None
        return self._by_label.get(label)

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
    by_sni = table.by_host(sni) if sni else None
    by_host = table.by_host(host_without_port(host)) if host else None
    if sni and by_sni is None and not names_gateway(table, sni, server_names):
        if by_host is not None or (found_cluster and table.by_id(found_cluster) is not None):
            return MISDIRECTED
        return UNKNOWN
    if by_sni is not None:
        if by_host is not None and by_host.id != by_sni.id:
            return MISDIRECTED
        return _admit(table, by_sni, client)
    if by_host is not None:
        return _admit(table, by_host, client)
    if found_cluster:
        route = table.by_id(found_cluster)
        if route is not None:
            return _admit(table, route, client)
    return UNKNOWN


def _admit(table: RouteTable, route: Route, client: Client) -> Decision:
    verdict = table.filter_for(route.id).decide(client)
    if not verdict.allowed:
        return Decision(Reason.FILTERED, route, verdict)
    if route.state != RouteState.RUNNING:
        return Decision(Reason.NOT_RUNNING, route, verdict)
    return Decision(Reason.FOUND, route, verdict)
