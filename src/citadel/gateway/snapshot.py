"""The gateway's route snapshot: fetched from the control plane, persisted, served from disk.

The control plane serves `GET /internal/v1/routes` over mTLS (docs/adr/0009); the document
is the contract's `RoutesSnapshot` (ADR 17), fetched with the contract's one client,
`ControlPlane`, re-exported here for the gateway. The gateway refreshes it every half second,
persists every new version to `<data-dir>/gateway/snapshot.json` atomically, and keeps
serving from the last good snapshot while the control plane is down.
Without a control plane the persisted file is the source, re-read when it changes.

A snapshot carries the traffic-filtering rulesets (`"rulesets": {id: {type, sources}}`) and
each deployment's associated ruleset ids; a document without them (persisted by an older
gateway) means no filters. The filters are compiled once per new snapshot. Every fetch after
the first sends `If-None-Match` with the current version's entity tag and a 304 means
"unchanged": a document with a hundred thousand rules is neither re-downloaded nor recompiled
twice a second. A deployment naming a ruleset the document lacks is filtered by a ruleset
that matches nobody (see `RouteTable.compile`), so it fails closed.

Each deployment's entry says where its node is reached: its unix socket (`node_socket`, on
this host) and, for a node on another allocator host, ``node_address`` (``host:port``, ADR 31),
which the data path prefers when set. A node that moves (restored on another host) is a new
snapshot like any other change.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import ssl
from pathlib import Path

import httpx
import structlog
from pydantic import ValidationError

from citadel.contract.client import ContractMismatch, ControlPlane, ControlPlaneUnavailable
from citadel.contract.messages import (
    ObservedState,
    ProjectRoute,
    RouteEntry,
    RoutesSnapshot,
    RulesetEntry,
    to_json,
)
from citadel.gateway.routing import APPS, Project, Route, RouteTable
from citadel.traffic_filters.matching import RulesetRules

__all__ = ["ControlPlane", "SnapshotKeeper", "load_snapshot", "parse_snapshot", "save_snapshot"]

log = structlog.get_logger("citadel.gateway.snapshot")

REFRESH_INTERVAL_S = 0.5
FOLLOW_INTERVAL_S = 0.1  # how often a worker that follows the persisted file checks it


class SnapshotError(ValueError):
    """A snapshot document that does not have the expected shape."""


def parse_snapshot(data: object) -> RouteTable:
    """Validate a routes document (`RoutesSnapshot`, or its JSON) and compile it (routes and
    filters) into a table."""
    try:
        if isinstance(data, bytes | str):
            document = RoutesSnapshot.model_validate_json(data)
        else:
            document = RoutesSnapshot.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        where = ".".join(str(part) for part in errors[0]["loc"]) if errors else ""
        message = errors[0]["msg"] if errors else "invalid"
        raise SnapshotError(f"not a routes snapshot: {where}: {message}") from None
    return compile_snapshot(document)


def compile_snapshot(document: RoutesSnapshot) -> RouteTable:
    """The route table of a validated document."""
    rulesets = {
        ruleset_id: RulesetRules(ruleset_id, entry.type, entry.sources)
        for ruleset_id, entry in document.rulesets.items()
    }
    routes = []
    for item in document.deployments:
        route = Route(
            id=item.id.lower(),
            alias=item.alias or None,
            region=(item.region or "local").lower(),
            state=str(item.state),
            node_socket=item.node_socket,
            rulesets=tuple(dict.fromkeys(item.rulesets)),
            detail=item.detail[:255],
            project=_project(item.project),
            node_address=item.node_address,
        )
        for ruleset_id in route.rulesets:
            if ruleset_id not in rulesets:
                log.warning(
                    "gateway.snapshot.unknown_ruleset",
                    deployment_id=route.id,
                    ruleset_id=ruleset_id,
                )
        routes.append(route)
    try:
        return RouteTable.compile(document.version, document.domain, tuple(routes), rulesets)
    except (ValueError, TypeError) as exc:
        raise SnapshotError(f"rulesets do not compile: {exc}") from None


def _project(entry: ProjectRoute | None) -> Project | None:
    """A route's project part; an application the gateway does not know is left out."""
    if entry is None:
        return None
    apps = tuple(dict.fromkeys(app.lower() for app in entry.apps if app.lower() in APPS))
    return Project(entry.type, entry.alias, apps, entry.wake)


