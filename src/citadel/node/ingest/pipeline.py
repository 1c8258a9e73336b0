"""Pipeline definitions: parsed and checked once, when stored or simulated. Pure.

A definition is ``{"description", "processors": [{type: settings}], "on_failure", "version",
"_meta", "deprecated"}``; each processor's ``if`` condition is a Painless script, which this
node does not run: such a definition is a 400 naming the processor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from citadel.node.ingest.config import Config
from citadel.node.ingest.document import java_type
from citadel.node.ingest.enrich_processor import register as register_enrich
from citadel.node.ingest.errors import ConfigError
from citadel.node.ingest.processors import KINDS, Processor, unknown_kind

_PIPELINE_KEYS = frozenset(
    {"description", "processors", "on_failure", "version", "_meta", "deprecated"}
)
MAX_PROCESSORS = 1000
register_enrich(KINDS)


@dataclass(frozen=True)
class Pipeline:
    """A parsed pipeline."""

    id: str
    description: str | None
    processors: tuple[Processor, ...]
    on_failure: tuple[Processor, ...]
    version: int | None = None


def parse_pipeline(pipeline_id: str, body: Any) -> Pipeline:
    """Parse and check a pipeline definition; ``parse_exception`` when invalid."""
    if not isinstance(body, Mapping):
        raise ConfigError("request body or source parameter is required")
    unknown = sorted(set(body) - _PIPELINE_KEYS)
    if unknown:
        raise ConfigError(
            f"pipeline [{pipeline_id}] doesn't support one or more provided configuration "
            f"parameters {unknown}".replace("'", "")
        )
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        raise ConfigError(
            f"[description] property isn't a string, but of type [{java_type(description)}]",
            property_name="description",
        )
    version = body.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise ConfigError(
            f"[version] property isn't an integer, but of type [{java_type(version)}]",
            property_name="version",
        )
    meta = body.get("_meta")
    if meta is not None and not isinstance(meta, Mapping):
        raise ConfigError("[_meta] property isn't a map", property_name="_meta")
    if "processors" not in body or body["processors"] is None:
        raise ConfigError("[processors] required property is missing", property_name="processors")
    processors = parse_processors(body["processors"], "processors")
    on_failure: tuple[Processor, ...] = ()
    if body.get("on_failure") is not None:
        on_failure = parse_processors(body["on_failure"], "on_failure")
        if not on_failure:
            raise ConfigError(
                "pipeline [" + pipeline_id + "] cannot have an empty on-failure option defined"
            )
    return Pipeline(pipeline_id, description, processors, on_failure, version)


def parse_processors(value: Any, name: str) -> tuple[Processor, ...]:
    """A list of ``{type: settings}`` objects."""
    if not isinstance(value, list):
        raise ConfigError(
            f"[{name}] property isn't a list, but of type [{java_type(value)}]",
            property_name=name,
        )
    if len(value) > MAX_PROCESSORS:
        raise ConfigError(f"[{name}] has more than {MAX_PROCESSORS} processors")
    out: list[Processor] = []
    for entry in value:
        if not isinstance(entry, Mapping):
            raise ConfigError(
                f"[{name}] property isn't a list of maps, but an element is of type "
                f"[{java_type(entry)}]",
                property_name=name,
            )
        for kind, settings in entry.items():
            out.append(parse_processor(kind, settings))
    return tuple(out)


def parse_processor(kind: str, settings: Any) -> Processor:
    """One processor of type `kind`."""
    build = KINDS.get(kind)
    if build is None:
        raise unknown_kind(kind)
    if settings is None:
        settings = {}
    if not isinstance(settings, Mapping):
        raise ConfigError(
            f"[{kind}] processor config isn't a map, but of type [{java_type(settings)}]",
            processor_type=kind,
        )
    config = Config(kind, settings)
    tag = config.string("tag", None)
    description = config.string("description", None)
    ignore_failure = config.boolean("ignore_failure", False)
    if config.has("if"):
        raise config.error(
            "if",
            "conditions are Painless scripts, and scripts are not supported on this node; "
            "remove the condition or route the documents with separate pipelines",
        )
    on_failure: tuple[Processor, ...] = ()
    if config.has("on_failure"):
        on_failure = parse_processors(config.raw("on_failure"), "on_failure")
        if not on_failure:
            raise config.error("on_failure", "processors list cannot be empty")
    processor = build(config)
    config.done()
    processor.tag = tag
    processor.description = description
    processor.ignore_failure = ignore_failure
    processor.on_failure = on_failure
    return processor
