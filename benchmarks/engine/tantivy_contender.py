"""tantivy in process (the Python binding), with the node's schema idea.

`title` and `body` are text with the `default` tokenizer (split on non-alphanumerics,
lowercase: what the standard analyzer does to this corpus's words) and stored, as a source
would be; `tag` is raw, fast and stored; `count` an indexed fast i64; `timestamp` an indexed
fast date. One writer with a 128 MB heap and one indexing thread, one commit at the end.

    python -m benchmarks.engine.tantivy_contender CORPUS_DIR INDEX_DIR OUT.json
"""

from __future__ import annotations

from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import tantivy

from benchmarks.engine.corpus import DAY_MS, parse_batch
from benchmarks.engine.phases import (
    TOP,
    own_cpu_seconds,
    proc_peak_rss,
    tree_bytes,
    worker_main,
)

HEAP_BYTES = 128_000_000


def schema() -> tantivy.Schema:
    """id (raw, stored), title and body (text, stored), tag, count and timestamp (fast)."""
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    builder.add_text_field("title", stored=True, tokenizer_name="default")
    builder.add_text_field("body", stored=True, tokenizer_name="default")
    builder.add_text_field("tag", stored=True, tokenizer_name="raw", fast=True)
    builder.add_integer_field("count", stored=True, indexed=True, fast=True)
    builder.add_date_field("timestamp", stored=True, indexed=True, fast=True)
    return builder.build()


class TantivyEngine:
    """The `Engine` of tantivy in this process."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.schema = schema()
        self.index_ = tantivy.Index(self.schema, path=str(directory))
        self.writer = self.index_.writer(HEAP_BYTES, 1)
        self.searcher: Any = None

    def prepare(self, lines: list[bytes]) -> list[bytes]:
        return lines

    def index(self, batch: list[bytes]) -> None:
        for doc_id, source in parse_batch(batch):
            stamp = datetime.fromisoformat(str(source["timestamp"]).replace("Z", "+00:00"))
            self.writer.add_document(
                tantivy.Document(
                    id=doc_id,
                    title=source["title"],
                    body=source["body"],
                    tag=source["tag"],
                    count=source["count"],
                    timestamp=stamp,
                )
            )

    def finish_indexing(self) -> None:
        self.writer.commit()
        self.writer.wait_merging_threads()
        self.index_.reload()
        self.searcher = self.index_.searcher()

    def _match_query(self, text: str) -> tantivy.Query:
        terms = [tantivy.Query.term_query(self.schema, "body", w) for w in text.lower().split()]
        if len(terms) == 1:
            return terms[0]
        return tantivy.Query.boolean_query([(tantivy.Occur.Should, t) for t in terms])

    def _count_range(self, lo: int, hi: int) -> tantivy.Query:
        return tantivy.Query.range_query(
            self.schema, "count", tantivy.FieldType.Integer, lo, hi, True, False
        )

    def _ids(self, query: tantivy.Query) -> list[str]:
        hits = self.searcher.search(query, TOP).hits
        return [self.searcher.doc(address)["id"][0] for _score, address in hits]

    def match(self, text: str) -> list[str]:
        return self._ids(self._match_query(text))

    def filtered(self, text: str, tag: str, lo: int, hi: int) -> list[str]:
        tag_query = tantivy.Query.term_query(self.schema, "tag", tag)
        query = tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Must, self._match_query(text)),
                # score-free filters, as Elasticsearch's bool filter clauses
                (tantivy.Occur.Must, tantivy.Query.const_score_query(tag_query, 0.0)),
                (
                    tantivy.Occur.Must,
                    tantivy.Query.const_score_query(self._count_range(lo, hi), 0.0),
                ),
            ]
        )
        return self._ids(query)

    def terms(self, lo: int, hi: int) -> dict[str, int]:
        agg = {"tags": {"terms": {"field": "tag", "size": 20}}}
        result = self.searcher.aggregate(self._count_range(lo, hi), agg)
        return {b["key"]: b["doc_count"] for b in result["tags"]["buckets"]}

    def date_histogram(self, lo: int, hi: int) -> dict[int, int]:
        agg = {"days": {"date_histogram": {"field": "timestamp", "fixed_interval": "1d"}}}
        result = self.searcher.aggregate(self._count_range(lo, hi), agg)
        return {
            int(b["key"]) // DAY_MS * DAY_MS: b["doc_count"]
            for b in result["days"]["buckets"]
            if b["doc_count"]
        }

    def disk_bytes(self) -> int:
        return tree_bytes(self.directory)

    def cpu_seconds(self) -> float:
        return own_cpu_seconds()

    def peak_rss_bytes(self) -> int:
        return proc_peak_rss()


def about() -> dict[str, str]:
    """What ran: the binding's version."""
    return {"engine": f"tantivy {version('tantivy')} (Python binding, in process)"}


if __name__ == "__main__":
    worker_main(TantivyEngine, about)
