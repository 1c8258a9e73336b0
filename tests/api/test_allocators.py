"""Allocators across hosts (ADR 31), over the real internal and public APIs: heartbeats
register them, deployments are placed on them at create time or when room appears, each
allocator is given only what is placed on it, owners of the platform see them in ECE's shape,
and the deployments of one that stops reporting come back elsewhere."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
import uvicorn
from fastapi.testclient import TestClient

from citadel.allocators.models import Allocator
from citadel.api.internal import create_internal_app, internal_http_protocol
from citadel.audit.models import AuditEvent
from citadel.bootstrap import api_certificate
from citadel.contract.client import ComponentTls, ControlPlane
from citadel.contract.messages import ComponentKind
from citadel.deployments.models import Deployment
from citadel.pki.components import ensure_component_certificate
from citadel.runtime.heartbeat import AllocatorIdentity, Heartbeat, interval_for, machine_memory_mb
from citadel.use_cases.platform import watch_allocators
from tests.fixtures.builders import (
    SystemUnits,
    add_member,
    grant,
    key_headers,
    make_api_key,
    make_deployment,
    make_org,
    make_user,
)
from tests.fixtures.internal import as_component

V1 = "/internal/v1"
INFRA = "/api/v1/platform/infrastructure/allocators"


@pytest.fixture
def internal(services) -> Iterator[TestClient]:
    """The allocators' view of the internal API."""
    with as_component(services, ComponentKind.ALLOCATOR) as c:
        yield c


def beat(internal: TestClient, allocator_id: str, zone: str = "z1", capacity_mb: int = 4096):
    address = f"10.0.0.{len(allocator_id)}"
    body = {"address": address, "zone": zone, "capacity_mb": capacity_mb}
    response = internal.post(f"{V1}/allocators/{allocator_id}/heartbeat", json=body)
    assert response.status_code == 200, response.text
    return response


def placed_on(services, deployment_id: str) -> str | None:
    with services.db.read() as session:
        row = session.get(Deployment, deployment_id)
        assert row is not None
        return row.allocator_id


def ids_for(internal: TestClient, allocator_id: str) -> list[str]:
    answer = internal.get(f"{V1}/allocations", params={"allocator": allocator_id})
    assert answer.status_code == 200, answer.text
    return [a["id"] for a in answer.json()["deployments"]]


def row(services, deployment_id: str) -> Deployment:
    with services.db.read() as session:
        found = session.get(Deployment, deployment_id)
        assert found is not None
        session.expunge(found)
        return found


def audit_actions(services) -> list[str]:
    with services.db.read() as session:
        return list(session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))


@pytest.fixture
def platform_org(services) -> str:
    """The platform organization: the first one made."""
    return make_org(services, make_user(services), "Platform")


@pytest.fixture
def owner(services, platform_org) -> dict[str, str]:
    """A platform owner's API key (an Organization owner key of the platform organization)."""
    return key_headers(make_api_key(services, platform_org))


# --- registration -----------------------------------------------------------------------------


def test_a_heartbeat_registers_the_allocator_and_the_next_one_updates_it(internal, services, clock):
    beat(internal, "alloc-a", capacity_mb=2048)
    first_seen = clock.now()
    clock.advance(seconds=7)

    beat(internal, "alloc-a", zone="z2", capacity_mb=8192)

    with services.db.read() as session:
        found = session.get(Allocator, "alloc-a")
        assert found is not None
        assert (found.zone, found.capacity_mb, found.address) == ("z2", 8192, "10.0.0.7")
        assert found.registered_at == first_seen
        assert found.last_seen_at == clock.now()
    assert audit_actions(services).count("platform.allocator.registered") == 1


def test_only_the_allocator_component_may_send_a_heartbeat(services):
    with as_component(services, ComponentKind.GATEWAY) as gateway:
        body = {"address": "10.0.0.1", "zone": "z1", "capacity_mb": 1024}
        refused = gateway.post(f"{V1}/allocators/a/heartbeat", json=body)

    assert refused.status_code == 403


def test_an_allocator_id_with_a_slash_or_space_is_refused(internal):
    body = {"address": "10.0.0.1", "zone": "z1", "capacity_mb": 1024}

    assert internal.post(f"{V1}/allocators/bad%20id/heartbeat", json=body).status_code == 400


# --- placement ----------------------------------------------------------------------------------


