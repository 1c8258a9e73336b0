"""The ingest processors: each reads its settings once and changes a document. Pure.

Every processor takes Elasticsearch's common settings (``tag``, ``description``,
``ignore_failure``, ``on_failure``; ``if`` is refused, scripts are not supported) and the
settings of its kind; unknown settings are a ``parse_exception``. Messages are Elasticsearch's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol
from urllib.parse import unquote_plus

from citadel.node.ingest import dates as ingest_dates
from citadel.node.ingest.config import Config
from citadel.node.ingest.dissect import Dissect, DissectError
from citadel.node.ingest.document import IngestDocument, java_type
from citadel.node.ingest.errors import ConfigError, FailProcessor, FieldError
from citadel.node.ingest.grok import Grok, GrokError, compile_grok
from citadel.node.ingest.templates import (
    Template,
    compile_value,
    java_string,
    render_value,
)


class Run(Protocol):
    """What a processor may ask of the running pipeline."""

    def run_pipeline(self, name: str, doc: IngestDocument, *, ignore_missing: bool = False) -> bool:
        """Run pipeline `name` over `doc`; False when it dropped the document."""
        ...


class Dropped(Exception):
    """The ``drop`` processor: the document is not indexed."""


@dataclass
class Processor:
    """One configured processor."""

    type: ClassVar[str] = ""
    tag: str | None = field(default=None, kw_only=True)
    description: str | None = field(default=None, kw_only=True)
    ignore_failure: bool = field(default=False, kw_only=True)
    on_failure: tuple[Processor, ...] = field(default=(), kw_only=True)

    def execute(self, doc: IngestDocument, run: Run) -> None:
        """Change `doc`; raise an EsError when the processor fails."""
        raise NotImplementedError

    @classmethod
    def build(cls, config: Config) -> Processor:
        """Read this kind's settings from `config`."""
        raise NotImplementedError


# -- helpers ---------------------------------------------------------------------------------


def _path(value: Template | str, doc: IngestDocument) -> str:
    return value.render(doc) if isinstance(value, Template) else value


def _read(
    doc: IngestDocument, path: str, ignore_missing: bool, *, null_ok: bool = False
) -> tuple[bool, Any]:
    """(present, value) of `path`: a missing or null field is an error unless ignored."""
    if not doc.has(path):
        if ignore_missing:
            return False, None
        doc.get(path)  # raises Elasticsearch's "not present" message
    value = doc.get(path)
    if value is None and not null_ok:
        if ignore_missing:
            return False, None
        raise FieldError(f"field [{path}] is null, cannot process it.")
    return True, value


def _cast_string(path: str, value: Any) -> str:
    if not isinstance(value, str):
        raise FieldError(
            f"field [{path}] of type [{java_type(value)}] cannot be cast to [java.lang.String]"
        )
    return value


# -- field value processors ------------------------------------------------------------------


@dataclass
class FieldValue(Processor):
    """A processor that maps one field's value (or each of a list) into `target_field`."""

    field: Template | str = ""
    target_field: Template | str | None = None
    ignore_missing: bool = False
    each: ClassVar[bool] = True

    def transform(self, path: str, value: Any) -> Any:
        raise NotImplementedError

    def execute(self, doc: IngestDocument, run: Run) -> None:
        path = _path(self.field, doc)
        present, value = _read(doc, path, self.ignore_missing)
        if not present:
            return
        if self.each and isinstance(value, list):
            out = [self.transform(path, v) for v in value]
        else:
            out = self.transform(path, value)
        target = _path(self.target_field, doc) if self.target_field is not None else path
        doc.set(target, out)

    @classmethod
    def build(cls, config: Config) -> Processor:
        return cls(
            field=config.template("field"),
            target_field=config.template("target_field", None),
            ignore_missing=config.boolean("ignore_missing", False),
        )


