"""The deployment page's Snapshots section (issue 20): how many, the latest successful one,
whether the schedule is healthy, and the snapshot a restored deployment came back from."""

from __future__ import annotations

from citadel.contract.messages import ComponentKind
from tests.fixtures.builders import make_deployment
from tests.fixtures.internal import as_component


def report(services, dep: str, **body) -> None:
    payload = {"observed_state": "running", "healthy": True, "detail": "", **body}
    with as_component(services, ComponentKind.ALLOCATOR) as internal:
        response = internal.post(f"/internal/v1/deployments/{dep}/status", json=payload)
    assert response.status_code == 200, response.text


def test_a_new_deployment_has_no_snapshot_yet(client, services, owner, signed_in):
    dep = make_deployment(services, owner[1])

    page = client.get(f"/deployments/{dep}")

    assert page.status_code == 200
    assert '<dd id="snapshot-count">0</dd>' in page.text
    assert "none yet" in page.text
    assert 'id="restored-from"' not in page.text


def test_the_page_shows_the_snapshots_and_the_restore(client, services, owner, signed_in):
    dep = make_deployment(services, owner[1])
    taken = services.clock.now().timestamp() - 600
    summary = {"count": 4, "latest_success_at": taken, "healthy": False}
    report(services, dep, snapshots=summary)
    report(services, dep, restored_from={"snapshot": "scheduled-9", "taken_at": taken})

    page = client.get(f"/deployments/{dep}")

    assert '<dd id="snapshot-count">4</dd>' in page.text
    assert "the latest scheduled snapshot failed" in page.text
    assert "restored from snapshot scheduled-9 taken at" in page.text
    assert "writes acknowledged after that time were lost" in page.text
