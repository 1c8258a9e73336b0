"""What the stats and ``_cat`` APIs report about an index's one shard, read from the engine.

Segments come from the tantivy index's ``meta.json`` (written by every refresh's commit, so it
lists exactly the segments the searcher sees): each segment's id, documents (``max_doc``),
deleted documents not yet merged away, and the bytes of its files. A closed index's shard is
not opened, so it has no figures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citadel.node.store.indices import IndexRecord


@dataclass(frozen=True)
class Segment:
    """One tantivy segment: its position (generation), id, documents, deletes and bytes."""

    generation: int
    id: str
    docs: int
    deleted: int
    bytes: int


@dataclass(frozen=True)
class ShardStats:
    """One shard's figures (all zero for a shard with nothing committed yet)."""

    record: IndexRecord
    docs: int
    deleted: int
    bytes: int
    segments: tuple[Segment, ...]
    max_seq_no: int


def shard_stats(engine: Any, record: IndexRecord) -> ShardStats | None:
    """The figures of `record`'s shard (None when the index is closed)."""
    if getattr(record, "closed", False):
        return None
    shard = engine.shard(record)
    segments = read_segments(shard.directory / "index")
    return ShardStats(
        record=record,
        docs=shard.doc_count(),
        deleted=sum(s.deleted for s in segments),
        bytes=shard.size_bytes(),
        segments=segments,
        max_seq_no=int(getattr(shard, "max_seq_no", -1)),
    )


def read_segments(index_dir: Path) -> tuple[Segment, ...]:
    """The committed segments listed in a tantivy index directory's ``meta.json``."""
    try:
        meta = json.loads((index_dir / "meta.json").read_text())
    except (OSError, ValueError):
        return ()
    sizes: dict[str, int] = {}
    for path in index_dir.iterdir():
        stem = path.name.split(".", 1)[0]
        if path.is_file():
            sizes[stem] = sizes.get(stem, 0) + path.stat().st_size
    out = []
    for generation, entry in enumerate(meta.get("segments", [])):
        segment_id = str(entry.get("segment_id", ""))
        deletes = entry.get("deletes") or {}
        deleted = int(deletes.get("num_deleted_docs", 0))
        max_doc = int(entry.get("max_doc", 0))
        out.append(
            Segment(
                generation=generation,
                id=segment_id.replace("-", ""),
                docs=max_doc - deleted,
                deleted=deleted,
                bytes=sizes.get(segment_id.replace("-", ""), 0),
            )
        )
    return tuple(out)
