"""Request and response bodies of the sign-in routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from citadel.kit.schema import ResponseModel, StrictModel


class LoginIn(StrictModel):
    """The Cloud API ``LoginRequest`` (``username`` is the email) plus the second factor."""

    username: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=256)
    totp_code: str | None = Field(default=None, max_length=32)
    passkey_assertion: str | None = Field(default=None, max_length=16_384)
    """Instead of `totp_code`: the JSON of the `PublicKeyCredential` a passkey gave for a
    challenge from `POST /users/auth/passkeys/_challenge` (ADR 25)."""


class TokenOut(ResponseModel):
    """The Cloud API ``TokenResponse`` plus what the client must do next."""

    token: str
    session_expiration_time: datetime
    mfa_enrollment_required: bool
    csrf_token: str


class AuthenticationInfoOut(ResponseModel):
    """The Cloud API ``AuthenticationInfo`` plus who is signed in."""

    has_elevated_permissions: bool = False
    refresh_token_url: str = ""
    has_totp_device: bool | None = None
    expires_at: datetime | None = None
    credential_type: str
    credential_id: str
    user_id: str | None = None
    email: str | None = None
    organization_ids: list[str]
    mfa_enrollment_required: bool = False
    csrf_token: str | None = None


class TotpCodeIn(StrictModel):
    code: str = Field(min_length=6, max_length=6)


class SecondFactorIn(StrictModel):
    code: str = Field(min_length=6, max_length=16)
    """A current TOTP code, or one of your recovery codes (``xxxxx-xxxxx``)."""


class TotpEnrollmentOut(ResponseModel):
    secret: str
    otpauth_uri: str


class TotpEnabledOut(ResponseModel):
    recovery_codes: list[str]


class PasswordChangeIn(StrictModel):
    """A new password; the current one too, unless an SSO sign-in invalidated it."""

    current_password: str | None = Field(default=None, min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)
