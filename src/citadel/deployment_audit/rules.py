"""What a deployment's audit settings may say (pure: no I/O).

The vocabulary is Elasticsearch's ``xpack.security.audit.logfile.events.*``: `include` and
`exclude` name event types (`include` may also be ``_all``; empty means the default set), and
``ignore_filters`` is a mapping of policy name to ``users``, ``realms``, ``actions``,
``roles`` and ``indices`` pattern lists; an event every list of one policy matches is not
recorded. Every refusal names the field it is about (``body.include[2]``,
``body.ignore_filters.ops.users[0]``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from citadel.deployment_audit.errors import InvalidAuditSettings


class EventType(StrEnum):
    """Elasticsearch's security audit event types (``event.action``)."""

    ACCESS_DENIED = "access_denied"
    ACCESS_GRANTED = "access_granted"
    ANONYMOUS_ACCESS_DENIED = "anonymous_access_denied"
    AUTHENTICATION_FAILED = "authentication_failed"
    AUTHENTICATION_SUCCESS = "authentication_success"
    CONNECTION_DENIED = "connection_denied"
    CONNECTION_GRANTED = "connection_granted"
    REALM_AUTHENTICATION_FAILED = "realm_authentication_failed"
    RUN_AS_DENIED = "run_as_denied"
    RUN_AS_GRANTED = "run_as_granted"
    SECURITY_CONFIG_CHANGE = "security_config_change"
    SYSTEM_ACCESS_GRANTED = "system_access_granted"
    TAMPERED_REQUEST = "tampered_request"


ALL_EVENTS = "_all"
DEFAULT_INCLUDE: tuple[EventType, ...] = (
    EventType.ACCESS_DENIED,
    EventType.ACCESS_GRANTED,
    EventType.ANONYMOUS_ACCESS_DENIED,
    EventType.AUTHENTICATION_FAILED,
    EventType.CONNECTION_DENIED,
    EventType.TAMPERED_REQUEST,
    EventType.RUN_AS_DENIED,
    EventType.RUN_AS_GRANTED,
    EventType.SECURITY_CONFIG_CHANGE,
)
"""What a node records when `include` is empty (Elasticsearch's default)."""

FILTER_KEYS = ("users", "realms", "actions", "roles", "indices")
MAX_EVENT_NAMES = 32
MAX_POLICIES = 32
MAX_PATTERNS = 100
MAX_PATTERN_LENGTH = 256
_POLICY_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_KNOWN = frozenset(EventType)


@dataclass(frozen=True)
class AuditSettingsChange:
    """A change of a deployment's audit settings: a field left None keeps its value."""

    enabled: bool | None = None
    include: Sequence[str] | None = None
    exclude: Sequence[str] | None = None
    ignore_filters: Mapping[str, Any] | None = None


def check_change(change: AuditSettingsChange) -> None:
    """Refuse a change that names an unknown event type or has a malformed filter policy."""
    if change.include is not None:
        _check_names(change.include, "body.include", allow_all=True)
    if change.exclude is not None:
        _check_names(change.exclude, "body.exclude", allow_all=False)
    if change.ignore_filters is not None:
        check_ignore_filters(change.ignore_filters)


def _check_names(names: Sequence[str], field: str, *, allow_all: bool) -> None:
    if len(names) > MAX_EVENT_NAMES:
        raise InvalidAuditSettings(f"At most {MAX_EVENT_NAMES} event types.", fields=[field])
    for i, name in enumerate(names):
        if name in _KNOWN or (allow_all and name == ALL_EVENTS):
            continue
        known = ", ".join(sorted(_KNOWN))
        raise InvalidAuditSettings(
            f"{name!r} is not an Elasticsearch audit event type (one of: {known}"
            + (", or _all)." if allow_all else ")."),
            fields=[f"{field}[{i}]"],
        )


def check_ignore_filters(filters: Mapping[str, Any]) -> None:
    """``{policy: {users|realms|actions|roles|indices: [pattern, ...]}}``, each policy with at
    least one list, each list 1 to `MAX_PATTERNS` non-empty patterns."""
    base = "body.ignore_filters"
    if not isinstance(filters, Mapping):
        raise InvalidAuditSettings("ignore_filters is an object of policies.", fields=[base])
    if len(filters) > MAX_POLICIES:
        raise InvalidAuditSettings(f"At most {MAX_POLICIES} policies.", fields=[base])
    for name, policy in filters.items():
        if not isinstance(name, str) or not _POLICY_NAME.match(name):
            raise InvalidAuditSettings(
                "A policy name is 1 to 64 letters, digits, '_' or '-'.", fields=[f"{base}.{name}"]
            )
        _check_policy(policy, f"{base}.{name}")


def _check_policy(policy: Any, field: str) -> None:
    if not isinstance(policy, Mapping) or not policy:
        raise InvalidAuditSettings(
            f"A policy is an object with one or more of: {', '.join(FILTER_KEYS)}.",
            fields=[field],
        )
    for key, patterns in policy.items():
        if key not in FILTER_KEYS:
            raise InvalidAuditSettings(
                f"{key!r} is not a filter (one of: {', '.join(FILTER_KEYS)}).",
                fields=[f"{field}.{key}"],
            )
        _check_patterns(patterns, f"{field}.{key}")


def _check_patterns(patterns: Any, field: str) -> None:
    if not isinstance(patterns, list) or not 1 <= len(patterns) <= MAX_PATTERNS:
        raise InvalidAuditSettings(
            f"A filter is a list of 1 to {MAX_PATTERNS} patterns.", fields=[field]
        )
    for i, pattern in enumerate(patterns):
        if (
            not isinstance(pattern, str)
            or not 1 <= len(pattern) <= MAX_PATTERN_LENGTH
            or any(ord(c) < 32 for c in pattern)
        ):
            raise InvalidAuditSettings(
                f"A pattern is 1 to {MAX_PATTERN_LENGTH} printable characters.",
                fields=[f"{field}[{i}]"],
            )
