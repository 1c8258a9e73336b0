"""Snapshots on the control plane (issue 20, ADR 30): a deployment's ``info.snapshots`` from
its allocator's reports, restoring into a new deployment through
``plan.transient.restore_snapshot``, what a restored deployment says it came back from, the
allocations that carry the schedule, the repository and the restore (with the SOURCE's data
key), and the shred of deleted deployments' keys and snapshots after their retention."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from citadel.audit.models import AuditEvent
from citadel.bootstrap import snapshot_repository
from citadel.config import S3Repository
from citadel.contract.messages import ComponentKind, data_key_context
from citadel.crypto.providers.registry import open_provider
from citadel.deployments.models import Deployment
from tests.api.test_contract import assert_conforms
from tests.fixtures.builders import (
    make_deployment,
    make_org,
    make_user,
)
from tests.fixtures.internal import as_component
from tests.fixtures.key_servers import USER_PIN
from tests.fixtures.key_servers import label as _label  # noqa: F401
from tests.fixtures.key_servers import softhsm as _softhsm  # noqa: F401

V1 = "/internal/v1"
API = "/api/v1"
RESTORE_FIELD = "body.resources.elasticsearch[0].plan.transient.restore_snapshot"


@pytest.fixture
def internal(services) -> Iterator[TestClient]:
    """The allocator's view of the internal API."""
    with as_component(services, ComponentKind.ALLOCATOR) as c:
        yield c


def report(internal: TestClient, dep: str, **body) -> httpx.Response:
    payload = {"observed_state": "running", "healthy": True, "detail": "", **body}
    response = internal.post(f"{V1}/deployments/{dep}/status", json=payload)
    assert response.status_code == 200, response.text
    return response


def snapshotted(internal, services, dep: str, *, name: str = "scheduled-1", ago_s: float = 60):
    """The allocator reports that `dep` has a successful snapshot taken `ago_s` ago."""
    taken = services.clock.now().timestamp() - ago_s
    summary = {
        "count": 3,
        "latest_success_at": taken,
        "latest_success_name": name,
        "healthy": True,
    }
    report(internal, dep, snapshots=summary)
    return taken


def restore_body(source: str | None, **restore) -> dict:
    snapshot = {"source_cluster_id": source, **restore} if source is not None else restore
    return {
        "name": "restored",
        "resources": {
            "elasticsearch": [{"plan": {"transient": {"restore_snapshot": snapshot}}}],
        },
    }


def create(client, headers, body) -> httpx.Response:
    return client.post(f"{API}/deployments", headers=headers, json=body)


def allocation(internal, dep: str) -> dict:
    body = internal.get(f"{V1}/allocations").json()
    return next(d for d in body["deployments"] if d["id"] == dep)


def row_of(services, dep: str) -> Deployment:
    with services.db.read() as session:
        row = session.get(Deployment, dep)
        session.expunge(row)
        return row


def actions(services, dep: str) -> list[str]:
    with services.db.read() as session:
        return list(
            session.scalars(
                sa.select(AuditEvent.action)
                .where(AuditEvent.target_id == dep)
                .order_by(AuditEvent.seq)
            )
        )


# --- info.snapshots --------------------------------------------------------------------------


def test_a_new_deployment_has_no_snapshots_yet(client, services, org, owner_key):
    dep = make_deployment(services, org)

    response = client.get(f"{API}/deployments/{dep}", headers=owner_key)

    assert_conforms("GET", "/deployments/{deployment_id}", response)
    info = response.json()["resources"]["elasticsearch"][0]["info"]
    assert info["snapshots"] == {"healthy": True, "count": 0, "recent_success": False}
    assert "restored_from" not in info


def test_info_snapshots_says_what_the_allocator_reported(
    client, internal, services, org, owner_key
):
    dep = make_deployment(services, org)
    snapshotted(internal, services, dep, ago_s=60)

    response = client.get(f"{API}/deployments/{dep}", headers=owner_key)

    assert_conforms("GET", "/deployments/{deployment_id}", response)
    shown = response.json()["resources"]["elasticsearch"][0]["info"]["snapshots"]
    assert shown["count"] == 3
    assert shown["healthy"] is True
    assert shown["recent_success"] is True
    assert shown["latest_successful"] is True
    assert shown["latest_status"] == "SUCCESS"
    expected = (services.clock.now() - timedelta(seconds=60)).replace(microsecond=0)
    latest = shown["latest_successful_end_time"]
    assert latest.startswith(expected.strftime("%Y-%m-%dT%H:%M:%S"))
    assert shown["latest_end_time"] == latest