def dump_snapshot(table: RouteTable) -> dict:
    """The table as a routes document (what the gateway persists)."""
    document = RoutesSnapshot(
        version=table.version,
        domain=table.domain,
        deployments=tuple(
            RouteEntry(
                id=r.id,
                alias=r.alias,
                region=r.region,
                state=ObservedState(r.state),
                node_socket=r.node_socket,
                node_address=r.node_address,
                rulesets=r.rulesets,
                detail=r.detail,
                project=None
                if r.project is None
                else ProjectRoute(
                    type=r.project.type,
                    alias=r.project.alias,
                    apps=r.project.apps,
                    wake=r.project.wake,
                ),
            )
            for r in table.routes
        ),
        rulesets={
            rs.id: RulesetEntry(type=rs.type, sources=tuple(rs.sources))
            for rs in table.rulesets.values()
        },
    )
    return to_json(document)


def load_snapshot(path: Path) -> RouteTable | None:
    """The persisted snapshot, or None if there is none or it is unreadable."""
    try:
        return parse_snapshot(json.loads(path.read_bytes()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("gateway.snapshot.unreadable", path=str(path), error=type(exc).__name__)
        return None


def save_snapshot(path: Path, table: RouteTable) -> None:
    """Write atomically: a temporary file, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(json.dumps(dump_snapshot(table), indent=2).encode())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class SnapshotKeeper:
    """Holds the current table; `refresh_forever` keeps it fresh without ever dropping it."""

    def __init__(
        self,
        path: Path,
        control_plane: ControlPlane | None = None,
        *,
        interval_s: float = REFRESH_INTERVAL_S,
        table: RouteTable | None = None,
    ) -> None:
        self.path = path
        self.control_plane = control_plane
        self.interval_s = interval_s
        if table is None:
            table = load_snapshot(path) or RouteTable.compile(0, "invalid", ())
        self.table: RouteTable = table
        self._mtime = self._file_mtime()
        self._reachable: bool | None = None
        self._etag: str | None = None  # of the last document fetched by this process
        self._digest: bytes | None = None

    def follower(self, *, interval_s: float = FOLLOW_INTERVAL_S) -> SnapshotKeeper:
        """A keeper for another worker process: it starts from this keeper's compiled table
        and follows the persisted file, which this keeper's fetches keep current."""
        keeper = SnapshotKeeper(self.path, None, interval_s=interval_s, table=self.table)
        keeper._mtime = self._mtime
        return keeper

    def _file_mtime(self) -> float | None:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return None

    def install(self, table: RouteTable, *, persist: bool) -> None:
        current = self.table
        same = (table.version, table.domain, table.routes, table.rulesets)
        if same == (current.version, current.domain, current.routes, current.rulesets):
            return
        self.table = table
        if persist:
            save_snapshot(self.path, table)
            self._mtime = self._file_mtime()
        log.info(
            "gateway.snapshot.installed",
            version=table.version,
            routes=len(table.routes),
            rulesets=len(table.rulesets),
        )

    def reload_file(self) -> None:
        """Re-read the persisted snapshot when it changed on disk."""
        mtime = self._file_mtime()
        if mtime is None or mtime == self._mtime:
            return
        self._mtime = mtime
        table = load_snapshot(self.path)
        if table is not None:
            self.install(table, persist=False)

    async def fetch_once(self, client: httpx.AsyncClient) -> bool:
        """One conditional fetch from the control plane; False (and the old table kept) on
        failure. A 304, or a body identical to the last one, installs nothing."""
        assert self.control_plane is not None
        try:
            fetched = await self.control_plane.fetch_routes(client, self._etag)
            if fetched.not_modified:
                table = None
            else:
                digest = hashlib.blake2b(fetched.body, digest_size=16).digest()
                table = None if digest == self._digest else parse_snapshot(fetched.body)
        except (
            httpx.HTTPError,
            ControlPlaneUnavailable,
            ValueError,
            ssl.SSLError,
            OSError,
        ) as exc:
            if self._reachable is not False:
                log.warning(
                    "gateway.snapshot.fetch_failed",
                    error=type(exc).__name__,
                    detail=str(exc) if isinstance(exc, ContractMismatch) else None,
                    serving_version=self.table.version,
                )
            self._reachable = False
            return False
        if self._reachable is not True:
            log.info("gateway.snapshot.control_plane_reachable")
        self._reachable = True
        if table is not None:
            self.install(table, persist=True)
            self._digest = digest
            self._etag = fetched.etag or f'"{table.version}"'
        return True

    async def refresh_forever(self, client: httpx.AsyncClient | None = None) -> None:
        """Fetch (or re-read the file) every interval, forever; `client` defaults to one of
        the control plane's own."""
        if self.control_plane is None:
            while True:
                self.reload_file()
                await asyncio.sleep(self.interval_s)
        if client is None:
            async with self.control_plane.client() as own:
                await self.refresh_forever(own)
            return
        while True:
            await self.fetch_once(client)
            await asyncio.sleep(self.interval_s)
