"""Errors in Elasticsearch's shape: ``{"error": {"type", "reason", ...}, "status": N}``.

Every failure a client can see is an `EsError` subclass whose `type` is the Elasticsearch
exception name and whose `status` is the status Elasticsearch uses for it.
"""

from __future__ import annotations

from typing import Any


class EsError(Exception):
    """Base of every client-visible node error."""

    type: str = "exception"
    status: int = 500

    def __init__(self, reason: str, **extra: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The JSON body Elasticsearch would send."""
        cause = {"type": self.type, "reason": self.reason, **self.extra}
        return {"error": {"root_cause": [cause], **cause}, "status": self.status}


class ParsingError(EsError):
    type = "parsing_exception"
    status = 400


class XContentParseError(EsError):
    type = "x_content_parse_exception"
    status = 400


class IllegalArgument(EsError):
    type = "illegal_argument_exception"
    status = 400


class ActionRequestValidation(EsError):
    type = "action_request_validation_exception"
    status = 400


class InvalidIndexName(EsError):
    type = "invalid_index_name_exception"
    status = 400


class MapperParsing(EsError):
    type = "mapper_parsing_exception"
    status = 400


class DocumentParsing(EsError):
    type = "document_parsing_exception"
    status = 400


class IndexNotFound(EsError):
    type = "index_not_found_exception"
    status = 404

    def __init__(self, index: str) -> None:
        super().__init__(f"no such index [{index}]", index=index, **{"resource.id": index})


class ResourceAlreadyExists(EsError):
    type = "resource_already_exists_exception"
    status = 400


class DocumentMissing(EsError):
    type = "document_missing_exception"
    status = 404


class ResourceNotFound(EsError):
    type = "resource_not_found_exception"
    status = 404


class VersionConflict(EsError):
    type = "version_conflict_engine_exception"
    status = 409


class Unauthenticated(EsError):
    type = "security_exception"
    status = 401


class Forbidden(EsError):
    type = "security_exception"
    status = 403


class ContentTooLarge(EsError):
    type = "content_too_long_exception"
    status = 413


class UnsupportedMethod(EsError):
    type = "method_not_allowed"
    status = 405
