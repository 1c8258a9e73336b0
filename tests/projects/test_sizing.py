from __future__ import annotations

from citadel.projects.sizing import MAX_CPU_MILLIS, MAX_MEMORY_MB, Sizing, sizing


def test_the_default_search_power_gets_half_a_cpu_and_512_mib() -> None:
    assert sizing(None) == Sizing(memory_mb=512, cpu_millis=500)


def test_more_search_power_buys_memory_and_cpu_up_to_a_ceiling() -> None:
    assert sizing(28) == Sizing(memory_mb=512, cpu_millis=250)
    assert sizing(250) == Sizing(memory_mb=1536, cpu_millis=1250)
    assert sizing(3000) == Sizing(memory_mb=MAX_MEMORY_MB, cpu_millis=MAX_CPU_MILLIS)


def test_vector_optimized_projects_get_twice_the_memory() -> None:
    assert sizing(100, "vector").memory_mb == 2 * sizing(100, "general_purpose").memory_mb
