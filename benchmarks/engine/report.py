"""Agreement with Lucene, ratios, and the tables (plain text for the terminal, markdown for
docs/benchmarks.md) of one engine benchmark run."""

from __future__ import annotations

import statistics
from typing import Any

CONTENDERS = ("node", "node-gocryptfs", "tantivy", "lucene")
QUERY_PHASES = ("match", "filtered", "terms", "date_histogram")
BASELINE = "lucene"


def overlap(ids: list[str], reference: list[str]) -> float:
    """Share of the larger of two top-10 id sets that both hold (1.0 when both are empty)."""
    a, b = set(ids), set(reference)
    return 1.0 if not a and not b else len(a & b) / max(len(a), len(b))


def agreement(result: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any] | None:
    """Top-10 overlap on the match queries both answered, and whether the first filtered
    query and the first aggregation of each kind gave the same answer as the reference."""
    mine, theirs = result.get("match", {}), reference.get("match", {})
    if "top_ids" not in mine or "top_ids" not in theirs:
        return None
    pairs = list(zip(mine["top_ids"], theirs["top_ids"], strict=False))
    same = {
        phase: result[phase]["first_answer"] == reference[phase]["first_answer"]
        for phase in ("filtered", "terms", "date_histogram")
        if "first_answer" in result.get(phase, {}) and "first_answer" in reference.get(phase, {})
    }
    return {
        "match_queries": len(pairs),
        "top10_overlap": round(statistics.fmean(overlap(a, b) for a, b in pairs), 4),
        "identical_top10_sets": sum(set(a) == set(b) for a, b in pairs),
        "same_first_answer": same,
    }


def rate(result: dict[str, Any] | None, phase: str) -> float | str | None:
    """Requests (or documents) per second of a phase, ``refused``, or None if not measured."""
    if not result or "error" in result or "skipped" in result:
        return None
    if phase == "bulk":
        return result["bulk"]["docs_per_s"]
    part = result.get(phase, {})
    if "refused" in part:
        return "refused"
    return "error" if "error" in part else part.get("queries_per_s")


def ratio(top: float | str | None, bottom: float | str | None) -> float | str | None:
    """top ÷ bottom, or ``refused`` when the top contender refused, None when unknown."""
    for word in ("refused", "error"):
        if word in (top, bottom):
            return word
    if not isinstance(top, float | int) or not isinstance(bottom, float | int) or not bottom:
        return None
    return round(top / bottom, 3)


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """node ÷ Lucene, tantivy ÷ Lucene and encrypted ÷ plain node, per phase."""
    out: dict[str, dict[str, Any]] = {}
    base = results.get(BASELINE)
    for name in ("node", "tantivy"):
        out[f"{name} / lucene"] = {
            phase: ratio(rate(results.get(name), phase), rate(base, phase))
            for phase in ("bulk", *QUERY_PHASES)
        }
    out["node-gocryptfs / node"] = {
        phase: ratio(rate(results.get("node-gocryptfs"), phase), rate(results.get("node"), phase))
        for phase in ("bulk", *QUERY_PHASES)
    }
    return out


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return f"{value:,.{digits}f}"


def _phase_rate(result: dict[str, Any], phase: str) -> str:
    part = result.get(phase, {})
    if "refused" in part:
        return "refused"
    if "error" in part:
        return "error"
    text = _num(part.get("queries_per_s"))
    return text if part.get("complete", True) else f"{text} ({part['queries']} done)"


