"""The snapshot and SLM routes: Elasticsearch's ``_snapshot`` API on ``found-snapshots``, the
``_slm`` API, and the allocator's internal routes (`citadel.contract.snapshot_jobs`).

The internal routes answer only the allocator: a request carrying the node's per-start token
(the metrics token, ``X-Citadel-Metrics-Token``) over the node's mTLS listener; any other
request gets exactly the answer of a path the node does not have.

Query and body parameters Elasticsearch knows and this node does not implement are a 400
naming them, never ignored.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from citadel.contract.snapshot_jobs import (
    CATALOG_PATH,
    JOBS_PATH,
    REPOSITORY,
    JobResult,
    SnapshotCatalog,
    SnapshotEntry,
    SnapshotJobs,
)
from citadel.node.errors import IllegalArgument, ResourceNotFound
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import NONE, NoRoute, Router, cluster
from citadel.node.http.routes_cluster import parse_seconds
from citadel.node.metrics import TOKEN_HEADER
from citadel.node.services import VERSION, NodeServices
from citadel.node.snapshots.importing import SettingsChange, SnapshotRestoreError
from citadel.node.snapshots.service import (
    DEFAULT_WAIT_S,
    IN_PROGRESS,
    CreateRequest,
    NodeSnapshots,
    RepositoryMissing,
    RestoreRequest,
    View,
    iso,
)
from citadel.node.snapshots.slm import Lifecycle

VERSION_ID = int("".join(f"{int(p):02d}" for p in VERSION.split("."))) * 100 + 99
ACKNOWLEDGED = {"acknowledged": True}
_UNSUPPORTED = {
    "after": "paging by [after]: use [offset]",
    "from_sort_value": "[from_sort_value]: use [offset]",
    "index_details": "[index_details]",
    "index_names": "[index_names]",
    "include_repository": "[include_repository]",
    "slm_policy_filter": "[slm_policy_filter]",
    "feature_states": "feature states",
    "expand_wildcards": "[expand_wildcards]",
    "partial": "[partial] true: a snapshot is whole or failed",
    "storage_stats": "[storage_stats]",
}
_SORTS = (
    "start_time",
    "name",
    "duration",
    "index_count",
    "shard_count",
    "failed_shard_count",
    "repository",
)


def register(
    router: Router,
    services: NodeServices,
    snapshots: NodeSnapshots,
    lifecycle: Lifecycle,
    token: str | None,
) -> None:
    """Add the snapshot, SLM and internal snapshot routes to `router`."""
    r = SnapshotRoutes(services, snapshots, lifecycle, token)
    monitor, create, manage = (
        cluster("monitor_snapshot"),
        cluster("create_snapshot"),
        cluster("manage"),
    )
    router.add("GET", "/_snapshot", r.repositories, monitor)
    router.add("GET", "/_snapshot/_all", r.repositories, monitor)
    router.add("GET", "/_snapshot/_all/_all", r.get_everywhere, monitor)
    router.add("GET", "/_snapshot/_all/{snapshot}", r.get_everywhere, monitor)
    router.add("GET", "/_snapshot/_status", r.status_current, monitor)
    router.add("GET", "/_snapshot/{repository}", r.repositories, monitor)
    for method in ("PUT", "POST"):
        router.add(method, "/_snapshot/{repository}", r.put_repository, manage)
    router.add("DELETE", "/_snapshot/{repository}", r.put_repository, manage)
    router.add("POST", "/_snapshot/{repository}/_verify", r.verify, manage)
    router.add("POST", "/_snapshot/{repository}/_cleanup", r.cleanup, manage)
    router.add("GET", "/_snapshot/{repository}/_status", r.status_current, monitor)
    router.add("GET", "/_snapshot/{repository}/_all", r.get_all, monitor)
    router.add("GET", "/_snapshot/{repository}/_current", r.get_current, monitor)
    router.add("GET", "/_snapshot/{repository}/{snapshot}", r.get, monitor)
    router.add("GET", "/_snapshot/{repository}/{snapshot}/_status", r.status, monitor)
    for method in ("PUT", "POST"):
        router.add(method, "/_snapshot/{repository}/{snapshot}", r.create, create)
        # a date-math name whose ``/`` the client sent escaped, as the server decodes it
        router.add(method, "/_snapshot/{repository}/{snapshot}/{rest}", r.create, create)
    router.add("DELETE", "/_snapshot/{repository}/{snapshot}", r.delete, manage)
    router.add("POST", "/_snapshot/{repository}/{snapshot}/_restore", r.restore, manage)
    read_slm, manage_slm = cluster("read_slm"), cluster("manage_slm")
    router.add("GET", "/_slm/policy", r.slm_get, read_slm)
    router.add("GET", "/_slm/policy/{policy_id}", r.slm_get, read_slm)
    router.add("PUT", "/_slm/policy/{policy_id}", r.slm_put, manage_slm)
    router.add("DELETE", "/_slm/policy/{policy_id}", r.slm_delete, manage_slm)
    for method in ("PUT", "POST"):
        router.add(method, "/_slm/policy/{policy_id}/_execute", r.slm_execute, manage_slm)
    router.add("POST", "/_slm/_execute_retention", r.slm_retention, manage_slm)
    router.add("GET", "/_slm/stats", r.slm_stats, read_slm)
    router.add("GET", "/_slm/status", r.slm_status, read_slm)
    router.add("POST", "/_slm/start", r.slm_start, manage_slm)
    router.add("POST", "/_slm/stop", r.slm_stop, manage_slm)
    router.add("GET", JOBS_PATH, r.jobs, NONE)
    router.add("POST", JOBS_PATH + "/{job_id}", r.job_result, NONE)
    router.add("PUT", CATALOG_PATH, r.catalog, NONE)


def _params(request: NodeRequest, allowed: Iterable[str]) -> None:
    known = set(allowed) | {"master_timeout"}
    for name in sorted(request.query):
        if name in known:
            continue
        if name in _UNSUPPORTED:
            raise IllegalArgument(
                f"request [{request.path}] parameter [{name}] is not supported by this node: "
                f"{_UNSUPPORTED[name]}"
            )
        raise IllegalArgument(f"request [{request.path}] contains unrecognized parameter: [{name}]")


def _body_keys(body: Mapping[str, Any], allowed: Iterable[str], what: str) -> None:
    known = set(allowed)
    for name in sorted(body):
        if name in known:
            continue
        if name in _UNSUPPORTED:
            raise IllegalArgument(
                f"[{what}] field [{name}] is not supported by this node: {_UNSUPPORTED[name]}"
            )
        raise IllegalArgument(f"[{what}] unknown field [{name}]")


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise IllegalArgument(f"[{name}] must be a boolean, got [{value}]")


def _indices(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    raise IllegalArgument("[indices] must be a string or an array of strings")


def _wait_s(request: NodeRequest) -> float:
    return parse_seconds(request.query.get("master_timeout"), "master_timeout", DEFAULT_WAIT_S)


class SnapshotRoutes:
    """Handlers over `NodeSnapshots` and `Lifecycle`."""

    def __init__(
        self,
        services: NodeServices,
        snapshots: NodeSnapshots,
        lifecycle: Lifecycle,
        token: str | None,
    ) -> None:
        self.services = services
        self.snapshots = snapshots
        self.lifecycle = lifecycle
        self.token = token

    # -- repositories ----------------------------------------------------------------------

    def _repository(self) -> dict[str, Any]:
        return {
            "type": "fs",
            "uuid": self.services.info.cluster_uuid,
            "settings": {"location": REPOSITORY, "compress": "true", "readonly": "false"},
        }

    def repositories(self, request: NodeRequest) -> NodeResponse:
        """``GET _snapshot[/<repository>]``."""
        _params(request, ("local",))
        wanted = request.params.get("repository", "_all")
        have = {REPOSITORY: self._repository()} if self.snapshots.settings else {}
        if wanted in ("_all", "*"):
            return NodeResponse(body=have)
        out = {}
        for name in wanted.split(","):
            if "*" in name:
                out.update({n: v for n, v in have.items() if _glob(name, n)})
            elif name in have:
                out[name] = have[name]
            else:
                raise RepositoryMissing(name)
        return NodeResponse(body=out)

    def put_repository(self, request: NodeRequest) -> NodeResponse:
        """``PUT|POST|DELETE _snapshot/<repository>``: the managed repository is the platform's."""
        name = request.params["repository"]
        if name == REPOSITORY and self.snapshots.settings is not None:
            raise IllegalArgument(
                f"[{REPOSITORY}] is managed by the platform and cannot be changed or removed"
            )
        if request.method == "DELETE":
            raise RepositoryMissing(name)
        raise IllegalArgument(
            f"[{name}] cannot be registered: this deployment snapshots only into the platform's "
            f"managed repository [{REPOSITORY}]"
        )

    def verify(self, request: NodeRequest) -> NodeResponse:
        """``POST _snapshot/found-snapshots/_verify``: this node is the one that writes."""
        _params(request, ("timeout",))
        self.snapshots.require(request.params["repository"])
        node_id = self.services.tasks.node_id
        return NodeResponse(body={"nodes": {node_id: {"name": self.services.info.node_name}}})

    def cleanup(self, request: NodeRequest) -> NodeResponse:
        """``POST _snapshot/found-snapshots/_cleanup``: the platform removes unreferenced data
        itself, after each delete; there is nothing for a request to do."""
        self.snapshots.require(request.params["repository"])
        raise IllegalArgument(
            f"[{REPOSITORY}] is cleaned by the platform after each delete; _cleanup is not "
            "supported"
        )

    # -- create ----------------------------------------------------------------------------

    def create(self, request: NodeRequest) -> NodeResponse:
        """``PUT|POST _snapshot/found-snapshots/<name>``."""
        _params(request, ("wait_for_completion",))
        self.snapshots.require(request.params["repository"])
        name = request.params["snapshot"]
        if "rest" in request.params:
            if not name.startswith("<"):
                raise NoRoute(
                    f"no handler found for uri [{request.path}] and method [{request.method}]"
                )
            name = f"{name}/{request.params['rest']}"
        body = request.json() or {}
        if not isinstance(body, Mapping):
            raise IllegalArgument("request body must be an object")
        _body_keys(
            body,
            (
                "indices",
                "ignore_unavailable",
                "include_global_state",
                "metadata",
                "partial",
                "feature_states",
            ),
            "create_snapshot_request",
        )
        if body.get("partial") not in (None, False, "false"):
            raise IllegalArgument(
                "[partial] true is not supported by this node: a snapshot is whole or failed"
            )
        if body.get("feature_states") not in (None, [], ["none"]):
            raise IllegalArgument(
                "[feature_states] is not supported by this node: the node's security and "
                "catalog are in every snapshot"
            )
        metadata = body.get("metadata")
        if metadata is not None and not isinstance(metadata, Mapping):
            raise IllegalArgument("[metadata] must be an object")
        create = CreateRequest(
            name=name,
            indices=_indices(body.get("indices")),
            ignore_unavailable=_bool(body.get("ignore_unavailable", False), "ignore_unavailable"),
            include_global_state=_bool(
                body.get("include_global_state", True), "include_global_state"
            ),
            metadata=metadata,
        )
        job_id, staged = self.snapshots.create(create)
        if not request.flag("wait_for_completion"):
            return NodeResponse(body={"accepted": True})
        row = self.snapshots.wait(job_id, _wait_s(request), f"snapshot [{staged.name}]")
        view = View(
            _entry_of(row.request["entry"]),
            include_global_state=create.include_global_state,
            data_streams=tuple(sorted(staged.global_metadata.get("data_streams", {}))),
        )
        return NodeResponse(body={"snapshot": self._info(view, verbose=True)})

    # -- reading ---------------------------------------------------------------------------

    def get_everywhere(self, request: NodeRequest) -> NodeResponse:
        """``GET _snapshot/_all/<names>``: the snapshots of every repository (this one)."""
        request.params["repository"] = "_all"
        request.params.setdefault("snapshot", "_all")
        return self.get(request)

    def get_all(self, request: NodeRequest) -> NodeResponse:
        request.params["snapshot"] = "_all"
        return self.get(request)

    def get_current(self, request: NodeRequest) -> NodeResponse:
        request.params["snapshot"] = "_current"
        return self.get(request)

    def get(self, request: NodeRequest) -> NodeResponse:
        """``GET _snapshot/found-snapshots/<names>`` (``verbose``, ``sort``, ``order``,
        ``size``, ``offset``, ``ignore_unavailable``)."""
        _params(request, ("verbose", "sort", "order", "size", "offset", "ignore_unavailable"))
        repository = request.params["repository"]
        if repository not in ("_all", "*"):
            for name in repository.split(","):
                self.snapshots.require(name)
        elif self.snapshots.settings is None:
            return NodeResponse(body={"snapshots": [], "total": 0, "remaining": 0})
        verbose = request.flag("verbose", True)
        views = self.snapshots.select(
            request.params["snapshot"],
            ignore_unavailable=request.flag("ignore_unavailable"),
        )
        sort = request.query.get("sort", "start_time")
        if sort not in _SORTS:
            raise IllegalArgument(f"unknown sort [{sort}]: one of {', '.join(_SORTS)}")
        order = request.query.get("order", "asc")
        if order not in ("asc", "desc"):
            raise IllegalArgument(f"unknown order [{order}]: asc or desc")
        views.sort(key=lambda v: (_sort_key(v, sort), v.entry.name), reverse=order == "desc")
        size = _int(request.query.get("size", "-1"), "size", low=-1)
        offset = _int(request.query.get("offset", "0"), "offset", low=0)
        total = len(views)
        if size == 0:
            raise IllegalArgument("size must be -1 or greater than 0")
        page = views[offset:] if size == -1 else views[offset : offset + size]
        remaining = max(total - offset - len(page), 0)
        return NodeResponse(
            body={
                "snapshots": [self._info(v, verbose=verbose) for v in page],
                "total": total,
                "remaining": remaining,
            }
        )

    def _info(self, view: View, *, verbose: bool) -> dict[str, Any]:
        e = view.entry
        out: dict[str, Any] = {
            "snapshot": e.name,
            "uuid": e.uuid,
            "repository": REPOSITORY,
            "indices": list(e.indices),
            "data_streams": list(view.data_streams),
            "state": e.state,
        }
        if not verbose:
            return out
        shards = len(e.indices) if e.state != IN_PROGRESS else 0
        failed = len(e.indices) if e.state == "FAILED" else 0
        full: dict[str, Any] = {
            "snapshot": e.name,
            "uuid": e.uuid,
            "repository": REPOSITORY,
            "version_id": VERSION_ID,
            "version": VERSION,
            "indices": list(e.indices),
            "data_streams": list(view.data_streams),
            "include_global_state": view.include_global_state,
        }
        metadata = dict(e.metadata or {})
        if e.policy:
            metadata.setdefault("policy", e.policy)
        if metadata or e.metadata is not None:
            full["metadata"] = metadata
        full["state"] = e.state
        if e.reason:
            full["reason"] = e.reason
        full["start_time"] = iso(e.start_time)
        full["start_time_in_millis"] = int(e.start_time * 1000)
        if e.state != IN_PROGRESS:
            full["end_time"] = iso(e.end_time)
            full["end_time_in_millis"] = int(e.end_time * 1000)
            full["duration_in_millis"] = max(int((e.end_time - e.start_time) * 1000), 0)
        full["failures"] = []
        full["shards"] = {"total": shards, "failed": failed, "successful": shards - failed}
        full["feature_states"] = []
        return full

    def status_current(self, request: NodeRequest) -> NodeResponse:
        """``GET _snapshot[/<repository>]/_status``: the snapshots being written."""
        _params(request, ("ignore_unavailable",))
        if "repository" in request.params:
            self.snapshots.require(request.params["repository"])
        if self.snapshots.settings is None:
            return NodeResponse(body={"snapshots": []})
        views = self.snapshots.select("_current")
        return NodeResponse(body={"snapshots": [self._status(v) for v in views]})

    def status(self, request: NodeRequest) -> NodeResponse:
        """``GET _snapshot/found-snapshots/<names>/_status``."""
        _params(request, ("ignore_unavailable",))
        self.snapshots.require(request.params["repository"])
        expression = request.params["snapshot"]
        if "*" in expression or expression == "_all":
            raise IllegalArgument("wildcards are not allowed in a snapshot status request")
        views = self.snapshots.select(
            expression, ignore_unavailable=request.flag("ignore_unavailable")
        )
        return NodeResponse(body={"snapshots": [self._status(v) for v in views]})

    def _status(self, view: View) -> dict[str, Any]:
        e = view.entry
        staged = self.snapshots.staged_sizes().get(e.name) if e.state == IN_PROGRESS else None
        files, size = staged if staged else (e.file_count, e.size_bytes)
        new_files, new_bytes = (files, size) if staged else (e.file_count, e.new_bytes)
        count = len(e.indices)
        done = count if e.state == "SUCCESS" else 0
        state = {"IN_PROGRESS": "STARTED"}.get(e.state, e.state)
        duration = max(int((e.end_time - e.start_time) * 1000), 0) if e.end_time else 0
        stats = {
            "incremental": {"file_count": new_files, "size_in_bytes": new_bytes},
            "total": {"file_count": files, "size_in_bytes": size},
            "start_time_in_millis": int(e.start_time * 1000),
            "time_in_millis": duration,
        }
        shards_stats = {
            "initializing": 0,
            "started": count if e.state == IN_PROGRESS else 0,
            "finalizing": 0,
            "done": done,
            "failed": count if e.state == "FAILED" else 0,
            "total": count,
        }
        return {
            "snapshot": e.name,
            "repository": REPOSITORY,
            "uuid": e.uuid,
            "state": state,
            "include_global_state": view.include_global_state,
            "shards_stats": shards_stats,
            "stats": stats,
            "indices": {
                name: {
                    "shards_stats": {
                        **shards_stats,
                        "total": 1,
                        "done": 1 if done else 0,
                        "started": 1 if e.state == IN_PROGRESS else 0,
                        "failed": 1 if e.state == "FAILED" else 0,
                    },
                }
                for name in e.indices
            },
        }

    # -- delete and restore ----------------------------------------------------------------

    def delete(self, request: NodeRequest) -> NodeResponse:
        """``DELETE _snapshot/found-snapshots/<names>``: answered once deleted."""
        _params(request, ("wait_for_completion",))
        self.snapshots.require(request.params["repository"])
        self.snapshots.delete(request.params["snapshot"], _wait_s(request))
        return NodeResponse(body=ACKNOWLEDGED)

    def restore(self, request: NodeRequest) -> NodeResponse:
        """``POST _snapshot/found-snapshots/<name>/_restore``."""
        _params(request, ("wait_for_completion",))
        self.snapshots.require(request.params["repository"])
        body = request.json() or {}
        if not isinstance(body, Mapping):
            raise IllegalArgument("request body must be an object")
        _body_keys(
            body,
            (
                "indices",
                "ignore_unavailable",
                "rename_pattern",
                "rename_replacement",
                "include_aliases",
                "include_global_state",
                "index_settings",
                "ignore_index_settings",
                "partial",
            ),
            "restore_snapshot_request",
        )
        if body.get("partial") not in (None, False, "false"):
            raise IllegalArgument(
                f"[partial] is not supported by this node: {_UNSUPPORTED['partial']}"
            )
        for key in ("rename_pattern", "rename_replacement"):
            if body.get(key) is not None and not isinstance(body.get(key), str):
                raise IllegalArgument(f"[{key}] must be a string")
        job_id, chosen = self.snapshots.restore(
            RestoreRequest(
                snapshot=request.params["snapshot"],
                indices=_indices(body.get("indices")),
                ignore_unavailable=_bool(
                    body.get("ignore_unavailable", False), "ignore_unavailable"
                ),
                rename_pattern=body.get("rename_pattern"),
                rename_replacement=body.get("rename_replacement"),
                include_aliases=_bool(body.get("include_aliases", True), "include_aliases"),
                include_global_state=_bool(
                    body.get("include_global_state", False), "include_global_state"
                ),
                settings=SettingsChange.parse(
                    body.get("index_settings"), body.get("ignore_index_settings")
                ),
            )
        )
        if not request.flag("wait_for_completion"):
            return NodeResponse(body={"accepted": True})
        if job_id is None:  # nothing matched: nothing to wait for
            return NodeResponse(
                body={
                    "snapshot": {
                        "snapshot": request.params["snapshot"],
                        "indices": [],
                        "shards": {"total": 0, "failed": 0, "successful": 0},
                    }
                }
            )
        row = self.snapshots.wait(
            job_id, _wait_s(request), f"restore [{request.params['snapshot']}]"
        )
        if row.state != "done":
            raise SnapshotRestoreError(
                f"[{REPOSITORY}:{request.params['snapshot']}] restore failed: {row.reason}"
            )
        restored = list(row.request.get("restored", chosen.values()))
        return NodeResponse(
            body={
                "snapshot": {
                    "snapshot": request.params["snapshot"],
                    "indices": restored,
                    "shards": {"total": len(restored), "failed": 0, "successful": len(restored)},
                }
            }
        )

    # -- SLM -------------------------------------------------------------------------------

    def slm_get(self, request: NodeRequest) -> NodeResponse:
        _params(request, ())
        if self.snapshots.settings is None:
            if "policy_id" not in request.params:
                return NodeResponse(body={})  # as Elasticsearch with no policy at all
            raise ResourceNotFound(
                f"snapshot lifecycle policy or policies [{request.params['policy_id']}]"
                " not found, no policies are configured"
            )
        return NodeResponse(body=self.lifecycle.get(request.params.get("policy_id")))

    def slm_put(self, request: NodeRequest) -> NodeResponse:
        _params(request, ("timeout",))
        if self.snapshots.settings is None:
            raise IllegalArgument(f"no such repository [{REPOSITORY}]")
        self.lifecycle.put(request.params["policy_id"], request.json(required=True))
        return NodeResponse(body=ACKNOWLEDGED)

    def slm_delete(self, request: NodeRequest) -> NodeResponse:
        _params(request, ("timeout",))
        if self.snapshots.settings is None:
            raise ResourceNotFound(
                f"snapshot lifecycle policy or policies [{request.params['policy_id']}] not found"
            )
        self.lifecycle.delete(request.params["policy_id"])
        return NodeResponse(body=ACKNOWLEDGED)

    def slm_execute(self, request: NodeRequest) -> NodeResponse:
        _params(request, ())
        if self.snapshots.settings is None:
            raise ResourceNotFound(
                f"snapshot lifecycle policy or policies [{request.params['policy_id']}] not found"
            )
        return NodeResponse(
            body={"snapshot_name": self.lifecycle.execute(request.params["policy_id"])}
        )

    def slm_retention(self, request: NodeRequest) -> NodeResponse:
        _params(request, ())
        self.lifecycle.apply_retention()
        return NodeResponse(body=ACKNOWLEDGED)

    def slm_stats(self, request: NodeRequest) -> NodeResponse:
        _params(request, ())
        return NodeResponse(body=self.lifecycle.stats())

    def slm_status(self, request: NodeRequest) -> NodeResponse:
        _params(request, ())
        return NodeResponse(body={"operation_mode": self.lifecycle.mode()})

    def slm_start(self, request: NodeRequest) -> NodeResponse:
        _params(request, ("timeout",))
        self.lifecycle.set_mode("RUNNING")
        return NodeResponse(body=ACKNOWLEDGED)

    def slm_stop(self, request: NodeRequest) -> NodeResponse:
        _params(request, ("timeout",))
        self.lifecycle.set_mode("STOPPED")
        return NodeResponse(body=ACKNOWLEDGED)

    # -- the allocator's routes ------------------------------------------------------------

    def _allocator(self, request: NodeRequest) -> None:
        given = request.headers.get(TOKEN_HEADER, "")
        if self.token is None or not hmac.compare_digest(given.encode(), self.token.encode()):
            # exactly what the router answers for a path it does not have
            raise NoRoute(
                f"no handler found for uri [{request.path}] and method [{request.method}]"
            )

    def jobs(self, request: NodeRequest) -> NodeResponse:
        """``GET /_citadel/snapshot-jobs``: the pending jobs, oldest first."""
        self._allocator(request)
        pending = SnapshotJobs(jobs=tuple(self.snapshots.pending_jobs()))
        return NodeResponse(body=pending.model_dump(mode="json"))

    def job_result(self, request: NodeRequest) -> NodeResponse:
        """``POST /_citadel/snapshot-jobs/{job_id}``: the allocator's result of one job."""
        self._allocator(request)
        try:
            result = JobResult.model_validate(request.json(required=True))
        except ValidationError as exc:
            raise IllegalArgument(f"invalid job result: {exc.errors()[0]['msg']}") from None
        if not self.snapshots.apply_result(request.params["job_id"], result):
            raise ResourceNotFound(f"snapshot job [{request.params['job_id']}] not found")
        return NodeResponse(body=ACKNOWLEDGED)

    def catalog(self, request: NodeRequest) -> NodeResponse:
        """``PUT /_citadel/snapshot-catalog``: every snapshot the repository holds."""
        self._allocator(request)
        try:
            catalog = SnapshotCatalog.model_validate(request.json(required=True))
        except ValidationError as exc:
            raise IllegalArgument(f"invalid catalog: {exc.errors()[0]['msg']}") from None
        self.snapshots.put_catalog(catalog)
        return NodeResponse(body=ACKNOWLEDGED)


def _entry_of(raw: Mapping[str, Any]) -> SnapshotEntry:
    return SnapshotEntry.model_validate(raw)


def _sort_key(view: View, sort: str) -> Any:
    e = view.entry
    if sort == "name":
        return e.name
    if sort == "duration":
        return (e.end_time - e.start_time) if e.end_time else 0
    if sort in ("index_count", "shard_count"):
        return len(e.indices)
    if sort == "failed_shard_count":
        return len(e.indices) if e.state == "FAILED" else 0
    if sort == "repository":
        return REPOSITORY
    return e.start_time


def _int(text: str, name: str, *, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise IllegalArgument(f"[{name}] must be an integer, got [{text}]") from None
    if value < low:
        raise IllegalArgument(f"[{name}] must be at least {low}, got [{value}]")
    return value


def _glob(pattern: str, name: str) -> bool:
    import fnmatch

    return fnmatch.fnmatchcase(name, pattern)