def test_a_deployment_created_while_an_allocator_is_healthy_is_placed_at_once(
    internal, services, org
):
    beat(internal, "alloc-a")

    dep = make_deployment(services, org)

    assert placed_on(services, dep) == "alloc-a"


def test_a_deployment_created_with_no_allocator_waits_and_the_first_poll_places_it(
    internal, services, org
):
    dep = make_deployment(services, org)
    assert placed_on(services, dep) is None
    beat(internal, "alloc-a")

    assert ids_for(internal, "alloc-a") == [dep]
    assert placed_on(services, dep) == "alloc-a"


def test_each_allocator_is_given_only_what_is_placed_on_it(internal, services, org):
    beat(internal, "alloc-a", zone="z1")
    beat(internal, "alloc-b", zone="z2")

    first, second = make_deployment(services, org), make_deployment(services, org)

    on_a, on_b = ids_for(internal, "alloc-a"), ids_for(internal, "alloc-b")
    assert sorted(on_a + on_b) == sorted([first, second])
    assert len(on_a) == len(on_b) == 1  # one organization: one deployment per zone


def test_without_the_allocator_parameter_the_answer_is_every_deployment(internal, services, org):
    beat(internal, "alloc-a")
    placed = make_deployment(services, org)
    made = make_deployment(services, org)
    with services.db.write() as session:  # one never placed (e.g. from before issue 20)
        session.execute(
            sa.update(Deployment).where(Deployment.id == made).values(allocator_id=None)
        )

    answer = internal.get(f"{V1}/allocations").json()

    assert sorted(a["id"] for a in answer["deployments"]) == sorted([placed, made])


def test_a_deployment_too_big_for_every_allocator_waits_until_room_appears(internal, services, org):
    beat(internal, "small", capacity_mb=512)  # a deployment's default size is 1 GB
    dep = make_deployment(services, org)

    assert ids_for(internal, "small") == []
    assert placed_on(services, dep) is None

    beat(internal, "big", capacity_mb=4096)  # room appears
    assert placed_on(services, dep) == "big"


def test_the_allocations_tag_is_per_allocator_and_changes_when_a_placement_does(
    internal, services, org
):
    beat(internal, "alloc-a")
    beat(internal, "alloc-b", capacity_mb=0)
    first = internal.get(f"{V1}/allocations", params={"allocator": "alloc-a"})
    other = internal.get(f"{V1}/allocations", params={"allocator": "alloc-b"})
    assert first.headers["etag"] != other.headers["etag"]
    tag = first.headers["etag"]
    unchanged = internal.get(
        f"{V1}/allocations", params={"allocator": "alloc-a"}, headers={"If-None-Match": tag}
    )
    assert unchanged.status_code == 304

    make_deployment(services, org)  # placed on alloc-a (alloc-b has no room)

    again = internal.get(
        f"{V1}/allocations", params={"allocator": "alloc-a"}, headers={"If-None-Match": tag}
    )
    assert again.status_code == 200
    assert len(again.json()["deployments"]) == 1


def test_used_memory_counts_deployments_not_deleted(internal, services, org):
    beat(internal, "alloc-a", capacity_mb=2048)
    make_deployment(services, org)
    make_deployment(services, org)  # 2 x 1 GB: full

    third = make_deployment(services, org)

    assert placed_on(services, third) is None


# --- what platform owners see --------------------------------------------------------------------


def test_owners_see_every_allocator_by_zone_in_eces_shape(
    client, internal, services, owner, platform_org
):
    beat(internal, "alloc-a", zone="z1", capacity_mb=4096)
    beat(internal, "alloc-b", zone="z2", capacity_mb=2048)
    dep = make_deployment(services, platform_org, name="logs")

    answer = client.get(INFRA, headers=owner)

    assert answer.status_code == 200, answer.text
    zones = answer.json()["zones"]
    assert [z["zone_id"] for z in zones] == ["z1", "z2"]
    placed = next(
        a for z in zones for a in z["allocators"] if a["instances"]
    )  # the deployment went to one of them
    assert set(placed) == {
        "allocator_id",
        "zone_id",
        "host_ip",
        "public_hostname",
        "status",
        "capacity",
        "settings",
        "instances",
        "features",
        "metadata",
    }
    assert placed["status"] == {"connected": True, "healthy": True, "maintenance_mode": False}
    assert placed["capacity"]["memory"]["used"] == 1024
    (instance,) = placed["instances"]
    assert instance == {
        "cluster_id": dep,
        "cluster_name": "logs",
        "cluster_type": "elasticsearch",
        "deployment_id": dep,
        "instance_name": "instance-0000000000",
        "node_memory": 1024,
        "healthy": False,
        "cluster_healthy": False,
        "moving": False,
    }


