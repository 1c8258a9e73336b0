"""The base of every request and response model: strict types, unknown fields refused."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer


class StrictModel(BaseModel):
    """No coercion (``"false"`` is not a boolean), no unknown fields."""

    model_config = ConfigDict(extra="forbid", strict=True)


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
