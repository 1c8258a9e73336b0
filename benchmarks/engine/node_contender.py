"""The node (`citadel node`, one process) over HTTPS with keep-alive, on a plain directory or
on a gocryptfs volume; plain Elasticsearch API requests only.

The node is started as the node tests start it (`tests/node/process.py`: TLS material from a
throwaway platform CA, the data key and the `elastic` password on pipes). The client is one
`http.client` connection kept alive for the whole run, HTTP Basic as `elastic`. The index is
created first with an explicit mapping (`PUT /bench`); documents go through `POST /_bulk`
(1,000 per request, the corpus's own bytes), then `POST /bench/_refresh`. Searches ask for
`"_source": false`: only ids, as the in-process contenders return. A 400 (or 501) answer is a
refusal (`Refused`), recorded for that phase. CPU time and peak memory are the node
process's own, read from /proc.

The encrypted variant mounts a gocryptfs volume with `citadel.runtime.volume` when that module
is there (the platform's own mount options), else with the command line of machine notes
section 9; the node's data directory is inside the mount, bytes on disk are the ciphertext's.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.node.process import RunningNode, make_tls, start_node

from benchmarks.engine.corpus import DAY_MS, INDEX
from benchmarks.engine.phases import (
    TOP,
    Refused,
    proc_cpu_seconds,
    proc_peak_rss,
    tree_bytes,
)

PASSWORD = "engine-bench-elastic-password"
MAPPING = {
    "mappings": {
        "properties": {
            "title": {"type": "text"},
            "body": {"type": "text"},
            "tag": {"type": "keyword"},
            "count": {"type": "integer"},
            "timestamp": {"type": "date"},
        }
    }
}
REFUSALS = (400, 501)


class NodeEngine:
    """The `Engine` of a running node, reached over HTTPS."""

    def __init__(self, node: RunningNode, disk_root: Path) -> None:
        self.node = node
        self.disk_root = disk_root
        self.pid = node.proc.pid
        host, port = node.url.removeprefix("https://").split(":")
        context = ssl.create_default_context(cafile=str(node.tls.ca))
        self.connection = http.client.HTTPSConnection(host, int(port), context=context)
        token = base64.b64encode(f"elastic:{PASSWORD}".encode()).decode()
        self.headers = {"authorization": f"Basic {token}", "content-type": "application/json"}

    def request(self, method: str, path: str, body: Any = None, *, ndjson: bool = False) -> Any:
        """One request on the kept-alive connection; the JSON answer, `Refused` on 400/501."""
        payload = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        headers = dict(self.headers)
        if ndjson:
            headers["content-type"] = "application/x-ndjson"
        self.connection.request(method, path, body=payload, headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        if response.status in REFUSALS:
            raise Refused(f"{response.status} {data[:240].decode(errors='replace')}")
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")
        return json.loads(data) if data else None

    def create_index(self) -> None:
        self.request("PUT", f"/{INDEX}", MAPPING)

    def about(self) -> dict[str, Any]:
        info = self.request("GET", "/")
        return {"engine": "citadel node over HTTPS", "version": info.get("version", {})}

    def prepare(self, lines: list[bytes]) -> bytes:
        return b"".join(lines)

    def index(self, batch: bytes) -> None:
        answer = self.request("POST", "/_bulk", batch, ndjson=True)
        if answer.get("errors"):
            first = next(i for i in answer["items"] if next(iter(i.values())).get("error"))
            raise RuntimeError(f"_bulk item failed: {json.dumps(first)[:300]}")

    def finish_indexing(self) -> None:
        self.request("POST", f"/{INDEX}/_refresh")

    def _search(self, body: dict[str, Any]) -> Any:
        return self.request("POST", f"/{INDEX}/_search", body)

    def _ids(self, query: dict[str, Any]) -> list[str]:
        answer = self._search({"size": TOP, "_source": False, "query": query})
        return [hit["_id"] for hit in answer["hits"]["hits"]]

    def match(self, text: str) -> list[str]:
        return self._ids({"match": {"body": text}})

    def filtered(self, text: str, tag: str, lo: int, hi: int) -> list[str]:
        return self._ids(
            {
                "bool": {
                    "must": [{"match": {"body": text}}],
                    "filter": [
                        {"term": {"tag": tag}},
                        {"range": {"count": {"gte": lo, "lt": hi}}},
                    ],
                }
            }
        )

    def _aggregate(self, lo: int, hi: int, aggs: dict[str, Any]) -> Any:
        body = {"size": 0, "query": {"range": {"count": {"gte": lo, "lt": hi}}}, "aggs": aggs}
        return self._search(body)["aggregations"]

    def terms(self, lo: int, hi: int) -> dict[str, int]:
        answer = self._aggregate(lo, hi, {"tags": {"terms": {"field": "tag", "size": 20}}})
        return {b["key"]: b["doc_count"] for b in answer["tags"]["buckets"]}

    def date_histogram(self, lo: int, hi: int) -> dict[int, int]:
        aggs = {"days": {"date_histogram": {"field": "timestamp", "fixed_interval": "1d"}}}
        answer = self._aggregate(lo, hi, aggs)
        return {
            int(b["key"]) // DAY_MS * DAY_MS: b["doc_count"]
            for b in answer["days"]["buckets"]
            if b["doc_count"]
        }

    def disk_bytes(self) -> int:
        return tree_bytes(self.disk_root)

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid)

    def peak_rss_bytes(self) -> int:
        return proc_peak_rss(self.pid)

    def close(self) -> None:
        self.connection.close()


@contextmanager
def running_node(
    work: Path, *, encrypted_volume: bool, source: Path | None = None
) -> Iterator[NodeEngine]:
    """A fresh node on `work`/node (plain) or inside a gocryptfs volume; stopped at the end.

    `source`: a directory holding another `citadel` package (an exported commit's ``src``)
    to run the node from instead of this checkout's.
    """
    work.mkdir(parents=True, exist_ok=True)
    tls_dir = work / "tls"
    tls_dir.mkdir(exist_ok=True)
    tls = make_tls(tls_dir)
    with _data_dir(work, encrypted_volume) as (data_dir, disk_root):
        saved = os.environ.get("PYTHONPATH")
        if source is not None:
            os.environ["PYTHONPATH"] = str(source)  # ahead of the editable install's path
        try:
            node = start_node(data_dir, tls, elastic_password=PASSWORD)
        finally:
            if saved is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = saved
        engine = NodeEngine(node, disk_root)
        try:
            yield engine
        finally:
            engine.close()
            node.stop()


@contextmanager
def _data_dir(work: Path, encrypted_volume: bool) -> Iterator[tuple[Path, Path]]:
    """(the node's data directory, the directory whose bytes are on disk)."""
    if not encrypted_volume:
        yield work / "node", work / "node"
        return
    cipher, mountpoint = work / "cipher", work / "plain"
    with _gocryptfs(cipher, mountpoint, os.urandom(32)):
        yield mountpoint / "node", cipher


@contextmanager
def _gocryptfs(cipher: Path, mountpoint: Path, key: bytes) -> Iterator[None]:
    try:
        from citadel.runtime import volume
    except ImportError:
        volume = None  # type: ignore[assignment]
    if volume is not None and hasattr(volume, "open_volume"):
        v = volume.Volume(cipher, mountpoint, os.getuid(), os.getgid())
        volume.open_volume(v, key)
        try:
            yield
        finally:
            volume.unmount(mountpoint)
        return
    cipher.mkdir(parents=True, mode=0o700)
    mountpoint.mkdir(parents=True, mode=0o700)
    password = key.hex().encode()
    for argv in (
        ["gocryptfs", "-init", "-q", "-passfile", "/dev/stdin", str(cipher)],
        ["gocryptfs", "-q", "-passfile", "/dev/stdin", str(cipher), str(mountpoint)],
    ):
        subprocess.run(argv, input=password, check=True, stdout=subprocess.DEVNULL)
    try:
        yield
    finally:
        fusermount = shutil.which("fusermount3") or "fusermount"
        subprocess.run([fusermount, "-u", str(mountpoint)], check=False)


def volume_route() -> str:
    """Which code mounts the encrypted volume in this checkout."""
    try:
        from citadel.runtime import volume
    except ImportError:
        return "gocryptfs command line (machine notes section 9)"
    mount = " ".join(getattr(volume, "MOUNT_OPTIONS", ()))
    return f"citadel.runtime.volume ({mount})"
