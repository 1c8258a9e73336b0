"""Search application definitions, their parameter dictionaries and template rendering. Pure.

A definition holds ``indices`` (index expressions that must resolve), an optional
``analytics_collection_name``, and a ``template``: a mustache ``script`` (an object source is
kept as its JSON text; without a template Elasticsearch's default ``query_string`` one) and
an optional ``dictionary``, a JSON schema (draft 7) the request's ``params`` must satisfy.
A search renders the template with its ``params`` overridden by the request's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jsonschema

from citadel.node.errors import ActionRequestValidation, IllegalArgument, XContentParseError
from citadel.node.scripts.mustache import compile_template, render_source
from citadel.node.store import mapping as mp
from citadel.node.xcontent import parse_json, token_of

MAX_INDICES = 1_000
MAX_DICTIONARY_BYTES = 65_536
DEFAULT_TEMPLATE: dict[str, Any] = {
    "script": {
        "source": '{"query":{"query_string":{"query":"{{query_string}}"}}}',
        "lang": "mustache",
        "params": {"query_string": "*"},
    }
}


def check_name(name: str) -> None:
    """A search application name: an index name by Elasticsearch's rules."""
    problem = mp.index_name_problem(name)
    if problem:
        raise ActionRequestValidation(
            f"Validation Failed: 1: Invalid search application name [{name}]: {problem};"
        )


def parse_application(body: Any) -> dict[str, Any]:
    """The stored definition of a ``PUT _application/search_application/{name}`` body."""
    if not isinstance(body, Mapping):
        raise XContentParseError("[search_application] expected an object")
    for key, value in body.items():
        if key not in ("indices", "analytics_collection_name", "template", "name"):
            raise XContentParseError(
                f"[search_application] unknown field [{key}] of type {token_of(value)}"
            )
    raw = body.get("indices")
    if not isinstance(raw, list) or not raw:
        raise ActionRequestValidation("Validation Failed: 1: indices are missing;")
    if len(raw) > MAX_INDICES or not all(isinstance(i, str) and i for i in raw):
        raise XContentParseError("[search_application] failed to parse field [indices]")
    out: dict[str, Any] = {"indices": list(dict.fromkeys(raw))}
    collection = body.get("analytics_collection_name")
    if collection is not None:
        if not isinstance(collection, str):
            raise XContentParseError(
                "[search_application] failed to parse field [analytics_collection_name]"
            )
        out["analytics_collection_name"] = collection
    out["template"] = parse_template(body.get("template"))
    return out


def parse_template(raw: Any) -> dict[str, Any]:
    """A template: its script (compiled to check it) and its dictionary (checked as a schema)."""
    if raw is None:
        return json.loads(json.dumps(DEFAULT_TEMPLATE))
    if not isinstance(raw, Mapping):
        raise XContentParseError("[search_application] failed to parse field [template]")
    for key, value in raw.items():
        if key not in ("script", "dictionary"):
            raise XContentParseError(f"[template] unknown field [{key}] of type {token_of(value)}")
    script = raw.get("script")
    if not isinstance(script, Mapping):
        raise XContentParseError("[template] failed to parse field [script]")
    out: dict[str, Any] = {"script": _script(script)}
    dictionary = raw.get("dictionary")
    if dictionary is not None:
        if not isinstance(dictionary, Mapping):
            raise XContentParseError("[template] failed to parse field [dictionary]")
        if len(json.dumps(dictionary)) > MAX_DICTIONARY_BYTES:
            raise IllegalArgument(f"a dictionary holds at most {MAX_DICTIONARY_BYTES} bytes here")
        try:
            jsonschema.Draft7Validator.check_schema(dictionary)
        except jsonschema.SchemaError as exc:
            raise IllegalArgument(f"invalid template dictionary: {exc.message}") from None
        out["dictionary"] = dict(dictionary)
    return out


def _script(script: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in script.items():
        if key not in ("source", "lang", "params", "options"):
            raise XContentParseError(f"[script] unknown field [{key}] of type {token_of(value)}")
    lang = script.get("lang", "mustache")
    if lang != "mustache":
        raise IllegalArgument(f"search application templates are mustache scripts, not [{lang}]")
    source = script.get("source")
    if isinstance(source, Mapping):
        source = json.dumps(source, separators=(",", ":"), ensure_ascii=False)
    if not isinstance(source, str) or not source:
        raise XContentParseError("[script] must specify a source")
    compile_template(source)
    params = script.get("params") or {}
    if not isinstance(params, Mapping):
        raise XContentParseError("[script] failed to parse field [params]")
    options = script.get("options") or {}
    if not isinstance(options, Mapping) or any(k != "content_type" for k in options):
        raise IllegalArgument("[script] options other than [content_type] are not supported")
    out: dict[str, Any] = {"source": source, "lang": "mustache", "params": dict(params)}
    if options:
        out["options"] = dict(options)
    return out


def parse_search_params(body: Any) -> dict[str, Any]:
    """The ``params`` of a ``_search`` or ``_render_query`` body (none when empty)."""
    if body is None:
        return {}
    if not isinstance(body, Mapping):
        raise XContentParseError("[search_application_search] expected an object")
    for key, value in body.items():
        if key != "params":
            raise XContentParseError(
                f"[search_application_search] unknown field [{key}] of type {token_of(value)}"
            )
    params = body.get("params") or {}
    if not isinstance(params, Mapping):
        raise XContentParseError("[search_application_search] failed to parse field [params]")
    return dict(params)


def render(definition: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """The search body the application's template renders for the request's `params`."""
    template = definition["template"]
    dictionary = template.get("dictionary")
    if dictionary is not None:
        errors = sorted(
            jsonschema.Draft7Validator(dictionary).iter_errors(dict(params)), key=lambda e: e.path
        )
        if errors:
            reasons = "".join(f"{i}: {_where(e)}{e.message};" for i, e in enumerate(errors[:10], 1))
            raise ActionRequestValidation(f"Validation Failed: {reasons}")
    script = template["script"]
    merged = {**script.get("params", {}), **params}
    rendered = parse_json(render_source(script["source"], merged))
    if not isinstance(rendered, Mapping):
        raise XContentParseError("the rendered search application template must be an object")
    return dict(rendered)


def _where(error: jsonschema.ValidationError) -> str:
    path = "".join(f".{p}" for p in error.absolute_path)
    return f"${path}: "
