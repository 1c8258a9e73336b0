"""Request bodies of the key-manager and encryption routes, and the shaping of answers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from citadel.key_managers.models import KeyManager
from citadel.kit.schema import StrictModel

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


def manager_info(row: KeyManager) -> dict[str, Any]:
    """A key manager as the API shows it: never the credential, only whether there is one."""
    return {
        "id": row.id,
        "name": row.name,
        "kind": row.kind,
        "settings": dict(row.settings),
        "has_secret": row.secret_sealed is not None,
        "created": row.created_at.isoformat().replace("+00:00", "Z"),
        "updated": row.updated_at.isoformat().replace("+00:00", "Z"),
    }
