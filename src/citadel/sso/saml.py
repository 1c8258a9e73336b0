"""The SAML 2.0 service provider: sign-in requests out, verified assertions in.

Invariants (security anchors, section 2.1), checked in this order, each refusal with its own
`RefusalReason`:

1. Parse once, safely: at most `MAX_RESPONSE_BYTES` of base64; lxml with no entity resolution,
   no network, no huge trees; any DOCTYPE or entity is refused before anything else reads it.
2. Structure before signatures: the root is one ``samlp:Response``; exactly one ``saml:Assertion``,
   a direct child of the root (never inside ``Extensions``, a ``Signature`` or another Assertion);
   IDs are unique; every ``ds:Signature`` is a direct child of the Response or of that Assertion,
   one per element, holds only SignedInfo/SignatureValue/KeyInfo (no ``ds:Object``), and has one
   Reference whose URI is ``#`` + its parent's ID (XSW1-XSW8 all break one of these).
3. Algorithms from an allow-list only (RSA/ECDSA with SHA-256+, exc-c14n, enveloped-signature).
4. python3-saml in strict mode verifies the signatures against the configured IdP certificate(s)
   (never KeyInfo), the schema, status, issuer, audience and destination.
5. Our own exact checks on the verified tree (python3-saml compares Destination by prefix and
   Recipient by substring, reads the wall clock and lets a missing InResponseTo through):
   Destination and Recipient equal the ACS URL, bearer confirmation, audience, issuer, the time
   window against the caller's ``now`` with `CLOCK_SKEW`, InResponseTo equal to the outstanding
   request (SP-initiated only), no comment or processing instruction inside NameID or attribute
   values, and the email attribute present.
6. One-time use: the assertion ID goes through the `AssertionLedger` last, so only a fully
   verified assertion is remembered.

NameID and attribute values are read as the whole text of the element from python3-saml's
verified tree, never as the first text node.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol
from urllib.parse import urlsplit

from lxml import etree
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.errors import OneLogin_Saml2_ValidationError
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings

from citadel.errors import Unauthenticated

NS_SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
NS_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
NS = {"samlp": NS_SAMLP, "saml": NS_SAML, "ds": NS_DS}

BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
NAMEID_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
CM_BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"

MAX_RESPONSE_BYTES = 256 * 1024
"""Cap on the base64 SAMLResponse as posted (and so on the decoded XML)."""

CLOCK_SKEW = timedelta(seconds=60)

SIGNATURE_ALGORITHMS = frozenset(
    {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
    }
)
DIGEST_ALGORITHMS = frozenset(
    {
        "http://www.w3.org/2001/04/xmlenc#sha256",
        "http://www.w3.org/2001/04/xmldsig-more#sha384",
        "http://www.w3.org/2001/04/xmlenc#sha512",
    }
)
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
TRANSFORMS = frozenset({ENVELOPED, EXC_C14N})
SIGNATURE_CHILDREN = frozenset({f"{{{NS_DS}}}SignedInfo", f"{{{NS_DS}}}SignatureValue"})
OPTIONAL_SIGNATURE_CHILDREN = frozenset({f"{{{NS_DS}}}KeyInfo"})


class RefusalReason(StrEnum):
    """Why a SAML response was refused: one per failed check."""

    MALFORMED = "malformed"
    TOO_LARGE = "too_large"
    ENTITIES_FORBIDDEN = "entities_forbidden"
    SCHEMA_INVALID = "schema_invalid"
    NO_ASSERTION = "no_assertion"
    TWO_ASSERTIONS = "two_assertions"
    ENCRYPTED_ASSERTION = "encrypted_assertion"
    WRAPPED = "wrapped"
    UNSIGNED = "unsigned"
    SIGNATURE_INVALID = "signature_invalid"
    WEAK_ALGORITHM = "weak_algorithm"
    DISALLOWED_TRANSFORM = "disallowed_transform"
    STATUS_NOT_SUCCESS = "status_not_success"
    WRONG_ISSUER = "wrong_issuer"
    WRONG_AUDIENCE = "wrong_audience"
    WRONG_DESTINATION = "wrong_destination"
    WRONG_RECIPIENT = "wrong_recipient"
    WRONG_SUBJECT_CONFIRMATION = "wrong_subject_confirmation"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    UNSOLICITED = "unsolicited"
    REPLAYED = "replayed"
    COMMENT_INJECTION = "comment_injection"
    MISSING_NAME_ID = "missing_name_id"
    MISSING_EMAIL = "missing_email"
    PADDED_IDENTIFIER = "padded_identifier"
    """The NameID or the email starts or ends with whitespace of any kind (a different
    identifier at the IdP: never trimmed into a match with someone else's)."""
    DUPLICATE_ATTRIBUTE = "duplicate_attribute"
    WRONG_AUTHN_CONTEXT = "wrong_authn_context"
    """The SP asked for authentication contexts and the assertion names another (or none)."""
    INVALID = "invalid"
    # Decided by the organization's sign-in, after the response itself was verified:
    EMAIL_OUTSIDE_CLAIMED_DOMAINS = "email_outside_claimed_domains"
    SSO_DISABLED = "sso_disabled"
    REQUEST_EXPIRED = "request_expired"
    CONFIGURATION_CHANGED = "configuration_changed"
    # Decided by a deployment's SAML realm (`citadel.node.security.saml_realm`), after the same:
    MISSING_PRINCIPAL = "missing_principal"
    PATTERN_MISMATCH = "pattern_mismatch"


class SamlRefused(Unauthenticated):
    """A SAML response failed a check; `reason` says which (never shown in detail to clients)."""

    code = "sso.saml_refused"
    default_message = "The single sign-on response was refused."
    keeps_writes = True  # the organization's sign-in audits the refusal and its reason

    def __init__(self, reason: RefusalReason) -> None:
        super().__init__()
        self.reason = reason

    def __repr__(self) -> str:
        return f"SamlRefused({self.reason.value!r})"


@dataclass(frozen=True, slots=True)
class ServiceProvider:
    """One organization's SP and the IdP it trusts (certificates are PEM).

    A deployment's SAML realm (`citadel.node.security.saml_realm`) is an SP too, with these
    differences, each a field whose default is the organization's behaviour: no signing key
    (empty `private_key_pem`: AuthnRequests go unsigned, as Elasticsearch sends them without
    ``signing.*``), no required email (`email_attribute` None), its own NameID format, and
    optionally ``ForceAuthn`` and exact authentication contexts, checked in the response."""

    entity_id: str
    acs_url: str
    login_url: str
    certificate_pem: str
    private_key_pem: str = field(repr=False)
    idp_entity_id: str
    idp_sso_url: str
    idp_certificates_pem: tuple[str, ...]
    want_assertions_signed: bool = True
    want_messages_signed: bool = False
    email_attribute: str | None = "email"
    """The attribute that must carry exactly one email (None: none is required)."""
    groups_attribute: str = "groups"
    name_id_format: str = NAMEID_PERSISTENT
    force_authn: bool = False
    authn_context_class_refs: tuple[str, ...] = ()
    """Requested with exact comparison; the assertion's AuthnContextClassRef must be one."""

    def __post_init__(self) -> None:
        if not (self.want_assertions_signed or self.want_messages_signed):
            raise ValueError("a service provider must require a signed assertion or response")
        if not 1 <= len(self.idp_certificates_pem) <= 2:
            raise ValueError("one IdP signing certificate, or two during a rollover")


@dataclass(frozen=True, slots=True)
class Assertion:
    """What a verified response says about the user."""

    name_id: str
    name_id_format: str | None
    email: str
    groups: tuple[str, ...]
    attributes: Mapping[str, tuple[str, ...]]
    session_index: str | None
    assertion_id: str
    not_on_or_after: datetime


class AssertionLedger(Protocol):
    """One-time use of assertion IDs until they expire."""

    def seen(self, assertion_id: str, not_on_or_after: datetime) -> bool:
        """Record `assertion_id`; true if it was already recorded (a replay)."""
        ...


class InMemoryAssertionLedger:
    """An `AssertionLedger` in this process's memory (one node, tests)."""

    def __init__(self) -> None:
        self._expiry: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def seen(self, assertion_id: str, not_on_or_after: datetime) -> bool:
        """Record `assertion_id` until `not_on_or_after` + skew; true on a repeat."""
        with self._lock:
            if assertion_id in self._expiry:
                return True
            self._expiry[assertion_id] = not_on_or_after + CLOCK_SKEW
            return False

    def forget_expired(self, now: datetime) -> None:
        """Drop IDs whose assertions can no longer be accepted anyway."""
        with self._lock:
            self._expiry = {k: v for k, v in self._expiry.items() if v > now}


def email_in_domains(email: str, domains: Iterable[str]) -> bool:
    """True when `email`'s domain is exactly one of `domains` (a subdomain is its own claim)."""
    local, at, host = email.rpartition("@")
    if not at or not local or not host or "@" in local:
        return False
    host = host.rstrip(".").lower()
    return any(host == domain.strip().rstrip(".").lower() for domain in domains if domain.strip())


# --- python3-saml settings and the request ---------------------------------------------------


def bare_certificate(pem: str) -> str:
    """The base64 body of a PEM certificate, as SAML settings and metadata carry it."""
    return "".join(line for line in pem.strip().splitlines() if "-----" not in line)


def settings_for(sp: ServiceProvider) -> dict:
    """python3-saml settings for `sp`: strict, signed, SHA-256 minimum, no unsolicited."""
    certs = [bare_certificate(pem) for pem in sp.idp_certificates_pem]
    idp: dict = {
        "entityId": sp.idp_entity_id,
        "singleSignOnService": {"url": sp.idp_sso_url, "binding": BINDING_REDIRECT},
        "x509cert": certs[0],
    }
    if len(certs) > 1:
        idp["x509certMulti"] = {"signing": certs}
    own: dict = {
        "entityId": sp.entity_id,
        "assertionConsumerService": {"url": sp.acs_url, "binding": BINDING_POST},
        "NameIDFormat": sp.name_id_format,
    }
    if sp.private_key_pem:
        own["x509cert"] = bare_certificate(sp.certificate_pem)
        own["privateKey"] = sp.private_key_pem
    return {
        "strict": True,
        "debug": False,
        "sp": own,
        "idp": idp,
        "security": {
            "authnRequestsSigned": bool(sp.private_key_pem),
            "wantAssertionsSigned": sp.want_assertions_signed,
            "wantMessagesSigned": sp.want_messages_signed,
            "wantNameId": True,
            "wantNameIdEncrypted": False,
            "wantAssertionsEncrypted": False,
            "wantAttributeStatement": sp.email_attribute is not None,
            "requestedAuthnContext": list(sp.authn_context_class_refs) or False,
            "requestedAuthnContextComparison": "exact",
            "allowRepeatAttributeName": False,
            "rejectDeprecatedAlgorithm": True,
            "signatureAlgorithm": C.RSA_SHA256,
            "digestAlgorithm": C.SHA256,
            "wantXMLValidation": True,
            "rejectUnsolicitedResponsesWithInResponseTo": True,
            "signMetadata": False,
        },
    }


def _request_data(sp: ServiceProvider, post: Mapping[str, str] | None = None) -> dict:
    """The request as python3-saml sees it: the ACS URL itself, never the client's Host."""
    url = urlsplit(sp.acs_url)
    return {
        "https": "on" if url.scheme == "https" else "off",
        "http_host": url.netloc,
        "script_name": url.path,
        "get_data": {},
        "post_data": dict(post or {}),
    }


def login_request(sp: ServiceProvider, relay_state: str) -> tuple[str, str]:
    """A signed AuthnRequest (HTTP-Redirect): the URL to send the browser to, and its ID."""
    auth = OneLogin_Saml2_Auth(_request_data(sp), settings_for(sp))
    url = auth.login(return_to=relay_state, force_authn=sp.force_authn)
    return url, auth.get_last_request_id()


# --- the response ------------------------------------------------------------------------------


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_blank_text=False,
    )


