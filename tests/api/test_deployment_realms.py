"""Deployment realms through the API (issue 18 item 3): create, replace, list and delete a
deployment's SAML and OIDC realms; settings checked with errors naming the key; the OIDC client
secret sealed and never returned; who may see and change them; the audit trail; and the
node's allocation changing with them. Real app, real database, real audit log."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from citadel.app import create_app
from citadel.audit.models import AuditEvent
from citadel.bootstrap import Services, build
from citadel.config import Settings
from citadel.contract.messages import OidcRealm, SamlRealm
from citadel.deployment_realms.models import DeploymentRealm
from citadel.deployment_realms.service import Refreshed, realms_for_node, refresh_metadata
from citadel.deployment_realms.settings import (
    CLIENT_SECRET,
    METADATA_CAS,
    METADATA_PATH,
    METADATA_XML,
    OIDC_KEYS,
    SAML_KEYS,
    check_oidc,
    saml_settings,
)
from citadel.deployments.internal import allocation_version
from citadel.node.security.oidc_realm import OidcSettings
from citadel.node.security.saml_realm import SamlSettings
from citadel.sso.saml import bare_certificate
from citadel.use_cases.internal import allocations
from citadel.web.work import Work
from tests.fixtures.builders import (
    grant,
    key_headers,
    make_api_key,
    make_deployment,
    make_org,
    make_user,
)
from tests.node.oidc_provider import make_certificates
from tests.sso.idp import make_key_pair

IDP_ENTITY_ID = "https://idp.example.com/metadata"
SECRET = "oidc-client-secret-7f3a"


def idp_metadata(entity_id: str = IDP_ENTITY_ID, binding: str = "HTTP-Redirect") -> str:
    """An IdP's metadata document: one signing certificate, an HTTP-Redirect SSO service."""
    cert = bare_certificate(make_key_pair("realm-idp").cert_pem)
    return (
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}">'
        '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data>'
        f"<ds:X509Certificate>{cert}</ds:X509Certificate>"
        "</ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        f'<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:{binding}" '
        'Location="https://idp.example.com/sso"/>'
        "</md:IDPSSODescriptor></md:EntityDescriptor>"
    )


def saml_body(order: int = 1, **settings: Any) -> dict[str, Any]:
    return {
        "type": "saml",
        "order": order,
        "enabled": True,
        "settings": {
            "idp.metadata.xml": idp_metadata(),
            "idp.entity_id": IDP_ENTITY_ID,
            "sp.entity_id": "https://app.example.com/saml",
            "sp.acs": "https://app.example.com/saml/acs",
            "attributes.principal": "nameid",
            "attributes.groups": "groups",
            "attribute_patterns.principal": "^([^@]+)@example\\.com$",
            **settings,
        },
    }


def oidc_body(order: int = 2, **settings: Any) -> dict[str, Any]:
    body = {
        "type": "oidc",
        "order": order,
        "settings": {
            "op.issuer": "https://op.example.com",
            "op.authorization_endpoint": "https://op.example.com/authorize",
            "op.token_endpoint": "https://op.example.com/token",
            "op.jwkset_path": "https://op.example.com/jwks",
            "rp.client_id": "citadel",
            "rp.client_secret": SECRET,
            "rp.redirect_uri": "https://app.example.com/oidc/cb",
            "claims.principal": "sub",
            **settings,
        },
    }
    body["settings"] = {k: v for k, v in body["settings"].items() if v is not None}
    return body


@pytest.fixture
def deployment(services, org) -> str:
    return make_deployment(services, org)


@pytest.fixture
def url(deployment) -> str:
    return f"/api/v1/deployments/{deployment}/security/realms"


def error(response) -> dict[str, Any]:
    return response.json()["errors"][0]


# --- create, replace, list, delete ----------------------------------------------------------


