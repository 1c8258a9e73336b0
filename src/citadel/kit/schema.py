"""The base of every request and response model: strict types, unknown fields refused."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """No coercion (``"false"`` is not a boolean), no unknown fields."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ResponseModel(BaseModel):
    """Response bodies: fields left unset are omitted."""

    model_config = ConfigDict(extra="forbid")
