"""The AWS KMS provider against moto's KMS server on loopback.

moto does not enforce key state: a disabled key, or one pending deletion, still encrypts and
decrypts there. So "the customer revokes the key and the data goes dark" is not tested here
(the PKCS#11, KMIP and Vault transit providers test it against servers that enforce it); what
is tested is that the provider reads the state moto reports and refuses to wrap under it.
"""

from __future__ import annotations

import uuid

import pytest

from citadel.crypto.providers.aws_kms import AwsKmsProvider, KmsKeyPath, parse_key_path
from citadel.crypto.providers.base import (
    InvalidKeyPath,
    KeyUnavailable,
    ProviderUnreachable,
    Reason,
)
from citadel.crypto.providers.connection import Connection
from tests.fixtures.key_servers import LOOPBACK_ALLOWED
from tests.providers.dead_servers import babbling_port as _babbling_port  # noqa: F401
from tests.providers.dead_servers import closed_port as _closed_port  # noqa: F401
from tests.providers.dead_servers import silent_port as _silent_port  # noqa: F401
from tests.providers.moto_server import ACCOUNT, REGION, MotoKms
from tests.providers.moto_server import moto_kms as _moto_kms  # noqa: F401

DATA_KEY = bytes(range(32))
CONTEXT = b"deployment:d-1"


def _provider(kms: MotoKms, key_path: str) -> AwsKmsProvider:
    return AwsKmsProvider(key_path, kms.connection())


def _unreachable_provider(port: int, *, timeout_s: float = 5.0) -> AwsKmsProvider:
    connection = Connection(
        settings={"endpoint_url": f"http://127.0.0.1:{port}", "access_key_id": "x"},
        secret=b"y",
        timeout_s=timeout_s,
        endpoints=LOOPBACK_ALLOWED,
    )
    return AwsKmsProvider(f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{uuid.uuid4()}", connection)


def _key_id(key_arn: str) -> str:
    """moto answers 500 to DisableKey and friends given a key ARN; they take the bare id."""
    return key_arn.rsplit("/", 1)[1]


@pytest.fixture
def key_arn(moto_kms: MotoKms) -> str:
    return moto_kms.create_key()


def test_wrapped_key_unwraps_with_the_same_context(moto_kms: MotoKms, key_arn: str) -> None:
    provider = _provider(moto_kms, key_arn)

    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)

    assert DATA_KEY not in wrapped
    assert provider.unwrap(wrapped, context=CONTEXT) == DATA_KEY


def test_alias_arn_wraps_and_unwraps(moto_kms: MotoKms, key_arn: str) -> None:
    alias_arn = moto_kms.create_alias(f"tenant-{uuid.uuid4().hex[:8]}", key_arn)
    provider = _provider(moto_kms, alias_arn)

    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)

    assert provider.unwrap(wrapped, context=CONTEXT) == DATA_KEY
    assert provider.describe().key_path == alias_arn


def test_unwrap_with_another_context_is_wrong_context(moto_kms: MotoKms, key_arn: str) -> None:
    provider = _provider(moto_kms, key_arn)
    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)

    with pytest.raises(KeyUnavailable) as exc:
        provider.unwrap(wrapped, context=b"deployment:d-2")
    assert exc.value.reason is Reason.WRONG_CONTEXT


@pytest.mark.parametrize("wrapped", [b"", b"kmip1" + bytes(40), b"kms1\x05ab"])
def test_value_not_wrapped_by_kms_is_wrong_context(
    moto_kms: MotoKms, key_arn: str, wrapped: bytes
) -> None:
    with pytest.raises(KeyUnavailable) as exc:
        _provider(moto_kms, key_arn).unwrap(wrapped, context=CONTEXT)
    assert exc.value.reason is Reason.WRONG_CONTEXT


def test_value_wrapped_in_another_account_is_wrong_context(moto_kms: MotoKms, key_arn: str) -> None:
    wrapped = _provider(moto_kms, key_arn).wrap(DATA_KEY, context=CONTEXT)
    elsewhere = key_arn.replace(f":{ACCOUNT}:", ":210987654321:")

    with pytest.raises(KeyUnavailable) as exc:
        _provider(moto_kms, elsewhere).unwrap(wrapped, context=CONTEXT)
    assert exc.value.reason is Reason.WRONG_CONTEXT


