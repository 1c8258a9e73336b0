"""Index templates: composable (``_index_template``), component (``_component_template``) and
legacy (``_template``); which one a new index takes, and what it composes to.

A new index takes the composable template of highest ``priority`` whose ``index_patterns``
match its name (two templates of the same priority may not overlap, as in Elasticsearch);
its settings, mappings and aliases are those of each ``composed_of`` component in order, then
of the template itself, then of the create request, later ones overriding earlier ones
(mappings merge field by field). When no composable template matches, the legacy templates
that match apply in ``order``. A hidden index (``index.hidden``) takes no ``*`` template.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from citadel.node.errors import (
    ActionRequestValidation,
    EsError,
    IllegalArgument,
    ParsingError,
    ResourceNotFound,
)
from citadel.node.store import catalog as meta
from citadel.node.store import mapping as mp
from citadel.node.store.indices import Connection, nest_settings, normalize_settings, wildcard

MAX_TEMPLATES = 1_000
_INDEX_TEMPLATE_KEYS = frozenset(
    {
        "index_patterns",
        "template",
        "composed_of",
        "priority",
        "version",
        "_meta",
        "data_stream",
        "allow_auto_create",
        "ignore_missing_component_templates",
        "deprecated",
    }
)
_COMPONENT_KEYS = frozenset({"template", "version", "_meta", "deprecated"})
_TEMPLATE_KEYS = frozenset({"settings", "mappings", "aliases", "lifecycle", "data_stream_options"})
_LEGACY_KEYS = frozenset({"index_patterns", "order", "version", "settings", "mappings", "aliases"})
_DATA_STREAM_KEYS = frozenset({"hidden", "allow_custom_routing"})


class InvalidIndexTemplate(EsError):
    type = "invalid_index_template_exception"
    status = 400


@dataclass
class Composed:
    """What a new index gets from its templates (settings flat, mappings stored form)."""

    settings: dict[str, Any] = field(default_factory=dict)
    mappings: dict[str, Any] = field(default_factory=dict)
    aliases: dict[str, Any] = field(default_factory=dict)
    template: str | None = None
    data_stream: dict[str, Any] | None = None


# -- validating (pure) -----------------------------------------------------------------------


def _patterns(value: Any) -> list[str]:
    if value is None:
        raise ActionRequestValidation("Validation Failed: 1: index patterns are missing;")
    patterns = value if isinstance(value, list) else [value]
    if not patterns or not all(isinstance(p, str) and p for p in patterns):
        raise ActionRequestValidation("Validation Failed: 1: index patterns are missing;")
    for pattern in patterns:
        problem = _pattern_problem(pattern)
        if problem:
            raise InvalidIndexTemplate(f"index_template [] invalid, cause [{problem}]")
    return list(patterns)


def _pattern_problem(pattern: str) -> str | None:
    if " " in pattern or "," in pattern or pattern.startswith("_"):
        return f"index_pattern [{pattern}] must not contain a space, comma or start with '_'"
    return None


def _template_part(value: Any, where: str) -> dict[str, Any]:
    """``template`` (settings, mappings, aliases) in stored form."""
    from citadel.node.store.aliases import definition, validate_name

    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ParsingError(f"[{where}] must be an object")
    out: dict[str, Any] = {}
    for key, part in value.items():
        if key not in _TEMPLATE_KEYS:
            raise ParsingError(f"[template] unknown field [{key}]")
        if key == "lifecycle":
            raise IllegalArgument(
                "data stream [lifecycle] in templates is not supported by this node"
            )
        if key == "data_stream_options":
            raise IllegalArgument(
                "[data_stream_options] (the failure store) in templates is not supported by this "
                "node"
            )
        if key == "settings" and part is not None:
            out["settings"] = normalize_settings(part)
        elif key == "mappings" and part is not None:
            out["mappings"] = mp.canonical(mp.normalize_mappings(part))
        elif key == "aliases" and part is not None:
            if not isinstance(part, Mapping):
                raise ParsingError("[aliases] must be an object")
            out["aliases"] = {validate_name(a): definition(a, d) for a, d in part.items()}
    return out


def index_template(body: Any) -> dict[str, Any]:
    """A composable index template in stored form; 400 naming what is wrong."""
    if not isinstance(body, Mapping):
        raise ParsingError("request body is required")
    for key in body:
        if key not in _INDEX_TEMPLATE_KEYS:
            raise XContentUnknown("index_template", key)
    out: dict[str, Any] = {"index_patterns": _patterns(body.get("index_patterns"))}
    if body.get("template") is not None:
        out["template"] = _template_part(body["template"], "template")
    composed = body.get("composed_of") or []
    if not isinstance(composed, list) or not all(isinstance(c, str) for c in composed):
        raise ParsingError("[composed_of] must be a list of component template names")
    out["composed_of"] = list(composed)
    for key in ("priority", "version"):
        if body.get(key) is not None:
            value = body[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise IllegalArgument(f"[{key}] must be a non-negative integer")
            out[key] = value
    if body.get("_meta") is not None:
        out["_meta"] = copy.deepcopy(body["_meta"])
    if body.get("data_stream") is not None:
        stream = body["data_stream"]
        if not isinstance(stream, Mapping) or set(stream) - _DATA_STREAM_KEYS:
            raise ParsingError("[data_stream] takes only [hidden] and [allow_custom_routing]")
        if stream.get("allow_custom_routing"):
            raise IllegalArgument("[allow_custom_routing] is not supported by this node")
        out["data_stream"] = {
            "hidden": bool(stream.get("hidden", False)),
            "allow_custom_routing": False,
        }
    for key in ("allow_auto_create", "deprecated"):
        if body.get(key) is not None:
            out[key] = bool(body[key])
    if body.get("ignore_missing_component_templates") is not None:
        out["ignore_missing_component_templates"] = list(body["ignore_missing_component_templates"])
    return out


def component_template(body: Any) -> dict[str, Any]:
    """A component template in stored form."""
    if not isinstance(body, Mapping):
        raise ParsingError("request body is required")
    for key in body:
        if key not in _COMPONENT_KEYS:
            raise XContentUnknown("component_template", key)
    if body.get("template") is None:
        raise ParsingError("[component_template] failed to parse field [template]: required")
    out: dict[str, Any] = {"template": _template_part(body["template"], "template")}
    if body.get("version") is not None:
        out["version"] = body["version"]
    if body.get("_meta") is not None:
        out["_meta"] = copy.deepcopy(body["_meta"])
    if body.get("deprecated") is not None:
        out["deprecated"] = bool(body["deprecated"])
    return out


def legacy_template(body: Any) -> dict[str, Any]:
    """A legacy (``_template``) template in stored form."""
    if not isinstance(body, Mapping):
        raise ParsingError("request body is required")
    for key in body:
        if key not in _LEGACY_KEYS:
            raise IllegalArgument(f"unknown key [{key}] in the template ")
    out: dict[str, Any] = {"order": 0, "index_patterns": _patterns(body.get("index_patterns"))}
    if body.get("order") is not None:
        out["order"] = int(body["order"])
    if body.get("version") is not None:
        out["version"] = int(body["version"])
    out.update(
        _template_part(
            {k: body[k] for k in ("settings", "mappings", "aliases") if body.get(k) is not None},
            "template",
        )
    )
    return out


class XContentUnknown(ParsingError):
    def __init__(self, where: str, key: str) -> None:
        super().__init__(f"[{where}] unknown field [{key}]")


# -- matching and composing (pure) -----------------------------------------------------------


def matches(patterns: Iterable[str], name: str, *, hidden: bool = False) -> bool:
    """Whether a template's patterns match index `name` (hidden indices skip ``*``)."""
    return any(wildcard(p).fullmatch(name) and not (hidden and p == "*") for p in patterns)


