"""What the allocator does about snapshots when it starts a node (issue 20, ADR 30).

- `snapshot_argv`: the node's SLM defaults (``--snapshot-interval-s``, ...) when the
  deployment has snapshots and the platform a repository; without them the node has no
  ``found-snapshots`` repository.
- `restore_before_first_start`: a deployment created from a snapshot, or brought back on this
  allocator after its host was lost (`Allocation.restore`), gets the snapshot's files in
  ``<volume>/.restore/initial/`` before its node first starts; the node imports them at start
  (`citadel.contract.snapshot_jobs`). The snapshot is read with the SOURCE deployment's key,
  unwrapped by its own key provider: a revoked or destroyed source key makes the restore fail,
  it is never worked around. The allocator runs it on a thread of its own (a large snapshot
  must not hold up the reconcile loop, nor one restore the others after a host is lost) and
  starts the node once it is done (`needs_initial_restore` is then false).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from citadel.contract.messages import Allocation, RestoredFrom, SnapshotRepository
from citadel.contract.snapshot_jobs import RESTORE_DIR, RESTORE_INITIAL, STAGED_FILE
from citadel.log import get_logger
from citadel.snapshots.errors import SnapshotNotFound
from citadel.snapshots.repository import open_repository
from citadel.snapshots.store import LATEST, fetch_snapshot

log = get_logger(__name__)

NODE_STORE = "node.db"  # the node's store in its data directory: there once it has started


def snapshot_argv(allocation: Allocation, repository: SnapshotRepository | None) -> list[str]:
    """The node's snapshot schedule defaults, or nothing (no snapshots for this node)."""
    defaults = allocation.snapshots
    if defaults is None or repository is None or allocation.project is not None:
        return []
    return [
        "--snapshot-interval-s",
        str(defaults.interval_s),
        "--snapshot-retention-max-count",
        str(defaults.retention_max_count),
        "--snapshot-retention-expire-after-s",
        str(defaults.retention_expire_after_s),
    ]


class RestoreUnderWay(Exception):
    """The node waits: its volume is being filled from a snapshot."""


def needs_initial_restore(allocation: Allocation, data_mount: Path) -> bool:
    """Whether a restore is asked and the volume is fresh: the node has not started on it
    (no store yet) and no restore is waiting to be imported."""
    if allocation.restore is None:
        return False
    target = data_mount / RESTORE_DIR / RESTORE_INITIAL
    return not (data_mount / NODE_STORE).exists() and not (target / STAGED_FILE).exists()


def restore_before_first_start(
    allocation: Allocation,
    data_mount: Path,
    repository: SnapshotRepository | None,
    source_key: Callable[[], bytes],
) -> RestoredFrom | None:
    """Fill ``.restore/initial/`` of a fresh volume from `allocation.restore`; what it came
    back from, or None when there is nothing to do (no restore asked, or the node has started
    on this volume before, or its files are already waiting). `source_key()` unwraps the
    source's data key and derives its snapshot key. Raises `SnapshotError`."""
    restore = allocation.restore
    if restore is None or not needs_initial_restore(allocation, data_mount):
        return None
    target = data_mount / RESTORE_DIR / RESTORE_INITIAL
    if repository is None:
        raise SnapshotNotFound("this platform has no snapshot repository to restore from")
    key = source_key()
    try:
        staged = fetch_snapshot(
            open_repository(repository),
            key,
            restore.deployment_id,
            restore.snapshot,
            target,
            include_store=restore.include_security,
            within=data_mount,
        )
    except SnapshotNotFound:
        if restore.deployment_id != allocation.id or restore.snapshot not in (None, LATEST):
            raise
        # brought back after its host was lost, before its first snapshot: nothing to restore
        log.warning("allocator.restore_found_no_snapshot", deployment_id=allocation.id)
        return None
    finally:
        del key
    log.info(
        "allocator.restored_before_start",
        deployment_id=allocation.id,
        source_deployment_id=restore.deployment_id,
        snapshot_uuid=staged.uuid,
        include_security=restore.include_security,
    )
    return RestoredFrom(snapshot=staged.name[:255], taken_at=staged.start_time)