def test_a_saml_realm_is_created_then_listed_with_its_settings(client, owner_key, url):
    created = client.put(f"{url}/saml1", json=saml_body(), headers=owner_key)

    assert created.status_code == 201, created.text
    listed = client.get(url, headers=owner_key).json()["realms"]
    assert [(r["name"], r["type"], r["order"], r["enabled"]) for r in listed] == [
        ("saml1", "saml", 1, True)
    ]
    assert listed[0]["settings"]["attributes.principal"] == "nameid"
    assert "idp.metadata.xml" not in listed[0]["settings"]
    assert listed[0]["idp_metadata_xml"].startswith("<md:EntityDescriptor")


def test_putting_a_realm_again_replaces_it(client, owner_key, url):
    client.put(f"{url}/saml1", json=saml_body(), headers=owner_key)

    replaced = client.put(
        f"{url}/saml1", json=saml_body(order=5, force_authn=True), headers=owner_key
    )

    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["order"] == 5
    assert replaced.json()["settings"]["force_authn"] is True


def test_realms_are_listed_by_order(client, owner_key, url):
    client.put(f"{url}/later", json=saml_body(order=7), headers=owner_key)
    client.put(f"{url}/sooner", json=oidc_body(order=3), headers=owner_key)

    listed = client.get(url, headers=owner_key).json()["realms"]

    assert [r["name"] for r in listed] == ["sooner", "later"]


def test_a_deleted_realm_is_gone(client, owner_key, url):
    client.put(f"{url}/saml1", json=saml_body(), headers=owner_key)

    deleted = client.delete(f"{url}/saml1", headers=owner_key)

    assert deleted.status_code == 200, deleted.text
    assert client.get(url, headers=owner_key).json()["realms"] == []
    again = client.delete(f"{url}/saml1", headers=owner_key)
    assert again.status_code == 404
    assert error(again)["code"] == "deployment_realm.not_found"


# --- the client secret ---------------------------------------------------------------------


def test_the_client_secret_is_never_returned(client, owner_key, url):
    put = client.put(f"{url}/oidc1", json=oidc_body(), headers=owner_key)
    listed = client.get(url, headers=owner_key)

    assert put.status_code == 201, put.text
    for response in (put, listed):
        assert SECRET not in response.text
        assert "rp.client_secret" not in response.text
    assert listed.json()["realms"][0]["client_secret_set"] is True


def test_the_client_secret_is_sealed_at_rest_and_reaches_the_node(
    client, services, owner_key, url, deployment
):
    client.put(f"{url}/oidc1", json=oidc_body(), headers=owner_key)

    with services.db.read() as session:
        row = session.scalars(sa.select(DeploymentRealm)).one()
        assert row.client_secret_sealed is not None
        assert SECRET.encode() not in row.client_secret_sealed
        assert SECRET not in str(row.settings)
        _, oidc = realms_for_node(session, deployment, services.keyring.barrier)
    assert [(r.name, r.client_secret) for r in oidc] == [("oidc1", SECRET)]
    assert SECRET not in repr(oidc)


def test_replacing_an_oidc_realm_without_a_secret_keeps_the_one_it_has(
    client, services, owner_key, url, deployment
):
    client.put(f"{url}/oidc1", json=oidc_body(), headers=owner_key)

    replaced = client.put(
        f"{url}/oidc1",
        json=oidc_body(**{"rp.client_secret": None, "claims.groups": "groups"}),
        headers=owner_key,
    )

    assert replaced.status_code == 200, replaced.text
    with services.db.read() as session:
        _, oidc = realms_for_node(session, deployment, services.keyring.barrier)
    assert oidc[0].client_secret == SECRET
    assert oidc[0].settings["claims.groups"] == "groups"


