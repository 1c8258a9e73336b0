"""The PKCS#11 provider against a real SoftHSM2 token."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from citadel.crypto.providers.base import (
    InvalidKeyPath,
    KeyUnavailable,
    ProviderUnreachable,
    Reason,
)
from citadel.crypto.providers.connection import Connection
from citadel.crypto.providers.pkcs11 import Pkcs11Provider, Pkcs11Uri, parse_pkcs11_uri
from tests.fixtures.key_servers import TOKENS, USER_PIN, SoftHsm

DATA_KEY = bytes(range(32))
CONTEXT = b"deployment:d-1"


def _provider(softhsm: SoftHsm, label: str, **kw: str) -> Pkcs11Provider:
    return Pkcs11Provider(softhsm.key_path(label), softhsm.connection(**kw))


@pytest.fixture
def provider(softhsm: SoftHsm, label: str) -> Pkcs11Provider:
    softhsm.add_aes_key(label)
    return _provider(softhsm, label)


def _reason(call: object) -> Reason:
    with pytest.raises(KeyUnavailable) as caught:
        call()  # type: ignore[operator]
    return caught.value.reason


# -- the round trip ----------------------------------------------------------------------


def test_wrapped_key_unwraps_with_the_same_context(provider: Pkcs11Provider) -> None:
    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)

    assert DATA_KEY not in wrapped
    assert wrapped.startswith(b"p11")
    assert provider.unwrap(wrapped, context=CONTEXT) == DATA_KEY


def test_each_wrap_uses_a_fresh_iv(provider: Pkcs11Provider) -> None:
    assert provider.wrap(DATA_KEY, context=CONTEXT) != provider.wrap(DATA_KEY, context=CONTEXT)


def test_another_context_does_not_unwrap(provider: Pkcs11Provider) -> None:
    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)

    assert _reason(lambda: provider.unwrap(wrapped, context=b"deployment:d-2")) is (
        Reason.WRONG_CONTEXT
    )


def test_a_value_wrapped_by_another_key_does_not_unwrap(
    softhsm: SoftHsm, provider: Pkcs11Provider, label: str
) -> None:
    softhsm.add_aes_key(label + "-other")
    other = _provider(softhsm, label + "-other")
    wrapped = other.wrap(DATA_KEY, context=CONTEXT)

    assert _reason(lambda: provider.unwrap(wrapped, context=CONTEXT)) is Reason.WRONG_CONTEXT


def test_a_key_on_another_token_with_the_same_label_does_not_unwrap(
    softhsm: SoftHsm, provider: Pkcs11Provider, label: str
) -> None:
    softhsm.add_aes_key(label, token=TOKENS[1])
    other = Pkcs11Provider(softhsm.key_path(label, token=TOKENS[1]), softhsm.connection())
    wrapped = other.wrap(DATA_KEY, context=CONTEXT)

    assert other.unwrap(wrapped, context=CONTEXT) == DATA_KEY
    assert _reason(lambda: provider.unwrap(wrapped, context=CONTEXT)) is Reason.WRONG_CONTEXT


def test_altered_values_do_not_unwrap(provider: Pkcs11Provider) -> None:
    wrapped = bytearray(provider.wrap(DATA_KEY, context=CONTEXT))
    wrapped[-1] ^= 1

    assert _reason(lambda: provider.unwrap(bytes(wrapped), context=CONTEXT)) is (
        Reason.WRONG_CONTEXT
    )


@pytest.mark.parametrize("wrapped", [b"", b"lk1" + bytes(40), b"p11\x01\x01" + bytes(5)])
def test_values_of_another_shape_do_not_unwrap(provider: Pkcs11Provider, wrapped: bytes) -> None:
    assert _reason(lambda: provider.unwrap(wrapped, context=CONTEXT)) is Reason.WRONG_CONTEXT


def test_the_key_is_described_as_enabled_at_its_id(provider: Pkcs11Provider) -> None:
    description = provider.describe()

    assert description.enabled
    assert description.version == "01"
    assert description.key_path == provider._key_path


# -- revocation and restoring ------------------------------------------------------------


def test_a_key_that_may_not_decrypt_is_disabled_until_allowed_again(
    softhsm: SoftHsm, provider: Pkcs11Provider, label: str
) -> None:
    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)

    softhsm.set_attribute(label, b"\x01", "DECRYPT", False)
    assert _reason(lambda: provider.unwrap(wrapped, context=CONTEXT)) is Reason.DISABLED
    assert not provider.describe().enabled

    softhsm.set_attribute(label, b"\x01", "DECRYPT", True)
    assert provider.unwrap(wrapped, context=CONTEXT) == DATA_KEY
    assert provider.describe().enabled


def test_a_key_that_may_not_encrypt_cannot_wrap(
    softhsm: SoftHsm, provider: Pkcs11Provider, label: str
) -> None:
    softhsm.set_attribute(label, b"\x01", "ENCRYPT", False)

    assert _reason(lambda: provider.wrap(DATA_KEY, context=CONTEXT)) is Reason.DISABLED
    assert not provider.describe().enabled


def test_a_destroyed_key_is_unknown(softhsm: SoftHsm, provider: Pkcs11Provider, label: str) -> None:
    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)

    softhsm.destroy(label, b"\x01")

    assert _reason(lambda: provider.unwrap(wrapped, context=CONTEXT)) is Reason.UNKNOWN_KEY
    assert _reason(lambda: provider.wrap(DATA_KEY, context=CONTEXT)) is Reason.UNKNOWN_KEY
    assert _reason(provider.describe) is Reason.UNKNOWN_KEY


def test_a_destroyed_version_is_destroyed_while_the_key_lives_on(
    softhsm: SoftHsm, provider: Pkcs11Provider, label: str
) -> None:
    old = provider.wrap(DATA_KEY, context=CONTEXT)
    softhsm.add_aes_key(label, key_id=b"\x02")

    softhsm.destroy(label, b"\x01")

    assert _reason(lambda: provider.unwrap(old, context=CONTEXT)) is Reason.DESTROYED
    assert provider.unwrap(provider.wrap(DATA_KEY, context=CONTEXT), context=CONTEXT) == DATA_KEY


def test_a_wrong_pin_is_access_denied(softhsm: SoftHsm, label: str) -> None:
    softhsm.add_aes_key(label)
    provider = _provider(softhsm, label, pin="0000")

    assert _reason(lambda: provider.wrap(DATA_KEY, context=CONTEXT)) is Reason.ACCESS_DENIED


def test_without_a_pin_the_private_key_is_not_found(softhsm: SoftHsm, label: str) -> None:
    softhsm.add_aes_key(label)
    provider = Pkcs11Provider(softhsm.key_path(label), softhsm.connection(pin=None))

    assert _reason(provider.describe) is Reason.UNKNOWN_KEY


def test_an_unknown_object_is_unknown(softhsm: SoftHsm, label: str) -> None:
    assert _reason(_provider(softhsm, label).describe) is Reason.UNKNOWN_KEY


def test_an_unknown_token_is_unknown(softhsm: SoftHsm, label: str) -> None:
    provider = Pkcs11Provider(softhsm.key_path(label, token="nobody"), softhsm.connection())

    assert _reason(provider.describe) is Reason.UNKNOWN_KEY


# -- rotation ----------------------------------------------------------------------------


def test_after_a_rotation_old_values_unwrap_and_rewrap_to_the_new_version(
    softhsm: SoftHsm, provider: Pkcs11Provider, label: str
) -> None:
    old = provider.wrap(DATA_KEY, context=CONTEXT)

    softhsm.add_aes_key(label, key_id=b"\x02")

    assert provider.describe().version == "02"
    assert provider.version_of(old) == "01"
    assert provider.unwrap(old, context=CONTEXT) == DATA_KEY
    new = provider.wrap(provider.unwrap(old, context=CONTEXT), context=CONTEXT)
    assert provider.version_of(new) == provider.describe().version == "02"
    assert provider.unwrap(new, context=CONTEXT) == DATA_KEY


def test_the_current_version_is_the_highest_id_as_a_number(softhsm: SoftHsm, label: str) -> None:
    softhsm.add_aes_key(label, key_id=b"\x09")
    softhsm.add_aes_key(label, key_id=b"\x01\x00")
    softhsm.add_aes_key(label, key_id=b"\x0a")

    assert _provider(softhsm, label).describe().version == "0100"


def test_an_id_in_the_key_path_pins_one_version(softhsm: SoftHsm, label: str) -> None:
    softhsm.add_aes_key(label, key_id=b"\x01")
    softhsm.add_aes_key(label, key_id=b"\x02")
    pinned = Pkcs11Provider(softhsm.key_path(label, id="%01"), softhsm.connection())
    latest = _provider(softhsm, label)

    wrapped = pinned.wrap(DATA_KEY, context=CONTEXT)

    assert pinned.version_of(wrapped) == pinned.describe().version == "01"
    assert latest.unwrap(wrapped, context=CONTEXT) == DATA_KEY
    newer = latest.wrap(DATA_KEY, context=CONTEXT)
    assert _reason(lambda: pinned.unwrap(newer, context=CONTEXT)) is Reason.WRONG_CONTEXT


# -- wrong key types ---------------------------------------------------------------------


def test_a_generic_secret_is_the_wrong_key_type(softhsm: SoftHsm, label: str) -> None:
    from pkcs11 import KeyType

    with softhsm.session() as s:
        s.generate_key(KeyType.GENERIC_SECRET, 256, label=label, id=b"\x01", store=True)

    assert _reason(_provider(softhsm, label).describe) is Reason.WRONG_KEY_TYPE


def test_an_rsa_key_pair_is_the_wrong_key_type(softhsm: SoftHsm, label: str) -> None:
    from pkcs11 import KeyType

    with softhsm.session() as s:
        s.generate_keypair(KeyType.RSA, 2048, label=label, id=b"\x01", store=True)

    provider = _provider(softhsm, label)
    assert _reason(lambda: provider.wrap(DATA_KEY, context=CONTEXT)) is Reason.WRONG_KEY_TYPE


# -- where the PIN and the module come from ----------------------------------------------


def test_the_pin_may_come_from_a_file_named_in_the_key_path(
    softhsm: SoftHsm, label: str, tmp_path: Path
) -> None:
    softhsm.add_aes_key(label)
    pin_file = tmp_path / "pin"
    pin_file.write_text(USER_PIN + "\n")
    provider = Pkcs11Provider(
        softhsm.key_path(label) + f"?pin-source=file:{pin_file}", softhsm.connection(pin=None)
    )

    assert provider.unwrap(provider.wrap(DATA_KEY, context=CONTEXT), context=CONTEXT) == DATA_KEY


def test_the_pin_may_be_given_in_the_key_path(softhsm: SoftHsm, label: str) -> None:
    softhsm.add_aes_key(label)
    provider = Pkcs11Provider(
        softhsm.key_path(label) + f"?pin-value={USER_PIN}", softhsm.connection(pin=None)
    )

    assert provider.describe().enabled


def test_a_missing_pin_file_locks_nothing(softhsm: SoftHsm, label: str, tmp_path: Path) -> None:
    provider = Pkcs11Provider(
        softhsm.key_path(label) + f"?pin-source=file:{tmp_path}/none", softhsm.connection(pin=None)
    )

    with pytest.raises(ProviderUnreachable):
        provider.describe()


def test_a_missing_module_is_unreachable(label: str, tmp_path: Path) -> None:
    provider = Pkcs11Provider(
        f"pkcs11:token=t;object={label}",
        Connection(settings={"module": str(tmp_path / "missing.so")}, secret=b"1234"),
    )

    with pytest.raises(ProviderUnreachable):
        provider.wrap(DATA_KEY, context=CONTEXT)


def test_a_module_that_does_not_load_is_unreachable(label: str, tmp_path: Path) -> None:
    not_a_library = tmp_path / "garbage.so"
    not_a_library.write_bytes(b"\x7fELF but not really")
    provider = Pkcs11Provider(
        f"pkcs11:token=t;object={label}",
        Connection(settings={"module": str(not_a_library)}, secret=b"1234"),
    )

    with pytest.raises(ProviderUnreachable):
        provider.describe()


# -- key paths ---------------------------------------------------------------------------


def test_a_key_path_is_percent_decoded() -> None:
    uri = parse_pkcs11_uri(
        "pkcs11:token=My%20Token;object=tenant%3Ba;id=%01%ff;slot-id=7?pin-source=file:/run/pin"
    )

    assert uri == Pkcs11Uri(
        object_label="tenant;a",
        token_label="My Token",
        slot_id=7,
        key_id=b"\x01\xff",
        pin_file=Path("/run/pin"),
    )


@pytest.mark.parametrize(
    ("key_path", "complaint"),
    [
        ("pkcs11:", "object"),
        ("pkcs11:token=a", "object"),
        ("pkcs11:object=k", "token"),
        ("pkcs11:token=a;object=k;object=j", "'object' is given twice"),
        ("pkcs11:token=a;object=k;colour=blue", "'colour'"),
        ("pkcs11:token=a;object=k;type=private", "secret-key"),
        ("pkcs11:token=a;object=k;slot-id=x1", "slot-id"),
        ("pkcs11:token=a;object=", "'object' is empty"),
        ("pkcs11:token=a;object", "'object' has no value"),
        ("pkcs11:token=a;object=k%2", "%-escape"),
        ("pkcs11:token=a;object=k%ff", "UTF-8"),
        ("pkcs11:token=a;object=k?module-path=/tmp/evil.so", "'module-path'"),
        ("pkcs11:token=a;object=k?pin-source=/run/pin", "pin-source"),
        ("pkcs11:token=a;object=k?pin-value=1&pin-source=file:/p", "not both"),
        ("pkcs11:token=a;object=k?pin-value=1&pin-value=2", "'pin-value' is given twice"),
    ],
)
def test_malformed_key_paths_are_refused_by_name(key_path: str, complaint: str) -> None:
    with pytest.raises(InvalidKeyPath, match=complaint.replace("?", r"\?")):
        Pkcs11Provider(key_path, Connection())


def test_the_version_of_a_value_is_the_hex_id_that_wrapped_it(provider: Pkcs11Provider) -> None:
    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)

    assert provider.version_of(wrapped) == "01"
    assert _reason(lambda: provider.version_of(b"vault:v1:abc")) is Reason.WRONG_CONTEXT


def test_threads_may_share_a_provider(provider: Pkcs11Provider) -> None:
    """PKCS#11 login state is per process: concurrent sessions must not log each other out."""

    def round_trip(n: int) -> bytes:
        context = b"deployment:%d" % n
        return provider.unwrap(provider.wrap(DATA_KEY, context=context), context=context)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(round_trip, range(40)))

    assert results == [DATA_KEY] * 40
