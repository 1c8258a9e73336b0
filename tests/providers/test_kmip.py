"""The KMIP provider against a real PyKMIP server over mutual TLS on loopback."""

from __future__ import annotations

import warnings

import pytest

from citadel.crypto.providers.base import (
    InvalidKeyPath,
    KeyUnavailable,
    ProviderUnreachable,
    Reason,
)
from citadel.crypto.providers.connection import Connection
from citadel.crypto.providers.kmip import KmipKeyPath, KmipProvider, parse_key_path
from tests.providers.dead_servers import babbling_port as _babbling_port  # noqa: F401
from tests.providers.dead_servers import closed_port as _closed_port  # noqa: F401
from tests.providers.dead_servers import silent_port as _silent_port  # noqa: F401
from tests.providers.kmip_server import Identity, KmipServer, issue, make_ca
from tests.providers.kmip_server import foreign_client as _foreign_client  # noqa: F401
from tests.providers.kmip_server import kmip_server as _kmip_server  # noqa: F401

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from kmip import enums

DATA_KEY = bytes(range(32))
CONTEXT = b"deployment:d-1"


def _provider(server: KmipServer, uid: str, **kw: object) -> KmipProvider:
    return KmipProvider(server.key_path(uid), server.connection(**kw))  # type: ignore[arg-type]


@pytest.fixture
def uid(kmip_server: KmipServer) -> str:
    return kmip_server.create_aes_key()


def test_wrapped_key_unwraps_with_the_same_context(kmip_server: KmipServer, uid: str) -> None:
    provider = _provider(kmip_server, uid)

    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)

    assert DATA_KEY not in wrapped
    assert provider.unwrap(wrapped, context=CONTEXT) == DATA_KEY


def test_each_wrap_uses_a_fresh_one_time_key(kmip_server: KmipServer, uid: str) -> None:
    provider = _provider(kmip_server, uid)

    assert provider.wrap(DATA_KEY, context=CONTEXT) != provider.wrap(DATA_KEY, context=CONTEXT)


def test_unwrap_with_another_context_is_wrong_context(kmip_server: KmipServer, uid: str) -> None:
    provider = _provider(kmip_server, uid)
    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)

    with pytest.raises(KeyUnavailable) as exc:
        provider.unwrap(wrapped, context=b"deployment:d-2")
    assert exc.value.reason is Reason.WRONG_CONTEXT


def test_altered_one_time_key_ciphertext_is_wrong_context(
    kmip_server: KmipServer, uid: str
) -> None:
    provider = _provider(kmip_server, uid)
    wrapped = bytearray(provider.wrap(DATA_KEY, context=CONTEXT))
    enc_k_at = len(b"kmip1") + 1 + len(uid) + 16 + 2
    wrapped[enc_k_at + 40] ^= 0x01  # last block: breaks the server-side padding

    with pytest.raises(KeyUnavailable) as exc:
        provider.unwrap(bytes(wrapped), context=CONTEXT)
    assert exc.value.reason is Reason.WRONG_CONTEXT


@pytest.mark.parametrize("wrapped", [b"", b"lk1" + bytes(40), b"kmip1\x05abc"])
def test_value_not_wrapped_by_kmip_is_wrong_context(
    kmip_server: KmipServer, uid: str, wrapped: bytes
) -> None:
    with pytest.raises(KeyUnavailable) as exc:
        _provider(kmip_server, uid).unwrap(wrapped, context=CONTEXT)
    assert exc.value.reason is Reason.WRONG_CONTEXT


def test_describe_reports_an_active_key_whose_version_is_its_uid(
    kmip_server: KmipServer, uid: str
) -> None:
    provider = _provider(kmip_server, uid)

    description = provider.describe()

    assert description.enabled is True
    assert description.version == uid
    assert description.key_path == kmip_server.key_path(uid)


def test_version_of_names_the_uid_that_wrapped(kmip_server: KmipServer, uid: str) -> None:
    provider = _provider(kmip_server, uid)

    assert provider.version_of(provider.wrap(DATA_KEY, context=CONTEXT)) == uid


