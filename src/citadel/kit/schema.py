"""The base of every request and response model: strict types, unknown fields refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
)


class StrictModel(BaseModel):
    """No coercion (``"false"`` is not a boolean), no unknown fields, no NUL characters.

    PostgreSQL text cannot hold NUL, so a string carrying one is refused here, naming its
    field, instead of failing in the database.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        items = value if isinstance(value, list) else [value]
        if any(isinstance(item, str) and "\x00" in item for item in items):
            raise ValueError("text must not contain NUL characters")
        return value


class ResponseModel(BaseModel):
    """Response bodies: a field without a value is omitted, never sent as ``null``.

    The Cloud API declares optional fields as plain ``string``/``boolean`` (``accepted_at``,
    ``expiration_date``, ``name``...), so ``null`` would break its clients' schemas.
    """

    model_config = ConfigDict(extra="forbid")

    @model_serializer(mode="wrap")
    def _omit_none(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        # no return annotation: the documented schema stays the model's own
        return {k: v for k, v in handler(self).items() if v is not None}


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the instant is out of range") from None


Instant = Annotated[AwareDatetime, AfterValidator(_in_utc)]
"""A point in time given with its offset (``2025-01-01T00:00:00Z``), converted to UTC."""
