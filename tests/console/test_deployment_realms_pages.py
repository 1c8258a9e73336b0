"""The console's Realms pages of a deployment (issue 18 item 3), in process: the list by order
with key settings and never the OIDC client secret, the SAML and OIDC forms calling the API's
service (its coded errors shown beside the input they name), replacing a realm keeps its
secret and its other settings, delete, CSRF, who may manage realms; and the CSP and labelling
rules of every console page. Real app, real database, real audit log."""

from __future__ import annotations

import html as markup
import re
from functools import cache
from typing import Any

import pytest
import sqlalchemy as sa

from citadel.audit.models import AuditEvent
from citadel.deployment_realms.service import realms_for_node
from tests.api.test_deployment_realms import (  # the API tests' IdP metadata and its server
    IDP_ENTITY_ID,
    MetadataServer,
    idp_metadata,
    idp_server,  # noqa: F401 (a fixture)
)
from tests.console.helpers import post, sign_in, token_in
from tests.fixtures.builders import add_member, grant, make_deployment, make_org, make_user

SECRET = "console-oidc-secret-5d1e"
metadata = cache(idp_metadata)  # one IdP key for the module
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"


@pytest.fixture
def org(owner) -> str:
    return owner[1]


@pytest.fixture
def deployment(services, org) -> str:
    return make_deployment(services, org)


def realms_of(deployment: str) -> str:
    return f"/deployments/{deployment}/security/realms"


def saml_form(name: str = "corp-saml", order: int = 1, **fields: Any) -> dict[str, Any]:
    form = {
        "type": "saml",
        "name": name,
        "order": str(order),
        "enabled": "on",
        "idp.entity_id": IDP_ENTITY_ID,
        "idp.metadata.xml": metadata(),
        "sp.entity_id": "https://kibana.example.com/",
        "sp.acs": "https://kibana.example.com/api/security/saml/callback",
        "sp.logout": "",
        "attributes.principal": "nameid",
        "attributes.groups": "groups",
        "attributes.name": "",
        "attributes.mail": "",
        "attribute_patterns.principal": "",
        "req_authn_context_class_ref": "",
        "other_settings": "",
        **fields,
    }
    return {k: v for k, v in form.items() if v is not None}


def oidc_form(name: str = "corp-oidc", order: int = 2, **fields: Any) -> dict[str, Any]:
    form = {
        "type": "oidc",
        "name": name,
        "order": str(order),
        "enabled": "on",
        "op.issuer": "https://op.example.com",
        "op.authorization_endpoint": "https://op.example.com/authorize",
        "op.token_endpoint": "https://op.example.com/token",
        "op.jwkset_path": "https://op.example.com/jwks",
        "op.userinfo_endpoint": "",
        "rp.client_id": "kibana",
        "rp.client_secret": SECRET,
        "rp.redirect_uri": "https://kibana.example.com/api/security/oidc/callback",
        "rp.requested_scopes": "openid email",
        "claims.principal": "sub",
        "claims.groups": "",
        "claims.name": "",
        "claims.mail": "",
        "ssl.certificate_authorities": "",
        "other_settings": "",
        **fields,
    }
    return {k: v for k, v in form.items() if v is not None}


def stored(services, deployment: str):
    with services.db.read() as session:
        return realms_for_node(session, deployment, services.keyring.barrier)


def member_session(client, services, org: str, role: str, *ids: str) -> str:
    user = make_user(services)
    add_member(services, org, user, grant(org, role, *ids))
    return sign_in(client, services, user)


# --- listing ---------------------------------------------------------------------------------


def test_an_empty_deployment_offers_both_kinds(client, signed_in, deployment):
    html = client.get(realms_of(deployment)).text

    assert 'id="no-realms"' in html
    assert f'href="{realms_of(deployment)}/new/saml"' in html
    assert f'href="{realms_of(deployment)}/new/oidc"' in html


def test_realms_are_listed_by_order_with_key_settings_and_no_secret(client, signed_in, deployment):
    post(client, realms_of(deployment), signed_in, **oidc_form(order=1))
    post(client, realms_of(deployment), signed_in, **saml_form(order=5, enabled=None))

    html = client.get(realms_of(deployment)).text

    table = html[html.index('id="realms"') :]
    assert table.index('id="realm-corp-oidc"') < table.index('id="realm-corp-saml"')
    assert "OpenID Connect" in table
    assert IDP_ENTITY_ID in table
    assert "https://op.example.com" in table
    assert "secret set" in table
    assert "Disabled" in table
    assert SECRET not in html


