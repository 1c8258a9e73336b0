"""``_bulk``: NDJSON parsing (pure) and running the operations in one write transaction.

Like Elasticsearch, a malformed action line or update body fails the whole request with a
400; everything else (a bad document, a conflict, a missing privilege) fails only its item,
and the response says ``errors: true``. Index and create sources are parsed when the item
runs, so a broken source line is that item's ``document_parsing_exception``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from citadel.node.errors import (
    ActionRequestValidation,
    DocumentParsing,
    EsError,
    IllegalArgument,
    XContentParseError,
)
from citadel.node.store import documents as docs
from citadel.node.store.documents import Concurrency, WriteSession
from citadel.node.xcontent import parse_json, token_of

ACTIONS = ("create", "delete", "index", "update")
_METADATA = frozenset(
    {
        "_index",
        "_id",
        "routing",
        "if_seq_no",
        "if_primary_term",
        "version",
        "version_type",
        "pipeline",
        "require_alias",
        "require_data_stream",
        "retry_on_conflict",
        "op_type",
        "dynamic_templates",
        "list_executed_pipelines",
        "_source",
    }
)
# the privilege each action needs on its index ("write" grants all of them)
PRIVILEGES = {"index": "index", "create": "create", "update": "index", "delete": "delete"}


@dataclass(frozen=True)
class BulkOp:
    """One parsed bulk item."""

    action: str
    index: str
    id: str | None
    concurrency: Concurrency
    source: bytes | None = None
    """Raw source line of ``index``/``create`` (parsed when the item runs)."""
    update: Mapping[str, Any] | None = None
    """Parsed body of ``update``."""
    create_only: bool = False
    pipeline: str | None = None
    """The ingest pipeline of ``index``/``create`` (the item's, else the request's)."""


def parse_bulk(
    body: bytes, default_index: str | None, default_pipeline: str | None = None
) -> list[BulkOp]:
    """Parse an NDJSON bulk body; whole-request ES errors for malformed structure."""
    if body and not body.endswith(b"\n"):
        raise IllegalArgument("The bulk request must be terminated by a newline [\\n]")
    lines = body.split(b"\n")
    ops: list[BulkOp] = []
    i = 0
    while i < len(lines):
        line = lines[i].rstrip(b"\r")
        number = i + 1
        i += 1
        if not line.strip():
            continue
        action, meta = _action_line(line, number)
        index = meta.get("_index", default_index)
        if index is None:
            raise ActionRequestValidation("Validation Failed: 1: index is missing;")
        if not isinstance(index, str):
            raise IllegalArgument(f"Action/metadata line [{number}] has a non-string [_index]")
        doc_id = _doc_id(meta.get("_id"), number)
        concurrency = _concurrency(meta, number)
        if action == "delete":
            if doc_id is None:
                raise ActionRequestValidation("Validation Failed: 1: id is missing;")
            ops.append(BulkOp(action, index, doc_id, concurrency))
            continue
        if i >= len(lines) or (i == len(lines) - 1 and not lines[i].strip()):
            raise IllegalArgument(
                f"Malformed bulk request: the [{action}] action on line [{number}] has no "
                f"source line"
            )
        source = lines[i].rstrip(b"\r")
        i += 1
        if action == "update":
            if doc_id is None:
                raise ActionRequestValidation("Validation Failed: 1: id is missing;")
            update = parse_json(source)
            if not isinstance(update, Mapping):
                raise XContentParseError(
                    f"[{number + 1}:1] Malformed update request on line [{number + 1}], "
                    "expected an object"
                )
            docs.parse_update(update)
            ops.append(BulkOp(action, index, doc_id, concurrency, update=update))
            continue
        create_only = action == "create" or meta.get("op_type") == "create"
        if meta.get("op_type") not in (None, "index", "create"):
            raise IllegalArgument(f"opType must be 'create' or 'index', found: [{meta['op_type']}]")
        pipeline = meta.get("pipeline", default_pipeline)
        if pipeline is not None and not isinstance(pipeline, str):
            raise IllegalArgument(f"Action/metadata line [{number}]: [pipeline] must be a string")
        ops.append(
            BulkOp(
                action,
                index,
                doc_id,
                concurrency,
                source=source,
                create_only=create_only,
                pipeline=pipeline,
            )
        )
    if not ops:
        raise ActionRequestValidation("Validation Failed: 1: no requests added;")
    return ops


def _action_line(line: bytes, number: int) -> tuple[str, Mapping[str, Any]]:
    try:
        value = parse_json(line)
    except XContentParseError as exc:
        raise XContentParseError(
            f"[{number}:1] Malformed action/metadata line [{number}]: {exc.reason}"
        ) from None
    if not isinstance(value, Mapping):
        raise IllegalArgument(
            f"Malformed action/metadata line [{number}], expected START_OBJECT or END_OBJECT "
            f"but found [{token_of(value)}]"
        )
    if not value:
        raise IllegalArgument(
            f"Malformed action/metadata line [{number}], expected FIELD_NAME but found [END_OBJECT]"
        )
    if len(value) > 1:
        raise IllegalArgument(
            f"Malformed action/metadata line [{number}], expected END_OBJECT but found [FIELD_NAME]"
        )
    action, meta = next(iter(value.items()))
    if action not in ACTIONS:
        raise IllegalArgument(
            f"Malformed action/metadata line [{number}], expected field [create], [delete], "
            f"[index] or [update] but found [{action}]"
        )
    if not isinstance(meta, Mapping):
        raise IllegalArgument(
            f"Malformed action/metadata line [{number}], expected START_OBJECT but found "
            f"[{token_of(meta)}]"
        )
    for key in meta:
        if key not in _METADATA:
            raise IllegalArgument(
                f"Action/metadata line [{number}] contains an unknown parameter [{key}]"
            )
    if "version" in meta and meta.get("version_type", "internal") == "internal":
        raise ActionRequestValidation(
            "Validation Failed: 1: internal versioning can not be used for optimistic "
            "concurrency control. Please use `if_seq_no` and `if_primary_term` instead;"
        )
    return action, meta


def _doc_id(value: Any, number: int) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise IllegalArgument(f"Action/metadata line [{number}] has an [_id] that is not a string")
    return str(value)


def _concurrency(meta: Mapping[str, Any], number: int) -> Concurrency:
    for key in ("if_seq_no", "if_primary_term", "version"):
        value = meta.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise IllegalArgument(f"Action/metadata line [{number}]: [{key}] must be a number")
    return docs.parse_concurrency(meta)


# -- running -------------------------------------------------------------------------------


def run_bulk(
    session: WriteSession,
    ops: list[BulkOp],
    authorize: Callable[[str, str], None],
    check: Callable[[BulkOp], None] | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """Run every operation (each in its own savepoint); returns (items, errors). `check`
    may refuse an authorized item (an update under field- or document-level security)."""
    items, errors = [], False
    for op in ops:
        try:
            with session.item():
                authorize(PRIVILEGES[op.action], op.index)
                if check is not None:
                    check(op)
                result = _run(session, op)
            entry = {**result.body(), "status": result.status}
            entry.pop("get", None)
        except EsError as exc:
            errors = True
            entry = {"_index": op.index, "_id": op.id, "status": exc.status, "error": _error(exc)}
        items.append({op.action: entry})
    session.save()
    return items, errors


def _run(session: WriteSession, op: BulkOp) -> docs.WriteResult:
    if op.action == "delete":
        assert op.id is not None
        return session.delete(op.index, op.id, concurrency=op.concurrency)
    if op.action == "update":
        assert op.id is not None
        return session.update(op.index, op.id, op.update, concurrency=op.concurrency)
    try:
        source = parse_json(op.source or b"")
    except XContentParseError as exc:
        raise DocumentParsing(
            "failed to parse", caused_by={"type": exc.type, "reason": exc.reason}
        ) from None
    return session.index(
        op.index,
        op.id,
        source,
        create_only=op.create_only,
        concurrency=op.concurrency,
        pipeline=op.pipeline,
    )


def _error(exc: EsError) -> dict[str, Any]:
    """A bulk item's ``error`` object (Elasticsearch puts no root_cause here)."""
    return {"type": exc.type, "reason": exc.reason, **exc.extra}
