"""Which deployment a request is for (pure: no I/O).

A request names its deployment by SNI `<id-or-alias>.<region>.<domain>`, else by its Host
header in the same form (port stripped), else by `X-Found-Cluster: <id>` as managed clouds'
proxies accept. The table is compiled once per snapshot; lookups are dictionary hits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Reason(StrEnum):
    """Why a request was or was not forwarded."""

    FOUND = "found"
    UNKNOWN_DEPLOYMENT = "unknown_deployment"
    NOT_RUNNING = "not_running"
    MISDIRECTED = "misdirected"


class RouteState(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class Route:
    """One deployment as the gateway sees it."""

    id: str
    alias: str | None
    region: str
    state: str
    node_socket: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of routing: a route to forward to, or a status with a reason."""

    reason: Reason
    route: Route | None = None

    @property
    def status(self) -> int:
        return _STATUS[self.reason]


_STATUS = {
    Reason.FOUND: 200,
    Reason.UNKNOWN_DEPLOYMENT: 404,
    Reason.NOT_RUNNING: 503,
    Reason.MISDIRECTED: 421,
}
UNKNOWN = Decision(Reason.UNKNOWN_DEPLOYMENT)


@dataclass(frozen=True)
class RouteTable:
    """Routes by `<id-or-alias>.<region>` and by id; compiled once from a snapshot."""

    version: int
    domain: str
    routes: tuple[Route, ...] = ()
    _by_label: dict[str, Route] = field(default_factory=dict, repr=False)
    _by_id: dict[str, Route] = field(default_factory=dict, repr=False)
    _suffix: str = ""

    @classmethod
    def compile(cls, version: int, domain: str, routes: tuple[Route, ...]) -> RouteTable:
        by_label: dict[str, Route] = {}
        by_id: dict[str, Route] = {}
        for route in routes:
            by_id[route.id] = route
            by_label[f"{route.id}.{route.region}"] = route
        for route in routes:
            if route.alias:
                # An alias never shadows a deployment id.
                by_label.setdefault(f"{route.alias.lower()}.{route.region}", route)
        domain = domain.lower().strip(".")
        return cls(version, domain, routes, by_label, by_id, "." + domain)

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


def host_without_port(host: str) -> str:
    """`name:443` → `name`; `[::1]:443` → `::1`."""
    if host.startswith("["):
        end = host.find("]")
        return host[1:end] if end > 0 else host
    colon = host.rfind(":")
    return host[:colon] if colon >= 0 else host


def decide(
    table: RouteTable, *, sni: str | None, host: str | None, found_cluster: str | None
) -> Decision:
    """Route by SNI, else Host, else X-Found-Cluster; says why."""
    by_sni = table.by_host(sni) if sni else None
    by_host = table.by_host(host_without_port(host)) if host else None
    if by_sni is not None:
        if by_host is not None and by_host.id != by_sni.id:
            return Decision(Reason.MISDIRECTED)
        return _of(by_sni)
    if by_host is not None:
        return _of(by_host)
    if found_cluster:
        route = table.by_id(found_cluster)
        if route is not None:
            return _of(route)
    return UNKNOWN


def _of(route: Route) -> Decision:
    if route.state != RouteState.RUNNING:
        return Decision(Reason.NOT_RUNNING, route)
    return Decision(Reason.FOUND, route)
