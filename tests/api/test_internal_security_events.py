"""The internal routes that bring deployments' security audit events to the control plane:
the allocator's ``POST /deployments/{id}/security-events`` (a node's events) and the gateway's
``POST /gateway/security-events`` (its connection_denied); each for its component only (the
refusals are in test_internal_api's route tables)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from citadel.contract.messages import (
    MAX_SECURITY_EVENTS,
    ComponentKind,
    DeploymentSecurityEvents,
    GatewaySecurityEvents,
    SecurityEvents,
    to_json,
)
from citadel.deployment_audit.models import DeploymentAuditEvent, DeploymentAuditSettings
from citadel.kit.ids import new_id
from tests.fixtures.builders import make_deployment
from tests.fixtures.internal import as_component

V1 = "/internal/v1"


@pytest.fixture
def internal(services) -> Iterator[TestClient]:
    with as_component(services, ComponentKind.ALLOCATOR) as c:
        yield c


@pytest.fixture
def gateway(services) -> Iterator[TestClient]:
    with as_component(services, ComponentKind.GATEWAY) as c:
        yield c


def denied(user: str = "mallory") -> dict:
    return {
        "@timestamp": "2026-12-07T01:02:03.456Z",
        "event.type": "transport",
        "event.action": "access_denied",
        "user.name": user,
        "user.realm": "default_native",
        "origin.address": "203.0.113.7",
        "request.id": "req-1",
        "action": "indices:data/read/search",
        "indices": ["logs-1"],
    }


def connection_denied() -> dict:
    return {
        "@timestamp": "2026-12-07T01:02:04.000Z",
        "event.type": "ip_filter",
        "event.action": "connection_denied",
        "origin.type": "rest",
        "origin.address": "198.51.100.9",
        "rule": "blocked_by_ip_filter",
    }


def stored(services, dep: str) -> list[DeploymentAuditEvent]:
    with services.db.read() as session:
        return list(
            session.scalars(
                sa.select(DeploymentAuditEvent).where(DeploymentAuditEvent.deployment_id == dep)
            )
        )


def dropped(services, dep: str) -> int:
    with services.db.read() as session:
        row = session.get(DeploymentAuditSettings, dep)
        return row.dropped_events if row else 0


def test_the_allocator_posts_a_nodes_events_and_they_are_kept(internal, services, org):
    dep = make_deployment(services, org)
    body = SecurityEvents(events=(denied(), denied("eve")), dropped=3)

    response = internal.post(f"{V1}/deployments/{dep}/security-events", json=to_json(body))

    assert response.status_code == 200, response.text
    rows = stored(services, dep)
    assert sorted(r.principal for r in rows) == ["eve", "mallory"]
    assert {r.action for r in rows} == {"access_denied"}
    assert rows[0].event["indices"] == ["logs-1"]
    assert dropped(services, dep) == 3


def test_events_of_an_unknown_deployment_are_404(internal):
    body = to_json(SecurityEvents(events=(denied(),)))
    response = internal.post(f"{V1}/deployments/{new_id()}/security-events", json=body)
    assert response.status_code == 404


def test_a_post_over_the_bound_is_refused_whole(internal, services, org):
    dep = make_deployment(services, org)
    events = [{"event.action": "access_denied"}] * (MAX_SECURITY_EVENTS + 1)

    response = internal.post(f"{V1}/deployments/{dep}/security-events", json={"events": events})

    assert response.status_code == 400
    assert stored(services, dep) == []


def test_an_event_over_its_size_bound_is_refused(internal, services, org):
    dep = make_deployment(services, org)
    huge = {**denied(), "indices": ["x" * 200] * 100}

    response = internal.post(f"{V1}/deployments/{dep}/security-events", json={"events": [huge]})

    assert response.status_code == 400


def test_the_gateway_posts_connection_denied_by_deployment(gateway, services, org):
    dep, other = make_deployment(services, org), make_deployment(services, org)
    body = GatewaySecurityEvents(
        deployments=(
            DeploymentSecurityEvents(deployment_id=dep, events=(connection_denied(),)),
            DeploymentSecurityEvents(deployment_id=other, events=(), dropped=7),
            DeploymentSecurityEvents(deployment_id=new_id(), events=(connection_denied(),)),
        )
    )

    response = gateway.post(f"{V1}/gateway/security-events", json=to_json(body))

    assert response.status_code == 200, response.text
    (row,) = stored(services, dep)
    assert (row.action, row.origin_address) == ("connection_denied", "198.51.100.9")
    assert dropped(services, other) == 7


def test_the_gateways_refusals_reach_the_store_through_its_sender(services, org):
    """`DeniedConnections.send_forever` posting to the real internal application, as the
    gateway's certificate."""
    from citadel.api.internal import create_internal_app
    from citadel.contract.client import ComponentTls, ControlPlane
    from citadel.gateway.security_events import DeniedConnections
    from citadel.traffic_filters.matching import Client
    from tests.fixtures.internal import PresentingCertificate, component_pem

    dep = make_deployment(services, org)
    denied = DeniedConnections()
    denied.record(dep, Client.of("198.51.100.9"), "BLOCKED_BY_IP_FILTER", "req-9")
    app = PresentingCertificate(create_internal_app(services), component_pem(services, "gateway"))
    unused = Path("unused")
    plane = ControlPlane("https://internal", ComponentTls(unused, unused, unused))

    async def deliver() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, headers=plane.headers()) as client:
            task = asyncio.ensure_future(denied.send_forever(client, plane, interval_s=0.01))
            for _ in range(200):
                if stored(services, dep):
                    break
                await asyncio.sleep(0.01)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(deliver())

    (row,) = stored(services, dep)
    assert (row.action, row.request_id, row.origin_address) == (
        "connection_denied",
        "req-9",
        "198.51.100.9",
    )
