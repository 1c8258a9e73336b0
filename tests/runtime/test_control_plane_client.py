"""The allocator's side of the internal contract (ADR 17) against the stand-in, over mTLS:
conditional allocations, typed reports, and the refusals a component can meet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from citadel.contract.client import ContractMismatch, ControlPlane, ControlPlaneUnavailable
from citadel.contract.messages import DesiredState, ObservedState, StatusReport
from citadel.kit.ids import new_id
from tests.runtime.standin import StandInControlPlane, stand_in


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[StandInControlPlane]:
    standin = stand_in(tmp_path)
    try:
        yield standin
    finally:
        standin.stop()


@pytest.fixture
def allocator(plane: StandInControlPlane) -> Iterator[ControlPlane]:
    client = ControlPlane(plane.url, plane.component("allocator"))
    try:
        yield client
    finally:
        client.close()


def test_unchanged_allocations_are_not_sent_again(plane, allocator) -> None:
    dep_id = new_id()
    plane.allocate(dep_id, 100_001, password="pw-1")

    first = allocator.allocations()
    again = allocator.allocations()

    assert again is first
    assert plane.not_modified == 1
    (allocation,) = first.deployments
    assert allocation.desired_state is DesiredState.RUNNING
    assert allocation.elastic_password == "pw-1"


def test_a_change_is_fetched_whole(plane, allocator) -> None:
    dep_id = new_id()
    plane.allocate(dep_id, 100_001, password=None)
    allocator.allocations()

    plane.set_state(dep_id, "stopped")

    (allocation,) = allocator.allocations().deployments
    assert allocation.desired_state is DesiredState.STOPPED


def test_an_applied_password_is_reported_in_the_contracts_shape(plane, allocator) -> None:
    dep_id = new_id()
    plane.allocate(dep_id, 100_001, password="pw-1")
    report = StatusReport(
        observed_state=ObservedState.RUNNING, healthy=True, elastic_password_applied=True
    )

    allocator.report_status(dep_id, report)

    assert plane.last_report(dep_id) == {
        "observed_state": "running",
        "healthy": True,
        "detail": "",
        "elastic_password_applied": True,
        "node_port": None,
        "snapshots": None,
        "restored_from": None,
    }
    (allocation,) = allocator.allocations().deployments
    assert allocation.elastic_password is None


def test_another_components_certificate_is_refused(plane) -> None:
    gateway = ControlPlane(plane.url, plane.component("gateway"))
    try:
        with pytest.raises(ControlPlaneUnavailable, match="HTTP 403"):
            gateway.allocations()
    finally:
        gateway.close()


def test_a_control_plane_of_another_contract_version_is_refused(plane, allocator) -> None:
    plane.contract_version = 2

    with pytest.raises(ContractMismatch, match="speaks internal contract 2"):
        allocator.allocations()