# --- creating --------------------------------------------------------------------------------


def test_a_saml_realm_is_created_from_its_form(client, services, signed_in, deployment):
    form = client.get(realms_of(deployment) + "/new/saml").text
    assert 'name="idp.metadata.xml"' in form

    done = post(
        client,
        realms_of(deployment),
        token_in(form),
        **saml_form(
            force_authn="on",
            req_authn_context_class_ref="urn:a\nurn:b\n",
            other_settings=f'{{"nameid_format": "{PERSISTENT}"}}',
        ),
    )

    assert done.status_code == 303
    assert done.headers["location"] == realms_of(deployment) + "?done=created"
    saml, oidc = stored(services, deployment)
    assert oidc == ()
    assert [(r.name, r.order, r.enabled) for r in saml] == [("corp-saml", 1, True)]
    assert saml[0].idp_metadata == metadata()
    assert saml[0].settings["force_authn"] is True
    assert saml[0].settings["req_authn_context_class_ref"] == ["urn:a", "urn:b"]
    assert saml[0].settings["nameid_format"] == PERSISTENT
    assert "sp.logout" not in saml[0].settings  # empty inputs are left out
    assert "The realm was added" in client.get(done.headers["location"]).text


def test_an_oidc_realm_is_created_with_its_secret_sealed(client, services, signed_in, deployment):
    done = post(client, realms_of(deployment), signed_in, **oidc_form())

    assert done.status_code == 303
    _, oidc = stored(services, deployment)
    assert [(r.name, r.client_secret) for r in oidc] == [("corp-oidc", SECRET)]
    assert oidc[0].settings["rp.requested_scopes"] == ["openid", "email"]
    with services.db.read() as session:
        details = session.scalars(sa.select(AuditEvent.details)).all()
    assert any(d.get("realm") == "corp-oidc" for d in details)
    assert SECRET not in str(details)


# --- errors beside their field ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "input_id", "message"),
    [
        (saml_form(**{"idp.entity_id": "https://other.example.com"}), "idp-entity_id", "entityID"),
        (saml_form(**{"sp.acs": "ftp://x"}), "sp-acs", "absolute http(s) URL"),
        (saml_form(**{"idp.metadata.xml": "<nope/>"}), "idp-metadata-xml", "not an IdP metadata"),
        (oidc_form(**{"rp.client_secret": ""}), "rp-client_secret", "rp.client_secret"),
        (oidc_form(**{"op.issuer": "http://op.example.com"}), "op-issuer", "https URL"),
        (oidc_form(other_settings='{"rp.response_type": "id_token"}'), "other_settings", "code"),
        (saml_form(name="native"), "name", "reserved"),
        (saml_form(order="x"), "order", "whole number"),
    ],
)
def test_a_refused_setting_is_shown_beside_its_input(
    client, signed_in, deployment, form, input_id, message
):
    answer = post(client, realms_of(deployment), signed_in, **form)

    assert answer.status_code in (400, 409)
    page = answer.text
    field = re.search(rf'<(?:input|textarea)[^>]*\bid="{input_id}"[^>]*>', page)
    assert field, page
    assert 'aria-invalid="true"' in field.group(0)
    assert f'{input_id}-error"' in field.group(0)  # aria-describedby names the message
    error = re.search(rf'<p class="field-error" id="{input_id}-error">([^<]*)</p>', page)
    assert error
    assert message in markup.unescape(error.group(1))
    assert SECRET not in page  # the typed secret is not echoed


def test_metadata_given_both_ways_is_refused_beside_the_document(client, signed_in, deployment):
    answer = post(
        client,
        realms_of(deployment),
        signed_in,
        **saml_form(**{"idp.metadata.path": "https://idp.example.com/md"}),
    )

    assert answer.status_code == 400
    assert 'id="idp-metadata-xml-error"' in answer.text
    assert "one of them" in answer.text


def test_a_file_path_for_the_metadata_is_refused_beside_its_input(client, signed_in, deployment):
    form = saml_form(**{"idp.metadata.xml": "", "idp.metadata.path": "/etc/idp/metadata.xml"})

    answer = post(client, realms_of(deployment), signed_in, **form)

    assert answer.status_code == 400
    assert 'id="idp-metadata-path-error"' in answer.text
    assert "deployment_realm.unsupported_setting" in answer.text