def test_an_allocator_without_heartbeats_shows_disconnected_and_unhealthy(
    client, internal, services, owner, platform_org, clock
):
    beat(internal, "alloc-a")
    make_deployment(services, platform_org)

    clock.advance(seconds=31)
    shown = client.get(f"{INFRA}/alloc-a", headers=owner).json()

    assert shown["status"] == {"connected": False, "healthy": False, "maintenance_mode": False}


def test_one_allocator_by_id_and_an_unknown_one(client, internal, owner):
    beat(internal, "alloc-a", zone="z9", capacity_mb=3000)

    shown = client.get(f"{INFRA}/alloc-a", headers=owner)
    unknown = client.get(f"{INFRA}/nope", headers=owner)

    assert shown.status_code == 200
    assert (shown.json()["zone_id"], shown.json()["capacity"]["memory"]["total"]) == ("z9", 3000)
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["code"] == "allocators.not_found"


def test_an_owner_of_another_organization_is_refused_and_the_refusal_audited(
    client, services, platform_org
):
    stranger = make_user(services)
    elsewhere = make_org(services, stranger, "Elsewhere")

    refused = client.get(INFRA, headers=key_headers(make_api_key(services, elsewhere)))

    assert refused.status_code == 403
    assert refused.json()["errors"][0]["code"] == "platform.forbidden"
    with services.db.read() as session:
        event = session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "request.denied")
        ).one()
        assert event.outcome == "denied"
        assert event.details["code"] == "platform.forbidden"
        assert event.target_id == f"GET {INFRA}"


def test_a_member_of_the_platform_organization_who_is_not_its_owner_is_refused(
    client, services, platform_org
):
    member = make_user(services)
    add_member(services, platform_org, member, grant(platform_org, "deployment-admin"))
    key = make_api_key(services, platform_org, grant(platform_org, "deployment-admin"))

    refused = client.get(INFRA, headers=key_headers(key))

    assert refused.status_code == 403


# --- losing an allocator -------------------------------------------------------------------------


def test_a_lost_allocators_deployment_comes_back_in_another_zone_from_its_snapshot(
    internal, services, org, clock
):
    beat(internal, "a1", zone="z1")
    dep = make_deployment(services, org)
    assert placed_on(services, dep) == "a1"
    with services.db.write() as session:
        session.execute(
            sa.update(Deployment)
            .where(Deployment.id == dep)
            .values(snapshot_count=3, snapshot_latest_name="scheduled-3", node_port=20001)
        )
    beat(internal, "a2", zone="z1", capacity_mb=65536)
    beat(internal, "b1", zone="z2")
    clock.advance(seconds=20)
    beat(internal, "a2", zone="z1", capacity_mb=65536)
    beat(internal, "b1", zone="z2")
    assert watch_allocators(SystemUnits(services)) == []  # a1 silent for 20 s: still healthy

    clock.advance(seconds=11)  # a1 silent for 31 s; the others beat 11 s ago
    (decision,) = watch_allocators(SystemUnits(services))

    assert decision.allocator_id == "b1"  # another zone, though a2 has more room
    moved = row(services, dep)
    assert moved.allocator_id == "b1"
    assert (moved.restore_source_id, moved.restore_snapshot) == (dep, None)
    assert moved.restore_include_security is True
    assert moved.node_port is None
    assert (moved.observed_state, moved.healthy) == ("initializing", False)
    assert moved.observed_detail == "allocator a1 lost; restoring from the latest snapshot"
    assert ids_for(internal, "b1") == [dep]
    assert ids_for(internal, "a1") == []
    actions = audit_actions(services)
    assert "platform.allocator.lost" in actions
    assert "deployment.relocated" in actions


def test_a_deployment_with_no_snapshot_comes_back_empty_and_says_its_data_is_lost(
    internal, services, org, clock
):
    beat(internal, "a1", zone="z1")
    dep = make_deployment(services, org)
    clock.advance(seconds=31)
    beat(internal, "b1", zone="z2")

    watch_allocators(SystemUnits(services))

    moved = row(services, dep)
    assert moved.allocator_id == "b1"
    assert moved.restore_source_id is None
    assert moved.observed_detail == "allocator a1 lost; no snapshot: data lost, starting empty"