def test_a_failed_scheduled_snapshot_makes_snapshots_unhealthy(
    client, internal, services, org, owner_key
):
    dep = make_deployment(services, org)
    taken = snapshotted(internal, services, dep)
    failed = {"count": 3, "latest_success_at": taken, "healthy": False}
    report(internal, dep, snapshots=failed)

    response = client.get(f"{API}/deployments/{dep}", headers=owner_key)

    assert_conforms("GET", "/deployments/{deployment_id}", response)
    shown = response.json()["resources"]["elasticsearch"][0]["info"]["snapshots"]
    assert (shown["healthy"], shown["latest_successful"]) == (False, False)
    assert shown["latest_status"] == "FAILED"
    assert "latest_end_time" not in shown  # the failed attempt's end is not known
    assert shown["latest_successful_end_time"]


def test_a_success_older_than_two_intervals_is_not_recent(
    client, internal, services, org, owner_key
):
    dep = make_deployment(services, org)
    snapshotted(internal, services, dep)
    services.clock.advance(seconds=2 * services.policies.snapshot_interval_s + 120)

    response = client.get(f"{API}/deployments/{dep}", headers=owner_key)

    shown = response.json()["resources"]["elasticsearch"][0]["info"]["snapshots"]
    assert shown["recent_success"] is False
    assert shown["count"] == 3


def test_a_report_without_snapshots_keeps_what_was_reported(
    client, internal, services, org, owner_key
):
    dep = make_deployment(services, org)
    snapshotted(internal, services, dep)

    report(internal, dep)

    shown = client.get(f"{API}/deployments/{dep}", headers=owner_key).json()
    assert shown["resources"]["elasticsearch"][0]["info"]["snapshots"]["count"] == 3


# --- allocations -----------------------------------------------------------------------------


def test_a_running_deployment_is_allocated_with_the_snapshot_schedule(internal, services, org):
    dep = make_deployment(services, org)

    body = internal.get(f"{V1}/allocations").json()

    assert body["repository"]["path"] == str(services.settings.snapshot_directory)
    (item,) = body["deployments"]
    assert item["id"] == dep
    assert item["snapshots"] == {
        "interval_s": services.policies.snapshot_interval_s,
        "retention_max_count": services.policies.snapshot_retention_max_count,
        "retention_expire_after_s": services.policies.snapshot_retention_expire_after_s,
    }
    assert item["restore"] is None


def test_a_stopped_deployment_takes_no_snapshots(internal, services, org):
    make_deployment(services, org, stopped=True)

    (item,) = internal.get(f"{V1}/allocations").json()["deployments"]

    assert item["snapshots"] is None


def test_another_repository_is_another_allocations_document(internal, services, org, tmp_path):
    make_deployment(services, org)
    tag = internal.get(f"{V1}/allocations").headers["etag"]
    elsewhere = tmp_path / "elsewhere"
    settings = services.settings.model_copy(update={"snapshot_repository_path": elsewhere})
    moved = dataclasses.replace(services, settings=settings)

    with as_component(moved, ComponentKind.ALLOCATOR) as allocator:
        again = allocator.get(f"{V1}/allocations", headers={"If-None-Match": tag})

    assert again.status_code == 200
    assert again.json()["repository"]["path"] == str(elsewhere)
    assert internal.get(f"{V1}/allocations", headers={"If-None-Match": tag}).status_code == 304


def test_an_s3_repository_is_sent_with_its_secret_read_from_its_file(services, tmp_path: Path):
    secret = tmp_path / "s3-secret"
    secret.write_text("s3cr3t-key\n")
    s3 = S3Repository(
        bucket="citadel-snapshots",
        prefix="prod/",
        endpoint_url="http://127.0.0.1:9000",
        access_key_id="citadel",
        secret_access_key_file=secret,
    )
    settings = services.settings.model_copy(update={"snapshot_s3": s3})

    repository = snapshot_repository(settings)

    assert repository.path is None
    assert (repository.s3_bucket, repository.s3_prefix) == ("citadel-snapshots", "prod/")
    assert repository.s3_endpoint_url == "http://127.0.0.1:9000"
    assert repository.s3_secret_access_key == "s3cr3t-key"
    assert "s3cr3t-key" not in repr(repository)


