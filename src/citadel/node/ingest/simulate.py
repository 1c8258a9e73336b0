"""``_ingest/pipeline/_simulate`` and ``_ingest/_simulate``: run pipelines, write nothing.

Response shapes are Elasticsearch's: per document ``{"doc": {...}}`` or ``{"error": {...}}``
(``null`` when dropped); with ``verbose``, ``{"processor_results": [...]}`` with one entry per
processor run (``success``, ``error``, ``error_ignored``, ``dropped``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from citadel.node.errors import EsError, IllegalArgument
from citadel.node.ingest.document import IngestDocument, java_type
from citadel.node.ingest.errors import ConfigError, PipelineMissing
from citadel.node.ingest.pipeline import Pipeline, parse_pipeline
from citadel.node.ingest.runner import Executor
from citadel.node.ingest.writes import pipelines_for, timestamp

SIMULATED_ID = "_simulate_pipeline"
MAX_DOCS = 10_000
_DOC_KEYS = frozenset(
    {
        "_index",
        "_id",
        "_routing",
        "_source",
        "_version",
        "_version_type",
        "_if_seq_no",
        "_if_primary_term",
    }
)


def parse_docs(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``docs`` of a simulate body, checked."""
    docs = body.get("docs")
    if docs is None:
        raise ConfigError("[docs] required property is missing", property_name="docs")
    if not isinstance(docs, list):
        raise ConfigError(
            f"[docs] property isn't a list, but of type [{java_type(docs)}]",
            property_name="docs",
        )
    if not docs:
        raise ConfigError("must specify at least one document in [docs]", property_name="docs")
    if len(docs) > MAX_DOCS:
        raise IllegalArgument(f"a simulation takes at most {MAX_DOCS} documents")
    out = []
    for doc in docs:
        if not isinstance(doc, Mapping):
            raise ConfigError(
                f"[docs] property isn't a list of maps, but an element is of type "
                f"[{java_type(doc)}]",
                property_name="docs",
            )
        if "_source" not in doc or not isinstance(doc["_source"], Mapping):
            raise ConfigError("[_source] required property is missing", property_name="_source")
        unknown = sorted(set(doc) - _DOC_KEYS)
        if unknown:
            raise IllegalArgument(f"unknown field [{unknown[0]}] in a simulated document")
        out.append(dict(doc))
    return out


def _ingest_document(doc: Mapping[str, Any], now: datetime) -> IngestDocument:
    metadata: dict[str, Any] = {
        "_index": str(doc.get("_index", "_index")),
        "_id": str(doc.get("_id", "_id")),
        "_version": doc.get("_version", -3),
    }
    for key in ("_routing", "_version_type", "_if_seq_no", "_if_primary_term"):
        if key in doc:
            metadata[key] = doc[key]
    return IngestDocument(_copy(doc["_source"]), metadata, {"timestamp": timestamp(now)})


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


def render_doc(doc: IngestDocument, *, with_pipeline: bool = False) -> dict[str, Any]:
    """A document as the simulate API shows it."""
    out: dict[str, Any] = {}
    for key in ("_index", "_id", "_routing"):
        if key in doc.metadata:
            out[key] = doc.metadata[key]
    out["_version"] = str(doc.metadata.get("_version", -3))
    for key in ("_version_type", "_if_seq_no", "_if_primary_term"):
        if key in doc.metadata:
            out[key] = doc.metadata[key]
    out["_source"] = _copy(doc.source)
    ingest = {k: v for k, v in doc.ingest.items() if with_pipeline or k != "pipeline"}
    out["_ingest"] = _copy(ingest)
    return out


def simulate_pipeline(
    body: Any,
    stored: Pipeline | None,
    lookup: Callable[[str], Pipeline | None],
    *,
    verbose: bool,
    now: datetime,
) -> dict[str, Any]:
    """The body of ``POST _ingest/pipeline[/{id}]/_simulate``."""
    if not isinstance(body, Mapping):
        raise ConfigError("request body or source parameter is required")
    unknown = sorted(set(body) - {"docs", "pipeline"})
    if unknown:
        raise IllegalArgument(f"unknown field [{unknown[0]}] in a simulate request")
    if stored is not None:
        pipeline = stored
    else:
        if "pipeline" not in body:
            raise ConfigError("[pipeline] required property is missing", property_name="pipeline")
        pipeline = parse_pipeline(SIMULATED_ID, body["pipeline"])
    results: list[dict[str, Any] | None] = []
    for raw in parse_docs(body):
        doc = _ingest_document(raw, now)
        if verbose:
            trace: list[dict[str, Any]] = []
            executor = Executor(
                lookup, trace=trace, render=lambda d: render_doc(d, with_pipeline=True)
            )
            with contextlib.suppress(EsError):  # the trace holds the failing processor's error
                executor.run(pipeline, doc)
            results.append({"processor_results": trace})
            continue
        try:
            kept = Executor(lookup).run(pipeline, doc)
        except EsError as exc:
            results.append({"error": exc.body()["error"]})
            continue
        results.append({"doc": render_doc(doc)} if kept else None)
    return {"docs": results}


def simulate_ingest(
    body: Any,
    default_index: str | None,
    settings_of: Callable[[str], Mapping[str, Any] | None],
    lookup: Callable[[str], Pipeline | None],
    *,
    requested: str | None,
    now: datetime,
) -> dict[str, Any]:
    """The body of ``POST _ingest[/{index}]/_simulate`` (pipelines as a write would run them)."""
    if not isinstance(body, Mapping):
        raise ConfigError("request body or source parameter is required")
    for key in body:
        if key == "docs":
            continue
        if key == "pipeline_substitutions":
            continue
        raise IllegalArgument(f"[{key}] is not supported by this node's _ingest/_simulate")
    substitutions = body.get("pipeline_substitutions") or {}
    if not isinstance(substitutions, Mapping):
        raise IllegalArgument("[pipeline_substitutions] must be an object")
    parsed = {name: parse_pipeline(name, spec) for name, spec in substitutions.items()}

    def find(name: str) -> Pipeline | None:
        return parsed[name] if name in parsed else lookup(name)

    results = []
    for raw in parse_docs(body):
        index = str(raw.get("_index", default_index or ""))
        if not index:
            raise IllegalArgument("[_index] is required for every document of _ingest/_simulate")
        doc = _ingest_document({**raw, "_index": index}, now)
        executor = Executor(find)
        error: EsError | None = None
        dropped = False
        try:
            for pipeline_id in pipelines_for(requested, settings_of(index)):
                pipeline = find(pipeline_id)
                if pipeline is None:
                    raise PipelineMissing(pipeline_id)
                if not executor.run(pipeline, doc):
                    dropped = True
                    break
        except EsError as exc:
            error = exc
        out: dict[str, Any] = {
            "_id": doc.metadata.get("_id"),
            "_index": doc.metadata.get("_index"),
            "_version": doc.metadata.get("_version", -3),
            "_source": None if dropped else doc.source,
            "executed_pipelines": list(executor.executed),
        }
        if error is not None:
            out["error"] = error.body()["error"]
        results.append({"doc": out})
    return {"docs": results}
