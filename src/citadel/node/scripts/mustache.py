"""Mustache as Elasticsearch renders search templates (its mustache.java setup). Pure.

chevron tokenizes (the mustache spec's tags, standalone lines, comments, set delimiters);
rendering follows Elasticsearch's ``CustomMustacheFactory`` with the ``application/json``
content type:

- ``{{name}}`` writes the value JSON-string-escaped (quotes, backslashes, control characters;
  nothing else), ``{{{name}}}`` and ``{{&name}}`` write it as is. Values print as Java prints
  them: ``true``/``false``, integers as digits, doubles as ``Double.toString`` (``1.0E20``),
  lists ``[a, b]``, objects ``{k=v}``; null and missing names print nothing.
- A dotted name is tried whole in each scope, innermost first; a list answers an index
  (``{{list.0}}``) and ``size``.
- Sections skip null, missing, ``false``, an empty list and an empty string; iterate a list
  (each element its scope); render once for anything else (an object becomes the scope).
  Inverted sections render exactly when a section would not.
- Elasticsearch's functions: ``{{#toJson}}name{{/toJson}}`` (a list or object as JSON, other
  values printed raw), ``{{#join}}name{{/join}}`` and ``{{#join delimiter='|'}}...`` (a list's
  values printed and joined with ``,`` or the delimiter; anything else leaves the name as
  written), ``{{#url}}...{{/url}}`` (the rendered body URL-form-encoded as Java's
  ``URLEncoder``). Partials are a ``script_exception``.

A rendering is bounded: at most `MAX_OUTPUT_CHARS` of output and `MAX_STEPS` tags visited
(nested sections over long lists multiply), else a ``script_exception``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from chevron.tokenizer import ChevronError, tokenize

from citadel.node.scripts.errors import ScriptException

MAX_OUTPUT_CHARS = 16 * 1024 * 1024
MAX_STEPS = 1_000_000
_JOIN = re.compile(r"^join delimiter='(.*)'$", re.DOTALL)
_MISSING = object()
_URL_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-*_")


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Variable:
    name: str
    escaped: bool


@dataclass(frozen=True)
class Section:
    name: str
    inverted: bool
    body: tuple[Node, ...] = field(default=())


Node = Text | Variable | Section


@dataclass(frozen=True)
class Template:
    """A compiled template: its source (for errors) and its tree."""

    source: str
    nodes: tuple[Node, ...]


def compile_template(source: str) -> Template:
    """Parse `source`; a ``script_exception`` for a template mustache cannot read."""
    stack: list[tuple[str, bool, list[Node]]] = [("", False, [])]
    try:
        for kind, key in tokenize(source):
            if kind == "literal":
                stack[-1][2].append(Text(key))
            elif kind in ("variable", "no escape"):
                stack[-1][2].append(Variable(key, escaped=kind == "variable"))
            elif kind in ("section", "inverted section"):
                stack.append((key, kind == "inverted section", []))
            elif kind == "end":
                name, inverted, body = stack.pop()
                section = Section(name, inverted, tuple(body))
                _check_function(section, source)
                stack[-1][2].append(section)
            elif kind == "partial":
                raise _error(f"partials are not supported: [{{{{>{key}}}}}]", source)
    except ChevronError as exc:
        raise _error(" ".join(str(exc).split()), source) from None
    return Template(source, tuple(stack[0][2]))


def render(template: Template, params: Mapping[str, Any]) -> str:
    """The template rendered with `params` as its outermost scope."""
    out = _Output(template.source)
    _render_nodes(template.nodes, [params], out)
    return "".join(out.parts)


def render_source(source: str, params: Mapping[str, Any]) -> str:
    """Compile and render in one step."""
    return render(compile_template(source), params)


# -- rendering ----------------------------------------------------------------------------


class _Output:
    def __init__(self, source: str) -> None:
        self.source = source
        self.parts: list[str] = []
        self.size = 0
        self.steps = 0

    def write(self, text: str) -> None:
        self.size += len(text)
        if self.size > MAX_OUTPUT_CHARS:
            raise _error(
                f"the rendered template exceeds {MAX_OUTPUT_CHARS} characters", self.source
            )
        self.parts.append(text)

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise _error(f"rendering the template takes more than {MAX_STEPS} steps", self.source)


def _render_nodes(nodes: Sequence[Node], scopes: list[Any], out: _Output) -> None:
    for node in nodes:
        out.step()
        if isinstance(node, Text):
            out.write(node.text)
        elif isinstance(node, Variable):
            value = _lookup(node.name, scopes)
            if value is _MISSING or value is None:
                continue
            text = stringify(value)
            out.write(json_escape(text) if node.escaped else text)
        elif node.inverted:
            if not _truthy(_lookup(node.name, scopes)):
                _render_nodes(node.body, scopes, out)
        else:
            _render_section(node, scopes, out)


def _render_section(section: Section, scopes: list[Any], out: _Output) -> None:
    name = section.name
    if name.lower() == "tojson":
        value = _lookup(_identifier(section), scopes)
        if value is not _MISSING and value is not None:
            out.write(to_json(value))
        return
    delimiter = _join_delimiter(name)
    if delimiter is not None:
        identifier = _identifier(section)
        value = _lookup(identifier, scopes)
        if isinstance(value, list):
            out.write(delimiter.join(stringify(v) for v in value))
        else:
            out.write(identifier)
        return
    if name.lower() == "url":
        inner = _Output(out.source)
        inner.steps = out.steps
        _render_nodes(section.body, scopes, inner)
        out.steps = inner.steps
        out.write(url_encode("".join(inner.parts)))
        return
    value = _lookup(name, scopes)
    if not _truthy(value):
        return
    if isinstance(value, list):
        for item in value:
            out.step()
            _render_nodes(section.body, [*scopes, item], out)
    elif value is True:
        _render_nodes(section.body, scopes, out)
    else:
        _render_nodes(section.body, [*scopes, value], out)


def _truthy(value: Any) -> bool:
    if value is _MISSING or value is None or value is False:
        return False
    return not (isinstance(value, list | str) and len(value) == 0)


def _lookup(name: str, scopes: list[Any]) -> Any:
    """The value of a (dotted) name: tried whole in each scope, innermost first."""
    if name == ".":
        return scopes[-1]
    parts = name.split(".")
    for scope in reversed(scopes):
        value = scope
        for part in parts:
            value = _child(value, part)
            if value is _MISSING:
                break
        if value is not _MISSING:
            return value
    return _MISSING


def _child(value: Any, key: str) -> Any:
    if isinstance(value, Mapping):
        found = value.get(key, _MISSING)
        return _MISSING if found is None else found
    if isinstance(value, list):
        if key == "size":
            return len(value)
        if key.lstrip("-").isdigit():
            index = int(key)
            if 0 <= index < len(value):
                return _MISSING if value[index] is None else value[index]
            raise ScriptException(f"Index {index} out of bounds for length {len(value)}")
    return _MISSING


def _identifier(section: Section) -> str:
    (node,) = section.body
    assert isinstance(node, Text)
    return node.text


def _join_delimiter(name: str) -> str | None:
    if name.lower() == "join":
        return ","
    match = _JOIN.match(name)
    return match.group(1) if match else None


def _check_function(section: Section, source: str) -> None:
    """Elasticsearch's functions take exactly one plain name as their body."""
    name = section.name
    if section.inverted or not (name.lower() == "tojson" or _join_delimiter(name) is not None):
        return
    if len(section.body) != 1 or not isinstance(section.body[0], Text):
        raise _error(f"Mustache function [{name}] must contain one and only one identifier", source)


