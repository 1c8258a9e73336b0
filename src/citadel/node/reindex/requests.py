"""Parsing ``_reindex``, ``_update_by_query`` and ``_delete_by_query`` requests. Pure.

What this node cannot do is a 400 naming it: scripts, remote sources, slicing into more than
one slice, sorting the source, routing the destination.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from citadel.node.errors import ActionRequestValidation, IllegalArgument, ParsingError
from citadel.node.reindex.scripts import Script, parse_script
from citadel.node.search.dsl import MatchAll, Query, parse_query
from citadel.node.store import source as src
from citadel.node.store.documents import VERSION_TYPES

DEFAULT_BATCH = 1000
MAX_BATCH = 10_000
_COMMON_PARAMS = frozenset(
    {
        "refresh",
        "wait_for_completion",
        "requests_per_second",
        "slices",
        "timeout",
        "wait_for_active_shards",
        "scroll",
        "max_docs",
    }
)
_BY_QUERY_PARAMS = _COMMON_PARAMS | {
    "conflicts",
    "scroll_size",
    "ignore_unavailable",
    "allow_no_indices",
    "expand_wildcards",
}
UPDATE_PARAMS = _BY_QUERY_PARAMS | {"pipeline"}
DELETE_PARAMS = _BY_QUERY_PARAMS
REINDEX_PARAMS = _COMMON_PARAMS


@dataclass(frozen=True)
class Options:
    """What every one of the three APIs takes."""

    wait_for_completion: bool = True
    refresh: bool = False
    requests_per_second: float = -1.0
    max_docs: int | None = None
    proceed_on_conflicts: bool = False
    batch: int = DEFAULT_BATCH


@dataclass(frozen=True)
class ByQuery:
    """An ``_update_by_query`` or ``_delete_by_query`` request."""

    query: Query
    options: Options
    pipeline: str | None = None
    script: Script | None = None


@dataclass(frozen=True)
class Reindex:
    """A ``_reindex`` request."""

    source_indices: str
    query: Query
    source_filter: src.SourceFilter | None
    dest_index: str
    op_type: str
    version_type: str
    dest_pipeline: str | None
    options: Options


def check_params(params: Mapping[str, str], known: frozenset[str], path: str) -> None:
    """400 for a URL parameter this API does not take."""
    for name in params:
        if name not in known:
            raise IllegalArgument(f"request [{path}] contains unrecognized parameter: [{name}]")


def parse_options(params: Mapping[str, str], body: Mapping[str, Any]) -> Options:
    """The shared URL parameters (and ``max_docs``/``conflicts`` from the body)."""
    slices = params.get("slices", "1")
    if slices not in ("1", "auto"):
        raise IllegalArgument(f"[slices={slices}] is not supported: this node runs one slice")
    conflicts = body.get("conflicts", params.get("conflicts", "abort"))
    if conflicts not in ("abort", "proceed"):
        raise IllegalArgument(f'conflicts may only be "proceed" or "abort" but was [{conflicts}]')
    max_docs = body.get("max_docs", params.get("max_docs"))
    if "size" in body and max_docs is None:
        max_docs = body["size"]
    if max_docs is not None:
        max_docs = _int("max_docs", max_docs)
        if max_docs <= 0:
            raise ActionRequestValidation(
                f"Validation Failed: 1: maxDocs should be greater than 0 if the request is "
                f"limited to some number of documents or -1 if it isn't but it was "
                f"[{max_docs}];"
            )
    batch = _int("scroll_size", params.get("scroll_size", DEFAULT_BATCH))
    if not 0 < batch <= MAX_BATCH:
        raise IllegalArgument(f"[scroll_size] must be between 1 and {MAX_BATCH}")
    return Options(
        wait_for_completion=_flag(params, "wait_for_completion", True),
        refresh=_flag(params, "refresh", False),
        requests_per_second=parse_rate(params.get("requests_per_second")),
        max_docs=max_docs,
        proceed_on_conflicts=conflicts == "proceed",
        batch=batch,
    )


def parse_rate(value: str | None) -> float:
    """``requests_per_second``: a positive number, or ``-1``/unset for no throttling."""
    if value is None or value in ("-1", "-1.0", "unlimited"):
        return -1.0
    try:
        rate = float(value)
    except ValueError:
        raise IllegalArgument(
            f"[requests_per_second] must be a float greater than 0. Use -1 to disable "
            f"throttling. Got [{value}]"
        ) from None
    if rate <= 0:
        raise IllegalArgument(
            f"[requests_per_second] must be a float greater than 0. Use -1 to disable "
            f"throttling. Got [{value}]"
        )
    return rate


def parse_by_query(body: Any, params: Mapping[str, str], *, updating: bool) -> ByQuery:
    """An ``_update_by_query`` (`updating`) or ``_delete_by_query`` request."""
    body = body if body is not None else {}
    if not isinstance(body, Mapping):
        raise ParsingError("request body must be an object")
    known = {"query", "max_docs", "conflicts", "size"} | ({"script"} if updating else set())
    for key in body:
        if key == "slice":
            raise IllegalArgument("[slice] is not supported: this node runs one slice")
        if key not in known:
            raise ParsingError(f"Unknown key for a START_OBJECT in [{key}].")
    script = parse_script(body["script"]) if "script" in body else None
    if not updating and "query" not in body and "q" not in params:
        raise ActionRequestValidation("Validation Failed: 1: query is missing;")
    query = parse_query(body["query"]) if "query" in body else MatchAll()
    return ByQuery(query, parse_options(params, body), params.get("pipeline"), script)


_SOURCE_KEYS = frozenset({"index", "query", "size", "_source"})
_DEST_KEYS = frozenset({"index", "op_type", "pipeline", "version_type"})


def parse_reindex(body: Any, params: Mapping[str, str]) -> Reindex:
    """A ``_reindex`` request."""
    if not isinstance(body, Mapping):
        raise ActionRequestValidation("Validation Failed: 1: source is missing;")
    for key in body:
        if key not in ("source", "dest", "max_docs", "size", "conflicts", "script"):
            raise ParsingError(f"[reindex] unknown field [{key}]")
    if "script" in body:
        raise IllegalArgument("[script] is not supported: scripts do not run on this node")
    source = body.get("source")
    dest = body.get("dest")
    if not isinstance(source, Mapping):
        raise ActionRequestValidation(
            "Validation Failed: 1: use _all if you really want to copy from all existing indexes;"
        )
    if not isinstance(dest, Mapping) or not dest.get("index"):
        raise ActionRequestValidation("Validation Failed: 1: index must be specified;")
    if "remote" in source:
        raise IllegalArgument("reindex from a remote cluster is not supported by this node")
    for key in source:
        if key in ("sort", "slice"):
            raise IllegalArgument(f"[source.{key}] is not supported by this node's reindex")
        if key not in _SOURCE_KEYS:
            raise ParsingError(f"[source] unknown field [{key}]")
    for key in dest:
        if key in ("routing",):
            raise IllegalArgument("[dest.routing] is not supported: this node has no routing")
        if key not in _DEST_KEYS:
            raise ParsingError(f"[dest] unknown field [{key}]")
    indices = source.get("index")
    if isinstance(indices, list):
        indices = ",".join(str(i) for i in indices)
    if not isinstance(indices, str) or not indices:
        raise ActionRequestValidation(
            "Validation Failed: 1: use _all if you really want to copy from all existing indexes;"
        )
    op_type = dest.get("op_type", "index")
    if op_type not in ("index", "create"):
        raise IllegalArgument(f"opType must be 'create' or 'index', found: [{op_type}]")
    version_type = dest.get("version_type", "internal")
    if version_type not in VERSION_TYPES:
        raise IllegalArgument(f"No version type match [{version_type}]")
    if op_type == "create" and version_type != "internal":
        raise ActionRequestValidation(
            "Validation Failed: 1: create operations only support internal versioning. "
            "use index instead;"
        )
    options = parse_options(params, body)
    if "size" in source:
        size = _int("source.size", source["size"])
        if not 0 < size <= MAX_BATCH:
            raise IllegalArgument(f"[source.size] must be between 1 and {MAX_BATCH}")
        options = Options(**{**options.__dict__, "batch": size})
    dest_index = str(dest["index"])
    if dest_index in indices.split(","):
        raise ActionRequestValidation(
            f"Validation Failed: 1: reindex cannot write into an index its reading from "
            f"[{dest_index}];"
        )
    return Reindex(
        source_indices=indices,
        query=parse_query(source["query"]) if "query" in source else MatchAll(),
        source_filter=src.parse_source(source["_source"]) if "_source" in source else None,
        dest_index=dest_index,
        op_type=op_type,
        version_type="external" if version_type == "external_gt" else version_type,
        dest_pipeline=dest.get("pipeline"),
        options=options,
    )


def _int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise IllegalArgument(f"[{name}] must be an integer")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise IllegalArgument(
            f"Failed to parse int parameter [{name}] with value [{value}]"
        ) from None


def _flag(params: Mapping[str, str], name: str, default: bool) -> bool:
    value = params.get(name)
    if value is None:
        return default
    if value in ("", "true"):
        return True
    if value == "false":
        return False
    if name == "refresh" and value == "wait_for":
        return True
    raise IllegalArgument(f"Failed to parse value [{value}] as only [true] or [false] are allowed.")