def test_a_new_oidc_realm_needs_a_client_secret(client, owner_key, url):
    response = client.put(
        f"{url}/oidc1", json=oidc_body(**{"rp.client_secret": None}), headers=owner_key
    )

    assert response.status_code == 400
    assert error(response)["fields"] == ['body.settings["rp.client_secret"]']


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code", "fields"),
    [
        (saml_body(**{"idp.sso_url": "x"}), "invalid", ['body.settings["idp.sso_url"]']),
        (
            saml_body(**{"attributes.principal": None}),
            "invalid",
            ['body.settings["attributes.principal"]'],
        ),
        (
            saml_body(**{"idp.entity_id": "https://other.example.com"}),
            "invalid",
            ['body.settings["idp.entity_id"]'],
        ),
        (
            saml_body(**{"idp.metadata.xml": "<!DOCTYPE x><x/>"}),
            "invalid",
            ['body.settings["idp.metadata.xml"]'],
        ),
        (
            saml_body(**{"idp.metadata.xml": idp_metadata(binding="HTTP-POST")}),
            "invalid",
            ['body.settings["idp.metadata.xml"]'],
        ),
        (
            saml_body(**{"attribute_patterns.principal": "(unclosed"}),
            "invalid",
            ['body.settings["attribute_patterns.principal"]'],
        ),
        (saml_body(force_authn="yes"), "invalid", ['body.settings["force_authn"]']),
        (
            saml_body(**{"signing.key": "/etc/key.pem"}),
            "unsupported_setting",
            ['body.settings["signing.key"]'],
        ),
        (
            saml_body(**{"encryption.keystore.path": "x"}),
            "unsupported_setting",
            ['body.settings["encryption.keystore.path"]'],
        ),
        (
            saml_body(**{"idp.metadata.xml": None, "idp.metadata.path": "/etc/idp/md.xml"}),
            "unsupported_setting",
            ['body.settings["idp.metadata.path"]'],
        ),
        (
            saml_body(**{"idp.metadata.xml": None, "idp.metadata.path": "file:///etc/md.xml"}),
            "unsupported_setting",
            ['body.settings["idp.metadata.path"]'],
        ),
        (
            saml_body(**{"idp.metadata.xml": None, "idp.metadata.path": "http://idp.example/md"}),
            "invalid",
            ['body.settings["idp.metadata.path"]'],
        ),
        (
            saml_body(**{"idp.metadata.path": "https://idp.example.com/md"}),
            "invalid",
            ['body.settings["idp.metadata.xml"]', 'body.settings["idp.metadata.path"]'],
        ),
        (
            saml_body(**{"idp.metadata.xml": None}),
            "invalid",
            ['body.settings["idp.metadata.xml"]', 'body.settings["idp.metadata.path"]'],
        ),
        (
            saml_body(**{"ssl.certificate_authorities": "-----BEGIN CERTIFICATE-----x"}),
            "invalid",
            ['body.settings["ssl.certificate_authorities"]'],
        ),
        (
            saml_body(**{"ssl.verification_mode": "none"}),
            "unsupported_setting",
            ['body.settings["ssl.verification_mode"]'],
        ),
        (
            oidc_body(**{"rp.response_type": "id_token"}),
            "unsupported_setting",
            ['body.settings["rp.response_type"]'],
        ),
        (
            oidc_body(**{"rp.signature_algorithm": "HS256"}),
            "unsupported_setting",
            ['body.settings["rp.signature_algorithm"]'],
        ),
        (
            oidc_body(**{"op.token_endpoint": "http://op.example.com/token"}),
            "invalid",
            ['body.settings["op.token_endpoint"]'],
        ),
        (oidc_body(**{"op.issuer": None}), "invalid", ['body.settings["op.issuer"]']),
    ],
    ids=[
        "unknown-key",
        "missing-principal",
        "entity-id-not-the-metadata's",
        "metadata-with-doctype",
        "metadata-without-redirect-sso",
        "bad-pattern",
        "flag-not-boolean",
        "signing-key",
        "encryption-key",
        "metadata-by-file-path",
        "metadata-by-file-url",
        "metadata-by-plain-http",
        "metadata-inline-and-by-url",
        "no-metadata",
        "ca-without-url",
        "tls-verification-off",
        "implicit-flow",
        "hmac-id-tokens",
        "plain-http-op",
        "missing-issuer",
    ],
)
def test_bad_settings_are_refused_naming_the_key(client, owner_key, url, body, code, fields):
    body["settings"] = {k: v for k, v in body["settings"].items() if v is not None}

    response = client.put(f"{url}/realm1", json=body, headers=owner_key)

    assert response.status_code == 400, response.text
    assert error(response)["code"] == f"deployment_realm.{code}"
    assert error(response)["fields"] == fields


