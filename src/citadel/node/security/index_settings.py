"""``/_security/settings``: the user-settable settings of Elasticsearch's security system
indices (``security``, ``security-tokens``, ``security-profile``).

Elasticsearch lets only ``index.auto_expand_replicas`` and ``index.number_of_replicas`` be set
there. This node keeps its security data in its catalog and is a single node, so, as for the
replica settings of every index here, the values are validated, stored and shown, and change
nothing else. A ``null`` value restores the default.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from citadel.node.errors import IllegalArgument
from citadel.node.security.errors import ParseException
from citadel.node.security.realm import Realm

INDICES = ("security", "security-tokens", "security-profile")
DEFAULTS = {"index.auto_expand_replicas": "0-1", "index.number_of_replicas": "0"}
_AUTO_EXPAND = re.compile(r"(?:[0-9]+-(?:[0-9]+|all))|false")


def get_settings(realm: Realm) -> dict[str, Any]:
    """The settings of each security index, nested as Elasticsearch shows them."""
    with realm.store.read() as conn:
        rows = conn.execute("SELECT index_name, settings FROM security_index_settings").fetchall()
    stored = {r["index_name"]: json.loads(r["settings"]) for r in rows}
    return {name: _nested({**DEFAULTS, **stored.get(name, {})}) for name in INDICES}


def update_settings(realm: Realm, body: Any) -> None:
    """Apply ``{index: {setting: value}}`` (flat or nested keys; null restores the default)."""
    if not isinstance(body, Mapping):
        raise ParseException("failed to parse security settings. expected an object")
    changes: dict[str, dict[str, str | None]] = {}
    for name, settings in body.items():
        if name not in INDICES:
            raise ParseException(
                f"failed to parse security settings. unexpected field [{name}]; expected one of "
                f"[{', '.join(INDICES)}]"
            )
        changes[name] = _checked(name, _flat(settings, name))
    with realm.store.write() as conn:
        for name, updates in changes.items():
            row = conn.execute(
                "SELECT settings FROM security_index_settings WHERE index_name = ?", (name,)
            ).fetchone()
            current = json.loads(row["settings"]) if row else {}
            for key, value in updates.items():
                if value is None:
                    current.pop(key, None)
                else:
                    current[key] = value
            conn.execute(
                "INSERT INTO security_index_settings (index_name, settings) VALUES (?, ?) "
                "ON CONFLICT (index_name) DO UPDATE SET settings = excluded.settings",
                (name, json.dumps(current)),
            )


def _flat(settings: Any, name: str, prefix: str = "") -> dict[str, Any]:
    if not isinstance(settings, Mapping):
        raise ParseException(f"failed to parse security settings. [{name}] must be an object")
    out: dict[str, Any] = {}
    for key, value in settings.items():
        full = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flat(value, name, f"{full}."))
        else:
            out[full] = value
    return out


def _checked(name: str, settings: Mapping[str, Any]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for key, value in settings.items():
        full = key if key.startswith("index.") else f"index.{key}"
        if full not in DEFAULTS:
            raise IllegalArgument(
                f"illegal setting for index [{name}]: [{key}]; only "
                f"[{', '.join(sorted(DEFAULTS))}] may be set"
            )
        if value is None:
            out[full] = None
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if full == "index.number_of_replicas" and not (text.isdigit() and int(text) <= 1024):
            raise IllegalArgument(
                f"Failed to parse value [{text}] for setting [index.number_of_replicas] must "
                "be a whole number between 0 and 1024"
            )
        if full == "index.auto_expand_replicas" and not _AUTO_EXPAND.fullmatch(text):
            raise IllegalArgument(
                f"failed to parse [index.auto_expand_replicas] from value: [{text}] at index -1"
            )
        out[full] = text
    return out


def _nested(flat: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in sorted(flat.items()):
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out
