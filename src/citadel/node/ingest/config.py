"""Reading one processor's settings, with Elasticsearch's ``parse_exception`` messages. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from citadel.node.ingest.document import java_type
from citadel.node.ingest.errors import ConfigError
from citadel.node.ingest.templates import Template, compile_template

_MISSING = object()


class Config:
    """The settings of one processor; every key read is consumed, leftovers are refused."""

    def __init__(self, processor_type: str, settings: Mapping[str, Any]) -> None:
        self.type = processor_type
        self.settings = dict(settings)
        tag = self.settings.get("tag")
        self.tag = tag if isinstance(tag, str) else None

    def error(self, property_name: str | None, reason: str) -> ConfigError:
        """A ``parse_exception`` about `property_name` of this processor."""
        prefix = f"[{property_name}] " if property_name else ""
        return ConfigError(
            prefix + reason,
            processor_type=self.type,
            property_name=property_name,
            tag=self.tag,
        )

    def _take(self, name: str) -> Any:
        return self.settings.pop(name, _MISSING)

    def string(self, name: str, default: Any = _MISSING) -> Any:
        """A string setting (numbers and booleans are turned into text, as ES does)."""
        value = self._take(name)
        if value is _MISSING or value is None:
            if default is _MISSING:
                raise self.error(name, "required property is missing")
            return default
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        if not isinstance(value, str):
            raise self.error(name, f"property isn't a string, but of type [{java_type(value)}]")
        return value

    def template(self, name: str, default: Any = _MISSING) -> Any:
        """A string setting compiled as a template (field names, messages, pipeline names)."""
        text = self.string(name, default)
        if text is None or isinstance(text, Template):
            return text
        return compile_template(text, processor_type=self.type, property_name=name)

    def boolean(self, name: str, default: bool) -> bool:
        """A boolean setting (``"true"``/``"false"`` strings accepted, as ES does)."""
        value = self._take(name)
        if value is _MISSING or value is None:
            return default
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
        raise self.error(name, f"property isn't a boolean, but of type [{java_type(value)}]")

    def strings(self, name: str, default: Any = _MISSING, *, single: bool = True) -> Any:
        """A list of strings (a single string allowed when `single`)."""
        value = self._take(name)
        if value is _MISSING or value is None:
            if default is _MISSING:
                raise self.error(name, "required property is missing")
            return default
        if isinstance(value, str) and single:
            return [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(name, f"property isn't a list, but of type [{java_type(value)}]")
        return list(value)

    def raw(self, name: str, default: Any = _MISSING) -> Any:
        """A setting of any JSON type."""
        value = self._take(name)
        if value is _MISSING:
            if default is _MISSING:
                raise self.error(name, "required property is missing")
            return default
        return value

    def has(self, name: str) -> bool:
        return name in self.settings

    def done(self) -> None:
        """Refuse any setting nobody read."""
        if self.settings:
            names = ", ".join(sorted(self.settings))
            raise ConfigError(
                f"processor [{self.type}] doesn't support one or more provided configuration "
                f"parameters [{names}]",
                processor_type=self.type,
                tag=self.tag,
            )