def test_revoked_key_is_disabled(kmip_server: KmipServer, uid: str) -> None:
    provider = _provider(kmip_server, uid)
    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)
    with kmip_server.admin() as admin:
        admin.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, uid)

    with pytest.raises(KeyUnavailable) as on_unwrap:
        provider.unwrap(wrapped, context=CONTEXT)
    with pytest.raises(KeyUnavailable) as on_wrap:
        provider.wrap(DATA_KEY, context=CONTEXT)
    assert on_unwrap.value.reason is Reason.DISABLED
    assert on_wrap.value.reason is Reason.DISABLED
    assert provider.describe().enabled is False


def test_compromised_key_is_disabled(kmip_server: KmipServer, uid: str) -> None:
    provider = _provider(kmip_server, uid)
    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)
    with kmip_server.admin() as admin:
        admin.revoke(enums.RevocationReasonCode.KEY_COMPROMISE, uid)

    with pytest.raises(KeyUnavailable) as exc:
        provider.unwrap(wrapped, context=CONTEXT)
    assert exc.value.reason is Reason.DISABLED


def test_destroyed_key_is_gone(kmip_server: KmipServer, uid: str) -> None:
    """PyKMIP deletes a destroyed object outright, so it answers "item not found" for it.

    A server that keeps destroyed objects (state Destroyed) makes this DESTROYED instead.
    """
    provider = _provider(kmip_server, uid)
    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)
    with kmip_server.admin() as admin:
        admin.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, uid)
        admin.destroy(uid)

    with pytest.raises(KeyUnavailable) as on_unwrap:
        provider.unwrap(wrapped, context=CONTEXT)
    with pytest.raises(KeyUnavailable) as on_describe:
        provider.describe()
    assert on_unwrap.value.reason in (Reason.DESTROYED, Reason.UNKNOWN_KEY)
    assert on_describe.value.reason in (Reason.DESTROYED, Reason.UNKNOWN_KEY)


def test_rekey_to_a_new_uid_keeps_old_values_readable_until_rewrapped(
    kmip_server: KmipServer, uid: str
) -> None:
    """A revoked KMIP key cannot be restored: KMIP has no way back from Deactivated or
    Compromised to Active, so "the customer restores the key" is not a KMIP scenario.
    Rotation is a re-key, which makes a key with a new uid; the platform then points the
    deployment at the new uid, notices old values by their version and re-wraps them.
    (PyKMIP's server has no Rekey operation, so the new key is created directly.)
    """
    old = _provider(kmip_server, uid)
    wrapped = old.wrap(DATA_KEY, context=CONTEXT)
    new_uid = kmip_server.create_aes_key()
    new = _provider(kmip_server, new_uid)

    assert new.version_of(wrapped) != new.describe().version
    rewrapped = new.wrap(new.unwrap(wrapped, context=CONTEXT), context=CONTEXT)
    assert new.version_of(rewrapped) == new_uid
    assert new.unwrap(rewrapped, context=CONTEXT) == DATA_KEY


def test_unknown_uid_is_unknown_key(kmip_server: KmipServer) -> None:
    provider = _provider(kmip_server, "no-such-key")

    with pytest.raises(KeyUnavailable) as on_wrap:
        provider.wrap(DATA_KEY, context=CONTEXT)
    with pytest.raises(KeyUnavailable) as on_describe:
        provider.describe()
    assert on_wrap.value.reason is Reason.UNKNOWN_KEY
    assert on_describe.value.reason is Reason.UNKNOWN_KEY


def test_rsa_key_is_wrong_key_type(kmip_server: KmipServer) -> None:
    with kmip_server.admin() as admin:
        _public_uid, private_uid = admin.create_key_pair(
            enums.CryptographicAlgorithm.RSA,
            2048,
            public_usage_mask=[enums.CryptographicUsageMask.ENCRYPT],
            private_usage_mask=[enums.CryptographicUsageMask.DECRYPT],
        )
        admin.activate(private_uid)
    provider = _provider(kmip_server, private_uid)

    with pytest.raises(KeyUnavailable) as on_wrap:
        provider.wrap(DATA_KEY, context=CONTEXT)
    with pytest.raises(KeyUnavailable) as on_describe:
        provider.describe()
    assert on_wrap.value.reason is Reason.WRONG_KEY_TYPE
    assert on_describe.value.reason is Reason.WRONG_KEY_TYPE


