"""Content codings: request bodies decoded as they arrive, responses gzipped on request. Pure.

Requests: ``Content-Encoding: gzip`` (``x-gzip``) and ``deflate`` (``x-deflate``; zlib-wrapped
or raw, as Netty's decompressor in Elasticsearch accepts) are inflated chunk by chunk with a
hard cap on the *decoded* size, so a zip bomb costs at most the cap before its 413. A corrupt
or truncated stream is a 400. Any other coding is a 400 too: Elasticsearch (Netty) would pass
the bytes through undecoded and fail on them later, usually with the same status.

Responses: gzip when ``Accept-Encoding`` allows it and the body is at least `MIN_GZIP_SIZE`,
with ``Vary: Accept-Encoding`` on every response whose coding depended on that header.
"""

from __future__ import annotations

import gzip
import zlib

from citadel.node.errors import ContentTooLarge, IllegalArgument

MIN_GZIP_SIZE = 1024
GZIP_LEVEL = 3  # Elasticsearch's http.compression_level default
_CODINGS = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate", "x-deflate": "deflate"}


class UnreadableBody(IllegalArgument):
    """The body does not decode in the coding its ``Content-Encoding`` names."""


class BodyDecoder:
    """Collects a request body, decoding it on the way, never holding more than `limit` bytes."""

    def __init__(self, content_encoding: str | None, limit: int) -> None:
        self.limit = limit
        self.coding = request_coding(content_encoding)
        self._chunks: list[bytes] = []
        self._size = 0
        self._inflater: zlib._Decompress | None = None
        self._pending = b""  # the first byte of a deflate body, until its wrapper is known

    def feed(self, chunk: bytes) -> None:
        """Take the next raw chunk; 413 as soon as the decoded body outgrows the limit."""
        if not chunk:
            return
        if self.coding is None:
            self._keep(chunk)
            return
        data = chunk
        if self._inflater is None:
            data = self._pending + data
            if self.coding == "deflate" and len(data) < 2:
                self._pending = data
                return
            self._pending = b""
            self._inflater = _inflater_for(self.coding, data)
        self._inflate(data)

    def finish(self) -> bytes:
        """The decoded body; 400 when a compressed stream ended early."""
        if self._pending or (self._inflater is not None and not self._inflater.eof):
            raise self._corrupt("unexpected end of the compressed stream")
        return b"".join(self._chunks)

    def _inflate(self, data: bytes) -> None:
        # Output is capped at one byte past the limit per call: a capped call leaves input
        # behind only when it produced that much, and then _keep raises the 413.
        assert self._inflater is not None
        while data:
            if self._inflater.eof:  # a further gzip member (RFC 1952 allows several)
                if self.coding != "gzip":
                    raise self._corrupt("bytes after the end of the deflate stream")
                self._inflater = _inflater_for("gzip", data)
            try:
                out = self._inflater.decompress(data, self.limit - self._size + 1)
            except zlib.error as exc:
                raise self._corrupt(str(exc)) from None
            self._keep(out)
            data = (
                self._inflater.unused_data if self._inflater.eof else self._inflater.unconsumed_tail
            )

    def _keep(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self.limit:
            raise ContentTooLarge(f"the request body is larger than {self.limit} bytes")
        if data:
            self._chunks.append(data)

    def _corrupt(self, detail: str) -> UnreadableBody:
        return UnreadableBody(f"failed to decode the {self.coding} request body: {detail}")


def _inflater_for(coding: str, head: bytes) -> zlib._Decompress:
    if coding == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    zlib_wrapped = (head[0] & 0x0F) == 8 and (head[0] << 8 | head[1]) % 31 == 0
    return zlib.decompressobj(zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS)


def request_coding(content_encoding: str | None) -> str | None:
    """``gzip``, ``deflate`` or None (identity); 400 for a coding the node does not decode."""
    if content_encoding is None:
        return None
    codings = [c.strip().lower() for c in content_encoding.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return None
    if len(codings) == 1 and codings[0] in _CODINGS:
        return _CODINGS[codings[0]]
    raise IllegalArgument(
        f"unsupported Content-Encoding [{content_encoding}]: this node decodes gzip and deflate"
    )


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an ``Accept-Encoding`` header allows gzip (``gzip``/``x-gzip``/``*`` with q > 0)."""
    if not accept_encoding:
        return False
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, _, params = item.partition(";")
        name = name.strip().lower()
        weight = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = 0.0
        if name:
            weights[name] = weight
    for name in ("gzip", "x-gzip"):
        if name in weights:
            return weights[name] > 0
    return weights.get("*", 0.0) > 0


def encode_response(
    payload: bytes, accept_encoding: str | None, *, compressible: bool = True
) -> tuple[bytes, dict[str, str]]:
    """The payload gzipped when the client accepts it and it is worth it, and the headers."""
    if not compressible or len(payload) < MIN_GZIP_SIZE:
        return payload, {}
    if not accepts_gzip(accept_encoding):
        return payload, {"Vary": "Accept-Encoding"}
    compressed = gzip.compress(payload, compresslevel=GZIP_LEVEL, mtime=0)
    return compressed, {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
