"""Logstash pipeline documents read as Elasticsearch's Logstash plugin reads them. Pure.

The id must start with a letter or an underscore and hold only letters, digits, underscores
and hyphens. The document is kept as sent (Elasticsearch stores it verbatim in ``.logstash``):
an object of at most `MAX_DOCUMENT_BYTES`, whose known fields must have their types.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from citadel.node.errors import IllegalArgument, XContentParseError

MAX_DOCUMENT_BYTES = 1_048_576
_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_FIELDS: dict[str, type | tuple[type, ...]] = {
    "description": str,
    "last_modified": str,
    "pipeline_metadata": Mapping,
    "username": str,
    "pipeline": str,
    "pipeline_settings": Mapping,
}


def check_id(pipeline_id: str) -> None:
    """A pipeline id Logstash accepts."""
    if not _ID.match(pipeline_id):
        raise IllegalArgument(
            f"Invalid pipeline [{pipeline_id}] ID received. Pipeline ID must begin with a letter "
            "or underscore and can contain only letters, underscores, dashes, hyphens, and numbers"
        )


def parse_document(body: Any) -> str:
    """The pipeline document as JSON text to store."""
    if not isinstance(body, Mapping):
        raise XContentParseError("[logstash_pipeline] expected an object")
    for key, kind in _FIELDS.items():
        value = body.get(key)
        if value is not None and not isinstance(value, kind):
            raise XContentParseError(f"[logstash_pipeline] failed to parse field [{key}]")
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode()) > MAX_DOCUMENT_BYTES:
        raise IllegalArgument(
            f"a Logstash pipeline document holds at most {MAX_DOCUMENT_BYTES} bytes here"
        )
    return text


def id_matcher(expression: str | None) -> re.Pattern[str]:
    """Ids named by a comma-separated list with ``*`` wildcards (all when None)."""
    if expression is None or expression in ("", "*", "_all"):
        return re.compile(".*", re.DOTALL)
    parts = [".*".join(re.escape(p) for p in name.split("*")) for name in expression.split(",")]
    return re.compile("(?:" + "|".join(parts) + ")", re.DOTALL)
