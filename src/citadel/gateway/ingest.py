"""What a project's `ingest` endpoint accepts: bulk and index requests only (pure).

An Observability or Security project's `<alias>.ingest.<region>.<domain>` is a write-only
intake for shippers that speak Elasticsearch's bulk and index APIs. The gateway forwards a
request there only when its method and path are one of these (as Elasticsearch's own REST
handlers register them; the query string is not looked at):

- ``POST|PUT /_bulk``, ``POST|PUT /{index}/_bulk``
- ``POST /{index}/_doc``, ``POST|PUT /{index}/_doc/{id}``, ``POST|PUT /{index}/_create/{id}``
- ``GET|HEAD /``: the version a shipper asks for before it sends (Beats and Logstash refuse
  to start without it); it reads no data.

Any other path is refused with 400, and a path above with another method with 405 and the
methods it takes, in Elasticsearch's error shape, before the request reaches the node (and
before a stopped project is woken). `{index}` is one path segment that does not start with
``_`` (an API, not an index); `{id}` is one non-empty segment.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class IngestVerdict:
    """Whether the request is an ingest request; when not, the methods its path takes
    (empty: no ingest request has this path)."""

    allowed: bool
    methods: tuple[str, ...] = ()


ACCEPTED = IngestVerdict(True)
NO_SUCH_PATH = IngestVerdict(False)
_ROOT = ("GET", "HEAD")
_WRITE = ("POST", "PUT")
_POST = ("POST",)


def ingest_verdict(method: bytes, target: bytes) -> IngestVerdict:
    """The verdict on `method` and request `target` (path and query) for an `ingest` host."""
    methods = _methods(target.split(b"?", 1)[0].split(b"#", 1)[0])
    if not methods:
        return NO_SUCH_PATH
    if method.decode("latin-1") in methods:
        return ACCEPTED
    return IngestVerdict(False, methods)


def _methods(path: bytes) -> tuple[str, ...]:
    """The methods an ingest path takes; empty when it is not one."""
    if path == b"/":
        return _ROOT
    parts = path[1:].split(b"/")
    if parts and parts[-1] == b"":
        parts.pop()  # a trailing slash, as Elasticsearch ignores it
    if parts == [b"_bulk"]:
        return _WRITE
    if len(parts) < 2 or not _is_index(parts[0]):
        return ()
    api = parts[1]
    if len(parts) == 2:
        if api == b"_bulk":
            return _WRITE
        if api == b"_doc":
            return _POST
        return ()
    if len(parts) == 3 and api in (b"_doc", b"_create") and parts[2]:
        return _WRITE
    return ()


def _is_index(segment: bytes) -> bool:
    return bool(segment) and not segment.startswith(b"_")
