"""The platform key: the root of every key the platform holds (docs/adr/0011).

By default a 256-bit key in `<data-dir>/keys/platform.key` (0600). In production it may live in
any provider: `CITADEL_PLATFORM_KEY` names it (`pkcs11:token=...;object=...`,
`vault-transit://host:port/key`, `kmip://host:port/uid`, `arn:aws:kms:...`),
`CITADEL_PLATFORM_KEY_SETTINGS` gives the provider's settings (JSON object) and
`CITADEL_PLATFORM_KEY_SECRET_FILE` the file holding its credential (PIN, token, client key).
The keyring root, and so the control-plane database key, the CA key and every sealed secret,
is wrapped by it.
"""

from __future__ import annotations

from pathlib import Path

from citadel.config import Settings
from citadel.crypto.providers.base import KeyProvider
from citadel.crypto.providers.connection import Connection
from citadel.crypto.providers.endpoints import EndpointPolicy
from citadel.crypto.providers.local import LocalKeyFile
from citadel.crypto.providers.registry import open_provider


def local_key_file(data_dir: Path) -> Path:
    return data_dir / "keys" / "platform.key"


def open_platform_key(settings: Settings, *, create: bool = False) -> KeyProvider:
    """The configured platform key provider; `create` makes the local key file if missing."""
    if settings.platform_key is None:
        path = local_key_file(settings.data_dir)
        return LocalKeyFile.create_or_open(path) if create else LocalKeyFile(path)
    secret = None
    if settings.platform_key_secret_file is not None:
        secret = settings.platform_key_secret_file.read_bytes().strip()
    connection = Connection(
        settings=dict(settings.platform_key_settings),
        secret=secret,
        endpoints=EndpointPolicy.unrestricted(),  # the operator's own key service
    )
    return open_provider(settings.platform_key, connection)


def has_platform_key(settings: Settings) -> bool:
    """Whether the platform key is there to open (a provider is assumed to be)."""
    return settings.platform_key is not None or local_key_file(settings.data_dir).exists()