def overlap(a: Iterable[str], b: Iterable[str]) -> bool:
    """Whether two pattern lists can match a common name (an approximation of
    Elasticsearch's automaton check: literal matches either way, or shared literal prefixes)."""
    for x in a:
        for y in b:
            if wildcard(x).fullmatch(y) or wildcard(y).fullmatch(x):
                return True
            if "*" in x and "*" in y:
                px, py = x.split("*", 1)[0], y.split("*", 1)[0]
                if px.startswith(py) or py.startswith(px):
                    return True
    return False


def overlay_mappings(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """`top` over `base`: objects merge field by field, any other field is replaced."""
    out = copy.deepcopy(dict(base))
    for key, value in top.items():
        if key == "properties" and isinstance(out.get(key), Mapping):
            out[key] = _overlay_properties(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _overlay_properties(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for name, definition in top.items():
        old = out.get(name)
        if (
            isinstance(old, Mapping)
            and mp.field_type(old) == "object"
            and mp.field_type(definition) == "object"
        ):
            out[name] = overlay_mappings(old, definition)
        else:
            out[name] = copy.deepcopy(definition)
    return out


def compose(parts: Iterable[Mapping[str, Any]]) -> Composed:
    """Settings, mappings and aliases of `parts` (``template`` objects), later ones winning."""
    out = Composed()
    for part in parts:
        out.settings.update(part.get("settings", {}))
        if part.get("mappings"):
            out.mappings = overlay_mappings(out.mappings, part["mappings"])
        out.aliases.update(copy.deepcopy(part.get("aliases", {})))
    return out


def view_part(part: Composed, *, flat: bool = False) -> dict[str, Any]:
    """A composed template as ``_simulate`` shows it."""
    return {
        "settings": part.settings if flat else nest_settings(part.settings),
        "mappings": mp.canonical(part.mappings),
        "aliases": part.aliases,
    }


# -- the store -------------------------------------------------------------------------------


def put_index_template(conn: Connection, name: str, body: Any, *, create: bool = False) -> None:
    """Store composable template `name`; 400 when it overlaps one of the same priority."""
    _check_name(name)
    template = index_template(body)
    existing = meta.every(conn, meta.INDEX_TEMPLATE)
    if create and name in existing:
        raise IllegalArgument(f"index template [{name}] already exists")
    if name not in existing and len(existing) >= MAX_TEMPLATES:
        raise IllegalArgument(f"this node holds at most {MAX_TEMPLATES} index templates")
    components = meta.every(conn, meta.COMPONENT_TEMPLATE)
    ignored = set(template.get("ignore_missing_component_templates", []))
    absent = [c for c in template["composed_of"] if c not in components and c not in ignored]
    if absent:
        raise InvalidIndexTemplate(
            f"index template [{name}] specifies component templates {_java_list(absent)} that "
            "do not exist"
        )
    priority = template.get("priority", 0)
    for other, spec in existing.items():
        if other == name or spec.get("priority", 0) != priority:
            continue
        if overlap(template["index_patterns"], spec["index_patterns"]):
            raise IllegalArgument(
                f"index template [{name}] has index patterns "
                f"{_java_list(template['index_patterns'])} matching patterns from existing "
                f"templates [{other}] with patterns ({other} => "
                f"{_java_list(spec['index_patterns'])}) that have the same priority "
                f"[{priority}], multiple index templates may not match during index creation, "
                "please use a different priority"
            )
    composed = resolve(conn, template)
    _check_composed(name, composed)
    meta.put(conn, meta.INDEX_TEMPLATE, name, template)


def _check_composed(name: str, composed: Composed) -> None:
    """The composed mappings must be valid as a whole (a component may clash with another)."""
    try:
        mp.normalize_mappings(composed.mappings)
    except EsError as exc:
        raise InvalidIndexTemplate(
            f"composable template [{name}] template after composition is invalid: {exc.reason}"
        ) from None


def resolve(
    conn: Connection, template: Mapping[str, Any], request: Mapping[str, Any] | None = None
) -> Composed:
    """What `template` (stored form) composes to, with its components, then `request`."""
    components = meta.every(conn, meta.COMPONENT_TEMPLATE)
    parts = [components[c]["template"] for c in template.get("composed_of", []) if c in components]
    parts.append(template.get("template", {}))
    if request:
        parts.append(request)
    composed = compose(parts)
    composed.data_stream = template.get("data_stream")
    return composed


def put_component_template(conn: Connection, name: str, body: Any, *, create: bool = False) -> None:
    """Store component template `name`."""
    _check_name(name)
    template = component_template(body)
    existing = meta.every(conn, meta.COMPONENT_TEMPLATE)
    if create and name in existing:
        raise IllegalArgument(f"component template [{name}] already exists")
    if name not in existing and len(existing) >= MAX_TEMPLATES:
        raise IllegalArgument(f"this node holds at most {MAX_TEMPLATES} component templates")
    meta.put(conn, meta.COMPONENT_TEMPLATE, name, template)
    for user, spec in meta.every(conn, meta.INDEX_TEMPLATE).items():
        if name in spec.get("composed_of", []):
            _check_composed(user, resolve(conn, spec))


def put_legacy_template(conn: Connection, name: str, body: Any, *, create: bool = False) -> None:
    """Store legacy template `name`."""
    _check_name(name)
    template = legacy_template(body)
    existing = meta.every(conn, meta.LEGACY_TEMPLATE)
    if create and name in existing:
        raise IllegalArgument(f"index_template [{name}] already exists")
    if name not in existing and len(existing) >= MAX_TEMPLATES:
        raise IllegalArgument(f"this node holds at most {MAX_TEMPLATES} templates")
    meta.put(conn, meta.LEGACY_TEMPLATE, name, template)


def _check_name(name: str) -> None:
    if not name:
        raise IllegalArgument("template name must not be empty")
    if any(c in name for c in ' "*,/<>?\\|') or name.startswith("_"):
        raise InvalidIndexTemplate(
            f"index_template [{name}] invalid, cause [name must not contain a space, '*', "
            "',' or start with '_']"
        )


def select(conn: Connection, kind: str, names: str | None, what: str) -> dict[str, dict[str, Any]]:
    """The templates of `kind` matching `names` (comma list, wildcards); 404 for an explicit
    name that matches nothing."""
    every = meta.every(conn, kind)
    if not names or names in ("*", "_all"):
        return every
    out: dict[str, dict[str, Any]] = {}
    for part in names.split(","):
        pattern = wildcard(part)
        found = {n: t for n, t in every.items() if pattern.fullmatch(n)}
        if not found and "*" not in part:
            raise ResourceNotFound(f"{what} matching [{part}] not found")
        out.update(found)
    return dict(sorted(out.items()))


def delete_index_templates(conn: Connection, names: str) -> None:
    """Delete composable templates (404 for an explicit missing name; 400 when a data
    stream still uses one)."""
    doomed = _doomed(conn, meta.INDEX_TEMPLATE, names, "index_template")
    users = {
        stream: spec["template"]
        for stream, spec in meta.every(conn, meta.DATA_STREAM).items()
        if spec.get("template") in doomed
    }
    if users:
        raise IllegalArgument(
            f"unable to remove composable templates {_java_list(sorted(set(users.values())))} "
            f"as they are in use by a data streams {_java_list(sorted(users))}"
        )
    for name in doomed:
        meta.remove(conn, meta.INDEX_TEMPLATE, name)


def delete_component_templates(conn: Connection, names: str) -> None:
    """Delete component templates (400 while an index template is composed of one)."""
    doomed = _doomed(conn, meta.COMPONENT_TEMPLATE, names, "component_template")
    users = sorted(
        name
        for name, spec in meta.every(conn, meta.INDEX_TEMPLATE).items()
        if set(spec.get("composed_of", [])) & set(doomed)
    )
    if users:
        raise IllegalArgument(
            f"component templates {_java_list(doomed)} cannot be removed as they are still in "
            f"use by index templates {_java_list(users)}"
        )
    for name in doomed:
        meta.remove(conn, meta.COMPONENT_TEMPLATE, name)


def delete_legacy_templates(conn: Connection, names: str) -> None:
    """Delete legacy templates."""
    for name in _doomed(conn, meta.LEGACY_TEMPLATE, names, "index_template"):
        meta.remove(conn, meta.LEGACY_TEMPLATE, name)


def _doomed(conn: Connection, kind: str, names: str, what: str) -> list[str]:
    every = meta.every(conn, kind)
    out: list[str] = []
    for part in names.split(","):
        pattern = wildcard(part)
        found = [n for n in every if pattern.fullmatch(n)]
        if not found and "*" not in part:
            raise ResourceNotFound(f"{what} [{part}] missing")
        out.extend(n for n in found if n not in out)
    return out


def for_index(
    conn: Connection, name: str, *, hidden: bool = False
) -> tuple[str, dict[str, Any]] | None:
    """The composable template a new index `name` takes (highest priority), or None."""
    best: tuple[str, dict[str, Any]] | None = None
    for template_name, spec in meta.every(conn, meta.INDEX_TEMPLATE).items():
        if not matches(spec["index_patterns"], name, hidden=hidden):
            continue
        if best is None or spec.get("priority", 0) > best[1].get("priority", 0):
            best = (template_name, spec)
    return best


def overlapping(
    conn: Connection, name: str | None, patterns: Iterable[str]
) -> list[dict[str, Any]]:
    """Other composable templates whose patterns overlap `patterns` (for ``_simulate``)."""
    patterns = list(patterns)
    return [
        {"name": other, "index_patterns": spec["index_patterns"]}
        for other, spec in meta.every(conn, meta.INDEX_TEMPLATE).items()
        if other != name and overlap(patterns, spec["index_patterns"])
    ]


def compose_for_index(
    conn: Connection, name: str, request: Mapping[str, Any], *, hidden: bool = False
) -> Composed:
    """What new index `name` gets: its composable template (or the legacy ones) and `request`."""
    found = for_index(conn, name, hidden=hidden)
    if found is not None:
        composed = resolve(conn, found[1], request)
        composed.template = found[0]
        return composed
    legacy = sorted(
        (
            spec
            for spec in meta.every(conn, meta.LEGACY_TEMPLATE).values()
            if matches(spec["index_patterns"], name, hidden=hidden)
        ),
        key=lambda s: s.get("order", 0),
    )
    return compose([*legacy, request])


def _java_list(items: Iterable[str]) -> str:
    return "[" + ", ".join(items) + "]"


def select_quietly(conn: Connection, kind: str, names: str | None) -> dict[str, dict[str, Any]]:
    """Like `select`, but an explicit name that matches nothing is simply absent."""
    every = meta.every(conn, kind)
    if not names or names in ("*", "_all"):
        return every
    patterns = [wildcard(p) for p in names.split(",")]
    return {n: t for n, t in every.items() if any(p.fullmatch(n) for p in patterns)}
