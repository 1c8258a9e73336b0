"""Data stream routes: ``_data_stream`` create, get, delete, stats; ``_rollover`` of a data
stream or of an alias with a write index."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from citadel.node.errors import IllegalArgument, IndexNotFound
from citadel.node.http.access import IndexAccess
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import AUTHENTICATED, Router, index
from citadel.node.services import NodeServices
from citadel.node.store import aliases, data_streams, indices
from citadel.node.store.indices import IndexRecord

ACKNOWLEDGED = {"acknowledged": True}
_ROLLOVER_KEYS = frozenset({"conditions", "settings", "mappings", "aliases"})
_NUMBERED = re.compile(r"^(.*-)(\d+)$")


def register(router: Router, services: NodeServices) -> None:
    """Add this area's routes to `router`."""
    r = DataStreamRoutes(services)
    router.add("PUT", "/_data_stream/{name}", r.create, index("create_index", "name"))
    router.add("GET", "/_data_stream", r.get, AUTHENTICATED)
    router.add("GET", "/_data_stream/_stats", r.stats, AUTHENTICATED)
    router.add("POST", "/_data_stream/_migrate/{name}", r.migrate, index("manage", "name"))
    router.add("POST", "/_data_stream/_modify", r.modify, AUTHENTICATED)
    router.add("GET", "/_data_stream/{name}", r.get, AUTHENTICATED)
    router.add("GET", "/_data_stream/{name}/_stats", r.stats, AUTHENTICATED)
    router.add("DELETE", "/_data_stream/{name}", r.delete, index("delete_index", "name"))
    router.add("GET", "/_data_stream/{name}/_mappings", r.get_mappings, AUTHENTICATED)
    router.add("PUT", "/_data_stream/{name}/_mappings", r.put_mappings, AUTHENTICATED)
    router.add("GET", "/_data_stream/{name}/_settings", r.get_settings, AUTHENTICATED)
    router.add("PUT", "/_data_stream/{name}/_settings", r.put_settings, AUTHENTICATED)
    for method in ("GET", "PUT", "DELETE"):
        router.add(method, "/_data_stream/{name}/_options", r.options, AUTHENTICATED)
    router.add("POST", "/{alias}/_rollover", r.rollover, index("manage", "alias"))
    router.add("POST", "/{alias}/_rollover/{new_index}", r.rollover, index("manage", "alias"))


