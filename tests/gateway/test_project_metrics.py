"""Project wakes and held requests in the gateway's metrics, summed over workers."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from citadel.gateway.metrics import GatewayCollector, WorkerStats


def _scrape(*stats: WorkerStats) -> dict[tuple[str, tuple], float]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GatewayCollector(lambda: [s.snapshot() for s in stats]))
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_wakes_held_requests_and_wake_time_are_summed_over_workers() -> None:
    first, second = WorkerStats(), WorkerStats()
    first.wake("ready", 0.8)
    first.wake("timed_out", 60.0)
    second.wake("ready", 1.2)
    first.held_requests, second.held_requests = 5, 2
    first.held_now, second.held_now = 1, 3
    samples = _scrape(first, second)
    assert samples[("citadel_gateway_project_wakes_total", (("outcome", "ready"),))] == 2
    assert samples[("citadel_gateway_project_wakes_total", (("outcome", "timed_out"),))] == 1
    assert samples[("citadel_gateway_held_requests_total", ())] == 7
    assert samples[("citadel_gateway_held_requests_now", ())] == 4
    bucket = "citadel_gateway_project_wake_seconds_bucket"
    assert samples[(bucket, (("le", "0.5"),))] == 0
    assert samples[(bucket, (("le", "1.0"),))] == 1
    assert samples[(bucket, (("le", "1.5"),))] == 2
    assert samples[(bucket, (("le", "60.0"),))] == 3
    assert samples[("citadel_gateway_project_wake_seconds_count", ())] == 3
    assert samples[("citadel_gateway_project_wake_seconds_sum", ())] == 62.0


def test_a_worker_that_never_woke_a_project_reports_zero() -> None:
    samples = _scrape(WorkerStats())
    assert samples[("citadel_gateway_project_wake_seconds_count", ())] == 0
    assert samples[("citadel_gateway_held_requests_total", ())] == 0
    assert not [key for key in samples if key[0] == "citadel_gateway_project_wakes_total"]
