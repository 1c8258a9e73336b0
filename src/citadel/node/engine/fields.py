"""How an Elasticsearch field lives in a tantivy index: a typed *slot*. Pure.

A tantivy schema is fixed when its index is created, while Elasticsearch mappings grow with
every new field (dynamic mapping, ``PUT _mapping``). So each tantivy index is created with a
fixed number of *slots* per kind (``ts0``, ``ts1``, … for text analysed by the standard
analyzer; ``kw0`` … for keywords; ``l0`` … for longs), and a mapped field is assigned the next
free slot of its kind when it first appears. The assignment is part of the index's mappings
record, so a field keeps its slot for the index's life. Each slot is its own tantivy field, so
BM25 statistics (document frequency, average field length) are per field, exactly as Lucene
keeps them. When a kind runs out of slots the index is rebuilt with twice as many (rare:
`SLOTS` covers hundreds of fields).

Values per kind:

- text kinds (``ts`` standard, ``te`` english, ``tw`` whitespace, ``tsi`` simple): tokenized by
  the analyzer of the kind; not fast (Elasticsearch refuses to aggregate or sort on text).
- ``kw``: the keyword (after its normalizer), raw-tokenized, fast (terms aggregations, sort).
- ``l``: 64-bit integers (long, integer, short, byte), fast.
- ``d``: 64-bit floats (double, float, half_float, scaled_float), fast.
- ``dt``: dates as **epoch milliseconds in a 64-bit integer** slot, fast.
- ``b``: booleans as the integers 0 and 1 (Elasticsearch's terms keys for booleans), fast.
- ``ip``: IP addresses as tantivy IP fields (IPv4 mapped into IPv6), fast.

Fixed fields of every tantivy index: ``_id`` (raw text, stored, fast), ``_source`` (bytes,
stored: the JSON source as given), ``_seq_no`` and ``_version`` (integers, stored, fast),
``_names`` (raw text, indexed: the path of every field the document has a value for, for
``exists`` on text fields).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SlotKind(StrEnum):
    """The kinds of slot, each one tantivy field type (and analyzer for text)."""

    TEXT_STANDARD = "ts"
    TEXT_ENGLISH = "te"
    TEXT_WHITESPACE = "tw"
    TEXT_SIMPLE = "tsi"
    KEYWORD = "kw"
    LONG = "l"
    DOUBLE = "d"
    DATE = "dt"
    BOOLEAN = "b"
    IP = "ip"

    @property
    def is_text(self) -> bool:
        return self in _TEXT_KINDS

    @property
    def is_numeric(self) -> bool:
        """Values compare as numbers (dates and booleans included)."""
        return self in (SlotKind.LONG, SlotKind.DOUBLE, SlotKind.DATE, SlotKind.BOOLEAN)


_TEXT_KINDS = frozenset(
    {SlotKind.TEXT_STANDARD, SlotKind.TEXT_ENGLISH, SlotKind.TEXT_WHITESPACE, SlotKind.TEXT_SIMPLE}
)

ID_FIELD = "_id"
SOURCE_FIELD = "_source"
SEQ_NO_FIELD = "_seq_no"
VERSION_FIELD = "_version"
NAMES_FIELD = "_names"


@dataclass(frozen=True, slots=True)
class FieldRef:
    """One mapped (leaf) field of one index, as queries and aggregations need it.

    path: the Elasticsearch field name, dotted (``author.name``, ``title.keyword``).
    es_type: the mapping type (``text``, ``keyword``, ``long``, ``date``, ``boolean``, ``ip`` …).
    slot: the tantivy field name holding the values (``kw3``); None when the field is neither
    indexed nor has doc values (``index: false`` + ``doc_values: false``), or has no slot yet.
    kind: the slot's kind.
    searchable: ``index`` is not false. aggregatable: the slot is a fast field and
    ``doc_values`` is not false (text never is).
    format: a date field's ``format`` (None: Elasticsearch's default).
    """

    path: str
    es_type: str
    slot: str | None
    kind: SlotKind
    searchable: bool = True
    aggregatable: bool = True
    format: str | None = None
