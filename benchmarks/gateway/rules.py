"""The N source rules every contender enforces, in each contender's own form.

N - 1 distinct ``/32``s in 10/8, two apart (so that no two merge into one interval), then the
benchmark's client, ``127.0.0.1/32``, last: every request passes only through the very last
rule. Citadel receives them as rulesets of at most 128 rules (the per-ruleset limit), all
associated with the benchmarked deployment: 131,072 rules are 1,024 rulesets, the
organization's limit.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.gateway.material import ALIAS, DEPLOYMENT, DOMAIN

CLIENT = "127.0.0.1/32"
PER_RULESET = 128


def cidrs(n: int) -> list[str]:
    """N rules, the client's last."""
    base = 10 << 24
    out = []
    for i in range(n - 1):
        value = base + 2 * i
        out.append(f"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}/32")
    out.append(CLIENT)
    return out


def snapshot(n: int, node_socket: Path, *, version: int = 1) -> dict:
    """A gateway snapshot: one running deployment behind `node_socket` with N rules."""
    rules = cidrs(n) if n else []
    rulesets = {
        f"bench-{i // PER_RULESET:04d}": {"type": "ip", "sources": rules[i : i + PER_RULESET]}
        for i in range(0, len(rules), PER_RULESET)
    }
    route = {
        "id": DEPLOYMENT,
        "alias": ALIAS,
        "region": "local",
        "state": "running",
        "node_socket": str(node_socket),
        "rulesets": list(rulesets),
    }
    return {"version": version, "domain": DOMAIN, "deployments": [route], "rulesets": rulesets}


def haproxy_acl(n: int) -> str:
    """One CIDR a line, for ``acl allowed src -f FILE``."""
    return "\n".join(cidrs(n)) + "\n"


def nginx_geo(n: int) -> str:
    """``CIDR 1;`` lines, for ``geo $allowed { default 0; include FILE; }``."""
    return "".join(f"{cidr} 1;\n" for cidr in cidrs(n))
