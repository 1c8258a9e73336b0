"""The base of every request and response model: strict types, unknown fields refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, get_args

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


def _omitted_when_none(schema: dict[str, Any], cls: type[BaseModel]) -> None:
    """Document what `ResponseModel` sends: a field that may be None is optional, never null."""
    required = schema.get("required", [])
    for name, field in cls.model_fields.items():
        if not _admits_none(field.annotation):
            continue
        key = field.alias or name
        if key in required:
            required.remove(key)
        prop = schema.get("properties", {}).get(key, {})
        variants = [v for v in prop.get("anyOf", []) if v.get("type") != "null"]
        if len(variants) == 1 and "anyOf" in prop:
            del prop["anyOf"]
            prop.update(variants[0])
        elif variants:
            prop["anyOf"] = variants
    if "required" in schema and not required:
        del schema["required"]


def _admits_none(annotation: Any) -> bool:
    return annotation is None or type(None) in get_args(annotation)


class ResponseModel(BaseModel):
    """Response bodies: a field without a value is omitted, never sent as ``null``.

    The Cloud API declares optional fields as plain ``string``/``boolean`` (``accepted_at``,
    ``expiration_date``, ``name``...), so ``null`` would break its clients' schemas. The
    documented schema says the same: such a field is optional and never ``null``.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=_omitted_when_none)

    @model_serializer(mode="wrap")
    def _omit_none(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        # no return annotation: the documented schema stays the model's own
        return {k: v for k, v in handler(self).items() if v is not None}


class NullableResponseModel(BaseModel):
    """Response bodies of our additions that send ``null`` for a field without a value
    (``verified``, ``last_error``...): the field is always present, and documented nullable."""

    model_config = ConfigDict(extra="forbid")


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the instant is out of range") from None


Instant = Annotated[AwareDatetime, AfterValidator(_in_utc)]
"""A point in time given with its offset (``2025-01-01T00:00:00Z``), converted to UTC."""


class EmptyOut(ResponseModel):
    """`EmptyResponse`: ``{}``, the answer of a change with nothing to tell."""