def test_a_refused_form_keeps_what_was_typed(client, signed_in, deployment):
    answer = post(
        client,
        realms_of(deployment),
        signed_in,
        **saml_form(**{"sp.acs": "ftp://x", "attributes.mail": "mail"}),
    )

    assert 'value="mail"' in answer.text
    assert 'value="corp-saml"' in answer.text
    assert "EntityDescriptor" in answer.text


def test_a_taken_order_is_shown_beside_the_order(client, signed_in, deployment):
    post(client, realms_of(deployment), signed_in, **saml_form(order=3))

    answer = post(client, realms_of(deployment), signed_in, **oidc_form(order=3))

    assert answer.status_code == 409
    assert 'id="order-error"' in answer.text


# --- replacing -------------------------------------------------------------------------------


def test_the_edit_form_shows_the_realm_but_not_its_secret(client, signed_in, deployment):
    post(client, realms_of(deployment), signed_in, **oidc_form())

    html = client.get(realms_of(deployment) + "/corp-oidc/edit").text

    assert 'value="https://op.example.com/authorize"' in html
    assert 'value="openid email"' in html
    assert 'id="secret-set"' in html
    assert SECRET not in html
    secret_input = re.search(r'<input id="rp-client_secret"[^>]*>', html)
    assert secret_input
    assert "required" not in secret_input.group(0)


def test_replacing_with_an_empty_secret_keeps_the_stored_one(
    client, services, signed_in, deployment
):
    post(
        client,
        realms_of(deployment),
        signed_in,
        **oidc_form(other_settings='{"allowed_clock_skew": "30s"}'),
    )
    form = client.get(realms_of(deployment) + "/corp-oidc/edit").text
    assert "allowed_clock_skew" in form  # a key without an input, kept in the JSON box

    done = post(
        client,
        realms_of(deployment),
        signed_in,
        **oidc_form(
            order=7,
            replacing="on",
            enabled=None,
            other_settings='{"allowed_clock_skew": "30s"}',
            **{"rp.client_secret": "", "claims.groups": "groups"},
        ),
    )

    assert done.status_code == 303
    assert done.headers["location"].endswith("?done=updated")
    _, oidc = stored(services, deployment)
    assert [(r.order, r.enabled, r.client_secret) for r in oidc] == [(7, False, SECRET)]
    assert oidc[0].settings["claims.groups"] == "groups"
    assert oidc[0].settings["allowed_clock_skew"] == "30s"


def test_a_refused_replacement_stays_the_realms_edit_form(client, signed_in, deployment):
    post(client, realms_of(deployment), signed_in, **oidc_form())

    answer = post(
        client,
        realms_of(deployment),
        signed_in,
        **oidc_form(replacing="on", **{"rp.client_secret": "", "op.issuer": "http://op"}),
    )

    assert answer.status_code == 400
    assert 'id="op-issuer-error"' in answer.text
    assert 'id="secret-set"' in answer.text
    assert 'id="name"' not in answer.text  # the realm's name is not an input when replacing
    assert "Save corp-oidc" in answer.text


def test_a_new_secret_replaces_the_stored_one(client, services, signed_in, deployment):
    post(client, realms_of(deployment), signed_in, **oidc_form())

    post(
        client,
        realms_of(deployment),
        signed_in,
        **oidc_form(replacing="on", **{"rp.client_secret": "rotated-secret"}),
    )

    _, oidc = stored(services, deployment)
    assert oidc[0].client_secret == "rotated-secret"


def test_other_settings_may_not_repeat_an_input(client, signed_in, deployment):
    answer = post(
        client,
        realms_of(deployment),
        signed_in,
        **saml_form(other_settings='{"sp.acs": "https://elsewhere.example.com/acs"}'),
    )

    assert answer.status_code == 400
    assert 'id="other_settings-error"' in answer.text
    assert "sp.acs" in answer.text


def test_metadata_by_url_is_fetched_and_fetched_again_on_replace(
    client,
    services,
    signed_in,
    deployment,
    idp_server: MetadataServer,  # noqa: F811 (the imported fixture)
):
    by_url = saml_form(
        **{
            "idp.metadata.xml": "",
            "idp.metadata.path": idp_server.url,
            "ssl.certificate_authorities": idp_server.ca_pem,
        }
    )

    done = post(client, realms_of(deployment), signed_in, **by_url)

    assert done.status_code == 303, done.text
    (realm,), _ = stored(services, deployment)
    assert realm.idp_metadata == idp_server.document
    assert "Metadata fetched" in client.get(realms_of(deployment)).text
    form = client.get(realms_of(deployment) + "/corp-saml/edit").text
    assert f'value="{idp_server.url}"' in form
    assert "EntityDescriptor" not in form  # the fetched document is not put in the XML box

    replaced = post(client, realms_of(deployment), signed_in, replacing="on", **by_url)

    assert replaced.status_code == 303, replaced.text
    assert idp_server.requests == 2