def _decode(form: Mapping[str, str]) -> bytes:
    raw = form.get("SAMLResponse")
    if not raw:
        raise SamlRefused(RefusalReason.MALFORMED)
    if len(raw) > MAX_RESPONSE_BYTES:
        raise SamlRefused(RefusalReason.TOO_LARGE)
    try:
        return base64.b64decode(raw.encode("ascii"), validate=False)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise SamlRefused(RefusalReason.MALFORMED) from None


def parse_safely(xml: bytes) -> etree._Element:
    """Parse `xml` with lxml, refusing any DOCTYPE or entity (`entities_forbidden`)."""
    # Refuse a DTD before parsing at all: nothing may expand, fetch or include.
    if b"<!DOCTYPE" in xml.upper() or b"<!ENTITY" in xml.upper():
        raise SamlRefused(RefusalReason.ENTITIES_FORBIDDEN)
    try:
        root = etree.fromstring(xml, parser=_parser())
    except etree.XMLSyntaxError:
        raise SamlRefused(RefusalReason.MALFORMED) from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise SamlRefused(RefusalReason.ENTITIES_FORBIDDEN)
    for node in root.iter():
        if isinstance(node, etree._Entity):
            raise SamlRefused(RefusalReason.ENTITIES_FORBIDDEN)
    return root


