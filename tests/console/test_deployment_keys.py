"""Encryption keys in the console: picking the key manager when creating a deployment, and the
Security section's "Rotate key" and "Re-key" (platform key and a customer key in SoftHSM2),
with the API routes' permission checks."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from citadel.audit.models import AuditEvent
from citadel.deployments.models import Deployment
from tests.console.helpers import post, sign_in, token_in
from tests.fixtures.builders import (
    add_member,
    grant,
    key_headers,
    make_api_key,
    make_deployment,
    make_user,
)
from tests.fixtures.key_servers import USER_PIN, SoftHsm
from tests.fixtures.key_servers import label as _label  # noqa: F401
from tests.fixtures.key_servers import softhsm as _softhsm  # noqa: F401


@pytest.fixture
def signed_in(client, services, owner):
    return sign_in(client, services, owner[0])


def add_hsm_manager(client, services, org: str, softhsm: SoftHsm, name: str | None = None) -> str:
    """A PKCS#11 key manager of the organization (through the API, as an owner's key)."""
    body: dict[str, Any] = {
        "name": name or f"hsm-{uuid.uuid4().hex[:8]}",
        "kind": "pkcs11",
        "settings": {"module": softhsm.module},
        "secret": USER_PIN,
    }
    headers = key_headers(make_api_key(services, org))
    response = client.post(f"/api/v1/organizations/{org}/key-managers", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def hsm_key(softhsm: SoftHsm, label: str) -> str:
    softhsm.add_aes_key(label)
    return softhsm.key_path(label)


def row_of(services, deployment_id: str) -> Deployment:
    with services.db.read() as session:
        row = session.get(Deployment, deployment_id)
        assert row is not None
        session.expunge(row)
        return row


def actions(services, org: str) -> list[str]:
    with services.db.read() as session:
        return list(
            session.scalars(
                sa.select(AuditEvent.action)
                .where(AuditEvent.organization_id == org)
                .order_by(AuditEvent.seq)
            )
        )


# --- create: the key manager picker -----------------------------------------------------------


def test_the_create_form_lists_the_key_managers_to_those_who_may_read_them(
    client, services, owner, signed_in, softhsm
):
    _, org = owner
    manager = add_hsm_manager(client, services, org, softhsm, name="vault-room")
    html = client.get("/deployments/new").text
    assert 'id="key_manager_id"' in html
    assert f'<option value="{manager}" >vault-room (pkcs11)</option>' in html


def test_the_create_form_has_no_picker_for_a_deployment_admin(client, services, owner, softhsm):
    _, org = owner
    add_hsm_manager(client, services, org, softhsm, name="vault-room")
    admin = make_user(services)
    add_member(services, org, admin, grant(org, "deployment-admin"))
    sign_in(client, services, admin)
    html = client.get("/deployments/new").text
    assert 'id="key_resource_path"' in html  # a key path still works: the only manager of a kind
    assert 'id="key_manager_id"' not in html
    assert "vault-room" not in html


def test_a_deployment_is_created_under_the_chosen_key_manager(
    client, services, owner, signed_in, softhsm, label
):
    _, org = owner
    add_hsm_manager(client, services, org, softhsm)
    chosen = add_hsm_manager(client, services, org, softhsm)  # two of a kind: one must be named
    key_path = hsm_key(softhsm, label)
    form = client.get("/deployments/new").text
    request_id = re.search(r'name="request_id" value="([0-9a-f]{32})"', form).group(1)
    made = post(
        client,
        "/deployments",
        signed_in,
        name="sealed",
        region="local",
        size="1024",
        request_id=request_id,
        key_resource_path=key_path,
        key_manager_id=chosen,
    )
    assert made.status_code == 200, made.text
    with services.db.read() as session:
        stored = session.scalars(sa.select(Deployment).where(Deployment.name == "sealed")).one()
        assert (stored.key_manager_id, stored.key_path) == (chosen, key_path)


def test_two_managers_of_a_kind_without_a_choice_is_a_form_message(
    client, services, owner, signed_in, softhsm, label
):
    _, org = owner
    add_hsm_manager(client, services, org, softhsm)
    add_hsm_manager(client, services, org, softhsm)
    refused = post(
        client,
        "/deployments",
        signed_in,
        name="sealed",
        region="local",
        size="1024",
        key_resource_path=hsm_key(softhsm, label),
    )
    assert refused.status_code == 400
    assert "several pkcs11 key managers" in refused.text
    assert 'value="sealed"' in refused.text  # the form keeps what was typed


def test_a_key_manager_without_a_key_path_is_a_form_message(client, signed_in):
    refused = post(
        client,
        "/deployments",
        signed_in,
        name="sealed",
        region="local",
        size="1024",
        key_manager_id="0" * 32,
    )
    assert refused.status_code == 400
    assert "Give the key&#39;s path" in refused.text


# --- the Security section: rotate and re-key ---------------------------------------------------


def test_the_security_section_offers_rotate_and_rekey_with_confirmation(
    client, services, owner, signed_in
):
    _, org = owner
    deployment = make_deployment(services, org, name="logs")
    html = client.get(f"/deployments/{deployment}").text
    for action in ("encryption/rotate", "encryption/rekey"):
        form_start = html.index(f'action="/deployments/{deployment}/{action}"')
        assert html.rfind('<details class="confirm"', 0, form_start) > html.rfind(
            "</details>", 0, form_start
        )  # inside a disclosure: one more click confirms
    assert "Rotate the key of logs" in html
    assert "Re-key logs" in html


def test_every_input_of_the_deployment_page_has_a_label(client, services, owner, signed_in):
    _, org = owner
    html = client.get(f"/deployments/{make_deployment(services, org)}").text
    ids = re.findall(r'<(?:input|select|textarea)(?![^>]*type="hidden")[^>]*\bid="([^"]+)"', html)
    assert ids
    assert [i for i in ids if f'for="{i}"' not in html] == []


def test_rotating_a_platform_key_deployment_says_it_is_at_the_newest_version(
    client, services, owner, signed_in
):
    _, org = owner
    deployment = make_deployment(services, org)
    before = row_of(services, deployment).data_key_wrapped
    rotated = post(client, f"/deployments/{deployment}/encryption/rotate", signed_in)
    assert rotated.status_code == 200
    assert 'id="rotated"' in rotated.text
    assert "already at its newest version" in rotated.text
    assert row_of(services, deployment).data_key_wrapped == before


def test_rekeying_to_a_customer_key_and_back_to_the_platform_key(
    client, services, owner, signed_in, softhsm, label
):
    _, org = owner
    deployment = make_deployment(services, org, name="moving")
    add_hsm_manager(client, services, org, softhsm)
    key_path = hsm_key(softhsm, label)
    moved = post(
        client,
        f"/deployments/{deployment}/encryption/rekey",
        signed_in,
        target="customer",
        key_resource_path=key_path,
    )
    assert moved.status_code == 303, moved.text
    assert moved.headers["location"] == f"/deployments/{deployment}?notice=deployment_rekeyed"
    page = client.get(moved.headers["location"]).text
    assert f"Customer-managed: <code>{key_path}</code>" in page
    assert row_of(services, deployment).key_manager_id is not None
    rotated = post(client, f"/deployments/{deployment}/encryption/rotate", signed_in)
    assert rotated.status_code == 200
    assert 'id="rotated"' in rotated.text
    back = post(client, f"/deployments/{deployment}/encryption/rekey", signed_in, target="platform")
    assert back.status_code == 303
    assert "The platform key" in client.get(f"/deployments/{deployment}").text
    assert row_of(services, deployment).key_manager_id is None
    assert actions(services, org).count("deployment.rekeyed") == 2


def test_a_key_the_organization_has_no_manager_for_is_a_form_message(
    client, services, owner, signed_in
):
    _, org = owner
    deployment = make_deployment(services, org)
    before = row_of(services, deployment)
    refused = post(
        client,
        f"/deployments/{deployment}/encryption/rekey",
        signed_in,
        target="customer",
        key_resource_path="pkcs11:token=citadel-a;object=nothing",
    )
    assert refused.status_code == 400
    assert "Configure a pkcs11 key manager" in refused.text
    assert 'value="pkcs11:token=citadel-a;object=nothing"' in refused.text
    after = row_of(services, deployment)
    assert (after.key_path, after.data_key_wrapped) == (before.key_path, before.data_key_wrapped)


@pytest.fixture
def editor_session(client, services, owner):
    _, org = owner
    deployment = make_deployment(services, org, name="guarded")
    editor = make_user(services)
    add_member(services, org, editor, grant(org, "deployment-editor"))
    return sign_in(client, services, editor), org, deployment


def test_an_editor_sees_neither_rotate_nor_rekey(client, editor_session):
    _, _, deployment = editor_session
    html = client.get(f"/deployments/{deployment}").text
    assert "/encryption/" not in html


@pytest.mark.parametrize("action", ["rotate", "rekey"])
def test_an_editor_forging_a_key_change_gets_403(client, services, editor_session, action):
    csrf, org, deployment = editor_session
    before = row_of(services, deployment).data_key_wrapped
    response = post(
        client, f"/deployments/{deployment}/encryption/{action}", csrf, target="platform"
    )
    assert response.status_code == 403
    assert row_of(services, deployment).data_key_wrapped == before
    assert "request.denied" in actions(services, org)


@pytest.mark.parametrize("action", ["rotate", "rekey"])
def test_a_key_change_on_a_deployment_one_may_not_read_is_404(client, services, owner, action):
    _, org = owner
    hidden = make_deployment(services, org, name="hidden")
    visible = make_deployment(services, org, name="visible")
    admin = make_user(services)
    add_member(services, org, admin, grant(org, "deployment-admin", visible))
    csrf = sign_in(client, services, admin)
    response = post(client, f"/deployments/{hidden}/encryption/{action}", csrf, target="platform")
    assert response.status_code == 404


@pytest.mark.parametrize("action", ["rotate", "rekey"])
def test_a_key_change_without_the_csrf_token_is_refused(client, services, owner, action):
    user, org = owner
    deployment = make_deployment(services, org)
    sign_in(client, services, user)
    before = row_of(services, deployment).data_key_wrapped
    response = post(
        client, f"/deployments/{deployment}/encryption/{action}", None, target="platform"
    )
    assert response.status_code == 403
    assert "security token" in response.text
    assert row_of(services, deployment).data_key_wrapped == before
    assert token_in(client.get(f"/deployments/{deployment}").text)
