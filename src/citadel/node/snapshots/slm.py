"""Snapshot lifecycle management on ``found-snapshots``: policies, their schedule, retention.

The platform's policy ``cloud-snapshot-policy`` is created at start from the platform's
defaults (the node's argv): every `interval_s` as a cron schedule (1800 s →
``0 */30 * * * ?``), snapshots named ``<cloud-snapshot-{now/d}>`` plus a random suffix as SLM
names them, retention ``max_count`` and ``expire_after`` from the defaults and ``min_count``
1 (the newest successful snapshot is never expired by age). A user may change it with ``PUT``
(and its later runs follow the change; when the platform's defaults change, a policy the user
never changed follows them), and may add policies of their own, all on ``found-snapshots``;
the platform's policy cannot be deleted. Schedules are the cron subset of `cron`.

The scheduler is one thread: each tick it takes the snapshots whose time has come (a policy's
next run is computed from its last run or its last change) and, at most once a minute, applies
each policy's retention by queueing delete jobs (`retention.to_delete`).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import structlog

from citadel.contract.snapshot_jobs import POLICY, REPOSITORY, SnapshotEntry
from citadel.node.errors import EsError, IllegalArgument, ResourceNotFound
from citadel.node.search.time_values import parse_time_value
from citadel.node.snapshots import cron, names, slm_store
from citadel.node.snapshots.retention import Retention, to_delete
from citadel.node.snapshots.service import CreateRequest, NodeSnapshots, SnapshotSettings, iso
from citadel.node.snapshots.slm_store import COUNTERS, PolicyRow

log = structlog.get_logger(__name__)

DEFAULT_NAME = "<cloud-snapshot-{now/d}>"
RETENTION_EVERY_S = 60.0
TICK_S = 1.0
_POLICY_KEYS = frozenset({"schedule", "name", "repository", "config", "retention"})
_CONFIG_KEYS = frozenset(
    {
        "indices",
        "ignore_unavailable",
        "include_global_state",
        "metadata",
        "partial",
        "feature_states",
    }
)
_RETENTION_KEYS = frozenset({"expire_after", "min_count", "max_count"})


class PolicyForbidden(EsError):
    type = "illegal_argument_exception"
    status = 400


def default_policy(settings: SnapshotSettings) -> dict[str, Any]:
    """The platform's ``cloud-snapshot-policy`` for `settings`."""
    retention: dict[str, Any] = {}
    if settings.retention_expire_after_s:
        retention["expire_after"] = _time_value(settings.retention_expire_after_s)
        retention["min_count"] = 1
    if settings.retention_max_count:
        retention["max_count"] = settings.retention_max_count
    return {
        "schedule": cron.for_interval(settings.interval_s),
        "name": DEFAULT_NAME,
        "repository": REPOSITORY,
        "config": {"include_global_state": True},
        "retention": retention,
    }


def _time_value(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def validate(policy_id: str, body: Any) -> dict[str, Any]:
    """A policy as sent, checked: 400 naming what is wrong or not supported."""
    if not isinstance(body, Mapping):
        raise IllegalArgument("request body is required")
    unknown = sorted(set(body) - _POLICY_KEYS)
    if unknown:
        raise IllegalArgument(f"[put_snapshot_lifecycle_request] unknown field [{unknown[0]}]")
    problems = []
    for key in ("schedule", "name", "repository"):
        if not isinstance(body.get(key), str) or not body.get(key):
            problems.append(
                f"invalid {key}: must not be empty"
                if key != "schedule"
                else "invalid schedule: must not be empty"
            )
    if problems:
        raise IllegalArgument(f"Validation Failed: {'; '.join(problems)}")
    if (
        policy_id != policy_id.lower()
        or not policy_id
        or any(c in policy_id for c in ' ,"*\\<|>/?')
    ):
        raise IllegalArgument(f"invalid policy id [{policy_id}]")
    if body["repository"] != REPOSITORY:
        raise IllegalArgument(
            f"no such repository [{body['repository']}]: policies on this deployment snapshot "
            f"into [{REPOSITORY}]"
        )
    cron.parse(body["schedule"])
    names.resolve(body["name"], datetime.now(UTC))
    config = body.get("config") or {}
    if not isinstance(config, Mapping):
        raise IllegalArgument("[config] must be an object")
    unknown = sorted(set(config) - _CONFIG_KEYS)
    if unknown:
        raise IllegalArgument(f"[config] unknown or unsupported field [{unknown[0]}]")
    if config.get("partial"):
        raise IllegalArgument("[config.partial] true is not supported: snapshots are whole")
    if config.get("feature_states") not in (None, [], ["none"]):
        raise IllegalArgument("[config.feature_states] is not supported by this node")
    _retention(body.get("retention"))
    return dict(body)


def _retention(raw: Any) -> Retention:
    if raw is None:
        return Retention()
    if not isinstance(raw, Mapping):
        raise IllegalArgument("[retention] must be an object")
    unknown = sorted(set(raw) - _RETENTION_KEYS)
    if unknown:
        raise IllegalArgument(f"[retention] unknown field [{unknown[0]}]")
    expire = raw.get("expire_after")
    min_count, max_count = raw.get("min_count"), raw.get("max_count")
    for name, value in (("min_count", min_count), ("max_count", max_count)):
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 1
        ):
            raise IllegalArgument(f"[retention.{name}] must be greater than 0")
    if min_count is not None and max_count is not None and min_count > max_count:
        raise IllegalArgument("minimum snapshot count must be less than or equal to maximum")
    return Retention(
        expire_after_s=parse_time_value(str(expire), "expire_after") if expire else None,
        min_count=min_count,
        max_count=max_count,
    )