# --- restore_snapshot on create --------------------------------------------------------------


def test_a_restore_from_an_unknown_deployment_is_404(client, owner_key):
    response = create(client, owner_key, restore_body("0" * 32))

    assert response.status_code == 404
    assert_conforms("POST", "/deployments", response)
    (error,) = response.json()["errors"]
    assert error["code"] == "deployments.deployment_not_found"
    assert error["fields"] == [f"{RESTORE_FIELD}.source_cluster_id"]


def test_a_restore_from_another_organizations_deployment_is_404_like_an_unknown_one(
    client, internal, services, owner_key
):
    other = make_org(services, make_user(services), name="Other")
    theirs = make_deployment(services, other)
    snapshotted(internal, services, theirs)

    response = create(client, owner_key, restore_body(theirs))
    unknown = create(client, owner_key, restore_body("0" * 32))

    assert response.status_code == 404
    assert response.json() == unknown.json()
    assert row_of(services, theirs).organization_id == other
    with services.db.read() as session:
        made = session.scalars(sa.select(Deployment).where(Deployment.name == "restored")).all()
    assert made == []


def test_a_restore_from_a_deployment_without_snapshots_is_refused(client, services, org, owner_key):
    source = make_deployment(services, org)

    response = create(client, owner_key, restore_body(source))

    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["code"] == "deployments.no_snapshot_to_restore"
    assert error["fields"] == [f"{RESTORE_FIELD}.source_cluster_id"]


@pytest.mark.parametrize(
    ("restore", "field", "code"),
    [
        ({"colour": "blue"}, "colour", "root.invalid_data"),
        ({"repository_config": {"raw_settings": {}}}, "repository_config", None),
        ({"repository_name": "my-s3"}, "repository_name", None),
        ({"strategy": "recovery"}, "strategy", None),
        ({"restore_payload": {"indices": ["logs-*"]}}, "restore_payload.indices", None),
        (
            {"restore_payload": {"raw_settings": {"rename_pattern": "(.+)"}}},
            "restore_payload.raw_settings",
            None,
        ),
        ({"snapshot_name": 7}, "snapshot_name", "root.invalid_data"),
    ],
)
def test_an_unsupported_restore_field_is_a_400_naming_it(
    client, internal, services, org, owner_key, restore, field, code
):
    source = make_deployment(services, org)
    snapshotted(internal, services, source)

    response = create(client, owner_key, restore_body(source, **restore))

    assert response.status_code == 400, response.text
    assert_conforms("POST", "/deployments", response)
    (error,) = response.json()["errors"]
    assert error["code"] == (code or "deployments.restore_unsupported")
    assert error["fields"] == [f"{RESTORE_FIELD}.{field}"]


def test_a_restore_without_a_source_is_a_400_naming_it(client, owner_key):
    response = create(client, owner_key, restore_body(None, snapshot_name="__latest_success__"))

    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["fields"] == [f"{RESTORE_FIELD}.source_cluster_id"]


def test_validate_only_checks_the_restore_source_too(client, owner_key):
    response = client.post(
        f"{API}/deployments",
        headers=owner_key,
        params={"validate_only": "true"},
        json=restore_body("0" * 32),
    )

    assert response.status_code == 404


def test_a_restored_deployment_is_allocated_with_the_sources_key(
    client, internal, services, org, owner_key
):
    source = make_deployment(services, org)
    snapshotted(internal, services, source)

    response = create(client, owner_key, restore_body(source))

    assert response.status_code == 201, response.text
    assert_conforms("POST", "/deployments", response)
    made = response.json()["id"]
    restore = allocation(internal, made)["restore"]
    assert restore["deployment_id"] == source
    assert restore["snapshot"] is None  # the latest successful one
    assert restore["include_security"] is False
    wrapped = base64.b64decode(restore["wrapped_data_key"])
    assert wrapped == row_of(services, source).data_key_wrapped
    assert wrapped != row_of(services, made).data_key_wrapped
    # it is the source's data key: it unwraps under the source's context only
    assert len(services.platform_keys.unwrap(wrapped, context=data_key_context(source))) == 32
    assert restore["key_path"] == row_of(services, source).key_path
    assert "deployment.restore_requested" in actions(services, made)