def test_with_no_healthy_allocator_the_lost_deployment_waits_then_restores_where_room_appears(
    internal, services, org, clock
):
    beat(internal, "a1", zone="z1")
    dep = make_deployment(services, org)
    with services.db.write() as session:
        session.execute(sa.update(Deployment).where(Deployment.id == dep).values(snapshot_count=1))
    clock.advance(seconds=31)

    (decision,) = watch_allocators(SystemUnits(services))
    assert decision.allocator_id is None
    assert row(services, dep).allocator_id is None

    beat(internal, "b1", zone="z2")  # room appears

    back = row(services, dep)
    assert back.allocator_id == "b1"
    assert back.restore_source_id == dep  # the restore waited with it


def test_a_deleted_deployment_on_a_lost_allocator_is_marked_gone(internal, services, org, clock):
    from citadel.deployments import service as deployments

    beat(internal, "a1")
    dep = make_deployment(services, org, stopped=True)
    with SystemUnits(services).write() as ctx:
        deployments.delete_deployment(ctx, org, dep)
    clock.advance(seconds=31)

    assert watch_allocators(SystemUnits(services)) == []

    gone = row(services, dep)
    assert (gone.desired_state, gone.observed_state) == ("deleted", "deleted")


# --- the allocator's side, over the real mTLS listener -------------------------------------------


@pytest.fixture
def listener(services) -> Iterator[str]:
    """The internal application served as the control plane serves it (client certificates
    from the platform CA required)."""
    cert = api_certificate(services)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        create_internal_app(services),
        host="127.0.0.1",
        port=port,
        ssl_certfile=str(cert.cert_file),
        ssl_keyfile=str(cert.key_file),
        ssl_keyfile_password=cert.key_password.decode(),
        ssl_cert_reqs=ssl.CERT_REQUIRED,
        ssl_ca_certs=str(cert.ca_file),
        http=internal_http_protocol(),
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    yield f"https://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def allocator_client(services, listener: str) -> ControlPlane:
    made = ensure_component_certificate(services.settings.data_dir, services.keyring, "allocator")
    tls = ComponentTls(made.ca_file, made.cert_file, made.key_file, made.key_password)
    return ControlPlane(listener, tls)


def test_the_allocators_heartbeat_registers_it_and_it_fetches_only_its_own(listener, services, org):
    identity = AllocatorIdentity("host-a", "10.2.0.5", "z1", 4096)
    heartbeat = Heartbeat(allocator_client(services, listener), identity, interval_s=1)
    plane = allocator_client(services, listener)
    try:
        assert heartbeat.beat() is True
        dep = make_deployment(services, org)
        other = make_deployment(services, org)
        with services.db.write() as session:  # another allocator's deployment
            session.execute(
                sa.update(Deployment).where(Deployment.id == other).values(allocator_id="b")
            )

        first = plane.allocations(allocator="host-a")
        again = plane.allocations(allocator="host-a")  # a 304: the same answer

        assert [a.id for a in first.deployments] == [dep]
        assert again is first
    finally:
        heartbeat.control_plane.close()
        plane.close()
    with services.db.read() as session:
        found = session.get(Allocator, "host-a")
        assert found is not None
        assert (found.address, found.zone, found.capacity_mb) == ("10.2.0.5", "z1", 4096)


def test_a_heartbeat_the_control_plane_does_not_take_is_reported_false(services):
    identity = AllocatorIdentity("host-a", "10.2.0.5", "z1", 4096)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nobody = f"https://127.0.0.1:{probe.getsockname()[1]}"
    heartbeat = Heartbeat(allocator_client(services, nobody), identity, interval_s=1)

    assert heartbeat.beat() is False
    assert heartbeat.sent == 0


def test_the_machines_memory_is_read_from_meminfo(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       16318412 kB\nMemFree:         1000 kB\n")

    assert machine_memory_mb(meminfo) == 15935
    assert machine_memory_mb(tmp_path / "missing") == 0


def test_heartbeats_come_at_least_three_times_per_unhealthy_interval():
    assert interval_for(30) == 5.0
    assert interval_for(6) == 2.0