@pytest.mark.parametrize("name", ["citadel-cloud", "default_native", "_hidden", "a b", "x" * 65])
def test_reserved_and_malformed_realm_names_are_refused(client, owner_key, url, name):
    response = client.put(f"{url}/{name}", json=saml_body(), headers=owner_key)

    assert response.status_code in (400, 422), response.text
    assert error(response)["code"] in ("deployment_realm.invalid", "root.invalid_data")


def test_two_realms_cannot_share_an_order(client, owner_key, url):
    client.put(f"{url}/saml1", json=saml_body(order=1), headers=owner_key)

    response = client.put(f"{url}/oidc1", json=oidc_body(order=1), headers=owner_key)

    assert response.status_code == 409
    assert error(response)["code"] == "deployment_realm.order_taken"
    assert error(response)["fields"] == ["body.order"]


def test_a_deployment_has_at_most_ten_realms(client, owner_key, url):
    for i in range(10):
        made = client.put(f"{url}/realm{i}", json=oidc_body(order=i), headers=owner_key)
        assert made.status_code == 201, made.text

    response = client.put(f"{url}/realm10", json=oidc_body(order=10), headers=owner_key)

    assert response.status_code == 409
    assert error(response)["code"] == "deployment_realm.too_many"


# --- who may, audit, allocation ---------------------------------------------------------------


@pytest.mark.parametrize("role", ["deployment-editor", "deployment-viewer"])
def test_editors_and_viewers_neither_see_nor_change_realms(
    client, services, org, owner_key, url, deployment, role
):
    client.put(f"{url}/saml1", json=saml_body(), headers=owner_key)
    headers = key_headers(make_api_key(services, org, grant(org, role, deployment)))

    assert client.get(url, headers=headers).status_code == 403
    assert client.put(f"{url}/saml2", json=saml_body(order=2), headers=headers).status_code == 403
    assert client.delete(f"{url}/saml1", headers=headers).status_code == 403


def test_a_deployment_admin_of_it_manages_its_realms(client, services, org, url, deployment):
    headers = key_headers(make_api_key(services, org, grant(org, "deployment-admin", deployment)))

    assert client.put(f"{url}/saml1", json=saml_body(), headers=headers).status_code == 201


def test_another_organizations_deployment_answers_like_a_missing_one(
    client, services, owner_key, url
):
    client.put(f"{url}/saml1", json=saml_body(), headers=owner_key)
    other_org = make_org(services, make_user(services), "Elsewhere")
    outsider = key_headers(make_api_key(services, other_org))

    for response in (
        client.get(url, headers=outsider),
        client.put(f"{url}/saml1", json=saml_body(), headers=outsider),
        client.delete(f"{url}/saml1", headers=outsider),
    ):
        assert response.status_code == 404
        assert error(response)["code"] == "deployments.deployment_not_found"
    assert len(client.get(url, headers=owner_key).json()["realms"]) == 1


def test_changes_are_audited_in_the_organizations_chain_without_the_secret(
    client, services, org, owner_key, url, deployment
):
    client.put(f"{url}/oidc1", json=oidc_body(), headers=owner_key)
    client.put(f"{url}/oidc1", json=oidc_body(order=4), headers=owner_key)
    client.delete(f"{url}/oidc1", headers=owner_key)

    with services.db.read() as session:
        events = session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.action.like("deployment.realm.%"))
            .order_by(AuditEvent.seq)
        ).all()
        assert [(e.action, e.organization_id, e.target_id) for e in events] == [
            ("deployment.realm.created", org, deployment),
            ("deployment.realm.updated", org, deployment),
            ("deployment.realm.deleted", org, deployment),
        ]
        assert events[1].details["before"]["order"] == 2
        assert events[1].details["after"]["order"] == 4
        assert all(SECRET not in str(e.details) for e in events)


