"""What a project's search power buys (ADR 29): pure, no I/O.

A project has no size to choose. Its instance's memory limit and CPU quota follow its
`search_power` (28-3000, default `DEFAULT_SEARCH_POWER`), doubled memory for a project
``optimized_for: vector`` (uncompressed vectors); Observability and Security projects, which
have no search power in the API, run at the default. The memory is also what the project
weighs against the platform's warm budget (`project_warm_memory_mb`).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_SEARCH_POWER = 100
MIN_MEMORY_MB, MAX_MEMORY_MB = 512, 8192
MEMORY_MB_PER_100 = 512
"""Each started 100 of search power adds this much memory."""
MIN_CPU_MILLIS, MAX_CPU_MILLIS = 250, 4000
CPU_MILLIS_PER_POWER = 5
"""A search power of 100 gets half a CPU; 800 and above get four."""


@dataclass(frozen=True)
class Sizing:
    """An instance's limits: memory in MiB (its ``size``) and a CPU quota in thousandths of a
    CPU."""

    memory_mb: int
    cpu_millis: int


def sizing(search_power: int | None, optimized_for: str | None = None) -> Sizing:
    """The limits of a project with this search power (None: the default)."""
    power = DEFAULT_SEARCH_POWER if search_power is None else search_power
    hundreds = -(-power // 100)
    memory = hundreds * MEMORY_MB_PER_100 * (2 if optimized_for == "vector" else 1)
    return Sizing(
        memory_mb=min(MAX_MEMORY_MB, max(MIN_MEMORY_MB, memory)),
        cpu_millis=min(MAX_CPU_MILLIS, max(MIN_CPU_MILLIS, power * CPU_MILLIS_PER_POWER)),
    )
