"""The engine benchmark runs end to end on a tiny corpus and its output makes sense.

Never a timing threshold: only that every contender indexed every document, answered or
refused each phase, and that the report and its markdown render.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from benchmarks.engine import bench_venv, report

from benchmarks import engine_bench

pytest.importorskip("tantivy")

DOCS, QUERIES = 300, 20
PHASES = ("match", "filtered", "terms", "date_histogram")


def run_bench(tmp_path: Path, contenders: str) -> dict[str, Any]:
    out = tmp_path / "engine.json"
    argv = [
        "--docs", str(DOCS), "--queries", str(QUERIES), "--warmup", "2",
        "--contenders", contenders, "--work-dir", str(tmp_path / "work"), "--out", str(out),
    ]  # fmt: skip
    assert engine_bench.main(argv) == 0
    return json.loads(out.read_text())


def assert_sane(result: dict[str, Any]) -> None:
    assert "error" not in result, result
    assert "skipped" not in result, result
    assert result["bulk"]["docs"] == DOCS
    assert result["bulk"]["docs_per_s"] > 0
    assert result["disk_bytes"] > 0
    assert result["peak_rss_bytes"] > 0
    for phase in PHASES:
        part = result[phase]
        assert "error" not in part, part
        if "refused" not in part:
            assert part["queries"] > 0
            assert part["p50_ms"] <= part["p99_ms"]


def test_tantivy_and_the_node_give_sane_figures(tmp_path: Path) -> None:
    run = run_bench(tmp_path, "tantivy,node")

    for name in ("tantivy", "node"):
        assert_sane(run["results"][name])
    tantivy = run["results"]["tantivy"]
    assert len(tantivy["match"]["first_answer"]) <= 10
    assert sum(tantivy["terms"]["first_answer"].values()) > 0
    assert report.render_text(run)
    assert "| node |" in report.render_markdown(run)


@pytest.mark.skipif(not bench_venv.ready(), reason="no .venv-bench with pyserini and a Java 21+")
def test_lucene_and_tantivy_agree_on_the_answers(tmp_path: Path) -> None:
    run = run_bench(tmp_path, "lucene,tantivy")

    assert_sane(run["results"]["lucene"])
    agreement = run["agreement"]["tantivy"]
    assert agreement["match_queries"] == QUERIES
    assert 0 < agreement["top10_overlap"] <= 1
    assert agreement["same_first_answer"] == {
        "filtered": True,
        "terms": True,
        "date_histogram": True,
    }
    assert run["ratios"]["tantivy / lucene"]["bulk"] > 0
