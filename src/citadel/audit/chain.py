"""The hash chain: each event's digest covers its fields and the digest before it.

``digest = HMAC-SHA256(audit_key, prev_digest || "\\n" || canonical_json(fields))``

The key is derived from the platform keyring, so someone who can write to the database but
does not hold the platform key cannot forge a consistent chain after editing or deleting an
event. The first event of a chain has ``prev_digest = GENESIS``. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

GENESIS = "0" * 64


def canonical(fields: Mapping[str, Any]) -> bytes:
    """One byte string per set of fields: sorted keys, no spaces, UTF-8."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str).encode()


def link(key: bytes, prev_digest: str, fields: Mapping[str, Any]) -> str:
    """The digest of an event whose predecessor has `prev_digest`."""
    mac = hmac.new(key, prev_digest.encode() + b"\n" + canonical(fields), hashlib.sha256)
    return mac.hexdigest()