def test_every_change_moves_the_allocations_version(client, services, owner_key, url):
    def version() -> int:
        with services.db.read() as session:
            ctx = services.context(session, services.system_caller())
            return allocation_version(ctx)

    before = version()
    client.put(f"{url}/saml1", json=saml_body(), headers=owner_key)
    after_put = version()
    client.delete(f"{url}/saml1", headers=owner_key)

    assert before < after_put < version()


def test_the_node_gets_its_saml_realm_with_the_metadata(client, services, owner_key, url):
    client.put(f"{url}/saml1", json=saml_body(), headers=owner_key)
    deployment_id = url.split("/")[4]

    with services.db.read() as session:
        saml, oidc = realms_for_node(session, deployment_id, services.keyring.barrier)

    assert oidc == ()
    assert [r.name for r in saml] == ["saml1"]
    assert saml[0].idp_metadata.startswith("<md:EntityDescriptor")
    assert saml[0].settings["sp.acs"] == "https://app.example.com/saml/acs"


def test_the_allocation_of_a_running_deployment_carries_its_realms(
    client, services, owner_key, url, deployment
):
    client.put(f"{url}/saml1", json=saml_body(), headers=owner_key)
    client.put(f"{url}/oidc1", json=oidc_body(), headers=owner_key)

    with services.db.read() as session:
        ctx = services.context(session, services.system_caller())
        (allocation,) = [a for a in allocations(ctx).deployments if a.id == deployment]

    assert allocation.security is not None
    assert [r.name for r in allocation.security.saml] == ["saml1"]
    assert [(r.name, r.client_secret) for r in allocation.security.oidc] == [("oidc1", SECRET)]


def test_an_oidc_realm_put_through_the_api_is_one_the_node_reads(
    client, services, owner_key, url, deployment
):
    body = oidc_body(
        **{
            "rp.client_auth_method": "client_secret_post",
            "rp.requested_scopes": ["email"],
            "allowed_clock_skew": "30s",
            "claims.groups": "groups",
            "claim_patterns.principal": "^(.+)@example\\.com$",
        }
    )
    assert client.put(f"{url}/oidc1", json=body, headers=owner_key).status_code == 201

    with services.db.read() as session:
        _, (realm,) = realms_for_node(session, deployment, services.keyring.barrier)
    parsed = OidcSettings.of(realm)

    assert parsed.client_secret == SECRET
    assert parsed.client_auth_method == "client_secret_post"
    assert parsed.scopes == ("openid", "email")
    assert parsed.clock_skew_s == 30
    assert parsed.claim_patterns["principal"].pattern == "^(.+)@example\\.com$"


# --- no setting accepted and ignored ----------------------------------------------------------
# The house rule: a setting Elasticsearch has is honoured or refused, never accepted and left
# unread. For every key the API accepts, a value it accepts changes what the node's realm
# reads from its security file (or the node refuses it), unless the key is listed below with
# where it goes instead. A key added to SAML_KEYS or OIDC_KEYS fails here until it is given a
# sample value (and the node reads it) or a reason.

