"""SP metadata out, IdP metadata in (the IdP's real metadata document)."""

from __future__ import annotations

import httpx
import pytest

from citadel.sso.metadata import parse_idp_metadata, sp_metadata
from citadel.sso.saml import RefusalReason, SamlRefused, bare_certificate
from tests.sso.idp import Idp


def test_the_idps_own_metadata_gives_entity_id_sso_url_and_certificate(idp: Idp) -> None:
    document = httpx.get(idp.metadata_url, timeout=10).content

    parsed = parse_idp_metadata(document)

    assert parsed.entity_id == idp.entity_id
    assert parsed.sso_url == idp.sso_url
    assert [bare_certificate(c) for c in parsed.certificates_pem] == [
        bare_certificate(idp.idp_keys.cert_pem)
    ]


def test_idp_metadata_with_a_doctype_is_refused(idp: Idp) -> None:
    document = httpx.get(idp.metadata_url, timeout=10).content
    xml = document.split(b"?>", 1)[-1] if document.startswith(b"<?xml") else document
    evil = b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + xml
    with pytest.raises(SamlRefused) as caught:
        parse_idp_metadata(evil)
    assert caught.value.reason == RefusalReason.ENTITIES_FORBIDDEN


def test_sp_metadata_carries_entity_id_acs_and_signing_certificate(idp: Idp) -> None:
    sp = idp.service_provider()

    xml = sp_metadata(sp)

    assert f'entityID="{sp.entity_id}"' in xml
    assert f'Location="{sp.acs_url}"' in xml
    assert bare_certificate(sp.certificate_pem) in xml
    assert 'AuthnRequestsSigned="true"' in xml
    assert 'WantAssertionsSigned="true"' in xml
    assert "PRIVATE KEY" not in xml
