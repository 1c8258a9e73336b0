"""Snapshots between a node and its allocator (issue 20, ADR 30), defined once.

The node decides: Elasticsearch's snapshot API on the managed repository ``found-snapshots``,
the ``cloud-snapshot-policy`` SLM schedule and its retention, which indices a restore takes and
under which names. The allocator moves bytes: it holds the deployment's snapshot key (derived
from the data key), reaches the repository (a shared directory or S3), encrypts, deduplicates,
verifies, and never decides anything a user asked for.

Both sides meet in the deployment's encrypted volume and on the node's socket (mTLS with the
allocator's certificate and the node's per-start token, as the metrics and audit routes):

``GET  /_citadel/snapshot-jobs``            the node's pending jobs (`SnapshotJobs`), oldest first
``POST /_citadel/snapshot-jobs/{job_id}``   the allocator's result of one (`JobResult`)
``PUT  /_citadel/snapshot-catalog``         every snapshot in the repository (`SnapshotCatalog`),
                                            sent after each job and when the node starts

A ``create`` job's content is staged by the node under ``.snapshots/<uuid>/`` of its data
directory (paths here are relative to it, ``/data`` in the sandbox):

- ``snapshot.json``: the node's description (`StagedSnapshot`), written last;
- ``files/...``: the immutable engine files the snapshot holds (hard links, so later merges
  cannot change them) and each index's translog position;
- ``store/node.db``: a consistent copy of the node's catalog (users, roles, API keys, templates,
  pipelines...), for a restore of the whole deployment.

The allocator stores every file under ``.snapshots/<uuid>/`` and nothing else; the node removes
the directory once the job's result arrives. A ``restore`` job (and a restore before the first
start, `RESTORE_INITIAL`) is the same layout written by the allocator under
``.restore/<job_id>/``: ``snapshot.json`` last, then the node imports what it needs and removes
the directory.

Pure: no I/O.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

JOBS_PATH = "/_citadel/snapshot-jobs"
CATALOG_PATH = "/_citadel/snapshot-catalog"
STAGING_DIR = ".snapshots"  # <data>/.snapshots/<uuid>/ : a create job's content
RESTORE_DIR = ".restore"  # <data>/.restore/<job_id>/ : a restore job's content
RESTORE_INITIAL = "initial"  # <data>/.restore/initial/ : filled before the node's first start
STAGED_FILE = "snapshot.json"  # written last on both sides: its presence means complete
REPOSITORY = "found-snapshots"
POLICY = "cloud-snapshot-policy"
MAX_JOBS = 100  # a node keeps at most this many pending jobs; more are refused (503)


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class JobKind(StrEnum):
    CREATE = "create"
    DELETE = "delete"
    RESTORE = "restore"


class SnapshotJob(_Message):
    """One thing the node asks its allocator to do."""

    job_id: StrictStr = Field(max_length=64)
    kind: JobKind
    snapshot: StrictStr = Field(max_length=255)  # the snapshot's name
    uuid: StrictStr = Field(max_length=64)  # the snapshot's uuid (create: the new one)
    indices: tuple[StrictStr, ...] = ()  # restore: the indices to fetch; empty: all
    include_store: StrictBool = False  # restore: fetch store/node.db too
    created_at: float  # epoch seconds


class SnapshotJobs(_Message):
    """`GET /_citadel/snapshot-jobs`."""

    jobs: tuple[SnapshotJob, ...] = Field(default=(), max_length=MAX_JOBS)


class JobResult(_Message):
    """`POST /_citadel/snapshot-jobs/{job_id}`: done (the snapshot's entry for a create), or
    failed with a reason the node shows the user."""

    ok: StrictBool
    reason: StrictStr = Field(default="", max_length=4096)
    snapshot: SnapshotEntry | None = None


class IndexSnapshot(_Message):
    """One index in a snapshot, as the node staged it: its metadata (mappings, settings,
    aliases: what the node needs to recreate it), its files and its translog position."""

    name: StrictStr
    uuid: StrictStr
    files: tuple[StrictStr, ...]  # paths under the snapshot directory, "files/..."
    doc_count: StrictInt = 0
    metadata: dict[str, Any] = Field(default_factory=dict)
    translog: dict[str, Any] = Field(default_factory=dict)  # generation, seq_no, ...


class StagedSnapshot(_Message):
    """``snapshot.json``: what a snapshot holds, as the node staged it (and as a restore
    directory describes what the allocator fetched)."""

    name: StrictStr
    uuid: StrictStr
    start_time: float  # epoch seconds
    indices: tuple[IndexSnapshot, ...] = ()
    store: StrictStr | None = "store/node.db"  # None: not included
    global_metadata: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] | None = None  # the user's ``metadata`` of the create request
    policy: StrictStr | None = None  # the SLM policy that took it; None: on demand


class SnapshotEntry(_Message):
    """One snapshot in the repository, as ``GET _snapshot/found-snapshots/_all`` shows it."""

    name: StrictStr
    uuid: StrictStr
    state: StrictStr  # SUCCESS | FAILED | PARTIAL
    start_time: float
    end_time: float
    indices: tuple[StrictStr, ...] = ()
    size_bytes: StrictInt = 0  # of its files (before deduplication)
    new_bytes: StrictInt = 0  # written by this snapshot (not already in the repository)
    file_count: StrictInt = 0
    metadata: dict[str, Any] | None = None
    policy: StrictStr | None = None
    reason: StrictStr | None = None


class SnapshotCatalog(_Message):
    """`PUT /_citadel/snapshot-catalog`: every snapshot the repository holds for this
    deployment, oldest first."""

    snapshots: tuple[SnapshotEntry, ...] = ()


JobResult.model_rebuild()
