"""The errors of ingest, in Elasticsearch's shapes."""

from __future__ import annotations

from typing import Any

from citadel.node.errors import EsError, IllegalArgument


class ConfigError(EsError):
    """A pipeline or processor definition Elasticsearch refuses (``parse_exception``)."""

    type = "parse_exception"
    status = 400

    def __init__(
        self,
        reason: str,
        *,
        processor_type: str | None = None,
        property_name: str | None = None,
        tag: str | None = None,
    ) -> None:
        extra: dict[str, Any] = {}
        if processor_type is not None:
            extra["processor_type"] = processor_type
        if tag is not None:
            extra["processor_tag"] = tag
        if property_name is not None:
            extra["property_name"] = property_name
        super().__init__(reason, **extra)


class FieldError(IllegalArgument):
    """A processor could not read or write a field of the document."""


class FailProcessor(EsError):
    """The ``fail`` processor's own error (Elasticsearch answers it with a 500)."""

    type = "fail_processor_exception"
    status = 500


class PipelineMissing(IllegalArgument):
    """A write names a pipeline that does not exist."""

    def __init__(self, pipeline_id: str) -> None:
        super().__init__(f"pipeline with id [{pipeline_id}] does not exist")


class PipelineNotFound(EsError):
    """``GET``/``DELETE`` of a pipeline that is not there."""

    type = "resource_not_found_exception"
    status = 404
