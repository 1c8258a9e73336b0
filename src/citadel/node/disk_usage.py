"""``_disk_usage``: the bytes of an index's committed tantivy segments, by field and by kind.

tantivy writes the postings (``.idx``), positions (``.pos``), term dictionary (``.term``) and
norms (``.fieldnorm``) of a segment as *composite* files whose footer gives each field's byte
range, so those figures are exact per field. They are attributed as Elasticsearch does: a text
or keyword field's terms are its ``inverted_index``; a numeric, date, boolean or ip field's
terms are its ``points`` (tantivy indexes numbers as terms where Lucene keeps a points tree).
Two files are not split by field: the document store (``.store``, compressed blocks of whole
documents holding ``_source`` and ``_id``) is reported under ``_source``, and the columnar
fast fields (``.fast``, the doc values) only in ``all_fields``. Term vectors and vectors do not
exist here (zero).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from citadel.node.engine import fields as f
from citadel.node.engine.fields import SlotKind
from citadel.node.engine.layout import FieldTable

_FOOTER_MAGIC = 1337
_COMPOSITE = ("idx", "pos", "term", "fieldnorm")
_POINT_KINDS = frozenset(
    {SlotKind.LONG, SlotKind.DOUBLE, SlotKind.DATE, SlotKind.BOOLEAN, SlotKind.IP}
)
_METADATA = {f.ID_FIELD: "_id", f.NAMES_FIELD: "_field_names"}


@dataclass
class Usage:
    """Bytes of one field (or of all of them) by Elasticsearch's categories."""

    inverted_index: int = 0
    stored_fields: int = 0
    doc_values: int = 0
    points: int = 0
    norms: int = 0

    @property
    def total(self) -> int:
        return self.inverted_index + self.stored_fields + self.doc_values + self.points + self.norms

    def body(self) -> dict[str, Any]:
        """The field's entry, as Elasticsearch prints it (raw byte figures)."""
        return {
            "total_in_bytes": self.total,
            "inverted_index": {"total_in_bytes": self.inverted_index},
            "stored_fields_in_bytes": self.stored_fields,
            "doc_values_in_bytes": self.doc_values,
            "points_in_bytes": self.points,
            "norms_in_bytes": self.norms,
            "term_vectors_in_bytes": 0,
            "knn_vectors_in_bytes": 0,
        }


@dataclass
class IndexUsage:
    """An index's usage: every field, all fields, and the store."""

    store_bytes: int
    all_fields: Usage = field(default_factory=Usage)
    fields: dict[str, Usage] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        """The index's entry of the ``_disk_usage`` answer."""
        return {
            "store_size_in_bytes": self.store_bytes,
            "all_fields": self.all_fields.body(),
            "fields": {name: usage.body() for name, usage in sorted(self.fields.items())},
        }


def analyze(index_dir: Path, table: FieldTable, store_bytes: int) -> IndexUsage:
    """The usage of the committed segments in `index_dir` (a tantivy index directory)."""
    try:
        meta = json.loads((index_dir / "meta.json").read_text())
    except (OSError, ValueError):
        return IndexUsage(store_bytes)
    names = [entry.get("name") for entry in meta.get("schema", [])]
    owner = _owners(table)
    out = IndexUsage(store_bytes)
    for segment in meta.get("segments", []):
        stem = str(segment.get("segment_id", "")).replace("-", "")
        for ext in _COMPOSITE:
            for field_id, size in _field_sizes(index_dir / f"{stem}.{ext}").items():
                slot = names[field_id] if field_id < len(names) else None
                _attribute(out, owner.get(slot or ""), slot, ext, size)
        stored = _file_size(index_dir / f"{stem}.store")
        out.fields.setdefault("_source", Usage()).stored_fields += stored
        out.all_fields.stored_fields += stored
        out.all_fields.doc_values += _file_size(index_dir / f"{stem}.fast")
    return out


def _owners(table: FieldTable) -> dict[str, tuple[str, SlotKind]]:
    owners: dict[str, tuple[str, SlotKind]] = {}
    for ref in table.fields.values():
        if ref.slot is not None and ref.kind is not None:
            owners.setdefault(ref.slot, (ref.path, ref.kind))
    return owners


def _attribute(
    out: IndexUsage, owner: tuple[str, SlotKind] | None, slot: str | None, ext: str, size: int
) -> None:
    if owner is None:
        if slot not in _METADATA:
            return  # an unused slot: tantivy wrote an empty section
        name, is_point = _METADATA[slot], False
    else:
        name, is_point = owner[0], owner[1] in _POINT_KINDS
    usage = out.fields.setdefault(name, Usage())
    for target in (usage, out.all_fields):
        if ext == "fieldnorm":
            target.norms += size
        elif is_point:
            target.points += size
        else:
            target.inverted_index += size


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _field_sizes(path: Path) -> dict[int, int]:
    """Bytes per field id of a tantivy composite file ({} when absent or unreadable)."""
    try:
        data = path.read_bytes()
    except OSError:
        return {}
    return composite_sections(data)


def composite_sections(data: bytes) -> dict[int, int]:
    """Bytes per field id in the sections of one composite file's bytes."""
    try:
        json_len, magic = struct.unpack("<II", data[-8:])
        if magic != _FOOTER_MAGIC:
            return {}
        body = data[: len(data) - 8 - json_len]
        footer_len = struct.unpack("<I", body[-4:])[0]
        end = len(body) - 4 - footer_len
        footer = body[end : len(body) - 4]
        count, pos = _vint(footer, 0)
        starts: list[tuple[int, int]] = []
        offset = 0
        for _ in range(count):
            delta, pos = _vint(footer, pos)
            field_id = struct.unpack("<I", footer[pos : pos + 4])[0]
            _, pos = _vint(footer, pos + 4)
            offset += delta
            starts.append((field_id, offset))
    except (struct.error, IndexError):
        return {}
    sizes: dict[int, int] = {}
    for i, (field_id, start) in enumerate(starts):
        stop = starts[i + 1][1] if i + 1 < len(starts) else end
        sizes[field_id] = sizes.get(field_id, 0) + max(0, stop - start)
    return sizes


def _vint(buf: bytes, pos: int) -> tuple[int, int]:
    """tantivy's VInt: 7 bits a byte, least significant first, the last byte's high bit set."""
    value, shift = 0, 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte & 0x80:
            return value, pos


def usage_body(usages: Mapping[str, IndexUsage]) -> dict[str, Any]:
    """The ``_disk_usage`` answer over several indices (one shard each)."""
    count = len(usages)
    return {
        "_shards": {"total": count, "successful": count, "failed": 0},
        **{name: usage.body() for name, usage in usages.items()},
    }
