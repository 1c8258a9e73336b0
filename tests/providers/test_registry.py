"""Choosing a provider from a key path, and the local key file reached that way."""

from __future__ import annotations

from pathlib import Path

import pytest

from citadel.crypto.providers.base import InvalidKeyPath, KeyUnavailable, Reason
from citadel.crypto.providers.connection import Connection
from citadel.crypto.providers.local import LocalKeyFile
from citadel.crypto.providers.pkcs11 import Pkcs11Provider
from citadel.crypto.providers.registry import open_provider, provider_kind
from citadel.crypto.providers.vault_transit import VaultTransitProvider
from tests.fixtures.key_servers import Bao, SoftHsm

DATA_KEY = bytes(range(32))
CONTEXT = b"deployment:d-1"


@pytest.mark.parametrize(
    ("key_path", "kind"),
    [
        ("file:/var/lib/citadel/root.key", "file"),
        ("pkcs11:token=a;object=k", "pkcs11"),
        ("vault-transit://vault.internal:8200/k", "vault-transit"),
        ("kmip://kms.internal:5696/1234", "kmip"),
        ("arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", "aws-kms"),
        ("arn:aws:kms:eu-west-1:111122223333:alias/tenant-a", "aws-kms"),
    ],
)
def test_the_prefix_names_the_provider(key_path: str, kind: str) -> None:
    assert provider_kind(key_path) == kind


@pytest.mark.parametrize(
    "key_path",
    [
        "",
        "tenant-a",
        "/var/lib/citadel/root.key",
        "PKCS11:token=a;object=k",
        "vault://vault.internal/k",
        "https://example-byok.vault.azure.net/keys/test-key",
        "projects/p/locations/l/keyRings/r/cryptoKeys/k",
        "arn:aws:s3:::bucket",
    ],
)
def test_unknown_prefixes_are_invalid_key_paths(key_path: str) -> None:
    with pytest.raises(InvalidKeyPath):
        provider_kind(key_path)
    with pytest.raises(InvalidKeyPath):
        open_provider(key_path)


def test_a_key_file_round_trips_through_the_registry(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "root.key"
    LocalKeyFile.create_or_open(path)

    provider = open_provider(f"file:{path}")

    assert isinstance(provider, LocalKeyFile)
    assert provider.unwrap(provider.wrap(DATA_KEY, context=CONTEXT), context=CONTEXT) == DATA_KEY
    assert provider.describe().key_path == f"file:{path}"


def test_a_relative_key_file_path_is_invalid() -> None:
    with pytest.raises(InvalidKeyPath):
        open_provider("file:keys/root.key")


def test_a_missing_key_file_is_unknown(tmp_path: Path) -> None:
    with pytest.raises(KeyUnavailable) as caught:
        open_provider(f"file:{tmp_path}/none.key")

    assert caught.value.reason is Reason.UNKNOWN_KEY


def test_a_key_file_of_the_wrong_size_is_the_wrong_key_type(tmp_path: Path) -> None:
    path = tmp_path / "short.key"
    path.write_bytes(b"0" * 16)

    with pytest.raises(KeyUnavailable) as caught:
        open_provider(f"file:{path}")

    assert caught.value.reason is Reason.WRONG_KEY_TYPE


def test_opening_a_remote_provider_reaches_nothing_yet() -> None:
    nowhere = Connection(settings={"module": "/nonexistent.so", "scheme": "http"}, secret=b"x")

    assert isinstance(open_provider("pkcs11:token=a;object=k", nowhere), Pkcs11Provider)
    assert isinstance(open_provider("vault-transit://127.0.0.1:1/k", nowhere), VaultTransitProvider)


@pytest.mark.parametrize(
    "key_path", ["pkcs11:token=a;object=k;colour=blue", "vault-transit://host:8200/"]
)
def test_a_malformed_path_of_a_known_provider_is_invalid(key_path: str) -> None:
    with pytest.raises(InvalidKeyPath):
        open_provider(key_path)


class _Recorded:
    """Stands in for a provider class: records how the registry built it."""

    def __init__(self, key_path: str, connection: Connection) -> None:
        self.key_path = key_path
        self.connection = connection


@pytest.mark.parametrize(
    ("module", "cls", "key_path"),
    [
        ("kmip", "KmipProvider", "kmip://kms.internal:5696/1234"),
        (
            "aws_kms",
            "AwsKmsProvider",
            "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ),
    ],
)
def test_kmip_and_aws_key_paths_open_their_providers_with_the_connection(
    monkeypatch: pytest.MonkeyPatch, module: str, cls: str, key_path: str
) -> None:
    provider_module = pytest.importorskip(f"citadel.crypto.providers.{module}")
    monkeypatch.setattr(provider_module, cls, _Recorded)
    connection = Connection(settings={"region": "eu-west-1"}, secret=b"s")

    provider = open_provider(key_path, connection)

    assert isinstance(provider, _Recorded)
    assert (provider.key_path, provider.connection) == (key_path, connection)


def test_an_hsm_key_round_trips_through_the_registry(softhsm: SoftHsm, label: str) -> None:
    softhsm.add_aes_key(label)

    provider = open_provider(softhsm.key_path(label), softhsm.connection())

    assert provider.unwrap(provider.wrap(DATA_KEY, context=CONTEXT), context=CONTEXT) == DATA_KEY


def test_a_transit_key_round_trips_through_the_registry(bao: Bao, label: str) -> None:
    bao.add_key(label)

    provider = open_provider(bao.key_path(label), bao.connection())

    assert provider.unwrap(provider.wrap(DATA_KEY, context=CONTEXT), context=CONTEXT) == DATA_KEY