SAML_READ_ELSEWHERE = {
    METADATA_XML: "the document itself: the node gets it as the realm's idp_metadata",
    METADATA_PATH: "the control plane fetches the metadata; the node gets the document",
    METADATA_CAS: "only for the control plane's fetch of idp.metadata.path",
}
OIDC_READ_ELSEWHERE = {
    CLIENT_SECRET: "sealed at rest; the node gets it as the realm's client_secret",
    "rp.response_type": "its one accepted value, code, is the flow the node runs",
}
SAML_BASE = {
    "idp.entity_id": IDP_ENTITY_ID,
    "sp.entity_id": "https://app.example.com/saml",
    "sp.acs": "https://app.example.com/saml/acs",
    "attributes.principal": "nameid",
}
SAML_SAMPLES = {
    "idp.entity_id": "https://another-idp.example.com/metadata",
    "idp.use_single_logout": False,
    "sp.entity_id": "https://another-app.example.com/saml",
    "sp.acs": "https://app.example.com/saml/other-acs",
    "sp.logout": "https://app.example.com/saml/logout",
    "nameid_format": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    "force_authn": True,
    "req_authn_context_class_ref": ["urn:oasis:names:tc:SAML:2.0:ac:classes:X509"],
    "populate_user_metadata": False,
    "attribute_delimiters.groups": ",",
    "attributes.principal": "uid",
    **{f"attributes.{f}": f"attr-{f}" for f in ("groups", "name", "mail", "dn")},
    **{f"attribute_patterns.{f}": "^(.+)$" for f in ("principal", "groups", "name", "mail", "dn")},
}
OIDC_BASE = oidc_body()["settings"]
OIDC_SAMPLES = {
    "op.issuer": "https://another-op.example.com",
    "op.authorization_endpoint": "https://op.example.com/other-authorize",
    "op.token_endpoint": "https://op.example.com/other-token",
    "op.jwkset_path": "https://op.example.com/other-jwks",
    "op.userinfo_endpoint": "https://op.example.com/userinfo",
    "op.endsession_endpoint": "https://op.example.com/logout",
    "rp.client_id": "another-client",
    "rp.redirect_uri": "https://app.example.com/oidc/other-cb",
    "rp.post_logout_redirect_uri": "https://app.example.com/bye",
    "rp.requested_scopes": ["email"],
    "rp.signature_algorithm": "ES256",
    "rp.client_auth_method": "client_secret_post",
    "allowed_clock_skew": "30s",
    "populate_user_metadata": False,
    "claims.principal": "email",
    **{f"claims.{f}": f"claim-{f}" for f in ("groups", "name", "mail", "dn")},
    **{f"claim_patterns.{f}": "^(.+)$" for f in ("principal", "groups", "name", "mail", "dn")},
}


def test_every_accepted_key_has_a_sample_or_a_reason() -> None:
    assert set(SAML_SAMPLES) | set(SAML_READ_ELSEWHERE) == set(SAML_KEYS)
    assert set(OIDC_SAMPLES) | set(OIDC_READ_ELSEWHERE) | {METADATA_CAS} == set(OIDC_KEYS)


def _saml(settings: dict[str, Any]) -> SamlSettings:
    return SamlSettings.of(SamlRealm(name="s", settings=settings, idp_metadata=idp_metadata()))


@pytest.mark.parametrize("key", sorted(SAML_SAMPLES))
def test_every_accepted_saml_key_is_read_by_the_node(key: str) -> None:
    given = {**SAML_BASE, key: SAML_SAMPLES[key]}
    saml_settings({**given, METADATA_XML: idp_metadata()})  # the API accepts it
    if key == "idp.entity_id":  # read and checked: another entityID than the metadata's
        with pytest.raises(ValueError, match=r"\[idp\.entity_id\]"):
            _saml(given)
        return
    assert _saml(given) != _saml(SAML_BASE)


@pytest.mark.parametrize("key", sorted([*OIDC_SAMPLES, METADATA_CAS]))
def test_every_accepted_oidc_key_is_read_by_the_node(key: str, tmp_path: Path) -> None:
    value = make_certificates(tmp_path)[0] if key == METADATA_CAS else OIDC_SAMPLES[key]
    given = {**OIDC_BASE, key: value}
    check_oidc(given, has_secret=False)  # the API accepts it
    base = {k: v for k, v in OIDC_BASE.items() if k != CLIENT_SECRET}
    given.pop(CLIENT_SECRET)
    assert OidcSettings.of(OidcRealm(name="o", settings=given)) != OidcSettings.of(
        OidcRealm(name="o", settings=base)
    )


# --- IdP metadata by URL (idp.metadata.path) --------------------------------------------------


class MetadataServer:
    """An IdP's metadata over HTTPS on loopback (its certificate from a test CA): serves
    `document` with `status` at ``/metadata``, and counts the requests it gets."""

    def __init__(self, directory: Path) -> None:
        self.ca_pem, cert, key = make_certificates(directory)
        self.document = idp_metadata()
        self.status = 200
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                raw = server.document.encode()
                self.send_response(server.status)
                self.send_header("content-type", "application/samlmetadata+xml")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"https://localhost:{self.server.server_address[1]}/metadata"