@dataclass
class Lowercase(FieldValue):
    type: ClassVar[str] = "lowercase"

    def transform(self, path: str, value: Any) -> Any:
        return _cast_string(path, value).lower()


@dataclass
class Uppercase(FieldValue):
    type: ClassVar[str] = "uppercase"

    def transform(self, path: str, value: Any) -> Any:
        return _cast_string(path, value).upper()


@dataclass
class Trim(FieldValue):
    type: ClassVar[str] = "trim"

    def transform(self, path: str, value: Any) -> Any:
        return _cast_string(path, value).strip()


@dataclass
class UrlDecode(FieldValue):
    type: ClassVar[str] = "urldecode"

    def transform(self, path: str, value: Any) -> Any:
        return unquote_plus(_cast_string(path, value), errors="strict")


@dataclass
class Gsub(FieldValue):
    type: ClassVar[str] = "gsub"
    pattern: re.Pattern[str] = re.compile("")
    replacement: str = ""

    def transform(self, path: str, value: Any) -> Any:
        return self.pattern.sub(self.replacement, _cast_string(path, value))

    @classmethod
    def build(cls, config: Config) -> Processor:
        field_ = config.template("field")
        text = config.string("pattern")
        try:
            pattern = re.compile(_java_regex(text))
        except re.error as exc:
            raise config.error("pattern", f"Invalid regex pattern [{text}]: {exc}") from None
        replacement = _java_replacement(config.string("replacement"))
        return cls(
            field=field_,
            target_field=config.template("target_field", None),
            ignore_missing=config.boolean("ignore_missing", False),
            pattern=pattern,
            replacement=replacement,
        )


def _java_regex(text: str) -> str:
    """A Java regex in Python's syntax (named groups)."""
    return re.sub(r"\(\?<([A-Za-z][A-Za-z0-9]*)>", r"(?P<\1>", text)


def _java_replacement(text: str) -> str:
    """Java's ``$1``/``${name}`` replacement references in Python's syntax."""
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1].replace("\\", "\\\\"))
            i += 2
        elif ch == "$" and i + 1 < len(text) and text[i + 1].isdigit():
            out.append(f"\\g<{text[i + 1]}>")
            i += 2
        elif ch == "$" and text.startswith("${", i) and "}" in text[i:]:
            end = text.index("}", i)
            out.append(f"\\g<{text[i + 2 : end]}>")
            i = end + 1
        else:
            out.append("\\\\" if ch == "\\" else ch)
            i += 1
    return "".join(out)


_CONVERT_TYPES = ("integer", "long", "float", "double", "string", "boolean", "ip", "auto")


@dataclass
class Convert(FieldValue):
    type: ClassVar[str] = "convert"
    to: str = "string"

    def transform(self, path: str, value: Any) -> Any:
        return convert_value(value, self.to)

    @classmethod
    def build(cls, config: Config) -> Processor:
        field_ = config.template("field")
        to = config.string("type")
        if to not in _CONVERT_TYPES:
            raise config.error("type", f"type [{to}] not supported, cannot convert field.")
        return cls(
            field=field_,
            target_field=config.template("target_field", None),
            ignore_missing=config.boolean("ignore_missing", False),
            to=to,
        )


def convert_value(value: Any, to: str) -> Any:
    """`value` converted as the ``convert`` processor does; FieldError when it cannot."""
    text = java_string(value) if not isinstance(value, str) else value
    if to in ("integer", "long"):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        try:
            stripped = text.strip()
            number = (
                int(stripped, 16)
                if stripped.lower().startswith(("0x", "-0x"))
                else int(stripped, 10)
            )
        except ValueError:
            raise FieldError(f"unable to convert [{text}] to {to}") from None
        limit = 2**31 if to == "integer" else 2**63
        if not -limit <= number < limit:
            raise FieldError(f"unable to convert [{text}] to {to}")
        return number
    if to in ("float", "double"):
        if isinstance(value, float):
            return value
        try:
            return float(text)
        except ValueError:
            raise FieldError(f"unable to convert [{text}] to {to}") from None
    if to == "string":
        return text
    if to == "boolean":
        if isinstance(value, bool):
            return value
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise FieldError(f"[{text}] is not a boolean value, cannot convert to boolean")
    if to == "ip":
        import ipaddress

        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise FieldError(f"'{text}' is not an IP string literal.") from None
        return text
    if not isinstance(value, str):
        return value
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in ("long", "double"):
        try:
            return convert_value(text, kind)
        except FieldError:
            continue
    return text


