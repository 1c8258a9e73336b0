"""`citadel deployment create --restore-from ID [--snapshot NAME]`, and what `citadel deployment
show` and `citadel deployment snapshots` say of snapshots, against the real API on loopback
(issue 20)."""

from __future__ import annotations

import sqlalchemy as sa

from citadel.bootstrap import Services
from citadel.contract.messages import ComponentKind
from citadel.deployments.models import Deployment
from tests.cli.conftest import LocalApi
from tests.cli.test_deployment_realms import json_of
from tests.fixtures.builders import make_deployment
from tests.fixtures.internal import as_component

V1 = "/internal/v1"


def report(services: Services, dep: str, **body) -> None:
    payload = {"observed_state": "running", "healthy": True, "detail": "", **body}
    with as_component(services, ComponentKind.ALLOCATOR) as internal:
        response = internal.post(f"{V1}/deployments/{dep}/status", json=payload)
    assert response.status_code == 200, response.text


def snapshotted(services: Services, dep: str) -> float:
    taken = services.clock.now().timestamp() - 300
    summary = {"count": 2, "latest_success_at": taken, "latest_success_name": "nightly-1"}
    report(services, dep, snapshots=summary)
    return taken


def restored_row(services: Services) -> Deployment:
    with services.db.read() as session:
        row = session.scalars(sa.select(Deployment).where(Deployment.name == "copy")).one()
        session.expunge(row)
        return row


def test_create_restores_the_latest_snapshot_of_another_deployment(
    local_api: LocalApi, services: Services
) -> None:
    source = make_deployment(services, local_api.org_id)
    snapshotted(services, source)

    result = local_api.run("deployment", "create", "--name", "copy", "--restore-from", source)

    assert result.exit_code == 0, result.output
    row = restored_row(services)
    assert (row.restore_source_id, row.restore_snapshot) == (source, None)


def test_create_restores_a_named_snapshot(local_api: LocalApi, services: Services) -> None:
    source = make_deployment(services, local_api.org_id)
    snapshotted(services, source)

    result = local_api.run(
        "deployment", "create", "--name", "copy", "--restore-from", source,
        "--snapshot", "nightly-1",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert restored_row(services).restore_snapshot == "nightly-1"


def test_an_unknown_source_is_an_error_naming_the_option(local_api: LocalApi) -> None:
    result = local_api.run("deployment", "create", "--restore-from", "0" * 32)

    assert result.exit_code == 1
    assert "--restore-from" in result.output
    assert "could not be found" in result.output


def test_snapshot_without_restore_from_is_refused_before_asking(local_api: LocalApi) -> None:
    result = local_api.run("deployment", "create", "--snapshot", "nightly-1")

    assert result.exit_code == 2
    assert "--restore-from" in result.output


def test_show_says_the_snapshots_and_what_a_restore_came_back_from(
    local_api: LocalApi, services: Services
) -> None:
    dep = make_deployment(services, local_api.org_id)
    taken = snapshotted(services, dep)
    report(services, dep, restored_from={"snapshot": "nightly-0", "taken_at": taken - 1800})

    result = local_api.run("deployment", "show", dep)

    assert result.exit_code == 0, result.output
    assert "2 (healthy)" in result.output
    assert "restored from" in result.output
    assert "snapshot nightly-0 taken at" in result.output


def test_snapshots_prints_the_status_and_json_as_the_api_sent_it(
    local_api: LocalApi, services: Services
) -> None:
    dep = make_deployment(services, local_api.org_id)
    snapshotted(services, dep)

    table = local_api.run("deployment", "snapshots", dep)
    as_json = local_api.run("deployment", "snapshots", dep, "--output", "json")

    assert table.exit_code == 0, table.output
    assert "recent_success" in table.output
    assert "SUCCESS" in table.output
    assert as_json.exit_code == 0, as_json.output
    body = json_of(as_json.output)
    assert body["snapshots"]["count"] == 2
    assert body["snapshots"]["healthy"] is True
    assert "restored_from" not in body
