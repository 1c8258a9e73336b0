"""Analyzers and the tantivy schema of a slot layout.

Each text slot kind has one analyzer, registered on every index under the kind's name, and the
same analyzer tokenizes query text for that kind (`analyze`), so a query's terms are exactly the
indexed ones:

- ``ts`` standard: split on non-alphanumerics, drop tokens over 255 bytes, lowercase
  (Elasticsearch's ``standard`` without Unicode word-break subtleties);
- ``te`` english: standard + English stop words + the Snowball English stemmer (Elasticsearch's
  ``english`` uses the Porter stemmer: a few stems differ);
- ``tw`` whitespace: split on whitespace, nothing else;
- ``tsi`` simple: runs of letters, lowercased.
"""

from __future__ import annotations

from functools import cache

import tantivy

from citadel.node.engine import fields as f
from citadel.node.engine.fields import SlotKind
from citadel.node.engine.layout import Layout


@cache
def analyzer(kind: SlotKind) -> tantivy.TextAnalyzer:
    """The analyzer of a text slot kind (keywords: the identity, see `analyze`)."""
    if kind is SlotKind.TEXT_WHITESPACE:
        return tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build()
    if kind is SlotKind.TEXT_SIMPLE:
        return (
            tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(r"\p{L}+"))
            .filter(tantivy.Filter.lowercase())
            .build()
        )
    builder = (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(255))
        .filter(tantivy.Filter.lowercase())
    )
    if kind is SlotKind.TEXT_ENGLISH:
        builder = builder.filter(tantivy.Filter.stopword("english")).filter(
            tantivy.Filter.stemmer("english")
        )
    return builder.build()


def analyze(kind: SlotKind, text: str) -> list[str]:
    """The tokens `text` becomes in a slot of `kind` (a keyword is one token, itself)."""
    if not kind.is_text:
        return [text]
    return list(analyzer(kind).analyze(text))


def register(index: tantivy.Index) -> None:
    """Register every text kind's analyzer on `index`."""
    for kind in SlotKind:
        if kind.is_text:
            index.register_tokenizer(kind.value, analyzer(kind))


def build_schema(layout: Layout) -> tantivy.Schema:
    """The tantivy schema of a layout: the fixed fields, then every slot of every kind."""
    sb = tantivy.SchemaBuilder()
    sb.add_text_field(
        f.ID_FIELD, stored=True, fast=True, tokenizer_name="raw", index_option="basic"
    )
    sb.add_bytes_field(f.SOURCE_FIELD, stored=True)
    sb.add_integer_field(f.SEQ_NO_FIELD, stored=False, indexed=False, fast=True)
    sb.add_integer_field(f.VERSION_FIELD, stored=False, indexed=False, fast=True)
    sb.add_text_field(f.NAMES_FIELD, stored=False, tokenizer_name="raw", index_option="basic")
    for kind in SlotKind:
        for number in range(layout.capacity[kind]):
            name = f"{kind.value}{number}"
            if kind.is_text:
                sb.add_text_field(name, stored=False, tokenizer_name=kind.value)
            elif kind is SlotKind.KEYWORD:
                sb.add_text_field(
                    name, stored=False, fast=True, tokenizer_name="raw", index_option="freq"
                )
            elif kind is SlotKind.DOUBLE:
                sb.add_float_field(name, stored=False, indexed=True, fast=True)
            elif kind is SlotKind.IP:
                sb.add_ip_addr_field(name, stored=False, indexed=True, fast=True)
            else:
                sb.add_integer_field(name, stored=False, indexed=True, fast=True)
    return sb.build()
