"""The internal API for serverless projects (ADR 28, ADR 29): allocations and routes of a
project's instance, and the gateway's wake-up and activity routes, called with real component
certificates from the platform CA (`tests.fixtures.internal`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from citadel.contract.messages import ComponentKind, RoutesSnapshot
from citadel.deployments.lifecycle import Desired
from citadel.deployments.models import Deployment
from citadel.projects.models import Project
from citadel.projects.schemas import CreateElasticsearchProjectIn
from citadel.projects.service import resume_project
from citadel.projects.sizing import sizing
from citadel.projects.types import ProjectType
from citadel.use_cases.projects import create_project
from citadel.use_cases.projects_runtime import sweep_idle_projects
from tests.fixtures.builders import SystemUnits, make_deployment
from tests.fixtures.idle_projects import TIMEOUT, make_project
from tests.fixtures.internal import as_component

V1 = "/internal/v1"


@pytest.fixture
def allocator(services) -> Iterator[TestClient]:
    with as_component(services, ComponentKind.ALLOCATOR) as c:
        yield c


@pytest.fixture
def gateway(services) -> Iterator[TestClient]:
    with as_component(services, ComponentKind.GATEWAY) as c:
        yield c


def stopped_project(services, org: str) -> str:
    pid = make_project(services, org, idle_s=TIMEOUT + 1)
    sweep_idle_projects(SystemUnits(services), idle_timeout_s=TIMEOUT, warm_memory_mb=None)
    return pid


def route_of(gateway: TestClient, pid: str) -> dict:
    snapshot = RoutesSnapshot.model_validate(gateway.get(f"{V1}/routes").json())
    (entry,) = [e for e in snapshot.deployments if e.id == pid]
    return entry.model_dump()


# --- allocations and routes ----------------------------------------------------------------------


def test_a_projects_instance_is_allocated_with_its_type_and_cpu_quota(allocator, services, org):
    pid = make_project(services, org)
    with services.db.write() as session:
        session.get(Project, pid).settings = {"search_lake": {"search_power": 250}}

    (item,) = allocator.get(f"{V1}/allocations").json()["deployments"]

    assert item["id"] == pid
    assert item["project"] == {"type": "elasticsearch", "cpu_millis": sizing(250).cpu_millis}


def test_a_deployment_is_allocated_without_a_project(allocator, services, org):
    make_deployment(services, org)

    (item,) = allocator.get(f"{V1}/allocations").json()["deployments"]

    assert item["project"] is None


def test_a_projects_route_names_its_alias_and_applications(gateway, services, org):
    pid = make_project(services, org)
    with services.db.write() as session:
        session.get(Project, pid).type = "observability"

    entry = route_of(gateway, pid)

    assert entry["state"] == "running"
    assert entry["project"] == {
        "type": "observability",
        "alias": f"search-{pid[:6]}",
        "apps": ("es", "kb", "apm", "ingest"),
        "wake": True,
    }


def test_an_idle_stopped_project_is_routed_as_stopped_and_wakeable(gateway, services, org):
    pid = stopped_project(services, org)

    entry = route_of(gateway, pid)

    assert (entry["state"], entry["project"]["wake"]) == ("stopped", True)


def test_a_suspended_project_is_not_wakeable(gateway, services, org):
    pid = make_project(services, org, phase="suspended")

    assert route_of(gateway, pid)["project"]["wake"] is False


def test_a_deleted_projects_instance_is_not_routed(gateway, services, org):
    pid = make_project(services, org)
    with services.db.write() as session:
        session.get(Deployment, pid).desired_state = Desired.DELETED

    body = gateway.get(f"{V1}/routes").json()

    assert [e["id"] for e in body["deployments"]] == []


# --- wake ----------------------------------------------------------------------------------------


def test_the_gateway_wakes_a_stopped_project(gateway, allocator, services, org):
    pid = stopped_project(services, org)

    response = gateway.post(f"{V1}/projects/{pid}/wake")

    assert response.status_code == 200
    assert response.json() == {"state": "running"}  # as last observed: the stop not yet seen
    (item,) = allocator.get(f"{V1}/allocations").json()["deployments"]
    assert item["desired_state"] == "running"
    assert route_of(gateway, pid)["state"] == "running"


def test_the_wake_answer_is_the_observed_state_the_gateway_waits_from(
    gateway, allocator, services, org
):
    pid = stopped_project(services, org)
    allocator.post(
        f"{V1}/deployments/{pid}/status", json={"observed_state": "stopped", "healthy": False}
    )

    assert gateway.post(f"{V1}/projects/{pid}/wake").json() == {"state": "stopped"}
    assert route_of(gateway, pid)["state"] == "stopped"  # desired running, not up yet


def test_waking_an_unknown_project_is_404(gateway):
    response = gateway.post(f"{V1}/projects/{'0' * 32}/wake")

    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "projects.not_found"


def test_waking_a_deployment_is_404(gateway, services, org):
    dep = make_deployment(services, org, stopped=True)

    assert gateway.post(f"{V1}/projects/{dep}/wake").status_code == 404


def test_a_project_id_longer_than_an_id_is_refused(gateway):
    assert gateway.post(f"{V1}/projects/{'0' * 33}/wake").status_code in (400, 422)


def test_the_allocator_may_not_wake_a_project(allocator, services, org):
    pid = stopped_project(services, org)

    response = allocator.post(f"{V1}/projects/{pid}/wake")

    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "internal.component_not_allowed"
    with services.db.read() as session:
        assert session.get(Deployment, pid).desired_state == Desired.STOPPED


# --- activity ------------------------------------------------------------------------------------


def test_the_gateway_reports_activity_that_keeps_a_project_warm(gateway, services, org):
    pid = make_project(services, org, idle_s=TIMEOUT - 5)
    services.clock.advance(seconds=10)
    seen = services.clock.now() - timedelta(seconds=2)

    body = {"projects": [{"project_id": pid, "last_request_at": seen.timestamp()}]}
    response = gateway.post(f"{V1}/gateway/activity", json=body)

    assert (response.status_code, response.json()) == (200, {})
    with services.db.read() as session:
        assert session.get(Project, pid).last_request_at == seen
    units = SystemUnits(services)
    assert sweep_idle_projects(units, idle_timeout_s=TIMEOUT, warm_memory_mb=None) == []


def test_an_activity_report_with_an_unknown_field_is_refused(gateway):
    body = {"projects": [], "extra": 1}

    assert gateway.post(f"{V1}/gateway/activity", json=body).status_code in (400, 422)


def test_the_allocator_may_not_report_activity(allocator):
    response = allocator.post(f"{V1}/gateway/activity", json={"projects": []})

    assert response.status_code == 403


# --- a project made by the project use case ------------------------------------------------------


def created_project(services, org: str, **body) -> str:
    made = create_project(
        SystemUnits(services),
        services.platform_keys,
        org,
        ProjectType.ELASTICSEARCH,
        CreateElasticsearchProjectIn(name="logs", region_id="local", **body),
        created_by=None,
    )
    return made.row.id


def phase(services, pid: str) -> str:
    with services.db.read() as session:
        return session.get(Project, pid).phase


def test_a_created_project_is_allocated_with_its_search_powers_cpu(allocator, services, org):
    pid = created_project(services, org, search_lake={"search_power": 800})

    (item,) = allocator.get(f"{V1}/allocations").json()["deployments"]

    assert item["id"] == pid
    assert item["size_mb"] == sizing(800).memory_mb
    assert item["project"] == {"type": "elasticsearch", "cpu_millis": sizing(800).cpu_millis}


def test_the_running_report_makes_a_created_project_initialized(allocator, services, org):
    pid = created_project(services, org)
    assert phase(services, pid) == "initializing"

    allocator.post(
        f"{V1}/deployments/{pid}/status", json={"observed_state": "running", "healthy": True}
    )

    assert phase(services, pid) == "initialized"


def test_a_stopped_report_of_an_idle_stopped_project_leaves_it_initialized(
    allocator, services, org
):
    pid = stopped_project(services, org)

    allocator.post(
        f"{V1}/deployments/{pid}/status", json={"observed_state": "stopped", "healthy": False}
    )

    assert phase(services, pid) == "initialized"


def test_a_resumed_project_is_not_stopped_again_at_once(services, org):
    pid = stopped_project(services, org)
    units = SystemUnits(services)
    with units.write() as ctx:
        resume_project(ctx, org, ProjectType.ELASTICSEARCH, pid, if_match=None)

    assert sweep_idle_projects(units, idle_timeout_s=TIMEOUT, warm_memory_mb=None) == []
    with services.db.read() as session:
        assert session.get(Deployment, pid).desired_state == Desired.RUNNING
