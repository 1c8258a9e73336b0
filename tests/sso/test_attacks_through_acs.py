"""Every attack of security anchors section 2 through an organization's real ACS: a genuine
response from SimpleSAMLphp, mutated, posted by the browser that started the sign-in. Each is
refused with 401, its specific reason in the audit log, no session and no account.

(`test_saml.py` proves the same refusals on `process_response` alone, with more variants.)
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
import xmlsec
from lxml import etree

from citadel.sso.models import SsoIdentity
from citadel.sso.saml import NS
from tests.fixtures.builders import bearer, login, make_claimed_domain, make_org, make_user
from tests.sso import forge
from tests.sso.idp import Idp, SignInResult, make_key_pair
from tests.sso.test_sign_in import (
    acme,  # noqa: F401 - the fixture, used by name
    assert_refused,
    at_idp,
    refusals,
    sso_sign_in,
    users_named,
)

Mutation = Callable[[etree._Element, Idp], etree._Element | bytes]


def strip_signatures(response: etree._Element, idp: Idp) -> etree._Element:
    response = forge.impersonate(response)
    for signature in list(response.iter(f"{{{NS['ds']}}}Signature")):
        signature.getparent().remove(signature)
    return response


def tamper(response: etree._Element, idp: Idp) -> etree._Element:
    return forge.impersonate(response)


def resign_by_attacker(response: etree._Element, idp: Idp) -> etree._Element:
    return forge.resign_assertion(forge.impersonate(response), make_key_pair("attacker"))


def sha1_digest(response: etree._Element, idp: Idp) -> etree._Element:
    return forge.resign_assertion(response, idp.idp_keys, digest=xmlsec.constants.TransformSha1)


def extra_assertion(response: etree._Element, idp: Idp) -> etree._Element:
    extra = forge.impersonate(forge.without_signature(copy.deepcopy(forge.assertion_of(response))))
    extra.set("ID", "_second")
    response.append(extra)
    return response


def comment_in_name_id(response: etree._Element, idp: Idp) -> etree._Element:
    name_id = forge.name_id_of(response)
    name_id.text = "bo"
    comment = etree.Comment("")
    comment.tail = "b"
    name_id.append(comment)
    return response


def external_entity(response: etree._Element, idp: Idp) -> bytes:
    doctype = '<!DOCTYPE samlp:Response [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    return forge.with_doctype(response, doctype, "&xxe;")


def entity_expansion(response: etree._Element, idp: Idp) -> bytes:
    doctype = (
        '<!DOCTYPE samlp:Response [<!ENTITY l0 "lol">'
        + "".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
        + "]>"
    )
    return forge.with_doctype(response, doctype, "&l9;")


def unchanged(response: etree._Element, idp: Idp) -> etree._Element:
    return response


@dataclass(frozen=True)
class Attack:
    name: str
    mutate: Mutation
    reason: str
    response_signed: bool = True
    clock_minutes: float = 0


ATTACKS = [
    Attack("xsw1", lambda r, i: forge.xsw1(r), "wrapped"),
    Attack("xsw2", lambda r, i: forge.xsw2(r), "wrapped"),
    Attack("xsw3", lambda r, i: forge.xsw3(r), "two_assertions", response_signed=False),
    Attack("xsw4", lambda r, i: forge.xsw4(r), "wrapped", response_signed=False),
    Attack("xsw5", lambda r, i: forge.xsw5(r), "wrapped", response_signed=False),
    Attack("xsw6", lambda r, i: forge.xsw6(r), "wrapped", response_signed=False),
    Attack("xsw7", lambda r, i: forge.xsw7(r), "wrapped", response_signed=False),
    Attack("xsw8", lambda r, i: forge.xsw8(r), "wrapped", response_signed=False),
    Attack("stripped signatures", strip_signatures, "unsigned"),
    Attack("tampered assertion", tamper, "signature_invalid", response_signed=False),
    Attack("re-signed by another key", resign_by_attacker, "signature_invalid", False),
    Attack("sha1 digest", sha1_digest, "weak_algorithm", response_signed=False),
    Attack("two assertions", extra_assertion, "two_assertions"),
    Attack("comment in NameID", comment_in_name_id, "comment_injection"),
    Attack("external entity", external_entity, "entities_forbidden"),
    Attack("entity expansion", entity_expansion, "entities_forbidden"),
    Attack("expired", unchanged, "expired", clock_minutes=8),  # IdP: 5 min; request: 10
    Attack("not yet valid", unchanged, "not_yet_valid", clock_minutes=-10),
]


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.name)
def test_the_attack_is_refused_with_its_reason_and_no_session(
    client, services, clock, idp: Idp, attack: Attack
):
    owner = make_user(services, email="owner@acme.example")
    org = make_org(services, owner, "Acme")
    make_claimed_domain(services, org, "acme.example", verified=True)
    headers = bearer(login(client, services, owner))
    prefix = f"acme-{org.lower()}"[:63]
    body = {
        "login_prefix": prefix,
        "idp_entity_id": idp.entity_id,
        "idp_sso_url": idp.sso_url,
        "idp_certificates": [idp.idp_keys.cert_pem],
    }
    sp = client.put(f"/api/v1/organizations/{org}/sso", json=body, headers=headers).json()
    service_provider = sp["service_provider"]
    idp.register_sp(
        service_provider["entity_id"],
        service_provider["acs_url"],
        service_provider["certificate"],
        sign_response=attack.response_signed,
    )
    result: SignInResult = at_idp(client, clock, prefix, "bob")
    forged = forge.form_of(attack.mutate(forge.response_of(result), idp), result)
    clock.advance(minutes=attack.clock_minutes)

    response = client.post(urlsplit(result.action).path, data=forged, follow_redirects=False)

    assert_refused(response, client)
    assert refusals(services, org) == [attack.reason]
    assert users_named(services, "bob@acme.example") == []
    assert users_named(services, "admin@acme.example") == []


# --- identifiers padded with whitespace (issue 21) ---------------------------------------------


def identities(services, org: str) -> list[tuple[str, str]]:
    with services.db.read() as session:
        rows = session.scalars(sa.select(SsoIdentity).where(SsoIdentity.organization_id == org))
        return sorted((row.name_id, row.user_id) for row in rows)


def account(services, email: str) -> list[tuple]:
    return [(u.id, u.email, u.password_hash, u.name) for u in users_named(services, email)]


@pytest.mark.parametrize(
    ("padding", "name_id_padded"),
    [(" ", True), ("\u00a0", True), (" ", False), ("\u00a0", False)],
    ids=[
        "space, linked NameID",
        "no-break space, linked NameID",
        "space, new NameID",
        "no-break space, new NameID",
    ],
)
def test_a_padded_identity_signs_in_as_nobody_and_changes_no_account(
    client,
    services,
    clock,
    acme,  # noqa: F811 - the imported fixture
    idp: Idp,
    padding: str,
    name_id_padded: bool,
):
    """Bob's IdP issues a genuine, signed response naming Alice's identifiers plus a trailing
    space: with her linked NameID (it would match her SSO identity once trimmed), or with a
    fresh NameID (her email would match her account once trimmed). Refused either way."""
    provider = acme.sso["service_provider"]
    idp.register_sp(
        provider["entity_id"], provider["acs_url"], provider["certificate"], sign_response=False
    )
    assert sso_sign_in(client, clock, acme.prefix, "alice").status_code == 303
    client.cookies.clear()
    linked, alice = identities(services, acme.org), account(services, "alice@acme.example")

    result = at_idp(client, clock, acme.prefix, "bob")
    response = forge.response_of(result)
    forge.name_id_of(response).text = ("alice" if name_id_padded else "mallory") + padding
    (email,) = response.xpath("//saml:Attribute[@Name='email']/saml:AttributeValue", namespaces=NS)
    email.text = "alice@acme.example" + padding
    forged = forge.form_of(forge.resign_assertion(response, idp.idp_keys), result)
    answer = client.post(urlsplit(result.action).path, data=forged, follow_redirects=False)

    assert_refused(answer, client)
    assert refusals(services, acme.org) == ["padded_identifier"]
    assert identities(services, acme.org) == linked
    assert account(services, "alice@acme.example") == alice
    assert users_named(services, "bob@acme.example") == []
