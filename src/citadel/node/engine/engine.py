"""Every index's shard on this node, the document builder, and the refresh loop.

Shards live in ``<data-dir>/indices/<index uuid>/`` and open lazily on first use. A background
thread refreshes each shard every ``index.refresh_interval`` (default 1 s; ``-1`` never) while
it has unrefreshed writes.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import tantivy

from citadel.node.engine import fields as f
from citadel.node.engine.fields import SlotKind
from citadel.node.engine.layout import FieldTable, Layout
from citadel.node.engine.shard import Shard
from citadel.node.engine.translog import Op
from citadel.node.store import mapping as mp

DEFAULT_REFRESH_S = 1.0
TICK_S = 0.1


class IndexShape(Protocol):
    """What the engine needs of an index record (`citadel.node.store.indices.IndexRecord`)."""

    @property
    def uuid(self) -> str: ...

    @property
    def mappings(self) -> dict[str, Any]: ...

    @property
    def layout(self) -> Layout: ...

    @property
    def table(self) -> FieldTable: ...

    @property
    def refresh_s(self) -> float | None: ...


def build_document(
    table: FieldTable,
    doc_id: str,
    source: bytes,
    indexed: mp.Indexed,
    version: int,
    seq_no: int,
) -> tantivy.Document:
    """The tantivy document of one Elasticsearch document, every value in its field's slot."""
    doc = tantivy.Document()
    doc.add_text(f.ID_FIELD, doc_id)
    doc.add_bytes(f.SOURCE_FIELD, source)
    doc.add_integer(f.SEQ_NO_FIELD, seq_no)
    doc.add_integer(f.VERSION_FIELD, version)
    names: set[str] = set()
    for path, values in indexed.texts.items():
        ref = table.get(path)
        if ref is None or ref.slot is None:
            continue
        names.add(path)
        if ref.searchable:
            for value in values:
                doc.add_text(ref.slot, value)
    for path, kw, num in indexed.values:
        ref = table.get(path)
        if ref is None or ref.slot is None or (kw is None and num is None):
            continue
        names.add(path)
        kind = ref.kind
        if kind is SlotKind.KEYWORD:
            doc.add_text(ref.slot, kw if kw is not None else str(num))
        elif kind is SlotKind.DOUBLE:
            doc.add_float(ref.slot, float(num if num is not None else 0))
        elif kind is SlotKind.IP:
            doc.add_ip_addr(ref.slot, _ipv6(kw))
        elif num is not None:
            doc.add_integer(ref.slot, int(num))
    for name in names:
        doc.add_text(f.NAMES_FIELD, name)
    return doc


def _ipv6(text: str | None) -> str:
    address = ipaddress.ip_address(text or "0.0.0.0")
    if isinstance(address, ipaddress.IPv4Address):
        return str(ipaddress.IPv6Address(f"::ffff:{address}"))
    return str(address)


def _rebuilder(index: IndexShape) -> Callable[[Op], tantivy.Document]:
    def rebuild(op: Op) -> tantivy.Document:
        source = json.loads(op.source)
        indexed = mp.index_document(index.mappings, source, op.doc_id)
        return build_document(index.table, op.doc_id, op.source, indexed, op.version, op.seq_no)

    return rebuild


class Engine:
    """The node's shards by index uuid."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._shards: dict[str, Shard] = {}
        self._refresh_s: dict[str, float | None] = {}
        self._last_refresh: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- shards ------------------------------------------------------------------------------

    def shard(self, index: IndexShape) -> Shard:
        """The open shard of `index` (opened, and its translog replayed, on first use)."""
        shard = self._shards.get(index.uuid)
        if shard is not None:
            return shard
        with self._lock:
            shard = self._shards.get(index.uuid)
            if shard is None:
                shard = Shard(self.root / index.uuid, index.layout, _rebuilder(index))
                self._shards[index.uuid] = shard
                self._refresh_s[index.uuid] = index.refresh_s
            return shard

    def set_refresh_interval(self, uuid: str, seconds: float | None) -> None:
        """Refresh index `uuid` every `seconds` (None: only on request)."""
        self._refresh_s[uuid] = seconds

    def drop(self, uuid: str) -> None:
        """Remove index `uuid`'s files."""
        with self._lock:
            shard = self._shards.pop(uuid, None)
            self._refresh_s.pop(uuid, None)
        if shard is not None:
            shard.destroy()
        else:
            import shutil

            shutil.rmtree(self.root / uuid, ignore_errors=True)

    def refresh(self, uuid: str) -> bool:
        shard = self._shards.get(uuid)
        if shard is None:
            return False
        done = shard.refresh()
        self._last_refresh[uuid] = time.monotonic()
        return done

    def open_uuids(self) -> list[str]:
        return list(self._shards)

    def open_shards(self) -> list[Shard]:
        """The shards opened so far (an index's shard opens on its first use)."""
        return list(self._shards.values())

    # -- the refresh loop --------------------------------------------------------------------

    def start(self) -> None:
        """Start refreshing in the background."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="engine-refresh", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(TICK_S):
            now = time.monotonic()
            for uuid, shard in list(self._shards.items()):
                interval = self._refresh_s.get(uuid, DEFAULT_REFRESH_S)
                if interval is None or not shard.dirty:
                    continue
                if now - self._last_refresh.get(uuid, 0.0) >= interval:
                    try:
                        self.refresh(uuid)
                    except Exception:
                        time.sleep(TICK_S)

    def close(self) -> None:
        """Stop the loop and commit every shard."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for shard in list(self._shards.values()):
            shard.close()
        self._shards.clear()
