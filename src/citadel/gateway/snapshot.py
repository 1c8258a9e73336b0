"""The gateway's route snapshot: fetched from the control plane, persisted, served from disk.

The control plane serves `GET /internal/v1/routes` over mTLS (docs/adr/0009). The gateway
refreshes it every half second, persists every new version to `<data-dir>/gateway/snapshot.json`
atomically, and keeps serving from the last good snapshot while the control plane is down.
Without a control plane the persisted file is the source, re-read when it changes.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import structlog

from citadel.gateway.routing import Route, RouteTable

log = structlog.get_logger("citadel.gateway.snapshot")

REFRESH_INTERVAL_S = 0.5


class SnapshotError(ValueError):
    """A snapshot document that does not have the expected shape."""


def parse_snapshot(data: object) -> RouteTable:
    """Validate a routes document and compile it into a table."""
    if not isinstance(data, Mapping):
        raise SnapshotError("snapshot is not an object")
    version, domain, items = data.get("version"), data.get("domain"), data.get("deployments")
    if not isinstance(version, int) or not isinstance(domain, str) or not isinstance(items, list):
        raise SnapshotError("snapshot needs version, domain and deployments")
    routes = []
    for item in items:
        if not isinstance(item, Mapping):
            raise SnapshotError("deployment entry is not an object")
        try:
            routes.append(
                Route(
                    id=str(item["id"]).lower(),
                    alias=str(item["alias"]) if item.get("alias") else None,
                    region=str(item.get("region") or "local").lower(),
                    state=str(item["state"]),
                    node_socket=str(item.get("node_socket") or ""),
                )
            )
        except KeyError as exc:
            raise SnapshotError(f"deployment entry lacks {exc}") from None
    return RouteTable.compile(version, domain, tuple(routes))


def dump_snapshot(table: RouteTable) -> dict:
    return {
        "version": table.version,
        "domain": table.domain,
        "deployments": [
            {
                "id": r.id,
                "alias": r.alias,
                "region": r.region,
                "state": r.state,
                "node_socket": r.node_socket,
            }
            for r in table.routes
        ],
    }


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


@dataclass(frozen=True)
class ControlPlane:
    """Where and how to fetch routes: the internal URL and the component's mTLS identity."""

    internal_url: str
    ca_file: Path
    cert_file: Path
    key_file: Path
    key_password: bytes | None = None

    @property
    def routes_url(self) -> str:
        base = self.internal_url.rstrip("/")
        if not base.endswith("/internal/v1"):
            base += "/internal/v1"
        return base + "/routes"

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(self.cert_file), str(self.key_file), password=self.key_password)
        return ctx


class SnapshotKeeper:
    """Holds the current table; `refresh_forever` keeps it fresh without ever dropping it."""

    def __init__(
        self,
        path: Path,
        control_plane: ControlPlane | None = None,
        *,
        interval_s: float = REFRESH_INTERVAL_S,
    ) -> None:
        self.path = path
        self.control_plane = control_plane
        self.interval_s = interval_s
        self.table: RouteTable = load_snapshot(path) or RouteTable.compile(0, "invalid", ())
        self._mtime = self._file_mtime()
        self._reachable: bool | None = None

    def _file_mtime(self) -> float | None:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return None

    def install(self, table: RouteTable, *, persist: bool) -> None:
        current = self.table
        same = (table.version, table.domain, table.routes)
        if same == (current.version, current.domain, current.routes):
            return
        self.table = table
        if persist:
            save_snapshot(self.path, table)
            self._mtime = self._file_mtime()
        log.info("gateway.snapshot.installed", version=table.version, routes=len(table.routes))

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
        """One fetch from the control plane; False (and the old table kept) on failure."""
        assert self.control_plane is not None
        try:
            response = await client.get(self.control_plane.routes_url)
            response.raise_for_status()
            table = parse_snapshot(response.json())
        except (httpx.HTTPError, ValueError, ssl.SSLError, OSError) as exc:
            if self._reachable is not False:
                log.warning(
                    "gateway.snapshot.fetch_failed",
                    error=type(exc).__name__,
                    serving_version=self.table.version,
                )
            self._reachable = False
            return False
        if self._reachable is not True:
            log.info("gateway.snapshot.control_plane_reachable")
        self._reachable = True
        self.install(table, persist=True)
        return True

    async def refresh_forever(self) -> None:
        if self.control_plane is None:
            while True:
                self.reload_file()
                await asyncio.sleep(self.interval_s)
        ctx = self.control_plane.ssl_context()
        async with httpx.AsyncClient(verify=ctx, timeout=5.0) as client:
            while True:
                await self.fetch_once(client)
                await asyncio.sleep(self.interval_s)
