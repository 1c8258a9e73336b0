"""Pipelines on the write path: which pipelines a document goes through, and running them.

As in Elasticsearch: the request's ``pipeline`` (``_none`` for none) replaces the index's
``index.default_pipeline``; ``index.final_pipeline`` always runs last and may not change the
target index. A pipeline may change ``_index`` and ``_id``; the document is then written
there (the new index's pipelines are not run again: a difference from Elasticsearch, which
re-resolves the default pipeline of the new index).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from citadel.node.errors import IllegalArgument
from citadel.node.ingest.document import IngestDocument
from citadel.node.ingest.errors import PipelineMissing
from citadel.node.ingest.pipeline import Pipeline
from citadel.node.ingest.runner import Executor
from citadel.node.ingest.stats import STATS

NONE = "_none"
DEFAULT_SETTING = "index.default_pipeline"
FINAL_SETTING = "index.final_pipeline"


@dataclass(frozen=True)
class Ingested:
    """A document after its pipelines: where it goes, or that it was dropped."""

    index: str
    id: str | None
    source: Any
    dropped: bool = False
    executed: tuple[str, ...] = ()


def pipelines_for(requested: str | None, settings: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The pipeline ids a write runs, in order."""
    settings = settings or {}
    first = requested if requested is not None else settings.get(DEFAULT_SETTING)
    out = []
    if first and first != NONE:
        out.append(str(first))
    final = settings.get(FINAL_SETTING)
    if final and final != NONE:
        out.append(str(final))
    return tuple(out)


def timestamp(now: datetime) -> str:
    """``_ingest.timestamp`` as Elasticsearch prints a ZonedDateTime in UTC."""
    text = now.strftime("%Y-%m-%dT%H:%M:%S")
    if now.microsecond:
        text += f".{now.microsecond:06d}".rstrip("0")
    return text + "Z"


def ingest(
    lookup: Callable[[str], Pipeline | None],
    *,
    index: str,
    doc_id: str | None,
    source: Any,
    requested: str | None,
    settings: Mapping[str, Any] | None,
    now: datetime,
) -> Ingested | None:
    """Run the write's pipelines over `source`; None when there are none."""
    ids = pipelines_for(requested, settings)
    if not ids:
        return None
    if not isinstance(source, dict):
        raise IllegalArgument("a document run through a pipeline must be a JSON object")
    final = settings.get(FINAL_SETTING) if settings else None
    metadata: dict[str, Any] = {"_index": index, "_version": -3, "_version_type": "internal"}
    if doc_id is not None:
        metadata["_id"] = doc_id
    doc = IngestDocument(source, metadata, {"timestamp": timestamp(now)})
    executor = Executor(lookup)
    for number, pipeline_id in enumerate(ids):
        pipeline = lookup(pipeline_id)
        if pipeline is None:
            raise PipelineMissing(pipeline_id)
        before = doc.metadata.get("_index")
        with STATS.running(pipeline_id, first=number == 0):
            kept = executor.run(pipeline, doc)
        if not kept:
            return Ingested(index, doc_id, None, dropped=True, executed=tuple(executor.executed))
        if pipeline_id == final and requested != final and doc.metadata.get("_index") != before:
            raise IllegalArgument(f"final pipeline [{pipeline_id}] can't change the target index")
    target = doc.metadata.get("_index") or index
    new_id = doc.metadata.get("_id")
    return Ingested(
        str(target),
        str(new_id) if new_id is not None else None,
        doc.source,
        executed=tuple(executor.executed),
    )