# -- printing -----------------------------------------------------------------------------


def stringify(value: Any) -> str:
    """A value as Java's ``String.valueOf`` prints the parsed JSON value."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return java_double(value)
    if isinstance(value, list):
        return "[" + ", ".join(stringify(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}={stringify(v)}" for k, v in value.items()) + "}"
    return str(value)


def java_double(value: float) -> str:
    """``Double.toString``: plain between 10^-3 and 10^7, else ``d.dddE±n`` (shortest digits)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    magnitude = abs(value)
    if 1e-3 <= magnitude < 1e7:
        text = repr(value)
        return text if "." in text or "e" in text else text + ".0"
    digits, exponent = _shortest_digits(magnitude)
    sign = "-" if value < 0 else ""
    mantissa = digits[0] + "." + (digits[1:] or "0")
    return f"{sign}{mantissa}E{exponent}"


def _shortest_digits(magnitude: float) -> tuple[str, int]:
    """The shortest round-tripping digits of a positive double and its leading exponent."""
    number = Decimal(repr(magnitude))
    digits = "".join(map(str, number.as_tuple().digits)).rstrip("0") or "0"
    return digits.lstrip("0") or "0", number.adjusted()


def json_escape(text: str) -> str:
    """Jackson's ``quoteAsString``: the inside of a JSON string, nothing more escaped."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


def to_json(value: Any) -> str:
    """``toJson``: lists and objects as compact JSON, other values printed raw."""
    if isinstance(value, list | Mapping):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return stringify(value)


def url_encode(text: str) -> str:
    """Java's ``URLEncoder.encode(text, UTF_8)``: form encoding, space as ``+``."""
    out = []
    for ch in text:
        if ch in _URL_SAFE:
            out.append(ch)
        elif ch == " ":
            out.append("+")
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
    return "".join(out)


def _error(reason: str, source: str) -> ScriptException:
    return ScriptException(reason, script_stack=[], script=source[:1000], lang="mustache")
