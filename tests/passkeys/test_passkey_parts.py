"""The pure parts of the passkey checks: reading the browser's JSON, and the RP id rule."""

from __future__ import annotations

import json

from webauthn.helpers import bytes_to_base64url

from citadel.signin.passkey_checks import client_challenge, credential_id_of, parse_credential
from citadel.web.passkeys import _usable


def credential(client_data: object) -> dict:
    raw = json.dumps(client_data).encode()
    return {"id": "AQID", "response": {"clientDataJSON": bytes_to_base64url(raw)}}


def test_the_challenge_is_read_from_client_data():
    assert client_challenge(credential({"challenge": bytes_to_base64url(b"abc")})) == b"abc"


def test_client_data_without_a_challenge_gives_none():
    assert client_challenge(credential({"type": "webauthn.get"})) is None


def test_client_data_that_is_not_json_gives_none():
    bad = {"response": {"clientDataJSON": bytes_to_base64url(b"\xff not json")}}
    assert client_challenge(bad) is None


def test_a_credential_must_be_a_json_object_with_a_response():
    assert parse_credential("[]") is None
    assert parse_credential("not json") is None
    assert parse_credential('{"id": "x"}') is None
    assert parse_credential('{"id": "x", "response": {}}') == {"id": "x", "response": {}}


def test_an_oversized_credential_is_not_parsed():
    assert parse_credential('{"response": {}, "pad": "' + "a" * 20_000 + '"}') is None


def test_the_credential_id_prefers_raw_id():
    assert credential_id_of({"id": "AQID", "rawId": "BAUG"}) == b"\x04\x05\x06"
    assert credential_id_of({"id": "AQID"}) == b"\x01\x02\x03"
    assert credential_id_of({}) is None


def test_an_address_is_never_the_rp_id():
    assert _usable("127.0.0.1") == "localhost"
    assert _usable("[::1]") == "localhost"


def test_a_host_name_is_the_rp_id_in_lower_case():
    assert _usable("Search.Example.COM.") == "search.example.com"