# -- set, remove, rename, append -------------------------------------------------------------


@dataclass
class Set(Processor):
    type: ClassVar[str] = "set"
    field: Template | str = ""
    value: Any = None
    copy_from: str | None = None
    override: bool = True
    ignore_empty_value: bool = False

    def execute(self, doc: IngestDocument, run: Run) -> None:
        path = _path(self.field, doc)
        if not self.override and doc.has(path) and doc.get(path) is not None:
            return
        if self.copy_from is not None:
            value = _deepcopy(doc.get(self.copy_from))
        else:
            value = render_value(self.value, doc)
        if self.ignore_empty_value and (value is None or value == ""):
            return
        doc.set(path, value)

    @classmethod
    def build(cls, config: Config) -> Processor:
        field_ = config.template("field")
        has_value = config.has("value")
        copy_from = config.string("copy_from", None)
        if copy_from is not None and has_value:
            raise config.error(
                "copy_from", "cannot set both `copy_from` and `value` in the same processor"
            )
        value = None
        if copy_from is None:
            raw = config.raw("value")
            value = compile_value(raw, processor_type=cls.type, property_name="value")
        media_type = config.string("media_type", "application/json")
        if media_type not in _MEDIA_TYPES:
            raise config.error(
                "media_type", f"property does not contain a supported media type [{media_type}]"
            )
        return cls(
            field=field_,
            value=value,
            copy_from=copy_from,
            override=config.boolean("override", True),
            ignore_empty_value=config.boolean("ignore_empty_value", False),
        )


_MEDIA_TYPES = ("application/json", "text/plain", "application/x-www-form-urlencoded")


def _deepcopy(value: Any) -> Any:
    return json.loads(json.dumps(value))


@dataclass
class Remove(Processor):
    type: ClassVar[str] = "remove"
    fields: tuple[Template | str, ...] = ()
    keep: tuple[Template | str, ...] = ()
    ignore_missing: bool = False

    def execute(self, doc: IngestDocument, run: Run) -> None:
        if self.keep:
            kept = [_path(k, doc) for k in self.keep]
            for name in list(doc.source):
                if not any(k == name or k.startswith(name + ".") for k in kept):
                    del doc.source[name]
            return
        for item in self.fields:
            path = _path(item, doc)
            if self.ignore_missing and not doc.has(path):
                continue
            doc.remove(path)

    @classmethod
    def build(cls, config: Config) -> Processor:
        if config.has("field") and config.has("keep"):
            raise config.error("keep", "Too many fields specified")
        if not config.has("field") and not config.has("keep"):
            raise config.error("keep", "At least one of [field] or [keep] must be specified")
        fields = config.strings("field", [])
        keep = config.strings("keep", [])
        return cls(
            fields=tuple(config_template(config, "field", f) for f in fields),
            keep=tuple(config_template(config, "keep", k) for k in keep),
            ignore_missing=config.boolean("ignore_missing", False),
        )


def config_template(config: Config, name: str, text: str) -> Template:
    """One string of a list setting compiled as a template."""
    from citadel.node.ingest.templates import compile_template

    return compile_template(text, processor_type=config.type, property_name=name)


