"""The caps' arithmetic: counts per client address and per deployment, and each worker's share
of a gateway-wide setting."""

from __future__ import annotations

from citadel.config import load_settings
from citadel.gateway.admission import Admission, per_worker
from citadel.roots.gateway import worker_limits


def _admission() -> Admission:
    return Admission(
        max_connections_per_client=2, max_requests_per_client=1, max_upstreams_per_deployment=1
    )


def test_a_cap_admits_up_to_its_count_and_again_after_a_release() -> None:
    admission = _admission()
    assert admission.open_connection("192.0.2.1")
    assert admission.open_connection("192.0.2.1")
    assert not admission.open_connection("192.0.2.1")
    assert admission.open_connection("192.0.2.2")  # another address has its own count
    admission.close_connection("192.0.2.1")
    assert admission.open_connection("192.0.2.1")


def test_released_counts_leave_no_entry_behind() -> None:
    admission = _admission()
    assert admission.start_request("192.0.2.1")
    assert not admission.start_request("192.0.2.1")
    admission.end_request("192.0.2.1")
    assert admission.requests == {}
    assert admission.reserve_upstream("/d/a.sock")
    assert not admission.reserve_upstream("/d/a.sock")
    admission.release_upstream("/d/a.sock")
    admission.release_upstream("/d/a.sock")  # once too often: never below zero
    assert admission.upstreams == {}


def test_each_worker_gets_its_share_of_the_gateway_wide_caps() -> None:
    assert per_worker(256, 1) == 256
    assert per_worker(5, 2) == 3
    assert per_worker(1, 8) == 1
    settings = load_settings(
        gateway_max_connections_per_client=5,
        gateway_max_requests_per_client=3,
        gateway_max_upstreams_per_deployment=1025,
    )
    limits = worker_limits(settings, 2)
    assert limits.max_connections_per_client == 3  # an address's share, rounded up
    assert limits.max_requests_per_client == 2
    assert limits.max_upstreams_per_deployment == 512  # together never above the setting
