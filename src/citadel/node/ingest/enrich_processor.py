"""The ``enrich`` processor: copies matching enrich documents of an executed policy into the
document (``field``, ``policy_name``, ``target_field``, ``max_matches``, ``override``,
``ignore_missing``), reading the node's `citadel.node.enrich.lookup.EnrichIndices`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from citadel.node.errors import IllegalArgument
from citadel.node.ingest.config import Config
from citadel.node.ingest.document import IngestDocument
from citadel.node.ingest.processors import Processor, Run
from citadel.node.ingest.templates import Template

MAX_MATCHES = 128


def _render(value: Template | str, doc: IngestDocument) -> str:
    return value.render(doc) if isinstance(value, Template) else value


@dataclass
class EnrichProcessor(Processor):
    """Look the field's value up in the policy's enrich index."""

    type = "enrich"
    field: Template | str = ""
    policy_name: str = ""
    target_field: Template | str = ""
    max_matches: int = 1
    override: bool = True
    ignore_missing: bool = False

    def execute(self, doc: IngestDocument, run: Run) -> None:
        path = _render(self.field, doc)
        value = doc.get(path, default=None) if self.ignore_missing else doc.get(path)
        if value is None:
            if self.ignore_missing:
                return
            raise IllegalArgument(f"field [{path}] is null, cannot process it.")
        target = _render(self.target_field, doc)
        if not self.override and doc.has(target):
            return
        # imported here: the lookup reads through the write path, which imports this module
        from citadel.node.enrich import lookup

        indices = lookup.current()
        if indices is None:
            raise IllegalArgument(
                f"no enrich index exists for policy with name [{self.policy_name}]"
            )
        found = indices.find(self.policy_name, value, self.max_matches)
        if not found:
            return
        doc.set(target, found[0] if self.max_matches == 1 else found)

    @classmethod
    def build(cls, config: Config) -> Processor:
        policy_name = config.string("policy_name")
        max_matches = config.raw("max_matches", 1)
        if isinstance(max_matches, str) and max_matches.isdigit():
            max_matches = int(max_matches)
        if (
            not isinstance(max_matches, int)
            or isinstance(max_matches, bool)
            or not 1 <= max_matches <= MAX_MATCHES
        ):
            raise config.error("max_matches", "should be between 1 and 128")
        if config.has("shape_relation"):
            raise config.error(
                "shape_relation", "geo_match policies are not supported by this node"
            )
        return cls(
            field=config.template("field"),
            policy_name=policy_name,
            target_field=config.template("target_field"),
            max_matches=max_matches,
            override=config.boolean("override", True),
            ignore_missing=config.boolean("ignore_missing", False),
        )


def register(kinds: dict[str, Any]) -> None:
    """Add the ``enrich`` processor to a processor table."""
    kinds[EnrichProcessor.type] = EnrichProcessor.build