@dataclass
class Rename(Processor):
    type: ClassVar[str] = "rename"
    field: Template | str = ""
    target_field: Template | str = ""
    ignore_missing: bool = False
    override: bool = False

    def execute(self, doc: IngestDocument, run: Run) -> None:
        path = _path(self.field, doc)
        if not doc.has(path):
            if self.ignore_missing:
                return
            raise FieldError(f"field [{path}] doesn't exist")
        target = _path(self.target_field, doc)
        if doc.has(target) and not self.override:
            raise FieldError(f"field [{target}] already exists")
        value = doc.get(path)
        doc.remove(path)
        try:
            doc.set(target, value)
        except FieldError:
            doc.set(path, value)  # put it back, as Elasticsearch does
            raise

    @classmethod
    def build(cls, config: Config) -> Processor:
        return cls(
            field=config.template("field"),
            target_field=config.template("target_field"),
            ignore_missing=config.boolean("ignore_missing", False),
            override=config.boolean("override", False),
        )


@dataclass
class Append(Processor):
    type: ClassVar[str] = "append"
    field: Template | str = ""
    value: Any = None
    allow_duplicates: bool = True

    def execute(self, doc: IngestDocument, run: Run) -> None:
        value = render_value(self.value, doc)
        values = value if isinstance(value, list) else [value]
        doc.append(_path(self.field, doc), values, allow_duplicates=self.allow_duplicates)

    @classmethod
    def build(cls, config: Config) -> Processor:
        field_ = config.template("field")
        value = compile_value(config.raw("value"), processor_type=cls.type, property_name="value")
        config.string("media_type", "application/json")
        return cls(
            field=field_,
            value=value,
            allow_duplicates=config.boolean("allow_duplicates", True),
        )


# -- split, join, json, kv, dissect, grok ----------------------------------------------------


@dataclass
class Split(Processor):
    type: ClassVar[str] = "split"
    field: Template | str = ""
    separator: re.Pattern[str] = re.compile(",")
    target_field: Template | str | None = None
    ignore_missing: bool = False
    preserve_trailing: bool = False

    def execute(self, doc: IngestDocument, run: Run) -> None:
        path = _path(self.field, doc)
        present, value = _read(doc, path, self.ignore_missing)
        if not present:
            return
        text = _cast_string(path, value)
        parts = self.separator.split(text)
        if not self.preserve_trailing:
            while parts and parts[-1] == "":
                parts.pop()
        target = _path(self.target_field, doc) if self.target_field is not None else path
        doc.set(target, parts)

    @classmethod
    def build(cls, config: Config) -> Processor:
        field_ = config.template("field")
        text = config.string("separator")
        try:
            separator = re.compile(_java_regex(text))
        except re.error as exc:
            raise config.error("separator", f"Invalid regex [{text}]: {exc}") from None
        return cls(
            field=field_,
            separator=separator,
            target_field=config.template("target_field", None),
            ignore_missing=config.boolean("ignore_missing", False),
            preserve_trailing=config.boolean("preserve_trailing", False),
        )


@dataclass
class Join(Processor):
    type: ClassVar[str] = "join"
    field: Template | str = ""
    separator: str = ""
    target_field: Template | str | None = None

    def execute(self, doc: IngestDocument, run: Run) -> None:
        path = _path(self.field, doc)
        _, value = _read(doc, path, False)
        if not isinstance(value, list):
            raise FieldError(
                f"field [{path}] of type [{java_type(value)}] cannot be cast to [java.util.List]"
            )
        text = self.separator.join(java_string(v) if v is not None else "null" for v in value)
        target = _path(self.target_field, doc) if self.target_field is not None else path
        doc.set(target, text)

    @classmethod
    def build(cls, config: Config) -> Processor:
        return cls(
            field=config.template("field"),
            separator=config.string("separator"),
            target_field=config.template("target_field", None),
        )


