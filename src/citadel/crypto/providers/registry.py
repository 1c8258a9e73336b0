"""Choosing a key provider from a key path.

| prefix            | provider                 | example                                          |
|-------------------|--------------------------|--------------------------------------------------|
| ``file:``         | `LocalKeyFile`           | ``file:/var/lib/citadel/keys/root.key``          |
| ``pkcs11:``       | `Pkcs11Provider`         | ``pkcs11:token=citadel;object=tenant-a``         |
| ``vault-transit://`` | `VaultTransitProvider` | ``vault-transit://vault.internal:8200/tenant-a`` |
| ``kmip://``       | `KmipProvider`           | ``kmip://kms.internal:5696/<unique id>``         |
| ``arn:aws:kms:``  | `AwsKmsProvider`         | ``arn:aws:kms:eu-west-1:111122223333:alias/a``   |

Constructing a provider parses its key path (an `InvalidKeyPath` surfaces at once) and, except
for the local key file, does no I/O: the provider is reached at its first operation.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from citadel.crypto.providers.base import InvalidKeyPath, KeyProvider, KeyUnavailable, Reason
from citadel.crypto.providers.connection import Connection

_KINDS = (
    ("file:", "file"),
    ("pkcs11:", "pkcs11"),
    ("vault-transit://", "vault-transit"),
    ("kmip://", "kmip"),
    ("arn:aws:kms:", "aws-kms"),
)


def provider_kind(key_path: str) -> str:
    """Which provider a key path is for: "file", "pkcs11", "vault-transit", "kmip", "aws-kms"."""
    for prefix, kind in _KINDS:
        if key_path.startswith(prefix):
            return kind
    raise InvalidKeyPath("the key path names no known key provider")


def open_provider(key_path: str, connection: Connection | None = None) -> KeyProvider:
    """The provider for `key_path`, reached through `connection`."""
    connection = connection or Connection()
    kind = provider_kind(key_path)
    if kind == "file":
        return _open_key_file(key_path)
    if kind == "pkcs11":
        from citadel.crypto.providers.pkcs11 import Pkcs11Provider

        return Pkcs11Provider(key_path, connection)
    if kind == "vault-transit":
        from citadel.crypto.providers.vault_transit import VaultTransitProvider

        return VaultTransitProvider(key_path, connection)
    if kind == "kmip":
        from citadel.crypto.providers.kmip import KmipProvider

        return KmipProvider(key_path, connection)
    from citadel.crypto.providers.aws_kms import AwsKmsProvider

    return AwsKmsProvider(key_path, connection)


def endpoint_of(key_path: str, connection: Connection) -> tuple[str, int] | None:
    """The host and port a provider for `key_path` connects to, as configured (before any
    DNS): from the key path, or an AWS ``endpoint_url``; None for a key file, an HSM, or AWS's
    own endpoint. Raises `InvalidKeyPath` for a malformed path or endpoint URL."""
    kind = provider_kind(key_path)
    if kind == "vault-transit":
        from citadel.crypto.providers.vault_transit import parse_transit_key_path

        transit = parse_transit_key_path(key_path)
        return transit.host, transit.port
    if kind == "kmip":
        from citadel.crypto.providers.kmip import parse_key_path

        kmip = parse_key_path(key_path)
        return kmip.host, kmip.port
    if kind == "aws-kms" and connection.settings.get("endpoint_url"):
        return url_endpoint(connection.settings["endpoint_url"])
    return None


def url_endpoint(url: str) -> tuple[str, int]:
    """The host and port of an ``http(s)://`` URL; raises `InvalidKeyPath`."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError as exc:
        raise InvalidKeyPath("the endpoint URL's port is not a port number") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidKeyPath("the endpoint URL is http(s)://host[:port]")
    if parts.username is not None or parts.password is not None:
        raise InvalidKeyPath("the endpoint URL carries no credentials")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _open_key_file(key_path: str) -> KeyProvider:
    from citadel.crypto.providers.local import LocalKeyFile

    path = Path(key_path[len("file:") :])
    if not path.is_absolute():
        raise InvalidKeyPath("a key file path must be absolute: 'file:/path/to/key'")
    try:
        return LocalKeyFile(path)
    except FileNotFoundError as exc:
        raise KeyUnavailable(f"no key file at {path}", Reason.UNKNOWN_KEY) from exc
    except PermissionError as exc:
        raise KeyUnavailable(f"the key file {path} is not readable", Reason.ACCESS_DENIED) from exc
    except IsADirectoryError as exc:
        raise KeyUnavailable(f"{path} is a directory", Reason.WRONG_KEY_TYPE) from exc