def _check_structure(root: etree._Element, sp: ServiceProvider) -> etree._Element:
    """The wrapping checks (invariant 3); returns the one Assertion."""
    if root.tag != f"{{{NS_SAMLP}}}Response":
        raise SamlRefused(RefusalReason.MALFORMED)
    if root.xpath("//samlp:Response", namespaces=NS) != [root]:
        raise SamlRefused(RefusalReason.WRAPPED)
    ids: set[str] = set()
    for element in root.iter(etree.Element):
        value = element.get("ID")
        if value is None:
            continue
        if value in ids:
            raise SamlRefused(RefusalReason.WRAPPED)
        ids.add(value)
    assertions = root.xpath("//saml:Assertion", namespaces=NS)
    if any(a.getparent() is not root for a in assertions):
        raise SamlRefused(RefusalReason.WRAPPED)
    if root.xpath("//saml:EncryptedAssertion", namespaces=NS):
        raise SamlRefused(RefusalReason.ENCRYPTED_ASSERTION)
    signatures = root.xpath("//ds:Signature", namespaces=NS)
    for signature in signatures:
        _check_signature_shape(signature, root, assertions)
    if not assertions:
        raise SamlRefused(RefusalReason.NO_ASSERTION)
    if len(assertions) > 1:
        raise SamlRefused(RefusalReason.TWO_ASSERTIONS)
    (assertion,) = assertions
    for path in ("saml:Subject/saml:NameID", "saml:AttributeStatement/saml:Attribute/*"):
        for element in assertion.xpath(path, namespaces=NS):
            _whole_text(element)
    signed = {s.getparent() for s in signatures}
    if not signed:
        raise SamlRefused(RefusalReason.UNSIGNED)
    if sp.want_assertions_signed and assertion not in signed:
        raise SamlRefused(RefusalReason.UNSIGNED)
    if sp.want_messages_signed and root not in signed:
        raise SamlRefused(RefusalReason.UNSIGNED)
    return assertion


