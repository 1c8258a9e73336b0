"""Search templates: a ``_search/template`` body read, rendered and turned into a search body.
Pure: the stored template comes from a look-up function.

As in Elasticsearch, the body takes ``source`` (a string, or an object written as its JSON
text), or ``id`` (a stored mustache script), ``params``, ``explain`` and ``profile``; the
rendered text must be a JSON object, and the template request's ``explain`` replaces the
rendered body's (Elasticsearch sets it on the rendered search either way). ``profile: true``
is a 400: this node keeps no search profile.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from citadel.node.errors import ActionRequestValidation, IllegalArgument, XContentParseError
from citadel.node.scripts.mustache import render_source
from citadel.node.xcontent import parse_json, token_of

StoredTemplate = Callable[[str], str]  # a stored script's id -> its mustache source


@dataclass(frozen=True)
class TemplateRequest:
    """One search template request: an inline source or a stored id, and its parameters."""

    source: str | None = None
    id: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    explain: bool = False
    profile: bool = False


def parse_template_request(body: Any, *, stored_id: str | None = None) -> TemplateRequest:
    """The template request of a body; `stored_id` (a path's ``{id}``) wins over the body."""
    if body is None:
        body = {}
    if not isinstance(body, Mapping):
        raise XContentParseError("[search_template] expected an object")
    source: str | None = None
    template_id: str | None = None
    params: dict[str, Any] = {}
    flags = {"explain": False, "profile": False}
    for key, value in body.items():
        if key == "source":
            if isinstance(value, Mapping):
                source = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
            elif isinstance(value, str):
                source = value
            else:
                raise XContentParseError("[search_template] failed to parse field [source]")
            template_id = None
        elif key == "id":
            if not isinstance(value, str):
                raise XContentParseError("[search_template] failed to parse field [id]")
            template_id, source = value, None
        elif key == "params":
            if value is not None and not isinstance(value, Mapping):
                raise XContentParseError("[search_template] failed to parse field [params]")
            params = dict(value or {})
        elif key in flags:
            if not isinstance(value, bool):
                raise XContentParseError(f"[search_template] failed to parse field [{key}]")
            flags[key] = value
        else:
            raise XContentParseError(
                f"[search_template] unknown field [{key}] of type {token_of(value)}"
            )
    if stored_id is not None:
        template_id, source = stored_id, None
    if not source and not template_id:
        raise ActionRequestValidation("Validation Failed: 1: template is missing;")
    return TemplateRequest(source, template_id, params, flags["explain"], flags["profile"])


def render_template(request: TemplateRequest, stored: StoredTemplate) -> Any:
    """The rendered template, parsed as JSON (``_render/template``'s ``template_output``)."""
    source = request.source if request.source is not None else stored(str(request.id))
    text = render_source(source, request.params)
    return parse_json(text)


def search_body(request: TemplateRequest, stored: StoredTemplate) -> dict[str, Any]:
    """The search body a template request runs."""
    if request.profile:
        raise IllegalArgument("[profile] is not supported by this node: it keeps no search profile")
    rendered = render_template(request, stored)
    if not isinstance(rendered, Mapping):
        raise XContentParseError("the rendered search template must be a JSON object")
    body = {k: v for k, v in rendered.items() if k not in ("explain", "profile")}
    if request.explain:
        body["explain"] = True
    return body