def throughput_rows(run: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """One row per contender: bulk, query rates, size, memory, agreement, load."""
    header = [
        "contender", "bulk docs/s", "match q/s", "filtered q/s", "terms q/s",
        "date_histogram q/s", "disk MB", "peak RSS MB", "top-10 vs Lucene", "load",
    ]  # fmt: skip
    rows = []
    for name in CONTENDERS:
        r = run["results"].get(name)
        if r is None:
            continue
        if "error" in r or "skipped" in r:
            rows.append([name, r.get("error") or f"skipped: {r['skipped']}"] + [""] * 8)
            continue
        agree = run["agreement"].get(name)
        rows.append(
            [
                name,
                _num(r["bulk"]["docs_per_s"]),
                *(_phase_rate(r, p) for p in QUERY_PHASES),
                _num(r["disk_bytes"] / 1e6, 1),
                _num(r["peak_rss_bytes"] / 1e6),
                "-" if agree is None else f"{agree['top10_overlap']:.3f}",
                "/".join(f"{x:.1f}" for x in r["load_average_1m"]),
            ]
        )
    return header, rows


def latency_rows(run: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """One row per contender and phase: p50, p99, CPU per request (bulk: CPU per document)."""
    header = ["contender", "phase", "p50 ms", "p99 ms", "CPU ms/query"]
    rows = []
    for name in CONTENDERS:
        r = run["results"].get(name)
        if r is None or "error" in r or "skipped" in r:
            continue
        rows.append([name, "bulk", "", "", f"{r['bulk']['cpu_us_per_doc'] / 1000:.3f}/doc"])
        for phase in QUERY_PHASES:
            part = r[phase]
            if "refused" in part or "error" in part:
                word = "refused" if "refused" in part else "error"
                rows.append([name, phase, word, "", ""])
                continue
            rows.append(
                [
                    name,
                    phase,
                    f"{part['p50_ms']:.2f}",
                    f"{part['p99_ms']:.2f}",
                    f"{part['cpu_ms_per_query']:.3f}",
                ]
            )
    return header, rows


def ratio_rows(run: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The ratios table."""
    header = ["ratio", "bulk", *QUERY_PHASES]
    rows = [
        [name, *(_num(values[p], 2) for p in ("bulk", *QUERY_PHASES))]
        for name, values in run["ratios"].items()
    ]
    return header, rows


def text_table(header: list[str], rows: list[list[str]]) -> str:
    """Aligned plain text: first column left, the others right."""
    widths = [max(len(c) for c in column) for column in zip(header, *rows, strict=True)]
    lines = [header, ["-" * w for w in widths], *rows]
    return "\n".join(
        "  ".join(
            [cells[0].ljust(widths[0])]
            + [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        )
        for cells in lines
    )


def markdown_table(header: list[str], rows: list[list[str]], *, text_columns: int = 1) -> str:
    """A GitHub markdown table: the first `text_columns` left-aligned, numbers right-aligned."""
    align = "|" + "---|" * text_columns + "---:|" * (len(header) - text_columns)
    lines = ["| " + " | ".join(header) + " |", align]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def caption(run: dict[str, Any]) -> str:
    """When, on what, with how much, and how busy the machine was."""
    m, p = run["machine"], run["parameters"]
    return (
        f"{m['measured_at']}, {m['cpus']} CPUs ({m['cpu_model']}), {m['os']}, "
        f"Python {m['python']}; {p['docs']:,} documents, {p['match_queries']:,} match, "
        f"{p['filtered_queries']:,} filtered and {p['aggregations']:,} of each aggregation; "
        f"load average {run['load_average_1m'][0]:.1f} before, "
        f"{run['load_average_1m'][1]:.1f} after"
    )


def render_text(run: dict[str, Any]) -> str:
    """The terminal's tables."""
    return "\n\n".join(
        [
            caption(run),
            text_table(*throughput_rows(run)),
            text_table(*latency_rows(run)),
            text_table(*ratio_rows(run)),
        ]
    )


def render_markdown(run: dict[str, Any]) -> str:
    """The tables for docs/benchmarks.md."""
    return "\n\n".join(
        [
            f"Measured {caption(run)}.",
            markdown_table(*throughput_rows(run)),
            markdown_table(*latency_rows(run), text_columns=2),
            markdown_table(*ratio_rows(run)),
        ]
    )
