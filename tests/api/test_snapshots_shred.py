"""The shred of deleted deployments' keys and snapshots (issue 20, ADR 30): without retention
the key goes with the delete and the next round deletes the repository's data; with
``deleted_snapshot_retention_days`` the key stays (the deployment gone from the API, the
allocator given no key) so its snapshots can be restored into a new deployment, until the
round after `shred_after` destroys both. Against the real filesystem repository."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from citadel.bootstrap import snapshot_repository
from citadel.contract.messages import ComponentKind
from citadel.snapshots.repository import FilesystemRepository
from citadel.use_cases import deployments as deployment_use_cases
from citadel.use_cases.snapshots import shred_expired_snapshots
from tests.api.test_snapshots_api import (
    API,
    actions,
    allocation,
    create,
    restore_body,
    row_of,
    snapshotted,
)
from tests.fixtures.builders import SystemUnits, make_deployment
from tests.fixtures.internal import as_component


@pytest.fixture
def internal(services) -> Iterator[TestClient]:
    """The allocator's view of the internal API."""
    with as_component(services, ComponentKind.ALLOCATOR) as c:
        yield c


def retaining(services, days: int):
    """The same platform with deleted deployments' snapshots kept `days` days."""
    policies = dataclasses.replace(services.policies, deleted_snapshot_retention_days=days)
    return dataclasses.replace(services, policies=policies)


def delete(services, org: str, dep: str) -> None:
    units = SystemUnits(services)
    with units.write() as ctx:
        from citadel.deployments.service import shutdown_deployment

        shutdown_deployment(ctx, org, dep)
    deployment_use_cases.delete_deployment(units, org, dep)


def blobs(services, dep: str) -> FilesystemRepository:
    """The real filesystem repository with a few objects of `dep` in it."""
    repository = FilesystemRepository(services.settings.snapshot_directory)
    repository.put(f"{dep}/blobs/aa/aabb", b"ciphertext")
    repository.put(f"{dep}/snapshots/one.manifest", b"ciphertext")
    return repository


def test_without_retention_a_delete_destroys_the_key_and_the_chore_the_snapshots(services, org):
    dep = make_deployment(services, org)
    repository = blobs(services, dep)
    delete(services, org, dep)

    assert row_of(services, dep).data_key_wrapped is None  # crypto-shredded at once

    done = shred_expired_snapshots(SystemUnits(services), snapshot_repository(services.settings))

    assert done == [dep]
    assert repository.list(f"{dep}/") == []
    assert row_of(services, dep).shred_after is None
    assert (
        shred_expired_snapshots(SystemUnits(services), snapshot_repository(services.settings)) == []
    )


def test_with_retention_a_deleted_deployment_can_be_restored_until_it_is_shredded(
    client, internal, services, org, owner_key
):
    kept = retaining(services, days=7)
    source = make_deployment(services, org)
    snapshotted(internal, services, source)
    repository = blobs(services, source)
    delete(kept, org, source)

    row = row_of(services, source)
    assert row.data_key_wrapped is not None
    assert row.shred_after == services.clock.now() + timedelta(days=7)
    assert client.get(f"{API}/deployments/{source}", headers=owner_key).status_code == 404
    assert allocation(internal, source)["wrapped_data_key"] is None  # the allocator shreds
    assert shred_expired_snapshots(SystemUnits(kept), snapshot_repository(services.settings)) == []

    restored = create(client, owner_key, restore_body(source))
    assert restored.status_code == 201, restored.text
    carried = allocation(internal, restored.json()["id"])["restore"]["wrapped_data_key"]
    assert base64.b64decode(carried) == row.data_key_wrapped

    services.clock.advance(days=7, seconds=1)
    done = shred_expired_snapshots(SystemUnits(kept), snapshot_repository(services.settings))

    assert done == [source]
    assert row_of(services, source).data_key_wrapped is None
    assert repository.list(f"{source}/") == []
    assert "deployment.snapshots_shredded" in actions(services, source)
    assert create(client, owner_key, restore_body(source)).status_code == 404
    assert allocation(internal, restored.json()["id"])["restore"]["wrapped_data_key"] is None


def test_a_retained_deleted_deployment_is_not_restored_once_its_time_has_passed(
    client, internal, services, org, owner_key
):
    kept = retaining(services, days=1)
    source = make_deployment(services, org)
    snapshotted(internal, services, source)
    delete(kept, org, source)
    services.clock.advance(days=1, seconds=1)  # the chore has not run yet

    assert create(client, owner_key, restore_body(source)).status_code == 404