class DataStreamRoutes:
    """Handlers over the catalog's data streams."""

    def __init__(self, services: NodeServices) -> None:
        self.services = services

    def create(self, request: NodeRequest) -> NodeResponse:
        """``PUT /_data_stream/{name}``: needs a matching template with ``data_stream``."""
        with self.services.store.write() as conn:
            data_streams.create(conn, self.services.clock, request.params["name"])
        return NodeResponse(body=ACKNOWLEDGED)

    def get(self, request: NodeRequest) -> NodeResponse:
        """``GET /_data_stream[/{name}]``: the streams the caller may see (a 403 for one it
        names exactly and may not)."""
        access = IndexAccess(self.services.realm, request.identity)
        expression = request.params.get("name")
        access.require_named(expression, "view_index_metadata")
        visible = access.expanding("view_index_metadata")
        with self.services.store.read() as conn:
            found = data_streams.select(conn, expression)
            shown = [data_streams.view(conn, n, s) for n, s in found.items() if visible(n)]
        return NodeResponse(body={"data_streams": shown})

    def delete(self, request: NodeRequest) -> NodeResponse:
        """``DELETE /_data_stream/{name}``: the stream and its backing indices."""
        with self.services.store.write() as conn:
            records = data_streams.delete(conn, request.params["name"])
        for record in records:
            self.services.engine.drop(record.uuid)
        return NodeResponse(body=ACKNOWLEDGED)

    def _streams(self, request: NodeRequest, privilege: str) -> list[str]:
        """The data streams the path names that the caller holds `privilege` on (a 403 for
        one named exactly that it does not)."""
        access = IndexAccess(self.services.realm, request.identity)
        access.require_named(request.params["name"], privilege)
        visible = access.expanding(privilege)
        with self.services.store.read() as conn:
            return [n for n in data_streams.select(conn, request.params["name"]) if visible(n)]

    def get_mappings(self, request: NodeRequest) -> NodeResponse:
        """``GET /_data_stream/{name}/_mappings``."""
        names = self._streams(request, "view_index_metadata")
        with self.services.store.read() as conn:
            shown = [
                data_streams.mappings_view(conn, n, data_streams.require(conn, n)) for n in names
            ]
        return NodeResponse(body={"data_streams": shown})

    def put_mappings(self, request: NodeRequest) -> NodeResponse:
        """``PUT /_data_stream/{name}/_mappings``: for the stream's next backing indices."""
        body = request.json(required=True)
        names = self._streams(request, "manage")
        with self.services.store.write() as conn:
            shown = [
                data_streams.put_mappings(conn, n, body, dry_run=request.flag("dry_run"))
                for n in names
            ]
        return NodeResponse(body={"data_streams": shown})

    def get_settings(self, request: NodeRequest) -> NodeResponse:
        """``GET /_data_stream/{name}/_settings``."""
        names = self._streams(request, "view_index_metadata")
        with self.services.store.read() as conn:
            shown = [
                data_streams.settings_view(conn, n, data_streams.require(conn, n)) for n in names
            ]
        return NodeResponse(body={"data_streams": shown})

    def put_settings(self, request: NodeRequest) -> NodeResponse:
        """``PUT /_data_stream/{name}/_settings``: the stream's, and its indices' dynamic ones."""
        body = request.json(required=True)
        names = self._streams(request, "manage")
        touched: list[IndexRecord] = []
        shown = []
        with self.services.store.write() as conn:
            for name in names:
                view, changed = data_streams.put_settings(
                    conn, name, body, dry_run=request.flag("dry_run")
                )
                shown.append(view)
                touched.extend(changed)
        for record in touched:
            self.services.engine.set_refresh_interval(record.uuid, record.refresh_s)
        return NodeResponse(body={"data_streams": shown})

    def migrate(self, request: NodeRequest) -> NodeResponse:
        """``POST /_data_stream/_migrate/{name}``: an alias becomes a data stream."""
        access = IndexAccess(self.services.realm, request.identity)
        with self.services.store.write() as conn:
            for record in data_streams.migrate(conn, request.params["name"]):
                access.require("manage", record.name)
        return NodeResponse(body=ACKNOWLEDGED)

    def modify(self, request: NodeRequest) -> NodeResponse:
        """``POST /_data_stream/_modify``: add and remove backing indices."""
        body = request.json(required=True)
        access = IndexAccess(self.services.realm, request.identity)
        for action in (body or {}).get("actions") or [] if isinstance(body, dict) else []:
            for spec in action.values() if isinstance(action, dict) else []:
                if isinstance(spec, dict):
                    for key in ("data_stream", "index"):
                        if spec.get(key):
                            access.require("manage", str(spec[key]))
        with self.services.store.write() as conn:
            data_streams.modify(conn, body)
        return NodeResponse(body=ACKNOWLEDGED)

    def stats(self, request: NodeRequest) -> NodeResponse:
        """``GET /_data_stream[/{name}]/_stats``."""

        def size_of(record: IndexRecord) -> int:
            return int(self.services.engine.shard(record).size_bytes())

        access = IndexAccess(self.services.realm, request.identity)
        access.require_named(request.params.get("name"), "monitor")
        with self.services.store.read() as conn:
            body = data_streams.stats(conn, request.params.get("name"), size_of)
        return NodeResponse(body=_visible_stats(body, access.expanding("monitor")))

    def options(self, request: NodeRequest) -> NodeResponse:
        """Data stream options (the failure store) are not built: a clear 400."""
        raise IllegalArgument(
            "data stream options (_options, the failure store) are not supported by this node"
        )

    def rollover(self, request: NodeRequest) -> NodeResponse:
        """``POST /{alias}/_rollover[/{new_index}]``: a data stream or an alias's write index."""
        target = request.params["alias"]
        body = request.json() or {}
        if not isinstance(body, dict) or set(body) - _ROLLOVER_KEYS:
            raise IllegalArgument("rollover takes only [conditions, settings, mappings, aliases]")
        if body.get("conditions"):
            raise IllegalArgument(
                "rollover [conditions] are not supported by this node; roll over unconditionally"
            )
        dry_run = request.flag("dry_run")
        clock = self.services.clock
        with self.services.store.write() as conn:
            catalog = indices.load_catalog(conn)
            kind = catalog.kind(target)
            if kind == "data_stream":
                if request.params.get("new_index") or set(body) - {"conditions"}:
                    raise IllegalArgument(
                        "no index name, settings, mappings or aliases may be given to roll "
                        "over a data stream"
                    )
                if dry_run:
                    raise IllegalArgument("[dry_run] is not supported by this node")
                old, record = data_streams.rollover(conn, clock, target)
                new = record.name
            elif kind == "alias":
                old, new = self._roll_alias(
                    conn, target, request.params.get("new_index"), body, dry_run
                )
            else:
                raise IllegalArgument(
                    f"rollover target [{target}] does not exist"
                    if kind is None
                    else f"rollover target [{target}] is neither an alias nor a data stream"
                )
        return NodeResponse(
            body={
                "acknowledged": not dry_run,
                "shards_acknowledged": not dry_run,
                "old_index": old,
                "new_index": new,
                "rolled_over": not dry_run,
                "dry_run": dry_run,
                "lazy": False,
                "conditions": {},
            }
        )

    def _roll_alias(
        self, conn: Any, alias: str, new_name: str | None, body: dict[str, Any], dry_run: bool
    ) -> tuple[str, str]:
        writer = indices.load(conn, alias)
        if writer is None:
            raise IndexNotFound(alias)
        old = writer.name
        if new_name is None:
            match = _NUMBERED.match(old)
            if match is None:
                raise IllegalArgument(f"index name [{old}] does not match pattern '^.*-\\d+$'")
            new_name = f"{match.group(1)}{int(match.group(2)) + 1:06d}"
        if dry_run:
            return old, new_name
        spec = dict(writer.aliases[alias])
        new = indices.create(
            conn,
            self.services.clock,
            new_name,
            {k: v for k, v in body.items() if k != "conditions"},
            explicit=True,
        )
        if spec.get("is_write_index"):
            writer.aliases[alias] = {**spec, "is_write_index": False}
        else:
            del writer.aliases[alias]
        indices.save_meta(conn, writer)
        aliases.add(conn, new, alias, spec)
        indices.save_meta(conn, new)
        return old, new.name


def _visible_stats(body: dict[str, Any], visible: Callable[[str], bool]) -> dict[str, Any]:
    """A ``_data_stream/_stats`` body with only the streams the caller may see, and totals
    over those alone."""
    rows = [row for row in body["data_streams"] if visible(row["data_stream"])]
    backing = sum(row["backing_indices"] for row in rows)
    return {
        **body,
        "_shards": {"total": backing, "successful": backing, "failed": 0},
        "data_stream_count": len(rows),
        "backing_indices": backing,
        "total_store_size_bytes": sum(row["store_size_bytes"] for row in rows),
        "data_streams": rows,
    }