def test_unknown_key_is_unknown_key(moto_kms: MotoKms) -> None:
    provider = _provider(moto_kms, f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{uuid.uuid4()}")

    with pytest.raises(KeyUnavailable) as on_wrap:
        provider.wrap(DATA_KEY, context=CONTEXT)
    with pytest.raises(KeyUnavailable) as on_describe:
        provider.describe()
    assert on_wrap.value.reason is Reason.UNKNOWN_KEY
    assert on_describe.value.reason is Reason.UNKNOWN_KEY


def test_unknown_alias_is_unknown_key(moto_kms: MotoKms) -> None:
    provider = _provider(moto_kms, f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/nobody-{uuid.uuid4()}")

    with pytest.raises(KeyUnavailable) as exc:
        provider.describe()
    assert exc.value.reason is Reason.UNKNOWN_KEY


def test_describe_reports_an_enabled_key(moto_kms: MotoKms, key_arn: str) -> None:
    description = _provider(moto_kms, key_arn).describe()

    assert description.enabled is True
    assert description.key_path == key_arn
    assert description.rotation is None


def test_disabled_key_is_described_disabled_and_refuses_to_wrap(
    moto_kms: MotoKms, key_arn: str
) -> None:
    """moto would still encrypt under the disabled key; the provider refuses from describe_key."""
    provider = _provider(moto_kms, key_arn)
    moto_kms.admin().disable_key(KeyId=_key_id(key_arn))

    with pytest.raises(KeyUnavailable) as exc:
        provider.wrap(DATA_KEY, context=CONTEXT)
    assert exc.value.reason is Reason.DISABLED
    assert provider.describe().enabled is False


def test_key_pending_deletion_is_described_disabled(moto_kms: MotoKms, key_arn: str) -> None:
    provider = _provider(moto_kms, key_arn)
    moto_kms.admin().schedule_key_deletion(KeyId=_key_id(key_arn), PendingWindowInDays=7)

    assert provider.describe().enabled is False


def test_reenabled_key_wraps_again(moto_kms: MotoKms, key_arn: str) -> None:
    provider = _provider(moto_kms, key_arn)
    admin = moto_kms.admin()
    admin.disable_key(KeyId=_key_id(key_arn))
    admin.enable_key(KeyId=_key_id(key_arn))

    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)

    assert provider.unwrap(wrapped, context=CONTEXT) == DATA_KEY
    assert provider.describe().enabled is True


def test_automatic_rotation_is_described(moto_kms: MotoKms, key_arn: str) -> None:
    """moto keeps no rotation period (nor reports one); KMS's default period is 365 days."""
    moto_kms.admin().enable_key_rotation(KeyId=_key_id(key_arn))

    assert _provider(moto_kms, key_arn).describe().rotation == "automatic, 365 days"


def test_on_demand_rotation_keeps_old_values_readable(moto_kms: MotoKms, key_arn: str) -> None:
    """KMS rotates key material behind the same key and decrypts old ciphertext with the old
    material. Real KMS names the new material (CurrentKeyMaterialId), which changes the version;
    moto reports no material ids, so there the version stays the same.
    """
    provider = _provider(moto_kms, key_arn)
    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)

    moto_kms.admin().rotate_key_on_demand(KeyId=_key_id(key_arn))

    assert provider.unwrap(wrapped, context=CONTEXT) == DATA_KEY
    assert provider.version_of(wrapped) == provider.describe().version


def test_version_of_is_the_version_described_at_wrap_time(moto_kms: MotoKms, key_arn: str) -> None:
    provider = _provider(moto_kms, key_arn)

    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)

    assert provider.version_of(wrapped) == provider.describe().version


