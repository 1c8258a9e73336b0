"""Behavioral analytics collections and events, read as Elasticsearch reads them. Pure.

An event is ``page_view``, ``search`` or ``search_click``; each needs ``session.id`` and
``user.id``, a page view ``page.url``, a search ``search.query``, a search click
``search.query`` and a ``page`` or a ``document``. It is stored with ``@timestamp`` and
``event.action`` added.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from citadel.node.errors import ActionRequestValidation, IllegalArgument, XContentParseError
from citadel.node.store import mapping as mp
from citadel.node.xcontent import token_of

EVENT_TYPES = ("page_view", "search", "search_click")
_FIELDS = {
    "page_view": ("session", "user", "page", "document"),
    "search": ("session", "user", "search"),
    "search_click": ("session", "user", "search", "page", "document"),
}
MAX_EVENT_BYTES = 65_536


def check_collection_name(name: str) -> None:
    """A collection name: part of an index name by Elasticsearch's rules."""
    problem = mp.index_name_problem(name)
    if problem:
        raise ActionRequestValidation(
            f"Validation Failed: 1: Invalid analytics collection name [{name}]: {problem};"
        )


def event_data_stream(name: str) -> str:
    """The data stream Elasticsearch writes a collection's events to."""
    return f"behavioral_analytics-events-{name}"


def parse_event(event_type: str, body: Any, *, now_millis: int) -> dict[str, Any]:
    """The stored form of one posted event."""
    if event_type not in EVENT_TYPES:
        raise IllegalArgument(f"{event_type} is not a valid event type")
    if not isinstance(body, Mapping):
        raise XContentParseError(f"[{event_type}] expected an object")
    for key, value in body.items():
        if key not in _FIELDS[event_type]:
            raise XContentParseError(
                f"[{event_type}] unknown field [{key}] of type {token_of(value)}"
            )
        if not isinstance(value, Mapping):
            raise XContentParseError(f"[{event_type}] failed to parse field [{key}]")
    _require(body, event_type, "session", "id")
    _require(body, event_type, "user", "id")
    if event_type == "page_view":
        _require(body, event_type, "page", "url")
    else:
        _require(body, event_type, "search", "query")
    if event_type == "search_click" and "page" not in body and "document" not in body:
        raise ActionRequestValidation(
            "Validation Failed: 1: search_click events need a [page] or a [document];"
        )
    return {"@timestamp": now_millis, "event": {"action": event_type}, **body}


def _require(body: Mapping[str, Any], event_type: str, field: str, key: str) -> None:
    value = body.get(field, {}).get(key)
    if not isinstance(value, str) or not value:
        raise XContentParseError(f"[{event_type}] required field [{field}.{key}] is missing")
