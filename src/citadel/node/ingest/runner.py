"""Running pipelines over documents, with Elasticsearch's failure handling. Pure.

A processor that fails is skipped when it has ``ignore_failure``; else its own ``on_failure``
processors run, else the failure ends the pipeline, whose ``on_failure`` processors run (the
document is then indexed as they leave it), else the write fails. While ``on_failure``
processors run, ``_ingest.on_failure_message``, ``_processor_type``, ``_processor_tag`` and
``_pipeline`` describe the failure. ``drop`` ends everything: the document is not indexed.
The ``pipeline`` processor runs another pipeline (cycles are an error).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from citadel.node.errors import EsError, IllegalArgument
from citadel.node.ingest.document import IngestDocument
from citadel.node.ingest.pipeline import Pipeline
from citadel.node.ingest.processors import Dropped, PipelineProcessor, Processor

Lookup = Callable[[str], Pipeline | None]
MAX_DEPTH = 100
_FAILURE_KEYS = (
    "on_failure_message",
    "on_failure_processor_type",
    "on_failure_processor_tag",
    "on_failure_pipeline",
)


class ProcessorFailed(Exception):
    """A processor's error on its way up, with where it happened."""

    def __init__(self, error: EsError, processor: Processor, pipeline: str) -> None:
        super().__init__(error.reason)
        self.error = error
        self.processor = processor
        self.pipeline = pipeline


@dataclass
class Executor:
    """Runs pipelines for one document (or one simulated document).

    `trace`, when a list, receives one verbose-simulation result per processor run.
    """

    lookup: Lookup
    trace: list[dict[str, Any]] | None = None
    render: Callable[[IngestDocument], dict[str, Any]] | None = None
    executed: list[str] = field(default_factory=list)
    _stack: list[str] = field(default_factory=list)

    def run(self, pipeline: Pipeline, doc: IngestDocument) -> bool:
        """Run `pipeline`; False when the document was dropped. Raises the failing EsError."""
        try:
            return self._pipeline(pipeline, doc)
        except ProcessorFailed as failed:
            raise failed.error from None

    def run_pipeline(self, name: str, doc: IngestDocument, *, ignore_missing: bool = False) -> bool:
        """The ``pipeline`` processor: run stored pipeline `name` over `doc`."""
        pipeline = self.lookup(name)
        if pipeline is None:
            if ignore_missing:
                return True
            raise IllegalArgument(
                f"Pipeline processor configured for non-existent pipeline [{name}]"
            )
        return self._pipeline(pipeline, doc)

    def _pipeline(self, pipeline: Pipeline, doc: IngestDocument) -> bool:
        if pipeline.id in self._stack:
            raise IllegalArgument(
                f"Cycle detected for pipeline: {' -> '.join([*self._stack, pipeline.id])}"
            )
        if len(self._stack) >= MAX_DEPTH:
            raise IllegalArgument("Too many nested pipelines: cannot exceed 100 pipelines")
        self._stack.append(pipeline.id)
        self.executed.append(pipeline.id)
        previous = doc.ingest.get("pipeline")
        doc.ingest["pipeline"] = pipeline.id
        try:
            try:
                return self._processors(pipeline.processors, doc)
            except ProcessorFailed as failed:
                if not pipeline.on_failure:
                    raise
                return self._on_failure(pipeline.on_failure, doc, failed)
        finally:
            self._stack.pop()
            if previous is None:
                doc.ingest.pop("pipeline", None)
            else:
                doc.ingest["pipeline"] = previous

    def _processors(self, processors: tuple[Processor, ...], doc: IngestDocument) -> bool:
        return all(self._processor(processor, doc) for processor in processors)

    def _processor(self, processor: Processor, doc: IngestDocument) -> bool:
        if isinstance(processor, PipelineProcessor):
            self._record(processor, "success", None)
        try:
            processor.execute(doc, self)
        except Dropped:
            if not isinstance(processor, PipelineProcessor):
                self._record(processor, "dropped", None, with_doc=False)
            return False
        except ProcessorFailed as failed:
            return self._failed(processor, doc, failed)
        except EsError as exc:
            return self._failed(processor, doc, ProcessorFailed(exc, processor, self._current))
        if not isinstance(processor, PipelineProcessor):
            self._record(processor, "success", doc)
        return True

    @property
    def _current(self) -> str:
        return self._stack[-1] if self._stack else ""

    def _failed(self, processor: Processor, doc: IngestDocument, failed: ProcessorFailed) -> bool:
        if processor.ignore_failure:
            self._record(processor, "error_ignored", doc, error=failed.error)
            return True
        if not processor.on_failure:
            if not isinstance(processor, PipelineProcessor):
                self._record(processor, "error", None, error=failed.error, with_doc=False)
            raise failed
        self._record(processor, "error", None, error=failed.error, with_doc=False)
        return self._on_failure(processor.on_failure, doc, failed)

    def _on_failure(
        self, processors: tuple[Processor, ...], doc: IngestDocument, failed: ProcessorFailed
    ) -> bool:
        saved = {k: doc.ingest[k] for k in _FAILURE_KEYS if k in doc.ingest}
        doc.ingest["on_failure_message"] = failed.error.reason
        doc.ingest["on_failure_processor_type"] = failed.processor.type
        if failed.processor.tag is not None:
            doc.ingest["on_failure_processor_tag"] = failed.processor.tag
        else:
            doc.ingest.pop("on_failure_processor_tag", None)
        doc.ingest["on_failure_pipeline"] = failed.pipeline
        try:
            return self._processors(processors, doc)
        finally:
            for key in _FAILURE_KEYS:
                doc.ingest.pop(key, None)
            doc.ingest.update(saved)

    def _record(
        self,
        processor: Processor,
        status: str,
        doc: IngestDocument | None,
        *,
        error: EsError | None = None,
        with_doc: bool = True,
    ) -> None:
        if self.trace is None:
            return
        entry: dict[str, Any] = {"processor_type": processor.type, "status": status}
        if processor.description is not None:
            entry["description"] = processor.description
        if processor.tag is not None:
            entry["tag"] = processor.tag
        if error is not None:
            key = "ignored_error" if status == "error_ignored" else "error"
            entry[key] = (
                {"error": error.body()["error"]}
                if key == "ignored_error"
                else (error.body()["error"])
            )
        if doc is not None and with_doc and self.render is not None:
            entry["doc"] = self.render(doc)
        self.trace.append(entry)
