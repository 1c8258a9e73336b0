"""Traffic-filter benchmark: `Filter.decide` decisions per second and `Filter.compile` time.

Three sizes of one deployment's filter: 1 rule, 128 rules (one ruleset) and 131,072 rules
(1,024 rulesets of 128). Rules are random CIDRs of mixed prefix lengths, about one in ten
IPv6. The clients, built once with `Client.of` as the gateway does per connection, are half
addresses inside a random rule (matching) and half random addresses that match nothing, about
one in ten IPv6. Each run times a tight loop of ``--decisions`` calls over the clients; the
figure is the median over ``--runs`` runs, interleaved across sizes, per wall-clock second and
per CPU second of this process (the latter robust when the machine is busy). Compile time is
the median of ``--runs`` compilations. Usage::

    .venv/bin/python -m benchmarks.filter_bench [--runs 7] [--decisions 200000] [--out FILE]
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.report import machine
from benchmarks.timing import load_average
from citadel.traffic_filters.matching import Client, Filter, RulesetRules, Verdict

RULES_PER_RULESET = 128
SIZES = {"1 rule": (1, 1), "128 rules": (1, 128), "131,072 rules": (1024, 128)}
V4_PREFIXES = (16, 18, 20, 22, 24, 24, 26, 28, 29, 30, 32, 32)
V6_PREFIXES = (32, 48, 56, 64, 64, 128)
CLIENTS = 4096


@dataclass(frozen=True)
class Setup:
    """One size: its rulesets, the compiled filter and the clients to decide about."""

    name: str
    rulesets: list[RulesetRules]
    compiled: Filter
    clients: list[Client]


def random_network(rng: random.Random) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if rng.random() < 0.1:
        prefix = rng.choice(V6_PREFIXES)
        return ipaddress.IPv6Network((rng.getrandbits(128), prefix), strict=False)
    return ipaddress.IPv4Network((rng.getrandbits(32), rng.choice(V4_PREFIXES)), strict=False)


def make_rulesets(rng: random.Random, count: int, per_ruleset: int) -> list[RulesetRules]:
    return [
        RulesetRules(
            f"ruleset-{n:04d}",
            "ip",
            tuple(str(random_network(rng)) for _ in range(per_ruleset)),
        )
        for n in range(count)
    ]


def make_clients(
    rng: random.Random, rulesets: list[RulesetRules], compiled: Filter
) -> list[Client]:
    """Half inside a random rule's network, half random addresses the filter blocks; shuffled."""
    sources = [source for ruleset in rulesets for source in ruleset.sources]
    texts: list[str] = []
    for _ in range(CLIENTS // 2):
        net = ipaddress.ip_network(rng.choice(sources))
        texts.append(str(net.network_address + rng.randrange(net.num_addresses)))
    while len(texts) < CLIENTS:
        if rng.random() < 0.1:
            text = str(ipaddress.IPv6Address(rng.getrandbits(128)))
        else:
            text = str(ipaddress.IPv4Address(rng.getrandbits(32)))
        if not compiled.decide(Client.of(text)).allowed:
            texts.append(text)
    rng.shuffle(texts)
    return [Client.of(text) for text in texts]


def decisions_per_s(setup: Setup, decisions: int) -> tuple[float, float]:
    """One run: ``decisions`` calls of `Filter.decide` in a tight loop; per wall and CPU second."""
    decide, clients = setup.compiled.decide, setup.clients
    rounds, rest = divmod(decisions, len(clients))
    gc.collect()
    cpu_start, start = time.process_time_ns(), time.perf_counter_ns()
    for _ in range(rounds):
        for client in clients:
            decide(client)
    for client in clients[:rest]:
        decide(client)
    wall, cpu = time.perf_counter_ns() - start, time.process_time_ns() - cpu_start
    return decisions / (wall / 1e9), decisions / (max(cpu, 1) / 1e9)


def compile_ms(rulesets: list[RulesetRules]) -> float:
    gc.collect()
    start = time.perf_counter_ns()
    Filter.compile(rulesets)
    return (time.perf_counter_ns() - start) / 1e6


def client_of_per_s(texts: list[str]) -> float:
    start = time.perf_counter_ns()
    for text in texts:
        Client.of(text)
    return len(texts) / ((time.perf_counter_ns() - start) / 1e9)


def prepare(seed: int) -> list[Setup]:
    rng = random.Random(seed)
    setups = []
    for name, (count, per_ruleset) in SIZES.items():
        rulesets = make_rulesets(rng, count, per_ruleset)
        compiled = Filter.compile(rulesets)
        setups.append(Setup(name, rulesets, compiled, make_clients(rng, rulesets, compiled)))
    return setups


def measure(setups: list[Setup], *, runs: int, decisions: int) -> list[dict[str, object]]:
    rates: dict[str, list[float]] = {s.name: [] for s in setups}
    cpu_rates: dict[str, list[float]] = {s.name: [] for s in setups}
    compiles: dict[str, list[float]] = {s.name: [] for s in setups}
    for setup in setups:  # warm-up
        decisions_per_s(setup, len(setup.clients))
    for _ in range(runs):
        for setup in setups:
            rate, cpu_rate = decisions_per_s(setup, decisions)
            rates[setup.name].append(rate)
            cpu_rates[setup.name].append(cpu_rate)
            compiles[setup.name].append(compile_ms(setup.rulesets))
    results = []
    for setup in setups:
        verdicts = [setup.compiled.decide(client) for client in setup.clients]
        rate = statistics.median(rates[setup.name])
        results.append(
            {
                "name": setup.name,
                "rulesets": len(setup.rulesets),
                "rules": setup.compiled.rule_count,
                "decisions_per_s": round(rate),
                "ns_per_decision": round(1e9 / rate, 1),
                "run_decisions_per_s": [round(r) for r in rates[setup.name]],
                "cpu_decisions_per_s": round(statistics.median(cpu_rates[setup.name])),
                "allowed_fraction": round(
                    verdicts.count(Verdict.ALLOWED_BY_IP_FILTER) / len(verdicts), 3
                ),
                "compile_ms": round(statistics.median(compiles[setup.name]), 2),
                "run_compile_ms": [round(c, 2) for c in compiles[setup.name]],
            }
        )
    return results


def render(results: list[dict[str, object]], client_of: float) -> str:
    lines = [
        "| filter | rules | decisions/s | ns/decision | per CPU second | allowed | compile ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['name']} | {r['rules']:,} | {r['decisions_per_s']:,} | {r['ns_per_decision']} "
            f"| {r['cpu_decisions_per_s']:,} | {r['allowed_fraction']:.0%} | {r['compile_ms']} |"
        )
    lines.append(f"\n`Client.of` (once per connection): {client_of:,.0f} per second")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--decisions", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    setups = prepare(args.seed)
    load_before = load_average()
    results = measure(setups, runs=args.runs, decisions=args.decisions)
    texts = [client.ip or "" for client in setups[-1].clients]
    client_of = statistics.median(client_of_per_s(texts) for _ in range(args.runs))
    report = {
        "benchmark": "filter",
        "machine": machine(),
        "runs": args.runs,
        "decisions_per_run": args.decisions,
        "results": results,
        "client_of_per_s": round(client_of),
        "load_average_1m": [load_before, load_average()],
    }
    for result in results:
        print(json.dumps(result), flush=True)
    print(render(results, client_of))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
