"""Request and response bodies of join tokens and of joining (ADR 33)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class JoinRole(StrEnum):
    """What a host joins as."""

    ALLOCATOR = "allocator"
    GATEWAY = "gateway"
    API = "api"


HOST_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,31}$"


class CreateJoinTokenIn(BaseModel):
    """A join token's role, lifetime and (optionally) the one name a host may join under."""

    model_config = ConfigDict(extra="forbid")

    role: JoinRole
    ttl_s: int | None = Field(
        default=None,
        ge=60,
        le=7 * 86400,
        description="Seconds the token stays usable (default: the join_token_ttl_s setting).",
    )
    name: str | None = Field(
        default=None,
        pattern=HOST_NAME_PATTERN,
        description="The only name a host may join under with this token.",
    )


class JoinTokenOut(BaseModel):
    """A minted token: `token` is the only copy; `ca_sha256` pins the platform CA."""

    id: str
    role: JoinRole
    name: str | None
    expires_at: datetime
    token: str
    ca_sha256: str = Field(description="sha256:<hex> of the platform CA's public key (SPKI).")


class JoinIn(BaseModel):
    """A host's join request: the token, its CSR (its key stays on the host) and its name."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=200)
    csr: str = Field(min_length=1, max_length=16384, description="PEM certificate signing request.")
    name: str = Field(pattern=HOST_NAME_PATTERN, description="The host's component name.")


class JoinOut(BaseModel):
    """What the joining host needs: its certificate, the CA and where the internal API is."""

    role: JoinRole
    name: str
    certificate: str
    ca: str
    internal_url: str


class CaCertificateOut(BaseModel):
    """The platform CA certificate (public), and its pin."""

    ca: str
    ca_sha256: str