def retention_of(policy: Mapping[str, Any]) -> Retention:
    return _retention(policy.get("retention"))


class Lifecycle:
    """The SLM policies of one node and their scheduler."""

    def __init__(self, snapshots: NodeSnapshots) -> None:
        self.snapshots = snapshots
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_retention = 0.0

    def _now_ms(self) -> int:
        return int(self.snapshots.clock.now().timestamp() * 1000)

    # -- policies --------------------------------------------------------------------------

    def install_default(self) -> None:
        """Create (or follow the platform's new defaults in) ``cloud-snapshot-policy``."""
        settings = self.snapshots.settings
        if settings is None:
            return
        derived = default_policy(settings)
        with self.snapshots.store.write() as conn:
            stored = slm_store.get(conn, POLICY)
            if stored is not None and (
                stored.policy != stored.history.get("derived") or stored.policy == derived
            ):
                return  # changed by the user, or already the defaults
            row = slm_store.put(conn, POLICY, derived, self._now_ms())
            slm_store.save_history(conn, POLICY, {**row.history, "derived": derived})

    def put(self, policy_id: str, body: Any) -> None:
        self.snapshots.require()
        policy = validate(policy_id, body)
        with self.snapshots.store.write() as conn:
            slm_store.put(conn, policy_id, policy, self._now_ms())

    def delete(self, policy_id: str) -> None:
        self.snapshots.require()
        if policy_id == POLICY:
            raise PolicyForbidden(
                f"[{POLICY}] is managed by the platform and cannot be deleted: change its "
                "schedule or retention with PUT instead"
            )
        with self.snapshots.store.write() as conn:
            if not slm_store.delete(conn, policy_id):
                raise _missing(policy_id)

    def get(self, expression: str | None) -> dict[str, Any]:
        """``GET _slm/policy[/<ids>]``."""
        self.snapshots.require()
        with self.snapshots.store.read() as conn:
            rows = slm_store.every(conn)
        running = {
            v.entry.policy: v.entry
            for v in self.snapshots.select("_current")
            if v.entry.policy is not None
        }
        if expression and expression not in ("_all", "*"):
            wanted = [p.strip() for p in expression.split(",") if p.strip()]
            rows = [r for r in rows if r.id in wanted]
            if not rows:
                raise _missing(expression)
        return {row.id: self._view(row, running.get(row.id)) for row in rows}

    def _view(self, row: PolicyRow, running: SnapshotEntry | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": row.version,
            "modified_date": iso(row.modified_at / 1000),
            "modified_date_millis": row.modified_at,
            "policy": row.policy,
        }
        for key in ("last_success", "last_failure"):
            if key in row.history:
                out[key] = row.history[key]
        if running is not None:
            out["in_progress"] = {
                "name": running.name,
                "uuid": running.uuid,
                "state": "STARTED",
                "start_time_millis": int(running.start_time * 1000),
            }
        nxt = self.next_run(row)
        out["next_execution"] = iso(nxt.timestamp())
        out["next_execution_millis"] = int(nxt.timestamp() * 1000)
        out["stats"] = {"policy": row.id, **{c: row.history.get(c, 0) for c in COUNTERS}}
        return out

    def next_run(self, row: PolicyRow) -> datetime:
        """When `row` runs next: after its last run, or after its last change."""
        since = max(row.history.get("last_run_at", 0), row.modified_at) / 1000
        return cron.parse(row.policy["schedule"]).next_after(datetime.fromtimestamp(since, UTC))

    def stats(self) -> dict[str, Any]:
        """``GET _slm/stats``."""
        with self.snapshots.store.read() as conn:
            totals = slm_store.totals(conn)
            rows = slm_store.every(conn)
        return {
            "retention_runs": totals.get("retention_runs", 0),
            "retention_failed": totals.get("retention_failed", 0),
            "retention_timed_out": 0,
            "retention_deletion_time": "0s",
            "retention_deletion_time_millis": 0,
            "total_snapshots_taken": totals.get("total_snapshots_taken", 0),
            "total_snapshots_failed": totals.get("total_snapshots_failed", 0),
            "total_snapshots_deleted": totals.get("total_snapshots_deleted", 0),
            "total_snapshot_deletion_failures": totals.get("total_snapshot_deletion_failures", 0),
            "policy_stats": [
                {"policy": r.id, **{c: r.history.get(c, 0) for c in COUNTERS}} for r in rows
            ],
        }

    def mode(self) -> str:
        with self.snapshots.store.read() as conn:
            return slm_store.operation_mode(conn)

    def set_mode(self, mode: str) -> None:
        with self.snapshots.store.write() as conn:
            slm_store.set_operation_mode(conn, mode)

    # -- running ---------------------------------------------------------------------------

    def execute(self, policy_id: str) -> str:
        """Take `policy_id`'s snapshot now (``_execute``); the snapshot's name."""
        self.snapshots.require()
        with self.snapshots.store.read() as conn:
            row = slm_store.get(conn, policy_id)
        if row is None:
            raise _missing(policy_id)
        return self._run(row)

    def _run(self, row: PolicyRow) -> str:
        policy = row.policy
        config = policy.get("config") or {}
        resolved = names.resolve(policy["name"], self.snapshots.clock.now())
        name = f"{resolved}-{secrets.token_hex(8)}"
        indices = config.get("indices")
        if isinstance(indices, list):
            indices = ",".join(indices)
        metadata = dict(config.get("metadata") or {})
        metadata.setdefault("policy", row.id)
        request = CreateRequest(
            name=name,
            indices=indices,
            ignore_unavailable=bool(config.get("ignore_unavailable", False)),
            include_global_state=bool(config.get("include_global_state", True)),
            metadata=metadata,
            policy=row.id,
        )
        now_ms = self._now_ms()
        try:
            self.snapshots.create(request)
        except EsError as exc:
            with self.snapshots.store.write() as conn:
                stored = slm_store.get(conn, row.id)
                if stored is not None:
                    history = stored.history
                    history["last_run_at"] = now_ms
                    history["snapshots_failed"] = history.get("snapshots_failed", 0) + 1
                    history["last_failure"] = {
                        "snapshot_name": name,
                        "time": now_ms,
                        "details": f"{exc.type}: {exc.reason}",
                    }
                    slm_store.save_history(conn, row.id, history)
                slm_store.bump_totals(conn, total_snapshots_failed=1)
            raise
        with self.snapshots.store.write() as conn:
            stored = slm_store.get(conn, row.id)
            if stored is not None:
                slm_store.save_history(conn, row.id, {**stored.history, "last_run_at": now_ms})
        log.info("slm.snapshot_started", policy=row.id, snapshot=name)
        return name

    def apply_retention(self) -> list[str]:
        """Queue the deletes every policy's retention asks for; the job ids."""
        if self.snapshots.settings is None:
            return []
        catalog = self.snapshots.catalog()
        now = self.snapshots.clock.now().timestamp()
        queued: list[str] = []
        with self.snapshots.store.read() as conn:
            rows = slm_store.every(conn)
        for row in rows:
            retention = retention_of(row.policy)
            if retention.empty:
                continue
            doomed = to_delete(catalog, row.id, retention, now)
            if doomed:
                queued += self.snapshots.queue_deletes(doomed)
        with self.snapshots.store.write() as conn:
            slm_store.bump_totals(conn, retention_runs=1)
        if queued:
            log.info("slm.retention_queued", deletes=len(queued))
        return queued

    # -- the scheduler thread --------------------------------------------------------------

    def start(self, tick_s: float = TICK_S) -> None:
        if self.snapshots.settings is None or self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._loop, args=(tick_s,), name="slm-scheduler", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self, tick_s: float) -> None:
        while not self._stop.wait(tick_s):
            try:
                self.tick()
            except Exception:  # a failed round must not end the schedule
                log.exception("slm.tick_failed")

    def tick(self, monotonic: Callable[[], float] | None = None) -> None:
        """One round: due policies run, and retention at most once a minute."""
        import time

        if self.mode() != "RUNNING":
            return
        now = self.snapshots.clock.now()
        with self.snapshots.store.read() as conn:
            rows = slm_store.every(conn)
        for row in rows:
            try:
                if self.next_run(row) <= now:
                    self._run(row)
            except EsError as exc:
                log.warning("slm.run_failed", policy=row.id, error=exc.type)
        clock = monotonic or time.monotonic
        if clock() - self._last_retention >= RETENTION_EVERY_S:
            self._last_retention = clock()
            self.apply_retention()


def _missing(expression: str) -> ResourceNotFound:
    return ResourceNotFound(f"snapshot lifecycle policy or policies [{expression}] not found")
