"""Summaries of the rounds: medians with their spread, ratios to haproxy, a table, a chart."""

from __future__ import annotations

import statistics
from pathlib import Path

FIGURES = (
    ("c50", "requests_per_s"),
    ("c50", "p50_ms"),
    ("c50", "p99_ms"),
    ("c50", "cpu_us_per_request"),
    ("c50", "cpu_user_us_per_request"),
    ("c50", "cpu_system_us_per_request"),
    ("c1", "requests_per_s"),
    ("c1", "p50_ms"),
    ("c1", "p99_ms"),
    ("mem", "rss_mb"),
    ("handshakes", "full_per_s"),
    ("handshakes", "resumed_per_s"),
)


def summarise(rounds: dict[str, list[dict]]) -> dict[str, dict]:
    """Per contender and figure: median, min and max over the rounds."""
    out: dict[str, dict] = {}
    for key, runs in rounds.items():
        figures: dict[str, dict] = {}
        for section, name in FIGURES:
            values = [r[section][name] for r in runs if name in r.get(section, {})]
            if values:
                figures[f"{section}.{name}"] = {
                    "median": round(statistics.median(values), 3),
                    "min": min(values),
                    "max": max(values),
                    "runs": values,
                }
        out[key] = figures
    return out


def median(summary: dict[str, dict], key: str, figure: str) -> float | None:
    entry = summary.get(key, {}).get(figure)
    return None if entry is None else entry["median"]


def ratios(summary: dict[str, dict], rule_counts: list[int]) -> dict[str, float]:
    """The gateway's keep-alive requests/s over haproxy's and nginx's, like for like."""
    out: dict[str, float] = {}
    pairs = [(f"gateway-{n}", f"haproxy-{n}", f"nginx-{n}") for n in rule_counts]
    pairs += [
        ("gateway-proxy", "haproxy-proxy", None),
        ("gateway-cores", "haproxy-cores", "nginx-cores"),
    ]
    for gateway, haproxy, nginx in pairs:
        ours = median(summary, gateway, "c50.requests_per_s")
        if ours is None:
            continue
        for other in (haproxy, nginx):
            theirs = median(summary, other, "c50.requests_per_s") if other else None
            if theirs:
                out[f"{gateway} / {other}"] = round(ours / theirs, 3)
            our_cpu = median(summary, gateway, "c50.cpu_us_per_request")
            their_cpu = median(summary, other, "c50.cpu_us_per_request") if other else None
            if our_cpu and their_cpu:
                out[f"{gateway} / {other}, by CPU per request"] = round(their_cpu / our_cpu, 3)
    largest = max(rule_counts)
    mtls = median(summary, "haproxy-mtls", "c50.requests_per_s")
    ours = median(summary, f"gateway-{largest}", "c50.requests_per_s")
    if mtls and ours:
        out[f"gateway-{largest} / haproxy-mtls"] = round(ours / mtls, 3)
    return out


def added_latency(summary: dict[str, dict], rule_counts: list[int]) -> dict[str, float]:
    """p99 (one connection) the gateway adds over going direct, in ms."""
    out: dict[str, float] = {}
    direct = median(summary, "direct", "c1.p99_ms")
    for n in rule_counts:
        ours = median(summary, f"gateway-{n}", "c1.p99_ms")
        if direct is not None and ours is not None:
            out[f"gateway-{n} over direct"] = round(ours - direct, 3)
    node, through = (
        median(summary, "node-direct", "c1.p99_ms"),
        median(summary, "node-gateway", "c1.p99_ms"),
    )
    if node is not None and through is not None:
        out["gateway over direct-to-node"] = round(through - node, 3)
    return out


def _cell(summary: dict[str, dict], key: str, figure: str, digits: int = 0) -> str:
    entry = summary.get(key, {}).get(figure)
    if entry is None:
        return "-"
    text = f"{entry['median']:,.0f}" if digits == 0 else f"{entry['median']:.{digits}f}"
    if len(entry["runs"]) > 1 and entry["median"]:
        spread = (entry["max"] - entry["min"]) / entry["median"] * 100
        text += f" ±{spread / 2:.0f}%"
    return text