def _check_signature_shape(
    signature: etree._Element, root: etree._Element, assertions: Sequence[etree._Element]
) -> None:
    parent = signature.getparent()
    if parent is not root and parent not in assertions:
        raise SamlRefused(RefusalReason.WRAPPED)
    if len(parent.findall(f"{{{NS_DS}}}Signature")) != 1:
        raise SamlRefused(RefusalReason.WRAPPED)
    children = [c for c in signature if isinstance(c.tag, str)]
    tags = [c.tag for c in children]
    if not set(tags) >= SIGNATURE_CHILDREN or len(tags) != len(set(tags)):
        raise SamlRefused(RefusalReason.WRAPPED)
    if set(tags) - SIGNATURE_CHILDREN - OPTIONAL_SIGNATURE_CHILDREN:
        raise SamlRefused(RefusalReason.WRAPPED)  # ds:Object and anything else
    references = signature.findall(f"{{{NS_DS}}}SignedInfo/{{{NS_DS}}}Reference")
    if len(references) != 1 or len(signature.xpath(".//ds:Reference", namespaces=NS)) != 1:
        raise SamlRefused(RefusalReason.WRAPPED)
    parent_id = parent.get("ID")
    if not parent_id or references[0].get("URI") != "#" + parent_id:
        raise SamlRefused(RefusalReason.WRAPPED)
    _check_algorithms(signature)