@pytest.fixture
def idp_server(tmp_path: Path) -> Iterator[MetadataServer]:
    server = MetadataServer(tmp_path / "idp-tls")
    yield server
    server.server.shutdown()
    server.server.server_close()


def by_url(server: MetadataServer, *, ca: bool = True, **settings: Any) -> dict[str, Any]:
    """A SAML realm whose metadata the control plane fetches from `server` (loopback: the
    test settings list it among the operator's allowed endpoints)."""
    given = {"idp.metadata.xml": None, "idp.metadata.path": server.url, **settings}
    if ca:
        given["ssl.certificate_authorities"] = server.ca_pem
    body = saml_body(**given)
    body["settings"] = {k: v for k, v in body["settings"].items() if v is not None}
    return body


def test_metadata_by_url_is_fetched_validated_and_stored_with_its_time(
    client, services, owner_key, url, deployment, idp_server
):
    created = client.put(f"{url}/saml1", json=by_url(idp_server), headers=owner_key)

    assert created.status_code == 201, created.text
    realm = created.json()
    assert realm["idp_metadata_xml"] == idp_server.document
    assert realm["settings"]["idp.metadata.path"] == idp_server.url
    assert realm["idp_metadata_fetched"] is not None
    assert idp_server.requests == 1
    with services.db.read() as session:
        (node_realm,), _ = realms_for_node(session, deployment, services.keyring.barrier)
    assert node_realm.idp_metadata == idp_server.document
    assert "idp.metadata.path" not in node_realm.settings
    assert "ssl.certificate_authorities" not in node_realm.settings


def test_a_realm_given_inline_again_forgets_its_fetch_time(client, owner_key, url, idp_server):
    client.put(f"{url}/saml1", json=by_url(idp_server), headers=owner_key)

    inline = client.put(f"{url}/saml1", json=saml_body(), headers=owner_key).json()

    assert "idp_metadata_fetched" not in inline  # None: not shown
    assert "idp.metadata.path" not in inline["settings"]


def unavailable(response) -> str:
    assert response.status_code == 400, response.text
    assert error(response)["code"] == "deployment_realm.metadata_unavailable"
    assert error(response)["fields"] == ['body.settings["idp.metadata.path"]']
    return error(response)["message"]


def test_a_server_whose_certificate_is_not_trusted_is_refused(client, owner_key, url, idp_server):
    # no ssl.certificate_authorities: the system's roots do not know the test CA
    response = client.put(f"{url}/saml1", json=by_url(idp_server, ca=False), headers=owner_key)

    assert "TLS certificate" in unavailable(response)
    assert client.get(url, headers=owner_key).json()["realms"] == []


def test_an_answer_other_than_200_is_refused(client, owner_key, url, idp_server):
    idp_server.status = 404

    assert "HTTP 404" in unavailable(
        client.put(f"{url}/saml1", json=by_url(idp_server), headers=owner_key)
    )


def test_a_document_over_the_size_limit_is_refused(client, owner_key, url, idp_server):
    idp_server.document = idp_metadata() + " " * (512 * 1024)

    assert "larger than 512 KiB" in unavailable(
        client.put(f"{url}/saml1", json=by_url(idp_server), headers=owner_key)
    )


def test_a_fetched_document_is_validated_as_inline_metadata(client, owner_key, url, idp_server):
    idp_server.document = "<x/>"
    not_metadata = client.put(f"{url}/saml1", json=by_url(idp_server), headers=owner_key)
    idp_server.document = idp_metadata("https://other-idp.example.com")
    other_idp = client.put(f"{url}/saml1", json=by_url(idp_server), headers=owner_key)

    assert not_metadata.status_code == 400
    assert error(not_metadata)["code"] == "deployment_realm.invalid"
    assert error(not_metadata)["fields"] == ['body.settings["idp.metadata.path"]']
    assert other_idp.status_code == 400
    assert error(other_idp)["fields"] == ['body.settings["idp.entity_id"]']


