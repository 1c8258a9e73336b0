"""Fixtures of the deployment security audit tests: an organization with an owner's key, one of
its deployments, and audit events shaped as Elasticsearch writes them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest

from citadel.deployment_audit.service import record_events
from tests.cli.conftest import local_api  # noqa: F401 (the CLI tests' served API)
from tests.fixtures.builders import key_headers, make_api_key, make_deployment, make_org, make_user


@pytest.fixture
def org(services) -> str:
    return make_org(services, make_user(services))


@pytest.fixture
def owner_key(services, org) -> dict[str, str]:
    return key_headers(make_api_key(services, org))


@pytest.fixture
def deployment(services, org) -> str:
    return make_deployment(services, org)


def es_time(at: datetime) -> str:
    """A timestamp as Elasticsearch's audit log writes it (comma before the milliseconds)."""
    return at.strftime("%Y-%m-%dT%H:%M:%S,") + f"{at.microsecond // 1000:03d}+0000"


def audit_event(
    kind: str = "access_granted",
    /,
    *,
    at: datetime,
    user: str | None = "alice",
    realm: str | None = "native1",
    indices: Sequence[str] = (),
    request_id: str | None = "req-1",
    origin: str = "192.0.2.10:50512",
    **extra: Any,
) -> dict[str, Any]:
    """One event in Elasticsearch's audit JSON (flat dotted keys, as in ``*_audit.json``)."""
    event: dict[str, Any] = {
        "type": "audit",
        "@timestamp": es_time(at),
        "event.type": "rest",
        "event.action": kind,
        "origin.type": "rest",
        "origin.address": origin,
        "request.method": "GET",
        "url.path": "/_search",
    }
    if user is not None:
        event["user.name"] = user
    if realm is not None:
        event["user.realm"] = realm
    if indices:
        event["indices"] = list(indices)
    if request_id is not None:
        event["request.id"] = request_id
    event.update(extra)
    return event


def ship(services, deployment: str, events: Sequence[dict[str, Any]], dropped: int = 0) -> int:
    """What the internal route does with a node's shipment."""
    with services.db.write() as session:
        return record_events(session, deployment, events, dropped)


def minutes_ago(services, n: float) -> datetime:
    return services.clock.now() - timedelta(minutes=n)