@dataclass
class Json(Processor):
    type: ClassVar[str] = "json"
    field: Template | str = ""
    target_field: Template | str | None = None
    add_to_root: bool = False
    merge: bool = False
    allow_duplicate_keys: bool = False

    def execute(self, doc: IngestDocument, run: Run) -> None:
        path = _path(self.field, doc)
        value = doc.get(path)
        parsed = None if value is None else self._parse(value)
        if self.add_to_root:
            if not isinstance(parsed, dict):
                raise FieldError("cannot add non-map fields to root of document")
            for key, item in parsed.items():
                if self.merge and isinstance(item, dict) and isinstance(doc.source.get(key), dict):
                    _merge(doc.source[key], item)
                else:
                    doc.source[key] = item
            return
        target = _path(self.target_field, doc) if self.target_field is not None else path
        doc.set(target, parsed)

    def _parse(self, value: Any) -> Any:
        if isinstance(value, bool | int | float):
            return value
        if not isinstance(value, str):
            raise FieldError(
                f"field [{self.field}] of type [{java_type(value)}] cannot be cast to "
                "[java.lang.String]"
            )

        def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for key, item in items:
                if key in out and not self.allow_duplicate_keys:
                    raise FieldError(f"Duplicate field '{key}'")
                out[key] = item
            return out

        try:
            return json.loads(value, object_pairs_hook=pairs)
        except json.JSONDecodeError as exc:
            raise FieldError(f"Unrecognized token in [{value[:40]}]: {exc.msg}") from None

    @classmethod
    def build(cls, config: Config) -> Processor:
        field_ = config.template("field")
        target = config.template("target_field", None)
        add_to_root = config.boolean("add_to_root", False)
        strategy = config.string("add_to_root_conflict_strategy", None)
        if add_to_root and target is not None:
            raise config.error(
                "target_field", "Cannot set a target field while also setting `add_to_root` to true"
            )
        if strategy is not None and not add_to_root:
            raise config.error(
                "add_to_root_conflict_strategy",
                "Cannot set `add_to_root_conflict_strategy` if `add_to_root` is false",
            )
        if strategy not in (None, "replace", "merge"):
            raise config.error(
                "add_to_root_conflict_strategy",
                f"conflict strategy [{strategy}] not supported, cannot convert field.",
            )
        config.boolean("strict_json_parsing", True)
        return cls(
            field=field_,
            target_field=target,
            add_to_root=add_to_root,
            merge=strategy == "merge",
            allow_duplicate_keys=config.boolean("allow_duplicate_keys", False),
        )