def test_nothing_is_fetched_for_a_caller_who_may_not_change_realms(
    client, services, org, url, deployment, idp_server
):
    viewer = key_headers(make_api_key(services, org, grant(org, "deployment-viewer", deployment)))

    response = client.put(f"{url}/saml1", json=by_url(idp_server), headers=viewer)

    assert response.status_code == 403
    assert idp_server.requests == 0


@pytest.fixture
def strict_client(services: Services) -> Iterator[TestClient]:
    """`services`' database under the default settings: the operator lists no endpoints, so
    loopback and private addresses are refused."""
    settings = Settings(
        data_dir=services.settings.data_dir,
        database_url=services.settings.database_url,
        regions=services.settings.regions,
        _env_file=None,  # type: ignore[call-arg]  # pydantic-settings init option
    )
    assert settings.key_manager_allowed_endpoints == []
    built = build(settings, clock=services.clock)
    with TestClient(create_app(built), base_url="https://testserver") as c:
        yield c
    built.close()


@pytest.mark.parametrize(
    "where", ["https://localhost:{port}/metadata", "https://10.1.2.3:{port}/metadata"]
)
def test_a_loopback_or_private_address_is_refused_unless_the_operator_allows_it(
    strict_client, owner_key, url, idp_server, where
):
    port = idp_server.server.server_address[1]
    body = by_url(idp_server, **{"idp.metadata.path": where.format(port=port)})

    response = strict_client.put(f"{url}/saml1", json=body, headers=owner_key)

    assert "not at an address the operator allows" in unavailable(response)
    assert idp_server.requests == 0


# --- the daily refresh ------------------------------------------------------------------------


def test_the_refresh_picks_up_a_rotated_signing_certificate(
    client, services, owner_key, url, deployment, idp_server
):
    client.put(f"{url}/saml1", json=by_url(idp_server), headers=owner_key)
    units = Work(services, services.system_caller())

    def version() -> int:
        with services.db.read() as session:
            return allocation_version(services.context(session, services.system_caller()))

    before = version()

    assert refresh_metadata(units) == Refreshed()  # fetched today: not due yet
    services.clock.advance(hours=25)
    assert refresh_metadata(units).unchanged  # the same document: stored time only
    assert version() == before

    rotated = idp_metadata()  # a new signing certificate
    idp_server.document = rotated
    services.clock.advance(hours=25)
    done = refresh_metadata(units)

    assert len(done.changed) == 1
    realm = client.get(url, headers=owner_key).json()["realms"][0]
    assert realm["idp_metadata_xml"] == rotated
    assert version() > before
    with services.db.read() as session:
        (node_realm,), _ = realms_for_node(session, deployment)
        refreshed = session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "deployment.realm.metadata_refreshed")
        ).all()
    assert node_realm.idp_metadata == rotated
    assert [(e.target_id, e.details["realm"]) for e in refreshed] == [(deployment, "saml1")]


def test_a_failed_refresh_keeps_the_last_good_document_and_is_a_platform_event(
    client, services, owner_key, url, deployment, idp_server
):
    client.put(f"{url}/saml1", json=by_url(idp_server), headers=owner_key)
    good = idp_server.document
    units = Work(services, services.system_caller())

    idp_server.status = 500
    services.clock.advance(days=2)
    first = refresh_metadata(units)
    idp_server.status, idp_server.document = 200, idp_metadata("https://other-idp.example.com")
    second = refresh_metadata(units)  # still due: a failure is tried again at the next round

    assert len(first.failed) == len(second.failed) == 1
    assert client.get(url, headers=owner_key).json()["realms"][0]["idp_metadata_xml"] == good
    with services.db.read() as session:
        failed = session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.action == "deployment.realm.metadata_refresh_failed")
            .order_by(AuditEvent.occurred_at)
        ).all()
    assert [e.organization_id for e in failed] == [None, None]
    assert [e.outcome for e in failed] == ["failure", "failure"]
    assert [e.details["code"] for e in failed] == [
        "deployment_realm.metadata_unavailable",
        "deployment_realm.invalid",
    ]
    assert "HTTP 500" in failed[0].details["reason"]
