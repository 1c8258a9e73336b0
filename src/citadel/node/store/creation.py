"""Creating an index: the request, the templates that match, its aliases, or a data stream.

Called for ``PUT /{index}`` (`explicit`) and for the first write to a missing name. A name
matched by a data stream template becomes a data stream on a first write, and is refused by
``PUT /{index}`` (Elasticsearch's rule).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from citadel.kit.clock import Clock
from citadel.node.errors import IllegalArgument, InvalidIndexName, ParsingError
from citadel.node.store import aliases as al
from citadel.node.store import data_streams, indices, templates
from citadel.node.store import mapping as mp
from citadel.node.store.indices import Connection, IndexRecord


def create(conn: Connection, clock: Clock, name: str, body: Any, *, explicit: bool) -> IndexRecord:
    """Create index `name` (see the module docstring)."""
    mp.validate_index_name(name)
    body = indices.check_create_body(body)
    kind = indices.load_catalog(conn).kind(name)
    if kind == "alias":
        raise InvalidIndexName(
            f"Invalid index name [{name}], already exists as alias", index_uuid="_na_", index=name
        )
    if kind == "data_stream":
        raise InvalidIndexName(
            f"Invalid index name [{name}], already exists as data stream",
            index_uuid="_na_",
            index=name,
        )
    request = _request(body)
    hidden = str(request.get("settings", {}).get("index.hidden", "false")) == "true"
    found = templates.for_index(conn, name, hidden=hidden)
    if found is not None and found[1].get("data_stream") is not None and kind is None:
        if explicit:
            raise IllegalArgument(
                f"cannot create index with name [{name}], because it matches with template "
                f"[{found[0]}] that creates data streams only, use create data stream api "
                "instead"
            )
        return data_streams.create(conn, clock, name)
    composed = templates.compose_for_index(conn, name, request, hidden=hidden)
    record = indices.insert(conn, clock, name, composed.settings, composed.mappings)
    for alias, spec in composed.aliases.items():
        al.add(conn, record, alias, spec)
    if record.aliases:
        al.check_write_flags(conn, record)
        indices.save_meta(conn, record)
    return record


def _request(body: Mapping[str, Any]) -> dict[str, Any]:
    """The create request as a template part (settings flat, mappings stored form)."""
    out: dict[str, Any] = {"settings": indices.normalize_settings(body.get("settings"))}
    if body.get("mappings") is not None:
        out["mappings"] = mp.canonical(mp.normalize_mappings(body["mappings"]))
    raw = body.get("aliases")
    if raw is not None:
        if not isinstance(raw, Mapping):
            raise ParsingError("[aliases] must be an object")
        out["aliases"] = {al.validate_name(a): al.definition(a, d) for a, d in raw.items()}
    return out
