"""Snapshots, the node's side (issue 20, ADR 30): the managed repository ``found-snapshots``
with Elasticsearch's snapshot API, the ``cloud-snapshot-policy`` SLM schedule and retention, the
job queue the allocator polls, the staging of a snapshot's files and the import of a restore.

The node decides and stages; the allocator (`citadel.runtime.snapshot_worker`) moves the bytes,
encrypted, into the repository. The protocol between them is `citadel.contract.snapshot_jobs`.

- `names`, `cron`, `retention`: pure rules (date-math names, SLM schedules, what to delete);
- `jobs`: the queue in the node store, and the waiters of ``wait_for_completion``;
- `staging`: a create's files under ``.snapshots/<uuid>/``; `importing`: a restore's import;
- `service`: the use cases; `slm`: policies and their scheduler; `routes`: the HTTP edge.
"""
