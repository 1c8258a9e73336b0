"""The node's executed enrich policies, for the ``enrich`` ingest processor.

Ingest processors are pure and run inside a write transaction, so they cannot read the
catalog; `EnrichIndices` holds, in memory, each policy with the enrich index its last
execution built. It is filled from the catalog when the node's routes are registered and kept
current by the enrich routes (execute, delete). `current()` is the node's instance: one node
per process, as `citadel node` runs.
"""

from __future__ import annotations

import threading
from typing import Any

from citadel.kit.clock import Clock
from citadel.node.engine.engine import Engine
from citadel.node.enrich import catalog
from citadel.node.enrich.policies import Policy
from citadel.node.errors import IllegalArgument
from citadel.node.reindex.run import scan
from citadel.node.search import service
from citadel.node.search.dsl import parse_query
from citadel.node.store import indices
from citadel.node.store.connection import Store
from citadel.node.store.indices import IndexRecord


class EnrichIndices:
    """Policy name → (policy, enrich index record or None when not executed)."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self._lock = threading.Lock()
        self._policies: dict[str, tuple[Policy, IndexRecord | None]] = {}
        self.searches = 0  # lookups run (``_enrich/_stats`` executed_searches_total)

    def load(self, store: Store) -> None:
        """Read every policy and its enrich index from the catalog."""
        with store.read() as conn:
            found = {
                policy.name: (policy, indices.load_index(conn, index) if index else None)
                for policy, index in catalog.every(conn)
            }
        with self._lock:
            self._policies = found

    def set(self, policy: Policy, record: IndexRecord | None) -> None:
        """Policy stored or executed."""
        with self._lock:
            self._policies[policy.name] = (policy, record)

    def forget(self, name: str) -> None:
        """Policy deleted."""
        with self._lock:
            self._policies.pop(name, None)

    def policy(self, name: str) -> Policy | None:
        """The stored policy `name`, if any."""
        with self._lock:
            found = self._policies.get(name)
        return found[0] if found else None

    def find(self, name: str, value: Any, max_matches: int) -> list[dict[str, Any]]:
        """The enrich documents of policy `name` whose match field matches `value`."""
        with self._lock:
            found = self._policies.get(name)
        if found is None:
            raise IllegalArgument(f"policy [{name}] does not exist")
        policy, record = found
        if record is None:
            raise IllegalArgument(f"no enrich index exists for policy with name [{name}]")
        with self._lock:
            self.searches += 1
        values = value if isinstance(value, list) else [value]
        query = parse_query({"terms": {policy.match_field: values}})
        targets = service.targets(self.engine, [record], query, now=self.clock.now(), scoring=False)
        out: list[dict[str, Any]] = []
        for hits in scan(targets, max_matches, max_matches):
            out.extend(hit.source for hit in hits)
        return out


_current: EnrichIndices | None = None


def install(store: Store, engine: Engine, clock: Clock) -> EnrichIndices:
    """Make a node's enrich indices the ones the ``enrich`` processor reads."""
    global _current
    found = EnrichIndices(engine, clock)
    found.load(store)
    _current = found
    return found


def current() -> EnrichIndices | None:
    """The node's enrich indices (None before a node has registered its routes)."""
    return _current
