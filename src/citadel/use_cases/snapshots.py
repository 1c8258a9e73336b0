"""The shred of deleted deployments' snapshots (issue 20, ADR 30): a periodic chore.

A deleted deployment's data key is kept for ``deleted_snapshot_retention_days`` so its
snapshots can be restored into a new deployment; after its `shred_after` the key is destroyed
(its snapshots are unreadable from then on) and the repository's data of the deployment is
deleted. With no retention the key went with the delete and only the data is left to delete.

Each deployment is three steps, so a slow or failing repository holds no database lock and
loses nothing: destroy the key (a write, committed), delete the data (no transaction open),
then record that nothing is left (a write). A round that fails to delete leaves `shred_after`
set and the next round tries again; the key is gone either way. Callable on its own (the
control plane runs it with its chores, under a lease when there are replicas).
"""

from __future__ import annotations

from citadel.contract.messages import SnapshotRepository
from citadel.deployments import snapshots
from citadel.log import get_logger
from citadel.snapshots.repository import open_repository
from citadel.snapshots.store import delete_all
from citadel.use_cases.units import Units

log = get_logger(__name__)


def shred_expired_snapshots(units: Units, repository: SnapshotRepository) -> list[str]:
    """Destroy the keys and delete the snapshots of deleted deployments past their retention;
    returns the ids of those whose snapshots are gone now."""
    with units.read() as ctx:
        due = snapshots.due_for_shredding(ctx)
    if not due:
        return []
    store = open_repository(repository)
    done = []
    for deployment_id in due:
        with units.write() as ctx:
            snapshots.shred_key(ctx, deployment_id)
        try:
            delete_all(store, deployment_id)
        except Exception:
            log.exception("snapshots.shred_failed", deployment_id=deployment_id)
            continue
        with units.write() as ctx:
            snapshots.snapshots_deleted(ctx, deployment_id)
        log.info("snapshots.shredded", deployment_id=deployment_id)
        done.append(deployment_id)
    return done
