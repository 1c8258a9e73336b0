"""Executing an enrich policy: its source documents copied into a new hidden enrich index.

The index is ``.enrich-{policy}-{epoch millis}``, mapped ``dynamic: false`` with the match
field as a keyword (Elasticsearch's mapping for ``match``); each source document with a match
field value becomes one enrich document holding the match field and the enrich fields found.
The source is read from one searcher snapshot (as `citadel.node.reindex.run` reads) and the
index written in one catalog transaction; the previous enrich index is then deleted and the
node's `citadel.node.enrich.lookup.EnrichIndices` points at the new one. At most
`MAX_ENRICH_DOCS` documents (a larger source is a 400: the node keeps enrich data in memory-
friendly bounds).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from citadel.kit.clock import Clock
from citadel.node.engine.engine import Engine
from citadel.node.enrich import catalog
from citadel.node.enrich.policies import Policy
from citadel.node.errors import IllegalArgument
from citadel.node.reindex.run import count, scan
from citadel.node.search import service
from citadel.node.search.dsl import MatchAll, parse_query
from citadel.node.store import indices
from citadel.node.store import mapping as mp
from citadel.node.store.connection import Store
from citadel.node.store.documents import WriteSession
from citadel.node.store.indices import IndexRecord

MAX_ENRICH_DOCS = 1_000_000
_BATCH = 1_000
_MISSING = object()


def value_at(source: Mapping[str, Any], path: str) -> Any:
    """The value at dotted `path` (nested objects or dotted keys), or `_MISSING`."""
    if path in source:
        return source[path]
    parts = path.split(".")
    for cut in range(1, len(parts)):
        child = source.get(".".join(parts[:cut]))
        if isinstance(child, Mapping):
            found = value_at(child, ".".join(parts[cut:]))
            if found is not _MISSING:
                return found
    return _MISSING


def enrich_document(policy: Policy, source: Mapping[str, Any]) -> dict[str, Any] | None:
    """The enrich document for one source document; None without a match field value."""
    match = value_at(source, policy.match_field)
    if match is _MISSING or match is None:
        return None
    out: dict[str, Any] = {policy.match_field: match}
    for name in policy.enrich_fields:
        value = value_at(source, name)
        if value is not _MISSING:
            out[name] = value
    return out


def _check_sources(policy: Policy, records: list[IndexRecord]) -> None:
    for record in records:
        mapped = _mapping_of(record.mappings, policy.match_field)
        kind = mp.field_type(mapped) if mapped is not None else None
        if policy.type == "range" and (kind is None or not kind.endswith("_range")):
            raise IllegalArgument(
                f"Field '{policy.match_field}' has type [{kind}] which doesn't appear to be a "
                "range type"
            )


def _mapping_of(mappings: Mapping[str, Any], path: str) -> Mapping[str, Any] | None:
    node: Any = mappings
    for part in path.split("."):
        props = node.get("properties") if isinstance(node, Mapping) else None
        if not isinstance(props, Mapping) or part not in props:
            return None
        node = props[part]
    return node if isinstance(node, Mapping) else None


def execute(store: Store, engine: Engine, clock: Clock, name: str) -> tuple[Policy, IndexRecord]:
    """Build policy `name`'s enrich index; (policy, the new index)."""
    with store.read() as conn:
        policy, _ = catalog.get(conn, name)
        records = indices.resolve(conn, ",".join(policy.indices), allow_no_indices=False)
    _check_sources(policy, records)
    query = parse_query(policy.query) if policy.query is not None else MatchAll()
    found = service.targets(engine, records, query, now=clock.now(), scoring=False)
    if count(found) > MAX_ENRICH_DOCS:
        raise IllegalArgument(
            f"enrich policy [{name}] matches more than {MAX_ENRICH_DOCS} source documents"
        )
    index_name = f".enrich-{name}-{int(clock.now().timestamp() * 1000)}"
    mappings = {"dynamic": "false", "properties": _nested(policy.match_field)}
    settings = {
        "index.hidden": "true",
        "index.number_of_shards": "1",
        "index.number_of_replicas": "0",
    }
    old: IndexRecord | None = None
    with store.write() as conn:
        _, previous = catalog.get(conn, name)
        record = indices.insert(conn, clock, index_name, settings, mappings)
        session = WriteSession(conn, clock, lambda _privilege, _index: None, engine)
        for hits in scan(found, _BATCH, None):
            for hit in hits:
                doc = enrich_document(policy, hit.source)
                if doc is not None:
                    session.index(index_name, None, doc, pipeline="_none")
        session.save()
        catalog.set_index(conn, name, index_name)
        if previous is not None:
            old = indices.load_index(conn, previous)
            if old is not None:
                indices.delete(conn, old)
        record = indices.load_index(conn, index_name) or record
    engine.refresh(record.uuid)
    if old is not None:
        engine.drop(old.uuid)
    return policy, record


def _nested(path: str) -> dict[str, Any]:
    *parents, leaf = path.split(".")
    node: dict[str, Any] = {leaf: {"type": "keyword"}}
    for part in reversed(parents):
        node = {part: {"properties": node}}
    return node
