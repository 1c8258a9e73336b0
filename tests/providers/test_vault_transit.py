"""The Vault Transit provider against a real OpenBao dev server."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import hvac
import pytest

from citadel.crypto.providers.base import (
    InvalidKeyPath,
    KeyUnavailable,
    ProviderUnreachable,
    Reason,
)
from citadel.crypto.providers.connection import Connection
from citadel.crypto.providers.vault_transit import (
    TransitKeyPath,
    VaultTransitProvider,
    parse_transit_key_path,
)
from tests.fixtures.key_servers import LOOPBACK_ALLOWED, Bao
from tests.providers.dead_servers import closed_port, silent_port  # noqa: F401

DATA_KEY = bytes(range(32))
CONTEXT = b"deployment:d-1"
FULL = ["update"]


@pytest.fixture
def name() -> str:
    return f"kek-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def provider(bao: Bao, name: str) -> VaultTransitProvider:
    bao.add_key(name)
    return VaultTransitProvider(bao.key_path(name), bao.connection())


def _reason(call: Callable[[], object]) -> Reason:
    with pytest.raises(KeyUnavailable) as caught:
        call()
    return caught.value.reason


def _transit(bao: Bao) -> hvac.api.secrets_engines.Transit:
    return bao.client().secrets.transit


# -- the round trip ----------------------------------------------------------------------


def test_wrapped_key_unwraps_with_the_same_context(provider: VaultTransitProvider) -> None:
    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)

    assert wrapped.startswith(b"vault:v1:")
    assert provider.unwrap(wrapped, context=CONTEXT) == DATA_KEY


def test_another_context_does_not_unwrap(provider: VaultTransitProvider) -> None:
    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)

    assert _reason(lambda: provider.unwrap(wrapped, context=b"deployment:d-2")) is (
        Reason.WRONG_CONTEXT
    )


def test_a_value_wrapped_by_another_key_does_not_unwrap(
    bao: Bao, provider: VaultTransitProvider, name: str
) -> None:
    bao.add_key(name + "-other")
    other = VaultTransitProvider(bao.key_path(name + "-other"), bao.connection())
    wrapped = other.wrap(DATA_KEY, context=CONTEXT)

    assert _reason(lambda: provider.unwrap(wrapped, context=CONTEXT)) is Reason.WRONG_CONTEXT


@pytest.mark.parametrize("wrapped", [b"", b"p11\x01\x01", b"vault:v1:", b"vault:vX:AAAA"])
def test_values_of_another_shape_do_not_unwrap(
    provider: VaultTransitProvider, wrapped: bytes
) -> None:
    assert _reason(lambda: provider.unwrap(wrapped, context=CONTEXT)) is Reason.WRONG_CONTEXT


def test_a_chacha20_key_works_too(bao: Bao, name: str) -> None:
    bao.add_key(name, key_type="chacha20-poly1305")
    provider = VaultTransitProvider(bao.key_path(name), bao.connection())

    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)

    assert provider.unwrap(wrapped, context=CONTEXT) == DATA_KEY
    assert _reason(lambda: provider.unwrap(wrapped, context=b"other")) is Reason.WRONG_CONTEXT


def test_a_derived_key_is_bound_to_the_context_too(bao: Bao, name: str) -> None:
    bao.add_key(name, derived=True)
    provider = VaultTransitProvider(bao.key_path(name), bao.connection())

    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)

    assert provider.unwrap(wrapped, context=CONTEXT) == DATA_KEY
    assert _reason(lambda: provider.unwrap(wrapped, context=b"other")) is Reason.WRONG_CONTEXT


def test_a_key_under_another_mount_is_found_by_the_mount_option(bao: Bao, name: str) -> None:
    mount = f"transit-{name}"
    bao.client().sys.enable_secrets_engine("transit", path=mount)
    _transit(bao).create_key(name, mount_point=mount)
    provider = VaultTransitProvider(bao.key_path(name, mount=mount), bao.connection())

    assert provider.unwrap(provider.wrap(DATA_KEY, context=CONTEXT), context=CONTEXT) == DATA_KEY


def test_the_key_is_described_at_its_latest_version(provider: VaultTransitProvider) -> None:
    description = provider.describe()

    assert description.enabled
    assert description.version == "1"
    assert description.rotation is None


def test_automatic_rotation_is_described(bao: Bao, name: str) -> None:
    bao.add_key(name, auto_rotate_period="720h")
    provider = VaultTransitProvider(bao.key_path(name), bao.connection())

    assert provider.describe().rotation == "automatic, every 30 days"


# -- revocation and restoring ------------------------------------------------------------


def test_versions_below_the_minimum_decryption_version_are_disabled_until_lowered(
    bao: Bao, provider: VaultTransitProvider, name: str
) -> None:
    old = provider.wrap(DATA_KEY, context=CONTEXT)
    _transit(bao).rotate_key(name)

    _transit(bao).update_key_configuration(name, min_decryption_version=2)
    assert _reason(lambda: provider.unwrap(old, context=CONTEXT)) is Reason.DISABLED

    _transit(bao).update_key_configuration(name, min_decryption_version=1)
    assert provider.unwrap(old, context=CONTEXT) == DATA_KEY


def test_a_deleted_key_is_unknown(bao: Bao, provider: VaultTransitProvider, name: str) -> None:
    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)

    _transit(bao).update_key_configuration(name, deletion_allowed=True)
    _transit(bao).delete_key(name)

    assert _reason(lambda: provider.unwrap(wrapped, context=CONTEXT)) is Reason.UNKNOWN_KEY
    assert _reason(provider.describe) is Reason.UNKNOWN_KEY


def test_wrapping_under_an_unknown_key_does_not_create_it(bao: Bao, name: str) -> None:
    provider = VaultTransitProvider(bao.key_path(name), bao.connection())

    assert _reason(lambda: provider.wrap(DATA_KEY, context=CONTEXT)) is Reason.UNKNOWN_KEY
    with pytest.raises(hvac.exceptions.InvalidPath):
        _transit(bao).read_key(name)


def test_an_unknown_mount_is_unknown(bao: Bao, name: str) -> None:
    provider = VaultTransitProvider(bao.key_path(name, mount="nowhere"), bao.connection())

    assert _reason(provider.describe) is Reason.UNKNOWN_KEY


def test_a_revoked_token_is_access_denied_and_a_new_token_restores(
    bao: Bao, provider: VaultTransitProvider, name: str
) -> None:
    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)
    caps = {f"encrypt/{name}": FULL, f"decrypt/{name}": FULL, f"keys/{name}": ["read"]}
    token = bao.token_with(name, caps)
    scoped = VaultTransitProvider(bao.key_path(name), bao.connection(token))
    assert scoped.unwrap(wrapped, context=CONTEXT) == DATA_KEY

    bao.client().auth.token.revoke(token)
    assert _reason(lambda: scoped.unwrap(wrapped, context=CONTEXT)) is Reason.ACCESS_DENIED
    assert _reason(scoped.describe) is Reason.ACCESS_DENIED

    renewed = VaultTransitProvider(bao.key_path(name), bao.connection(bao.token_with(name, caps)))
    assert renewed.unwrap(wrapped, context=CONTEXT) == DATA_KEY


def test_a_policy_without_decrypt_is_access_denied_and_described_disabled(
    bao: Bao, provider: VaultTransitProvider, name: str
) -> None:
    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)
    token = bao.token_with(name, {f"encrypt/{name}": FULL, f"keys/{name}": ["read"]})
    scoped = VaultTransitProvider(bao.key_path(name), bao.connection(token))

    assert _reason(lambda: scoped.unwrap(wrapped, context=CONTEXT)) is Reason.ACCESS_DENIED
    assert not scoped.describe().enabled
    assert scoped.wrap(DATA_KEY, context=CONTEXT).startswith(b"vault:v1:")


def test_a_token_without_read_cannot_wrap(
    bao: Bao, provider: VaultTransitProvider, name: str
) -> None:
    token = bao.token_with(name, {f"encrypt/{name}": FULL, f"decrypt/{name}": FULL})
    scoped = VaultTransitProvider(bao.key_path(name), bao.connection(token))

    assert _reason(lambda: scoped.wrap(DATA_KEY, context=CONTEXT)) is Reason.ACCESS_DENIED
    assert scoped.unwrap(provider.wrap(DATA_KEY, context=CONTEXT), context=CONTEXT) == DATA_KEY


def test_no_token_is_access_denied(bao: Bao, provider: VaultTransitProvider, name: str) -> None:
    anonymous = VaultTransitProvider(
        bao.key_path(name), Connection(settings={"scheme": "http"}, endpoints=LOOPBACK_ALLOWED)
    )

    assert _reason(anonymous.describe) is Reason.ACCESS_DENIED


# -- rotation ----------------------------------------------------------------------------


def test_after_a_rotation_old_values_unwrap_and_rewrap_to_the_new_version(
    bao: Bao, provider: VaultTransitProvider, name: str
) -> None:
    old = provider.wrap(DATA_KEY, context=CONTEXT)

    _transit(bao).rotate_key(name)

    assert provider.describe().version == "2"
    assert provider.version_of(old) == "1"
    new = provider.wrap(provider.unwrap(old, context=CONTEXT), context=CONTEXT)
    assert provider.version_of(new) == provider.describe().version == "2"
    assert provider.unwrap(new, context=CONTEXT) == DATA_KEY


# -- wrong key types ---------------------------------------------------------------------


@pytest.mark.parametrize("key_type", ["rsa-2048", "ed25519", "ecdsa-p256"])
def test_a_key_that_is_not_aead_is_the_wrong_key_type(bao: Bao, name: str, key_type: str) -> None:
    bao.add_key(name, key_type=key_type)
    provider = VaultTransitProvider(bao.key_path(name), bao.connection())

    assert _reason(lambda: provider.wrap(DATA_KEY, context=CONTEXT)) is Reason.WRONG_KEY_TYPE
    assert _reason(provider.describe) is Reason.WRONG_KEY_TYPE


def test_unwrapping_under_an_rsa_key_is_the_wrong_key_type(bao: Bao, name: str) -> None:
    bao.add_key(name, key_type="rsa-2048")
    ciphertext = _transit(bao).encrypt_data(name, plaintext="AAAA")["data"]["ciphertext"]
    provider = VaultTransitProvider(bao.key_path(name), bao.connection())

    assert _reason(lambda: provider.unwrap(ciphertext.encode(), context=CONTEXT)) is (
        Reason.WRONG_KEY_TYPE
    )


# -- unreachable and garbage -------------------------------------------------------------


def _at(port: int, name: str = "kek", timeout_s: float = 0.5) -> VaultTransitProvider:
    return VaultTransitProvider(
        f"vault-transit://127.0.0.1:{port}/{name}",
        Connection(
            settings={"scheme": "http"},
            secret=b"token",
            timeout_s=timeout_s,
            endpoints=LOOPBACK_ALLOWED,
        ),
    )


def test_a_closed_port_is_unreachable(closed_port: int) -> None:  # noqa: F811
    provider = _at(closed_port)

    with pytest.raises(ProviderUnreachable):
        provider.wrap(DATA_KEY, context=CONTEXT)
    with pytest.raises(ProviderUnreachable):
        provider.unwrap(b"vault:v1:AAAA", context=CONTEXT)


def test_a_server_that_never_answers_is_unreachable_after_the_timeout(
    silent_port: int,  # noqa: F811
) -> None:
    provider = _at(silent_port, timeout_s=0.3)

    with pytest.raises(ProviderUnreachable):
        provider.describe()


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (200, b"<html>hello</html>", "text/html"),
        (200, b"{not json", "application/json"),
        (200, b"[1, 2, 3]", "application/json"),
        (200, json.dumps({"data": {"type": 5}}).encode(), "application/json"),
        (
            200,
            json.dumps({"data": {"ciphertext": 7, "plaintext": "!!"}}).encode(),
            "application/json",
        ),
        (200, json.dumps({"data": {"plaintext": "not base64!"}}).encode(), "application/json"),
        (500, b"{}", "application/json"),
        (503, json.dumps({"errors": ["Vault is sealed"]}).encode(), "application/json"),
        (502, b"bad gateway", "text/plain"),
        (400, json.dumps({"errors": ["something new"]}).encode(), "application/json"),
        (302, b"", "text/plain"),
    ],
)
def test_garbage_answers_are_unreachable(
    nonsense_http: Callable[[int, bytes, str], int], status: int, body: bytes, content_type: str
) -> None:
    provider = _at(nonsense_http(status, body, content_type))

    with pytest.raises(ProviderUnreachable):
        provider.wrap(DATA_KEY, context=CONTEXT)
    with pytest.raises(ProviderUnreachable):
        provider.unwrap(b"vault:v1:AAAA", context=CONTEXT)
    with pytest.raises(ProviderUnreachable):
        provider.describe()


def test_tls_to_a_plain_http_server_is_unreachable(bao: Bao, name: str) -> None:
    provider = VaultTransitProvider(
        bao.key_path(name),
        Connection(
            settings={"scheme": "https"}, secret=b"t", timeout_s=2, endpoints=LOOPBACK_ALLOWED
        ),
    )

    with pytest.raises(ProviderUnreachable):
        provider.describe()


# -- key paths ---------------------------------------------------------------------------


def test_a_key_path_names_host_port_mount_and_key() -> None:
    assert parse_transit_key_path("vault-transit://vault.internal:8300/tenant-a?mount=kv/t") == (
        TransitKeyPath(host="vault.internal", port=8300, mount="kv/t", name="tenant-a")
    )
    assert parse_transit_key_path("vault-transit://[::1]/k") == (
        TransitKeyPath(host="::1", port=8200, mount="transit", name="k")
    )


@pytest.mark.parametrize(
    "key_path",
    [
        "vault-transit://",
        "vault-transit://host:8200",
        "vault-transit://host:8200/",
        "vault-transit://host:8200/a/b",
        "vault-transit://host:99999/k",
        "vault-transit://host:port/k",
        "vault-transit://:8200/k",
        "vault-transit://user:pw@host:8200/k",
        "vault-transit://host:8200/k#frag",
        "vault-transit://host:8200/k?mount=",
        "vault-transit://host:8200/k?mount=a/../b",
        "vault-transit://host:8200/k?mount=a/./b",
        "vault-transit://host:8200/k?colour=blue",
        "vault-transit://host:8200/k?mount=a&mount=b",
        "vault-transit://host:8200/k?mount",
        "vault-transit://host:8200/-k",
        "vault://host:8200/k",
    ],
)
def test_malformed_key_paths_are_refused(key_path: str) -> None:
    with pytest.raises(InvalidKeyPath):
        VaultTransitProvider(key_path, Connection())


def test_an_unknown_scheme_setting_is_refused() -> None:
    with pytest.raises(InvalidKeyPath):
        VaultTransitProvider("vault-transit://h/k", Connection(settings={"scheme": "ftp"}))


def test_the_version_of_a_value_is_its_vault_version(provider: VaultTransitProvider) -> None:
    assert provider.version_of(b"vault:v12:AAAA") == "12"
    assert _reason(lambda: provider.version_of(b"p11\x01")) is Reason.WRONG_CONTEXT


def test_threads_may_share_a_provider(provider: VaultTransitProvider) -> None:
    def round_trip(n: int) -> bytes:
        context = b"deployment:%d" % n
        return provider.unwrap(provider.wrap(DATA_KEY, context=context), context=context)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(round_trip, range(40)))

    assert results == [DATA_KEY] * 40