def test_non_aes_symmetric_key_is_wrong_key_type(kmip_server: KmipServer) -> None:
    with kmip_server.admin() as admin:
        camellia_uid = admin.create(
            enums.CryptographicAlgorithm.CAMELLIA,
            256,
            cryptographic_usage_mask=[
                enums.CryptographicUsageMask.ENCRYPT,
                enums.CryptographicUsageMask.DECRYPT,
            ],
        )
        admin.activate(camellia_uid)

    with pytest.raises(KeyUnavailable) as exc:
        _provider(kmip_server, camellia_uid).describe()
    assert exc.value.reason is Reason.WRONG_KEY_TYPE


def test_client_certificate_from_another_ca_is_access_denied(
    kmip_server: KmipServer, uid: str, foreign_client: Identity
) -> None:
    provider = KmipProvider(kmip_server.key_path(uid), kmip_server.connection(foreign_client))

    with pytest.raises(KeyUnavailable) as exc:
        provider.wrap(DATA_KEY, context=CONTEXT)
    assert exc.value.reason is Reason.ACCESS_DENIED


def test_key_owned_by_another_client_is_access_denied(kmip_server: KmipServer, uid: str) -> None:
    other_tenant = issue(kmip_server.ca, "other-tenant", server=False)
    provider = KmipProvider(kmip_server.key_path(uid), kmip_server.connection(other_tenant))

    with pytest.raises(KeyUnavailable) as exc:
        provider.wrap(DATA_KEY, context=CONTEXT)
    assert exc.value.reason is Reason.ACCESS_DENIED


def test_server_certificate_from_an_untrusted_ca_is_unreachable(
    kmip_server: KmipServer, uid: str
) -> None:
    trusted = kmip_server.connection()
    wrong_ca = Connection(
        settings={**trusted.settings, "ca_pem": make_ca("not-the-kmip-ca").cert_pem.decode()},
        secret=trusted.secret,
        endpoints=trusted.endpoints,
    )

    with pytest.raises(ProviderUnreachable):
        KmipProvider(kmip_server.key_path(uid), wrong_ca).wrap(DATA_KEY, context=CONTEXT)


def test_closed_port_is_unreachable(kmip_server: KmipServer, closed_port: int) -> None:
    connection = kmip_server.connection()

    with pytest.raises(ProviderUnreachable):
        KmipProvider(f"kmip://127.0.0.1:{closed_port}/1", connection).describe()


def test_server_that_never_answers_is_unreachable(
    kmip_server: KmipServer, silent_port: int
) -> None:
    connection = kmip_server.connection(timeout_s=0.5)

    with pytest.raises(ProviderUnreachable):
        KmipProvider(f"kmip://127.0.0.1:{silent_port}/1", connection).describe()


def test_server_that_answers_garbage_is_unreachable(
    kmip_server: KmipServer, babbling_port: int
) -> None:
    connection = kmip_server.connection()

    with pytest.raises(ProviderUnreachable):
        KmipProvider(f"kmip://127.0.0.1:{babbling_port}/1", connection).describe()


@pytest.mark.parametrize(
    "key_path",
    [
        "",
        "kmip://",
        "kmip://127.0.0.1:5696/",
        "kmip://127.0.0.1:5696",
        "kmip://127.0.0.1:99999/1",
        "kmip://127.0.0.1:0/1",
        "kmip://bad host/1",
        "kmip://127.0.0.1:5696/a/b",
        "kmip://127.0.0.1:5696/uid with spaces",
        "https://127.0.0.1:5696/1",
        "kmip://user@127.0.0.1:5696/1",
        "kmip://127.0.0.1:5696/1?x=y",
    ],
)
def test_malformed_key_path_is_invalid(kmip_server: KmipServer, key_path: str) -> None:
    with pytest.raises(InvalidKeyPath):
        KmipProvider(key_path, kmip_server.connection())


def test_key_path_port_defaults_to_5696() -> None:
    assert parse_key_path("kmip://kms.example.com/abc-1") == KmipKeyPath(
        "kms.example.com", 5696, "abc-1"
    )


@pytest.mark.parametrize("missing", ["ca_pem", "cert_pem", "secret"])
def test_connection_without_its_certificates_is_invalid(
    kmip_server: KmipServer, missing: str
) -> None:
    full = kmip_server.connection()
    settings = {k: v for k, v in full.settings.items() if k != missing}
    secret = None if missing == "secret" else full.secret

    with pytest.raises(InvalidKeyPath):
        KmipProvider(kmip_server.key_path("1"), Connection(settings=settings, secret=secret))
