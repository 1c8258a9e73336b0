"""What every document of a node's tantivy index stores, read with its type: the `_id` (raw
text) and the `_source` (the JSON bytes as given). tantivy's stub types stored values as
`Any | None`; the node writes both fields on every document, so neither is ever missing."""

from __future__ import annotations

import json
from typing import Any, cast

import tantivy

from citadel.node.engine import fields as f


def stored_id(doc: tantivy.Document) -> str:
    """The document's `_id`."""
    return cast(str, doc.get_first(f.ID_FIELD))


def stored_source_bytes(doc: tantivy.Document) -> bytes:
    """The document's `_source`, the bytes it was indexed with."""
    return bytes(cast(bytes, doc.get_first(f.SOURCE_FIELD)))


def stored_source(doc: tantivy.Document) -> Any:
    """The document's `_source`, parsed."""
    return json.loads(stored_source_bytes(doc))


def hit_count(result: tantivy.SearchResult) -> int:
    """How many documents a search matched (0 when it ran with `count=False`)."""
    # tantivy 0.27's stub omits SearchResult.count, which the extension has.
    count: int | None = result.count  # type: ignore[attr-defined]
    return count or 0
