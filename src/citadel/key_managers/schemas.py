"""Request bodies of the key-manager and encryption routes, and the shaping of answers."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from citadel.key_managers.models import KeyManager
from citadel.kit.schema import ResponseModel, StrictModel

Kind = Literal["pkcs11", "vault-transit", "kmip", "aws-kms"]


class KeyManagerIn(StrictModel):
    """A key manager: its kind, plain settings, and the credential (write-only)."""

    name: str = Field(min_length=1, max_length=64)
    kind: Kind
    settings: dict[str, str] = Field(default_factory=dict, max_length=8)
    secret: str | None = Field(default=None, min_length=1, max_length=16_384)


class KeyManagerUpdateIn(StrictModel):
    """A change: the fields given replace the stored ones (`secret` replaces the credential)."""

    name: str | None = Field(default=None, min_length=1, max_length=64)
    settings: dict[str, str] | None = Field(default=None, max_length=8)
    secret: str | None = Field(default=None, min_length=1, max_length=16_384)


class RekeyIn(StrictModel):
    """Move a deployment to another customer key, or back to the platform key (`null`)."""

    key_resource_path: str | None = Field(min_length=1, max_length=512)
    key_manager_id: str | None = Field(default=None, max_length=32)


class KeyManagerOut(ResponseModel):
    """A key manager as the API shows it: never the credential, only whether there is one."""

    id: str
    name: str
    kind: Kind
    settings: dict[str, str]
    has_secret: bool
    created: str
    updated: str


class KeyManagersOut(ResponseModel):
    key_managers: list[KeyManagerOut]


class KeyRotationOut(ResponseModel):
    """The key wrapping the data key, and its version before and after."""

    key_resource_path: str
    version: str
    previous_version: str


class RekeyOut(ResponseModel):
    """Where the deployment's data key now lives."""

    id: str
    key_resource_path: str
    byok_enabled: bool


def manager_info(row: KeyManager) -> KeyManagerOut:
    """A key manager as the API shows it: never the credential, only whether there is one."""
    return KeyManagerOut(
        id=row.id,
        name=row.name,
        kind=row.kind,  # type: ignore[arg-type]  # stored as one of `Kind`
        settings=dict(row.settings),
        has_secret=row.secret_sealed is not None,
        created=row.created_at.isoformat().replace("+00:00", "Z"),
        updated=row.updated_at.isoformat().replace("+00:00", "Z"),
    )