def table(summary: dict[str, dict], labels: dict[str, str], haproxy_key: dict[str, str]) -> str:
    """The Markdown table of docs/benchmarks.md (± is half the min-max spread over rounds)."""
    head = (
        "| contender | req/s, 50 conn | x haproxy | p99 ms, 50 conn | p50 / p99 ms, 1 conn "
        "| CPU µs/req (user + sys) | x haproxy, by CPU | RSS MB | handshakes/s full / resumed |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    rows = []
    for key, label in labels.items():
        ours = median(summary, key, "c50.requests_per_s")
        reference = median(summary, haproxy_key.get(key, ""), "c50.requests_per_s")
        ratio = f"{ours / reference:.2f}" if ours and reference else "-"
        our_cpu = median(summary, key, "c50.cpu_us_per_request")
        their_cpu = median(summary, haproxy_key.get(key, ""), "c50.cpu_us_per_request")
        cpu_ratio = f"{their_cpu / our_cpu:.2f}" if our_cpu and their_cpu else "-"
        cpu = _cell(summary, key, "c50.cpu_us_per_request", 1)
        user = median(summary, key, "c50.cpu_user_us_per_request")
        system = median(summary, key, "c50.cpu_system_us_per_request")
        if user is not None and system is not None:
            cpu += f" ({user:.1f} + {system:.1f})"
        c1 = f"{_cell(summary, key, 'c1.p50_ms', 2)} / {_cell(summary, key, 'c1.p99_ms', 2)}"
        hs = "-"
        if "handshakes.full_per_s" in summary.get(key, {}):
            full = _cell(summary, key, "handshakes.full_per_s")
            hs = f"{full} / {_cell(summary, key, 'handshakes.resumed_per_s')}"
        rows.append(
            f"| {label} | {_cell(summary, key, 'c50.requests_per_s')} | {ratio} "
            f"| {_cell(summary, key, 'c50.p99_ms', 2)} | {c1} "
            f"| {cpu} | {cpu_ratio} "
            f"| {_cell(summary, key, 'mem.rss_mb', 0)} | {hs} |"
        )
    return head + "\n".join(rows) + "\n"


def chart(summary: dict[str, dict], labels: dict[str, str], path: Path, title: str) -> None:
    """Requests/s (median, min-max whiskers) and CPU µs per request, one bar per contender."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in labels if median(summary, k, "c50.requests_per_s") is not None]
    colours = {"direct": "#999999", "haproxy": "#1f77b4", "nginx": "#2ca02c", "gateway": "#d62728"}

    def colour(key: str) -> str:
        for prefix, value in colours.items():
            if key.startswith(prefix) or key.startswith("node-" + prefix):
                return value
        return "#d62728" if "gateway" in key else "#999999"

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 9), sharex=True)
    positions = range(len(keys))
    for axis, figure, ylabel in (
        (top, "c50.requests_per_s", "requests/s (keep-alive, 50 conn)"),
        (bottom, "c50.cpu_us_per_request", "proxy CPU µs per request"),
    ):
        values, low, high = [], [], []
        for key in keys:
            entry = summary[key].get(figure)
            value = entry["median"] if entry else 0.0
            values.append(value)
            low.append(value - (entry["min"] if entry else 0.0))
            high.append((entry["max"] if entry else 0.0) - value)
        axis.bar(positions, values, yerr=[low, high], capsize=3, color=[colour(k) for k in keys])
        axis.set_ylabel(ylabel)
        axis.grid(axis="y", alpha=0.3)
    bottom.set_xticks(list(positions))
    bottom.set_xticklabels([labels[k] for k in keys], rotation=60, ha="right", fontsize=8)
    top.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