def test_moving_the_alias_to_a_new_key_is_a_new_version(moto_kms: MotoKms, key_arn: str) -> None:
    """The reference's manual rotation: the customer points the alias at a new key. Old values
    name the key that wrapped them, so they still unwrap, and their version tells they need
    re-wrapping.
    """
    name = f"rotating-{uuid.uuid4().hex[:8]}"
    provider = _provider(moto_kms, moto_kms.create_alias(name, key_arn))
    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)
    moto_kms.admin().update_alias(AliasName=f"alias/{name}", TargetKeyId=moto_kms.create_key())

    assert provider.version_of(wrapped) != provider.describe().version
    rewrapped = provider.wrap(provider.unwrap(wrapped, context=CONTEXT), context=CONTEXT)
    assert provider.version_of(rewrapped) == provider.describe().version
    assert provider.unwrap(rewrapped, context=CONTEXT) == DATA_KEY


@pytest.mark.parametrize(
    "params",
    [
        {"KeyUsage": "SIGN_VERIFY", "KeySpec": "RSA_2048"},
        {"KeyUsage": "ENCRYPT_DECRYPT", "KeySpec": "RSA_2048"},
        {"KeyUsage": "GENERATE_VERIFY_MAC", "KeySpec": "HMAC_256"},
    ],
)
def test_key_that_is_not_symmetric_encryption_is_wrong_key_type(
    moto_kms: MotoKms, params: dict[str, str]
) -> None:
    provider = _provider(moto_kms, moto_kms.create_key(**params))

    with pytest.raises(KeyUnavailable) as on_wrap:
        provider.wrap(DATA_KEY, context=CONTEXT)
    with pytest.raises(KeyUnavailable) as on_describe:
        provider.describe()
    assert on_wrap.value.reason is Reason.WRONG_KEY_TYPE
    assert on_describe.value.reason is Reason.WRONG_KEY_TYPE


def test_closed_port_is_unreachable(closed_port: int) -> None:
    with pytest.raises(ProviderUnreachable):
        _unreachable_provider(closed_port).describe()


def test_endpoint_that_never_answers_is_unreachable(silent_port: int) -> None:
    with pytest.raises(ProviderUnreachable):
        _unreachable_provider(silent_port, timeout_s=0.5).describe()


def test_endpoint_that_answers_garbage_is_unreachable(babbling_port: int) -> None:
    with pytest.raises(ProviderUnreachable):
        _unreachable_provider(babbling_port).describe()


@pytest.mark.parametrize(
    "key_path",
    [
        "",
        "arn:aws:kms:eu-west-1:123456789012:key/",
        "arn:aws:kms:eu-west-1:123456789012:key/not-a-key-id",
        "arn:aws:kms:eu-west-1:123456789012:key/1234ABCD-12AB-34CD-56EF-1234567890AB",
        "arn:aws:kms:eu-west-1:12345678901:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms:eu-west-1::key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms::123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms:EU-WEST-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:s3:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:gcp:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        "alias/tenant-a",
        "arn:aws:kms:eu-west-1:123456789012:alias/",
        "arn:aws:kms:eu-west-1:123456789012:alias/has space",
        "arn:aws:kms:eu-west-1:123456789012:alias/aws/ebs",
        "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab/x",
        " arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    ],
)
def test_malformed_arn_is_invalid(moto_kms: MotoKms, key_path: str) -> None:
    with pytest.raises(InvalidKeyPath):
        AwsKmsProvider(key_path, moto_kms.connection())


def test_alias_arn_is_parsed() -> None:
    assert parse_key_path("arn:aws:kms:us-gov-west-1:123456789012:alias/a/b_c-d") == KmsKeyPath(
        arn="arn:aws:kms:us-gov-west-1:123456789012:alias/a/b_c-d",
        partition="aws",
        region="us-gov-west-1",
        account="123456789012",
        key_id=None,
        alias="a/b_c-d",
    )


def test_multi_region_key_arn_is_parsed() -> None:
    key_id = "mrk-1234abcd12ab34cd56ef1234567890ab"

    assert parse_key_path(f"arn:aws:kms:us-east-1:123456789012:key/{key_id}").key_id == key_id


def test_access_key_without_its_secret_is_invalid(moto_kms: MotoKms, key_arn: str) -> None:
    connection = Connection(settings={"access_key_id": ACCOUNT}, secret=None)

    with pytest.raises(InvalidKeyPath):
        AwsKmsProvider(key_arn, connection)