def test_a_customer_keyed_source_is_restored_with_its_key_managers_connection(
    client, internal, services, org, owner_key, softhsm, label
):
    """The new deployment has the platform key; its restore reads the source's snapshots with
    the source's data key, unwrapped by the source's key manager (a revoked customer key makes
    them unreadable: the allocator cannot unwrap it)."""
    softhsm.add_aes_key(label)
    manager = {"kind": "pkcs11", "settings": {"module": softhsm.module}, "secret": USER_PIN}
    added = client.post(
        f"{API}/organizations/{org}/key-managers",
        headers=owner_key,
        json={"name": "hsm", **manager},
    )
    assert added.status_code == 201, added.text
    byok = {"byok": {"key_resource_path": softhsm.key_path(label)}}
    source_made = create(client, owner_key, {"name": "secure", "settings": byok})
    assert source_made.status_code == 201, source_made.text
    source = source_made.json()["id"]
    snapshotted(internal, services, source)

    made = create(client, owner_key, restore_body(source)).json()["id"]

    item = allocation(internal, made)
    assert item["key_connection"] is None  # its own key is the platform's
    restore = item["restore"]
    assert restore["key_path"] == softhsm.key_path(label)
    assert restore["key_connection"]["settings"]["module"] == softhsm.module
    assert base64.b64decode(restore["key_connection"]["secret"]).decode() == USER_PIN
    provider = open_provider(softhsm.key_path(label), softhsm.connection())
    wrapped = base64.b64decode(restore["wrapped_data_key"])
    assert len(provider.unwrap(wrapped, context=data_key_context(source))) == 32


def test_a_named_snapshot_is_restored_by_name(client, internal, services, org, owner_key):
    source = make_deployment(services, org)
    snapshotted(internal, services, source)

    response = create(client, owner_key, restore_body(source, snapshot_name="nightly-2"))

    assert response.status_code == 201, response.text
    row = row_of(services, response.json()["id"])
    assert (row.restore_source_id, row.restore_snapshot) == (source, "nightly-2")
    assert allocation(internal, row.id)["restore"]["snapshot"] == "nightly-2"


def test_a_pending_restore_shows_its_source(client, internal, services, org, owner_key):
    source = make_deployment(services, org)
    snapshotted(internal, services, source)
    made = create(client, owner_key, restore_body(source)).json()["id"]

    response = client.get(f"{API}/deployments/{made}", headers=owner_key)

    assert_conforms("GET", "/deployments/{deployment_id}", response)
    restored = response.json()["resources"]["elasticsearch"][0]["info"]["restored_from"]
    assert restored == {
        "pending": {"source_cluster_id": source, "snapshot_name": "__latest_success__"}
    }


def test_a_report_of_the_restore_records_what_it_came_back_from(
    client, internal, services, org, owner_key
):
    source = make_deployment(services, org)
    taken = snapshotted(internal, services, source, name="scheduled-7")
    made = create(client, owner_key, restore_body(source)).json()["id"]
    before = internal.get(f"{V1}/allocations").json()["version"]

    report(internal, made, restored_from={"snapshot": "scheduled-7", "taken_at": taken})

    assert allocation(internal, made)["restore"] is None
    assert internal.get(f"{V1}/allocations").json()["version"] > before
    response = client.get(f"{API}/deployments/{made}", headers=owner_key)
    assert_conforms("GET", "/deployments/{deployment_id}", response)
    restored = response.json()["resources"]["elasticsearch"][0]["info"]["restored_from"]
    assert restored["snapshot_name"] == "scheduled-7"
    assert restored["taken_at"].startswith(
        (services.clock.now() - timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%S")
    )
    assert "pending" not in restored
    row = row_of(services, made)
    assert (row.restore_source_id, row.restore_snapshot) == (None, None)
    assert "deployment.restored" in actions(services, made)


def test_a_deployment_restores_itself_with_its_own_key_and_security(internal, services, org):
    """After a lost host (H4's recovery sets these columns): its own snapshot, its own key."""
    dep = make_deployment(services, org)
    with services.db.write() as session:
        row = session.get(Deployment, dep)
        row.restore_source_id, row.restore_include_security = dep, True
        row.revision += 1

    restore = allocation(internal, dep)["restore"]

    assert restore["deployment_id"] == dep
    assert restore["include_security"] is True
    assert base64.b64decode(restore["wrapped_data_key"]) == row_of(services, dep).data_key_wrapped