def test_editing_a_missing_realm_is_not_found(client, signed_in, deployment):
    answer = client.get(realms_of(deployment) + "/absent/edit")

    assert answer.status_code == 404
    assert "deployment_realm.not_found" in answer.text


# --- deleting --------------------------------------------------------------------------------


def test_a_realm_is_deleted_after_confirmation(client, services, signed_in, deployment):
    post(client, realms_of(deployment), signed_in, **saml_form())
    html = client.get(realms_of(deployment)).text
    confirm = re.search(r'<details class="confirm">\s*<summary>Delete</summary>', html)
    assert confirm  # the delete button sits behind a disclosure, as other console deletes do

    done = post(client, realms_of(deployment) + "/corp-saml/delete", signed_in)

    assert done.status_code == 303
    assert stored(services, deployment) == ((), ())
    assert "The realm was deleted" in client.get(done.headers["location"]).text


def test_deleting_a_missing_realm_is_not_found(client, signed_in, deployment):
    answer = post(client, realms_of(deployment) + "/absent/delete", signed_in)

    assert answer.status_code == 404


# --- CSRF and who may --------------------------------------------------------------------------


def test_posts_without_the_csrf_token_are_refused(client, services, signed_in, deployment):
    post(client, realms_of(deployment), signed_in, **saml_form())

    assert post(client, realms_of(deployment), None, **oidc_form()).status_code == 403
    assert post(client, realms_of(deployment), "forged", **oidc_form()).status_code == 403
    delete = realms_of(deployment) + "/corp-saml/delete"
    assert post(client, delete, None, csrf_token="").status_code == 403
    saml, oidc = stored(services, deployment)
    assert [r.name for r in saml] == ["corp-saml"]
    assert oidc == ()


@pytest.mark.parametrize("role", ["deployment-editor", "deployment-viewer"])
def test_editors_and_viewers_are_refused_and_not_shown_the_link(
    client, services, org, deployment, role
):
    csrf = member_session(client, services, org, role, deployment)

    assert 'id="realms-link"' not in client.get(f"/deployments/{deployment}").text
    assert client.get(realms_of(deployment)).status_code == 403
    assert client.get(realms_of(deployment) + "/new/saml").status_code == 403
    assert post(client, realms_of(deployment), csrf, **saml_form()).status_code == 403
    assert stored(services, deployment) == ((), ())


def test_a_deployment_admin_of_it_manages_its_realms(client, services, org, deployment):
    csrf = member_session(client, services, org, "deployment-admin", deployment)

    assert 'id="realms-link"' in client.get(f"/deployments/{deployment}").text
    assert post(client, realms_of(deployment), csrf, **saml_form()).status_code == 303


def test_another_organizations_deployment_is_not_found(client, services, deployment):
    outsider = make_user(services)
    make_org(services, outsider, "Elsewhere")
    csrf = sign_in(client, services, outsider)

    assert client.get(realms_of(deployment)).status_code == 404
    assert client.get(realms_of(deployment) + "/new/oidc").status_code == 404
    assert post(client, realms_of(deployment), csrf, **saml_form()).status_code == 404
    assert post(client, realms_of(deployment) + "/corp-saml/delete", csrf).status_code == 404
    assert stored(services, deployment) == ((), ())


# --- page rules --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["", "/new/saml", "/new/oidc", "/corp-oidc/edit"])
def test_the_pages_have_no_inline_script_or_style_and_label_every_input(
    client, signed_in, deployment, path
):
    post(client, realms_of(deployment), signed_in, **oidc_form())

    response = client.get(realms_of(deployment) + path)

    assert response.status_code == 200
    html = response.text
    assert "content-security-policy" in response.headers
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None
    assert "<style" not in html
    assert " style=" not in html
    assert re.search(r"<[^>]+\son[a-z]+=", html) is None
    ids = re.findall(
        r'<(?:input|select|textarea)(?![^>]*type="(?:hidden|submit)")[^>]*\bid="([^"]+)"', html
    )
    assert ids or path == ""  # the list has no inputs but its forms' hidden ones
    assert [i for i in ids if f'for="{i}"' not in html] == []
    forms = re.findall(r'<form method="post"[^>]*>\s*<input type="hidden" name="csrf_token"', html)
    assert len(forms) == html.count('<form method="post"')
