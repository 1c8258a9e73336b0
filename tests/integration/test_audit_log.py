"""The audit log: who did what, from where; readable page by page; tampering detected."""

import sqlalchemy as sa
from typer.testing import CliRunner

from citadel.audit.models import AuditEvent
from citadel.audit.service import verify_chains
from citadel.cli.main import app as cli
from tests.fixtures.builders import key_headers, make_api_key, make_org, make_user


def _events(client, org, key, **params):
    return client.get(
        f"/api/v1/organizations/{org}/audit-events", params=params, headers=key_headers(key)
    )


def _org_with_history(client, services):
    owner = make_user(services)
    org = make_org(services, owner)
    key = make_api_key(services, org)
    for name in ("One", "Two", "Three"):
        client.put(f"/api/v1/organizations/{org}", json={"name": name}, headers=key_headers(key))
    return org, key


def test_a_change_is_recorded_with_actor_credential_address_and_request(client, services):
    org, key = _org_with_history(client, services)
    newest = _events(client, org, key, size=1).json()["events"][0]
    assert newest["action"] == "org.updated"
    assert newest["actor_type"] == "api_key"
    assert newest["credential_id"] == key[9:21]
    assert newest["source_ip"] == "testclient"
    assert newest["request_id"]
    assert newest["details"]["after"] == {"name": "Three"}


def test_events_page_with_a_cursor_without_gaps_or_repeats(client, services):
    org, key = _org_with_history(client, services)
    seen, cursor = [], None
    while True:
        params = {"size": 2, **({"cursor": cursor} if cursor else {})}
        page = _events(client, org, key, **params).json()
        seen += [e["seq"] for e in page["events"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert seen == sorted(seen, reverse=True)
    assert seen == list(range(max(seen), 0, -1))


def test_events_filter_by_action(client, services):
    org, key = _org_with_history(client, services)
    events = _events(client, org, key, action="org.updated").json()["events"]
    assert len(events) == 3
    assert {e["action"] for e in events} == {"org.updated"}


def test_denied_requests_are_recorded(client, services):
    owner = make_user(services)
    org = make_org(services, owner)
    from tests.fixtures.builders import grant

    viewer_key = make_api_key(services, org, grant(org, "deployment-viewer"))
    client.put(
        f"/api/v1/organizations/{org}", json={"name": "Nope"}, headers=key_headers(viewer_key)
    )
    owner_key = make_api_key(services, org)
    denied = _events(client, org, owner_key, action="request.denied").json()["events"]
    assert denied
    assert denied[0]["outcome"] == "denied"


def test_an_intact_log_verifies(client, services):
    _org_with_history(client, services)
    with services.db.read() as session:
        assert verify_chains(session, services.keyring.audit_key) == []


def test_a_modified_event_is_detected(client, services):
    org, _ = _org_with_history(client, services)
    with services.db.write() as session:
        session.execute(
            sa.update(AuditEvent)
            .where(AuditEvent.chain == org, AuditEvent.seq == 2)
            .values(details={"before": {"name": "Acme"}, "after": {"name": "Innocent"}})
        )
    with services.db.read() as session:
        problems = verify_chains(session, services.keyring.audit_key)
    assert [(p.seq, p.problem) for p in problems] == [(2, "event modified")]


def test_a_deleted_event_is_detected(client, services):
    org, _ = _org_with_history(client, services)
    with services.db.write() as session:
        session.execute(sa.delete(AuditEvent).where(AuditEvent.chain == org, AuditEvent.seq == 3))
    with services.db.read() as session:
        problems = verify_chains(session, services.keyring.audit_key)
    assert any(p.problem == "missing event" for p in problems)


def test_citadel_audit_verify_exits_nonzero_on_tampering(client, services, data_dir, postgres_url):
    org, _ = _org_with_history(client, services)
    runner = CliRunner(env={"CITADEL_DATABASE_URL": postgres_url} if postgres_url else {})
    ok = runner.invoke(cli, ["audit", "verify", "--data-dir", str(data_dir)])
    assert ok.exit_code == 0, ok.output
    with services.db.write() as session:
        session.execute(
            sa.update(AuditEvent)
            .where(AuditEvent.chain == org, AuditEvent.seq == 1)
            .values(actor_id="someone-else")
        )
    broken = runner.invoke(cli, ["audit", "verify", "--data-dir", str(data_dir)])
    assert broken.exit_code == 1
    assert "event modified" in broken.output


def test_citadel_audit_list_platform_shows_an_event_of_no_organization(
    client, services, data_dir, postgres_url, monkeypatch
):
    import json

    from citadel.cli import render

    monkeypatch.setattr(render.out, "width", 250)  # a wide terminal: no cell is cut short

    client.post(
        "/api/v1/users/auth/_login",
        json={"username": "nobody@example.com", "password": "not the password"},
    )
    runner = CliRunner(env={"CITADEL_DATABASE_URL": postgres_url} if postgres_url else {})
    args = ["audit", "list", "--platform", "--data-dir", str(data_dir)]

    listed = runner.invoke(cli, [*args, "--output", "json"])
    assert listed.exit_code == 0, listed.output
    events = json.loads(listed.output)
    assert [(e["action"], e["outcome"], e["chain"]) for e in events] == [
        ("user.signin", "failure", "platform")
    ]
    assert events[0]["details"]["known_account"] is False

    table = runner.invoke(cli, args)
    assert table.exit_code == 0, table.output
    assert "user.signin" in table.output


def test_citadel_audit_list_without_platform_points_to_the_api(data_dir):
    refused = CliRunner().invoke(cli, ["audit", "list", "--data-dir", str(data_dir)])
    assert refused.exit_code == 2
    assert "audit-events" in refused.output
