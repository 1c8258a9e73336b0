"""The security API's errors, in the shapes Elasticsearch's security plugin uses."""

from __future__ import annotations

from citadel.node.errors import ActionRequestValidation, EsError


class ParseException(EsError):
    """A request body the security API cannot read (unknown field, wrong type)."""

    type = "parse_exception"
    status = 400


class ValidationFailed(ActionRequestValidation):
    """``Validation Failed: 1: ...;`` — a well-formed request that breaks a rule."""

    def __init__(self, *problems: str) -> None:
        numbered = "".join(f"{i}: {p};" for i, p in enumerate(problems, 1))
        super().__init__(f"Validation Failed: {numbered}")