def _merge(into: dict[str, Any], other: Mapping[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


@dataclass
class Kv(Processor):
    type: ClassVar[str] = "kv"
    field: Template | str = ""
    field_split: re.Pattern[str] = re.compile(" ")
    value_split: re.Pattern[str] = re.compile("=")
    target_field: Template | str | None = None
    include_keys: frozenset[str] | None = None
    exclude_keys: frozenset[str] = frozenset()
    ignore_missing: bool = False
    prefix: str = ""
    trim_key: str = ""
    trim_value: str = ""
    strip_brackets: bool = False

    def execute(self, doc: IngestDocument, run: Run) -> None:
        path = _path(self.field, doc)
        present, value = _read(doc, path, self.ignore_missing)
        if not present:
            return
        text = _cast_string(path, value)
        target = _path(self.target_field, doc) if self.target_field is not None else None
        for pair in self.field_split.split(text):
            parts = self.value_split.split(pair, maxsplit=1)
            if len(parts) != 2:
                raise FieldError(
                    f"field [{path}] does not contain value_split [{self.value_split.pattern}]"
                )
            key, item = parts
            key = key.strip(self.trim_key) if self.trim_key else key
            item = item.strip(self.trim_value) if self.trim_value else item
            if self.strip_brackets:
                item = _strip_brackets(item)
            if self.include_keys is not None and key not in self.include_keys:
                continue
            if key in self.exclude_keys:
                continue
            name = self.prefix + key
            full = f"{target}.{name}" if target else name
            doc.append(full, [item]) if doc.has(full) else doc.set(full, item)

    @classmethod
    def build(cls, config: Config) -> Processor:
        field_ = config.template("field")
        patterns = {}
        for name in ("field_split", "value_split"):
            text = config.string(name)
            try:
                patterns[name] = re.compile(_java_regex(text))
            except re.error as exc:
                raise config.error(name, f"Invalid regex [{text}]: {exc}") from None
        include = config.strings("include_keys", None, single=False)
        return cls(
            field=field_,
            field_split=patterns["field_split"],
            value_split=patterns["value_split"],
            target_field=config.template("target_field", None),
            include_keys=frozenset(include) if include is not None else None,
            exclude_keys=frozenset(config.strings("exclude_keys", [], single=False)),
            ignore_missing=config.boolean("ignore_missing", False),
            prefix=config.string("prefix", ""),
            trim_key=config.string("trim_key", ""),
            trim_value=config.string("trim_value", ""),
            strip_brackets=config.boolean("strip_brackets", False),
        )


def _strip_brackets(value: str) -> str:
    for left, right in (("(", ")"), ("<", ">"), ("[", "]"), ('"', '"'), ("'", "'")):
        if value.startswith(left) and value.endswith(right) and len(value) >= 2:
            return value[1:-1]
    return value


@dataclass
class DissectProcessor(Processor):
    type: ClassVar[str] = "dissect"
    field: Template | str = ""
    dissect: Dissect | None = None
    ignore_missing: bool = False

    def execute(self, doc: IngestDocument, run: Run) -> None:
        path = _path(self.field, doc)
        present, value = _read(doc, path, self.ignore_missing)
        if not present:
            return
        assert self.dissect is not None
        try:
            found = self.dissect.parse(_cast_string(path, value))
        except DissectError as exc:
            raise FieldError(str(exc)) from None
        for key, item in found.items():
            doc.set(key, item)

    @classmethod
    def build(cls, config: Config) -> Processor:
        field_ = config.template("field")
        pattern = config.string("pattern")
        separator = config.string("append_separator", "")
        try:
            dissect = Dissect(pattern, separator)
        except DissectError as exc:
            raise config.error("pattern", str(exc)) from None
        return cls(
            field=field_, dissect=dissect, ignore_missing=config.boolean("ignore_missing", False)
        )


@dataclass
class GrokProcessor(Processor):
    type: ClassVar[str] = "grok"
    field: Template | str = ""
    groks: tuple[Grok, ...] = ()
    trace_match: bool = False
    ignore_missing: bool = False

    def execute(self, doc: IngestDocument, run: Run) -> None:
        path = _path(self.field, doc)
        present, value = _read(doc, path, self.ignore_missing)
        if not present:
            return
        text = _cast_string(path, value)
        for number, grok in enumerate(self.groks):
            found = grok.match(text)
            if found is None:
                continue
            for key, item in found.items():
                doc.set(key, item)
            if self.trace_match:
                doc.ingest["_grok_match_index"] = str(number)
            return
        raise FieldError(f"Provided Grok expressions do not match field value: [{text}]")

    @classmethod
    def build(cls, config: Config) -> Processor:
        field_ = config.template("field")
        patterns = config.strings("patterns", single=False)
        if not patterns:
            raise config.error("patterns", "List of patterns must not be empty")
        definitions = config.raw("pattern_definitions", {})
        if not isinstance(definitions, Mapping) or not all(
            isinstance(v, str) for v in definitions.values()
        ):
            raise config.error("pattern_definitions", "property isn't a map of strings")
        ecs = config.string("ecs_compatibility", "disabled")
        if ecs not in ("disabled", "v1"):
            raise config.error("ecs_compatibility", f"unsupported value [{ecs}]")
        if ecs == "v1":
            raise config.error(
                "ecs_compatibility",
                "ECS compatible grok patterns are not supported; use [disabled]",
            )
        try:
            groks = tuple(compile_grok(p, definitions) for p in patterns)
        except GrokError as exc:
            raise config.error("patterns", str(exc)) from None
        return cls(
            field=field_,
            groks=groks,
            trace_match=config.boolean("trace_match", False),
            ignore_missing=config.boolean("ignore_missing", False),
        )


# -- date ------------------------------------------------------------------------------------


@dataclass
class Date(Processor):
    type: ClassVar[str] = "date"
    field: Template | str = ""
    target_field: Template | str = "@timestamp"
    formats: tuple[str, ...] = ()
    timezone: Template | str | None = None
    output_format: str = ingest_dates.DEFAULT_OUTPUT

    def execute(self, doc: IngestDocument, run: Run) -> None:
        path = _path(self.field, doc)
        value = doc.get(path)
        zone = _path(self.timezone, doc) if self.timezone is not None else "UTC"
        moment = ingest_dates.parse(value, self.formats, zone)
        doc.set(_path(self.target_field, doc), ingest_dates.render(moment, self.output_format))

    @classmethod
    def build(cls, config: Config) -> Processor:
        field_ = config.template("field")
        target = config.template("target_field", "@timestamp")
        formats = config.strings("formats", single=False)
        for fmt in formats:
            try:
                ingest_dates.check_format(fmt)
            except ValueError as exc:
                raise config.error("formats", str(exc)) from None
        timezone = config.template("timezone", None)
        if isinstance(timezone, Template) and timezone.is_literal:
            try:
                ingest_dates.zone(timezone.render(IngestDocument({})))
            except ValueError as exc:
                raise config.error("timezone", str(exc)) from None
        locale = config.string("locale", "ENGLISH")
        if locale.lower() not in ("english", "en", "en_us", "en-us", "root", "en_gb"):
            raise config.error("locale", f"locale [{locale}] is not supported (English only)")
        output = config.string("output_format", ingest_dates.DEFAULT_OUTPUT)
        try:
            ingest_dates.check_output(output)
        except ValueError as exc:
            raise config.error("output_format", str(exc)) from None
        return cls(
            field=field_,
            target_field=target,
            formats=tuple(formats),
            timezone=timezone,
            output_format=output,
        )


# -- control ---------------------------------------------------------------------------------


@dataclass
class PipelineProcessor(Processor):
    type: ClassVar[str] = "pipeline"
    name: Template | str = ""
    ignore_missing_pipeline: bool = False

    def execute(self, doc: IngestDocument, run: Run) -> None:
        name = _path(self.name, doc)
        if not run.run_pipeline(name, doc, ignore_missing=self.ignore_missing_pipeline):
            raise Dropped()

    @classmethod
    def build(cls, config: Config) -> Processor:
        return cls(
            name=config.template("name"),
            ignore_missing_pipeline=config.boolean("ignore_missing_pipeline", False),
        )


@dataclass
class Drop(Processor):
    type: ClassVar[str] = "drop"

    def execute(self, doc: IngestDocument, run: Run) -> None:
        raise Dropped()

    @classmethod
    def build(cls, config: Config) -> Processor:
        return cls()


@dataclass
class Fail(Processor):
    type: ClassVar[str] = "fail"
    message: Template | str = ""

    def execute(self, doc: IngestDocument, run: Run) -> None:
        raise FailProcessor(_path(self.message, doc))

    @classmethod
    def build(cls, config: Config) -> Processor:
        return cls(message=config.template("message"))


KINDS: dict[str, Callable[[Config], Processor]] = {
    kind.type: kind.build
    for kind in (
        Set,
        Remove,
        Rename,
        Append,
        Lowercase,
        Uppercase,
        Trim,
        Split,
        Join,
        Convert,
        Date,
        Json,
        DissectProcessor,
        GrokProcessor,
        Gsub,
        Kv,
        UrlDecode,
        PipelineProcessor,
        Drop,
        Fail,
    )
}


def unknown_kind(name: str) -> ConfigError:
    """The error for a processor type this node does not have."""
    return ConfigError(f"No processor type exists with name [{name}]", processor_type=name)