def _check_algorithms(signature: etree._Element) -> None:
    def algorithms(path: str) -> list[str]:
        return [e.get("Algorithm", "") for e in signature.xpath(path, namespaces=NS)]

    methods = algorithms("ds:SignedInfo/ds:SignatureMethod")
    digests = algorithms("ds:SignedInfo/ds:Reference/ds:DigestMethod")
    if len(methods) != 1 or len(digests) != 1:
        raise SamlRefused(RefusalReason.WRAPPED)
    if methods[0] not in SIGNATURE_ALGORITHMS or digests[0] not in DIGEST_ALGORITHMS:
        raise SamlRefused(RefusalReason.WEAK_ALGORITHM)
    c14n = algorithms("ds:SignedInfo/ds:CanonicalizationMethod")
    transforms = algorithms("ds:SignedInfo/ds:Reference/ds:Transforms/ds:Transform")
    if c14n != [EXC_C14N] or not set(transforms) <= TRANSFORMS or ENVELOPED not in transforms:
        raise SamlRefused(RefusalReason.DISALLOWED_TRANSFORM)


_LIBRARY_REASONS = {
    OneLogin_Saml2_ValidationError.WRONG_NUMBER_OF_ASSERTIONS: RefusalReason.TWO_ASSERTIONS,
    OneLogin_Saml2_ValidationError.MISSING_STATUS: RefusalReason.MALFORMED,
    OneLogin_Saml2_ValidationError.MISSING_STATUS_CODE: RefusalReason.MALFORMED,
    OneLogin_Saml2_ValidationError.STATUS_CODE_IS_NOT_SUCCESS: RefusalReason.STATUS_NOT_SUCCESS,
    OneLogin_Saml2_ValidationError.WRONG_SIGNED_ELEMENT: RefusalReason.WRAPPED,
    OneLogin_Saml2_ValidationError.ID_NOT_FOUND_IN_SIGNED_ELEMENT: RefusalReason.WRAPPED,
    OneLogin_Saml2_ValidationError.DUPLICATED_ID_IN_SIGNED_ELEMENTS: RefusalReason.WRAPPED,
    OneLogin_Saml2_ValidationError.INVALID_SIGNED_ELEMENT: RefusalReason.WRAPPED,
    OneLogin_Saml2_ValidationError.DUPLICATED_REFERENCE_IN_SIGNED_ELEMENTS: RefusalReason.WRAPPED,
    OneLogin_Saml2_ValidationError.UNEXPECTED_SIGNED_ELEMENTS: RefusalReason.WRAPPED,
    OneLogin_Saml2_ValidationError.WRONG_NUMBER_OF_SIGNATURES_IN_RESPONSE: RefusalReason.WRAPPED,
    OneLogin_Saml2_ValidationError.WRONG_NUMBER_OF_SIGNATURES_IN_ASSERTION: RefusalReason.WRAPPED,
    OneLogin_Saml2_ValidationError.WRONG_NUMBER_OF_SIGNATURES: RefusalReason.WRAPPED,
    OneLogin_Saml2_ValidationError.INVALID_XML_FORMAT: RefusalReason.SCHEMA_INVALID,
    OneLogin_Saml2_ValidationError.WRONG_INRESPONSETO: RefusalReason.UNSOLICITED,
    OneLogin_Saml2_ValidationError.NO_ENCRYPTED_ASSERTION: RefusalReason.ENCRYPTED_ASSERTION,
    OneLogin_Saml2_ValidationError.MISSING_CONDITIONS: RefusalReason.MALFORMED,
    OneLogin_Saml2_ValidationError.ASSERTION_TOO_EARLY: RefusalReason.NOT_YET_VALID,
    OneLogin_Saml2_ValidationError.ASSERTION_EXPIRED: RefusalReason.EXPIRED,
    OneLogin_Saml2_ValidationError.SESSION_EXPIRED: RefusalReason.EXPIRED,
    OneLogin_Saml2_ValidationError.RESPONSE_EXPIRED: RefusalReason.EXPIRED,
    OneLogin_Saml2_ValidationError.NO_ATTRIBUTESTATEMENT: RefusalReason.MISSING_EMAIL,
    OneLogin_Saml2_ValidationError.WRONG_DESTINATION: RefusalReason.WRONG_DESTINATION,
    OneLogin_Saml2_ValidationError.EMPTY_DESTINATION: RefusalReason.WRONG_DESTINATION,
    OneLogin_Saml2_ValidationError.WRONG_AUDIENCE: RefusalReason.WRONG_AUDIENCE,
    OneLogin_Saml2_ValidationError.ISSUER_MULTIPLE_IN_RESPONSE: RefusalReason.WRONG_ISSUER,
    OneLogin_Saml2_ValidationError.ISSUER_NOT_FOUND_IN_ASSERTION: RefusalReason.WRONG_ISSUER,
    OneLogin_Saml2_ValidationError.WRONG_ISSUER: RefusalReason.WRONG_ISSUER,
    OneLogin_Saml2_ValidationError.WRONG_SUBJECTCONFIRMATION: (
        RefusalReason.WRONG_SUBJECT_CONFIRMATION
    ),
    OneLogin_Saml2_ValidationError.NO_SIGNED_MESSAGE: RefusalReason.UNSIGNED,
    OneLogin_Saml2_ValidationError.NO_SIGNED_ASSERTION: RefusalReason.UNSIGNED,
    OneLogin_Saml2_ValidationError.NO_SIGNATURE_FOUND: RefusalReason.UNSIGNED,
    OneLogin_Saml2_ValidationError.NO_NAMEID: RefusalReason.MISSING_NAME_ID,
    OneLogin_Saml2_ValidationError.EMPTY_NAMEID: RefusalReason.MISSING_NAME_ID,
    OneLogin_Saml2_ValidationError.DUPLICATED_ATTRIBUTE_NAME_FOUND: (
        RefusalReason.DUPLICATE_ATTRIBUTE
    ),
    OneLogin_Saml2_ValidationError.INVALID_SIGNATURE: RefusalReason.SIGNATURE_INVALID,
    OneLogin_Saml2_ValidationError.DEPRECATED_SIGNATURE_METHOD: RefusalReason.WEAK_ALGORITHM,
    OneLogin_Saml2_ValidationError.DEPRECATED_DIGEST_METHOD: RefusalReason.WEAK_ALGORITHM,
}


