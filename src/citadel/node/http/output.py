"""The common query parameters, and a response rendered the way they ask. Pure.

Elasticsearch reads ``pretty``, ``human``, ``error_trace``, ``filter_path`` and ``format`` on
every endpoint. `take_response_options` removes them from the query before any handler sees
it (so a handler's unknown-parameter check never trips on them) and `render` applies them:

- ``pretty``: Jackson's layout (two-space indent, ``"key" : value``, ``{ }`` and ``[ ]`` for
  empty containers, a final newline). ``_cat`` text is left as it is.
- ``human``: accepted; the node always writes raw byte counts and durations.
- ``error_trace``: error bodies gain a ``stack_trace`` (the error's type and the node's own
  frames as ``at function(file:line)``, no paths, values or messages of internal errors).
- ``filter_path``: see `filter_path`; never applied to error bodies (Elasticsearch neither).
- ``format``: ``json`` is the only format the node writes; anything else is a 400 rather than
  JSON in disguise. ``_cat`` endpoints keep ``format`` (they also write text).
"""

from __future__ import annotations

import json
import os
import traceback
from dataclasses import dataclass, field
from typing import Any

from citadel.node.errors import EsError, IllegalArgument
from citadel.node.http.filter_path import FilterPaths, parse_filter_path
from citadel.node.http.messages import JSON, NodeResponse

COMMON_PARAMS = ("pretty", "human", "error_trace", "filter_path", "format")
MAX_TRACE_FRAMES = 12


@dataclass(frozen=True)
class ResponseOptions:
    """How the client asked for the response to be written."""

    pretty: bool = False
    human: bool = False
    error_trace: bool = False
    filter_path: FilterPaths | None = None


PLAIN = ResponseOptions()


@dataclass
class ErrorResponse(NodeResponse):
    """An error body: rendered with ``pretty`` but never filtered by ``filter_path``."""

    error: EsError | None = field(default=None, repr=False)


def take_response_options(
    query: dict[str, str], path: str
) -> tuple[ResponseOptions, dict[str, str]]:
    """The common parameters parsed, and the query without them (``_cat`` keeps ``format``)."""
    rest = {k: v for k, v in query.items() if k not in COMMON_PARAMS}
    pretty = _boolean(query, "pretty")
    options = ResponseOptions(
        pretty=pretty,
        human=_boolean(query, "human"),
        error_trace=_boolean(query, "error_trace"),
        filter_path=parse_filter_path(query.get("filter_path")),
    )
    fmt = query.get("format")
    if fmt is not None:
        if _is_cat(path):
            if fmt.lower() in ("yaml", "cbor", "smile"):
                raise IllegalArgument(f"unsupported format [{fmt}]: this node writes text or json")
            rest["format"] = fmt
        elif fmt.lower() != "json":
            raise IllegalArgument(f"unsupported format [{fmt}]: this node writes json only")
    return options, rest


def parse_response_options(query: dict[str, str]) -> ResponseOptions:
    """``pretty`` and ``error_trace`` read leniently, to render an error about the query itself."""
    return ResponseOptions(
        pretty=query.get("pretty") in ("", "true"),
        error_trace=query.get("error_trace") in ("", "true"),
    )


def render(response: NodeResponse, options: ResponseOptions) -> bytes:
    """The response body as bytes: filtered and indented as `options` ask."""
    body = response.body
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode()
    if not response.content_type.startswith(JSON):
        return response.encode()
    if options.filter_path is not None and not isinstance(response, ErrorResponse):
        body = options.filter_path.apply(body)
    if options.pretty:
        return (pretty_json(body) + "\n").encode()
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def pretty_json(value: Any, indent: str = "") -> str:
    """JSON laid out as Jackson's default pretty printer does in Elasticsearch."""
    inner = indent + "  "
    if isinstance(value, dict):
        if not value:
            return "{ }"
        fields = (
            f"{inner}{json.dumps(str(k), ensure_ascii=False)} : {pretty_json(v, inner)}"
            for k, v in value.items()
        )
        return "{\n" + ",\n".join(fields) + f"\n{indent}}}"
    if isinstance(value, list | tuple):
        if not value:
            return "[ ]"
        items = (f"{inner}{pretty_json(v, inner)}" for v in value)
        return "[\n" + ",\n".join(items) + f"\n{indent}]"
    return json.dumps(value, ensure_ascii=False)


def error_response(
    exc: EsError,
    options: ResponseOptions = PLAIN,
    *,
    cause: BaseException | None = None,
) -> ErrorResponse:
    """`exc` in Elasticsearch's error shape; with ``error_trace``, its stack trace added.

    `cause` is the exception behind an internal error: its frames are shown, its message not.
    """
    body = exc.body()
    error = body.get("error")
    if options.error_trace and isinstance(error, dict):
        trace = stack_trace(exc, cause)
        error["stack_trace"] = trace
        for root in error.get("root_cause", []):
            root["stack_trace"] = trace
    headers = {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="security" charset="UTF-8", ApiKey'
    return ErrorResponse(status=exc.status, body=body, headers=headers, error=exc)


def stack_trace(exc: EsError, cause: BaseException | None = None) -> str:
    """A short trace in Java's layout: the error, then the innermost frames first."""
    source = cause if cause is not None else exc
    head = f"{exc.type}: {exc.reason}" if cause is None else f"{type(cause).__name__}"
    frames = traceback.extract_tb(source.__traceback__)[::-1][:MAX_TRACE_FRAMES]
    lines = [head, *(f"\tat {f.name}({os.path.basename(f.filename)}:{f.lineno})" for f in frames)]
    return "\n".join(lines)


def _boolean(query: dict[str, str], name: str) -> bool:
    """Elasticsearch's ``paramAsBoolean``: absent is false, empty is true, else true/false."""
    value = query.get(name)
    if value is None or value == "false":
        return False
    if value in ("", "true"):
        return True
    raise IllegalArgument(f"Failed to parse value [{value}] as only [true] or [false] are allowed.")


def _is_cat(path: str) -> bool:
    return path == "/_cat" or path.startswith("/_cat/")
