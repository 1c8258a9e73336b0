"""SAML metadata: this SP's document for the IdP, and reading an IdP's document safely.

IdP metadata comes from an organization admin, so it is untrusted input: it is parsed with the
same hardened parser as responses (no DOCTYPE, no entities, no network) and only the entity ID,
the SSO URL for the binding we use and the signing certificates are taken from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from onelogin.saml2.metadata import OneLogin_Saml2_Metadata

from citadel.sso.saml import (
    BINDING_POST,
    BINDING_REDIRECT,
    NAMEID_PERSISTENT,
    RefusalReason,
    SamlRefused,
    ServiceProvider,
    bare_certificate,
    parse_safely,
)

NS_MD = "urn:oasis:names:tc:SAML:2.0:metadata"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
MD = {"md": NS_MD, "ds": NS_DS}
MAX_METADATA_BYTES = 512 * 1024


@dataclass(frozen=True, slots=True)
class IdentityProviderMetadata:
    """What an SP needs from an IdP's metadata."""

    entity_id: str
    sso_url: str
    certificates_pem: tuple[str, ...]


def sp_metadata(sp: ServiceProvider) -> str:
    """This SP's metadata XML: entity ID, ACS (HTTP-POST) and its signing certificate."""
    xml = OneLogin_Saml2_Metadata.builder(
        sp={
            "entityId": sp.entity_id,
            "assertionConsumerService": {"url": sp.acs_url, "binding": BINDING_POST},
            "NameIDFormat": NAMEID_PERSISTENT,
            "x509cert": bare_certificate(sp.certificate_pem),
        },
        authnsign=True,
        wsign=sp.want_assertions_signed,
    )
    xml = OneLogin_Saml2_Metadata.add_x509_key_descriptors(
        xml, bare_certificate(sp.certificate_pem), add_encryption=False
    )
    return xml if isinstance(xml, str) else xml.decode()


def _pem(bare: str) -> str:
    body = "".join(bare.split())
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def parse_idp_metadata(xml: bytes | str) -> IdentityProviderMetadata:
    """The entity ID, SSO URL (HTTP-Redirect, else HTTP-POST) and signing certificates."""
    data = xml.encode() if isinstance(xml, str) else xml
    if len(data) > MAX_METADATA_BYTES:
        raise SamlRefused(RefusalReason.TOO_LARGE)
    root = parse_safely(data)
    if root.tag == f"{{{NS_MD}}}EntitiesDescriptor":
        entities = root.findall(f"{{{NS_MD}}}EntityDescriptor")
        if len(entities) != 1:
            raise SamlRefused(RefusalReason.MALFORMED)
        root = entities[0]
    if root.tag != f"{{{NS_MD}}}EntityDescriptor" or not root.get("entityID"):
        raise SamlRefused(RefusalReason.MALFORMED)
    descriptors = root.findall(f"{{{NS_MD}}}IDPSSODescriptor")
    if len(descriptors) != 1:
        raise SamlRefused(RefusalReason.MALFORMED)
    (idp,) = descriptors
    sso_url = None
    for binding in (BINDING_REDIRECT, BINDING_POST):
        found = idp.xpath(
            "md:SingleSignOnService[@Binding=$binding]/@Location", namespaces=MD, binding=binding
        )
        if found:
            sso_url = str(found[0])
            break
    if not sso_url:
        raise SamlRefused(RefusalReason.MALFORMED)
    certificates: list[str] = []
    for descriptor in idp.findall(f"{{{NS_MD}}}KeyDescriptor"):
        if descriptor.get("use", "signing") != "signing":
            continue
        for cert in descriptor.xpath(".//ds:X509Certificate", namespaces=MD):
            pem = _pem("".join(cert.itertext()))
            if pem not in certificates:
                certificates.append(pem)
    if not 1 <= len(certificates) <= 2:
        raise SamlRefused(RefusalReason.MALFORMED)
    return IdentityProviderMetadata(
        entity_id=root.get("entityID", ""),
        sso_url=sso_url,
        certificates_pem=tuple(certificates),
    )
