"""Request and response bodies of the passkey routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from citadel.kit.schema import ResponseModel, StrictModel


class PasskeyOptionsOut(ResponseModel):
    """What to pass to `navigator.credentials.create()` or `.get()` as `publicKey` (the JSON
    form: binary values in base64url)."""

    public_key: dict[str, Any]


class PasskeyIn(StrictModel):
    """The new passkey: the JSON of the browser's `PublicKeyCredential` and a name for it."""

    credential: str = Field(min_length=2, max_length=16_384)
    name: str = Field(default="Passkey", min_length=1, max_length=64)


class PasskeyRenameIn(StrictModel):
    name: str = Field(min_length=1, max_length=64)


class PasskeyOut(ResponseModel):
    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None = None


class PasskeysOut(ResponseModel):
    passkeys: list[PasskeyOut]


class PasskeyLoginIn(StrictModel):
    """Passwordless: the JSON of the `PublicKeyCredential` a passkey gave, with user
    verification, for a challenge from `_challenge`."""

    passkey_assertion: str = Field(min_length=2, max_length=16_384)