def _verify_with_library(
    sp: ServiceProvider, form: Mapping[str, str], request_id: str
) -> etree._Element:
    """python3-saml's strict validation; returns the tree it verified."""
    settings = OneLogin_Saml2_Settings(settings_for(sp), sp_validation_only=True)
    try:
        response = OneLogin_Saml2_Response(settings, form["SAMLResponse"])
        response.is_valid(_request_data(sp, form), request_id, raise_exceptions=True)
    except OneLogin_Saml2_ValidationError as error:
        raise SamlRefused(_LIBRARY_REASONS.get(error.code, RefusalReason.INVALID)) from None
    except Exception:  # any other failure inside the library (c14n, xmlsec) fails closed
        raise SamlRefused(RefusalReason.INVALID) from None
    return response.document


def _instant(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SamlRefused(RefusalReason.MALFORMED) from None
    if parsed.tzinfo is None:
        raise SamlRefused(RefusalReason.MALFORMED)
    return parsed


def _whole_text(element: etree._Element) -> str:
    """All of an element's text, refusing comments and processing instructions inside it."""
    for node in element.iter():
        if isinstance(node, etree._Comment | etree._ProcessingInstruction):
            raise SamlRefused(RefusalReason.COMMENT_INJECTION)
    return "".join(element.itertext())


def _padded(identifier: str) -> bool:
    """Whether `identifier` starts or ends with whitespace of any kind: Unicode's (no-break and
    ideographic spaces, U+2000-U+200A, tab, newline) or a zero-width character. NameID is an
    ``xs:string``: ``alice@x`` and ``alice@x `` are two identifiers, so neither is trimmed."""
    return (
        identifier != identifier.strip()
        or identifier[:1] in _INVISIBLE
        or (identifier[-1:] in _INVISIBLE)
    )


_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff\u180e")
"""Zero-width characters `str.strip` keeps (they are not whitespace to Python)."""


def _one(element: etree._Element, path: str) -> etree._Element | None:
    found = element.xpath(path, namespaces=NS)
    if len(found) > 1:
        raise SamlRefused(RefusalReason.MALFORMED)
    return found[0] if found else None


def _check_protocol(
    sp: ServiceProvider, root: etree._Element, request_id: str, now: datetime
) -> tuple[etree._Element, datetime]:
    """Exact checks on the verified tree; returns the assertion and its expiry."""
    assertions = root.xpath("/samlp:Response/saml:Assertion", namespaces=NS)
    if len(assertions) != 1:
        raise SamlRefused(RefusalReason.TWO_ASSERTIONS)
    (assertion,) = assertions
    status = _one(root, "samlp:Status/samlp:StatusCode")
    if status is None or status.get("Value") != STATUS_SUCCESS:
        raise SamlRefused(RefusalReason.STATUS_NOT_SUCCESS)
    if root.get("Destination") != sp.acs_url:
        raise SamlRefused(RefusalReason.WRONG_DESTINATION)
    for issuer in (_one(root, "saml:Issuer"), _one(assertion, "saml:Issuer")):
        if issuer is not None and _whole_text(issuer).strip() != sp.idp_entity_id:
            raise SamlRefused(RefusalReason.WRONG_ISSUER)
    if _one(assertion, "saml:Issuer") is None:
        raise SamlRefused(RefusalReason.WRONG_ISSUER)
    audiences = [
        _whole_text(a).strip()
        for a in assertion.xpath(
            "saml:Conditions/saml:AudienceRestriction/saml:Audience", namespaces=NS
        )
    ]
    if sp.entity_id not in audiences:
        raise SamlRefused(RefusalReason.WRONG_AUDIENCE)

    confirmations = assertion.xpath("saml:Subject/saml:SubjectConfirmation", namespaces=NS)
    if len(confirmations) != 1 or confirmations[0].get("Method") != CM_BEARER:
        raise SamlRefused(RefusalReason.WRONG_SUBJECT_CONFIRMATION)
    data = _one(confirmations[0], "saml:SubjectConfirmationData")
    if data is None:
        raise SamlRefused(RefusalReason.WRONG_SUBJECT_CONFIRMATION)
    if data.get("Recipient") != sp.acs_url:
        raise SamlRefused(RefusalReason.WRONG_RECIPIENT)

    confirmation_expiry = _instant(data.get("NotOnOrAfter"))
    if confirmation_expiry is None:
        raise SamlRefused(RefusalReason.EXPIRED)
    conditions = _one(assertion, "saml:Conditions")
    if conditions is None:
        raise SamlRefused(RefusalReason.MALFORMED)
    not_before = [
        t for t in (_instant(conditions.get("NotBefore")), _instant(data.get("NotBefore"))) if t
    ]
    expiries = [t for t in (_instant(conditions.get("NotOnOrAfter")), confirmation_expiry) if t]
    if any(now + CLOCK_SKEW < t for t in not_before):
        raise SamlRefused(RefusalReason.NOT_YET_VALID)
    if any(now - CLOCK_SKEW >= t for t in expiries):
        raise SamlRefused(RefusalReason.EXPIRED)

    # SP-initiated only: the response must answer the request this browser started.
    if root.get("InResponseTo") != request_id or data.get("InResponseTo", request_id) != request_id:
        raise SamlRefused(RefusalReason.UNSOLICITED)
    return assertion, min(expiries)


def _attributes(assertion: etree._Element) -> dict[str, tuple[str, ...]]:
    attributes: dict[str, tuple[str, ...]] = {}
    for attribute in assertion.xpath("saml:AttributeStatement/saml:Attribute", namespaces=NS):
        name = attribute.get("Name", "")
        if not name or name in attributes:
            raise SamlRefused(RefusalReason.DUPLICATE_ATTRIBUTE)
        values = attribute.xpath("saml:AttributeValue", namespaces=NS)
        attributes[name] = tuple(_whole_text(v) for v in values)
    return attributes


def _check_authn_context(assertion: etree._Element, wanted: tuple[str, ...]) -> None:
    """Exact comparison: every AuthnContextClassRef is one the SP asked for, and there is one."""
    refs = [
        _whole_text(ref).strip()
        for ref in assertion.xpath(
            "saml:AuthnStatement/saml:AuthnContext/saml:AuthnContextClassRef", namespaces=NS
        )
    ]
    if not refs or any(ref not in wanted for ref in refs):
        raise SamlRefused(RefusalReason.WRONG_AUTHN_CONTEXT)


def process_response(
    sp: ServiceProvider,
    form: Mapping[str, str],
    *,
    request_id: str,
    seen_assertion_ids: AssertionLedger,
    now: datetime,
) -> Assertion:
    """Verify a posted SAMLResponse (HTTP-POST binding) or raise `SamlRefused(reason)`."""
    root = parse_safely(_decode(form))
    _check_structure(root, sp)
    verified = _verify_with_library(sp, form, request_id)
    assertion, expiry = _check_protocol(sp, verified, request_id, now)

    name_id_element = _one(assertion, "saml:Subject/saml:NameID")
    if name_id_element is None:
        raise SamlRefused(RefusalReason.MISSING_NAME_ID)
    name_id = _whole_text(name_id_element)
    if not name_id.strip():
        raise SamlRefused(RefusalReason.MISSING_NAME_ID)
    attributes = _attributes(assertion)
    email = ""
    if sp.email_attribute is not None:
        emails = attributes.get(sp.email_attribute, ())
        if len(emails) != 1 or not emails[0].strip():
            raise SamlRefused(RefusalReason.MISSING_EMAIL)
        email = emails[0]
    if _padded(name_id) or (sp.email_attribute is not None and _padded(email)):
        raise SamlRefused(RefusalReason.PADDED_IDENTIFIER)
    if sp.authn_context_class_refs:
        _check_authn_context(assertion, sp.authn_context_class_refs)
    authn = _one(assertion, "saml:AuthnStatement")
    assertion_id = assertion.get("ID", "")
    if seen_assertion_ids.seen(assertion_id, expiry):
        raise SamlRefused(RefusalReason.REPLAYED)
    return Assertion(
        name_id=name_id,
        name_id_format=name_id_element.get("Format"),
        email=email,
        groups=attributes.get(sp.groups_attribute, ()),
        attributes=attributes,
        session_index=authn.get("SessionIndex") if authn is not None else None,
        assertion_id=assertion_id,
        not_on_or_after=expiry,
    )
