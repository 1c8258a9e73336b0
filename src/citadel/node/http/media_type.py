"""The request body's ``Content-Type``, checked as Elasticsearch's RestController does. Pure.

A request with a body must name a media type the node reads: JSON (``application/json``,
``application/x-ndjson``, ``application/*`` and the ``application/vnd.elasticsearch+json`` /
``+x-ndjson`` types the official clients send with ``compatible-with``). Anything else gets
Elasticsearch's 406, ``{"error": "Content-Type header [...] is not supported", "status": 406}``,
and a body without a ``Content-Type`` its ``Content-Type header is missing``; this is what
keeps a browser's cross-site form or ``text/plain`` post out. YAML, CBOR and Smile bodies,
which Elasticsearch would parse, get the same 406 here. A header that is not a media type at
all is Elasticsearch's 400 ``media_type_header_exception``.
"""

from __future__ import annotations

import re
from typing import Any

from citadel.node.errors import EsError

JSON_TYPES = frozenset(
    {
        "application/json",
        "application/x-ndjson",
        "application/*",
        "application/vnd.elasticsearch+json",
        "application/vnd.elasticsearch+x-ndjson",
    }
)
_RFC7230_TCHAR = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MEDIA_TYPE = re.compile(rf"^\s*({_RFC7230_TCHAR})/({_RFC7230_TCHAR})\s*(;.*)?$", re.DOTALL)


class ContentTypeNotSupported(EsError):
    """Elasticsearch's 406 for a body it will not read; a bare string error, not an object."""

    type = "content_type_not_supported"
    status = 406

    def body(self) -> dict[str, Any]:
        return {"error": self.reason, "status": self.status}


class MediaTypeHeader(EsError):
    type = "media_type_header_exception"
    status = 400


def check_content_type(content_type: str | None, *, has_body: bool) -> None:
    """400 for a malformed ``Content-Type``; 406 when a body comes in a type the node won't read."""
    media_type = None
    if content_type is not None:
        m = _MEDIA_TYPE.match(content_type)
        if m is None:
            raise MediaTypeHeader(
                "Invalid media-type value on headers [Content-Type]",
                caused_by={
                    "type": "status_exception",
                    "reason": f"invalid media-type [{content_type}]",
                },
            )
        media_type = f"{m.group(1)}/{m.group(2)}".lower()
    if not has_body:
        return
    if content_type is None:
        raise ContentTypeNotSupported("Content-Type header is missing")
    if media_type not in JSON_TYPES:
        raise ContentTypeNotSupported(f"Content-Type header [{content_type}] is not supported")
