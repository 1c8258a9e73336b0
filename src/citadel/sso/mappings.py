"""SSO role mappings: IdP `groups` values -> role assignments (inventory 8.7). Pure.

Invariants:

- A pattern is a group name in which `*` matches any run of characters, including none.
  Nothing else is special (`?`, `[`, `\\` are literal) and matching is case-sensitive.
  `*` alone therefore matches every group, the empty group `""` included.
- A rule with no patterns never matches. `all`: every pattern matches at least one group;
  `any`: at least one pattern matches at least one group. No groups means no match.
- A missing `groups` attribute (None) means the member keeps the groups last received.
- The grants of all matching mappings are merged per (organization, role): a grant for all
  resources absorbs grants for specific ones, specific ids are unioned. Output order is
  fixed (organization id, then role in `RoleId` order), so the result does not depend on the
  order of the mappings or of the groups.
- At every SSO sign-in a member's role assignments in the organization are replaced by the
  mapping result; members who don't sign in with SSO keep theirs. `leaves_an_owner` checks
  that someone would still hold the Organization owner role.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from citadel.authz.decide import Grant
from citadel.authz.roles import OWNER, RoleId

MAX_NAME = 64
MAX_PATTERNS = 64
MAX_PATTERN = 256

_ROLE_ORDER = {role: index for index, role in enumerate(RoleId)}


@dataclass(frozen=True)
class Rule:
    """Which groups a member must have: all of the patterns, or any of them."""

    match: Literal["all", "any"]
    groups: tuple[str, ...]


@dataclass(frozen=True)
class RoleMapping:
    """A named rule and the role assignments it gives to the members it matches."""

    name: str
    rule: Rule
    grants: tuple[Grant, ...]


@dataclass(frozen=True)
class Evaluation:
    """The groups that were used, the names of the matching mappings and the merged grants."""

    groups_used: tuple[str, ...]
    matched: tuple[str, ...]
    grants: tuple[Grant, ...]


@dataclass(frozen=True)
class OwnerCheck:
    """Whether anyone would remain Organization owner, who, and everyone's resulting grants."""

    ok: bool
    owners: tuple[str, ...]
    by_member: dict[str, tuple[Grant, ...]]


@lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def pattern_matches(pattern: str, group: str) -> bool:
    """Whether `group` matches `pattern` (`*` is the only wildcard; case-sensitive)."""
    return _compile(pattern).fullmatch(group) is not None


def rule_matches(rule: Rule, groups: Iterable[str]) -> bool:
    """Whether a member with `groups` satisfies `rule`."""
    if not rule.groups:
        return False
    present = frozenset(groups)
    hits = (any(pattern_matches(p, g) for g in present) for p in rule.groups)
    return all(hits) if rule.match == "all" else any(hits)


def merge_grants(grants: Iterable[Grant]) -> tuple[Grant, ...]:
    """One grant per (organization, role): `all` wins over ids, ids are unioned; fixed order."""
    merged: dict[tuple[str, RoleId], Grant] = {}
    for grant in grants:
        key = (grant.organization_id, grant.role_id)
        seen = merged.get(key)
        if seen is None:
            merged[key] = grant
        elif seen.all or grant.all:
            merged[key] = Grant(grant.organization_id, grant.role_id, all=True)
        else:
            ids = seen.resource_ids | grant.resource_ids
            merged[key] = Grant(grant.organization_id, grant.role_id, False, ids)
    normal = (
        g if not g.all or not g.resource_ids else Grant(g.organization_id, g.role_id, all=True)
        for g in merged.values()
    )
    return tuple(sorted(normal, key=lambda g: (g.organization_id, _ROLE_ORDER[g.role_id])))


def evaluate(
    mappings: Sequence[RoleMapping],
    groups: Sequence[str] | None,
    previous_groups: Sequence[str] | None,
) -> Evaluation:
    """The mappings that match a member's groups and the grants they give, merged."""
    chosen = previous_groups if groups is None else groups
    used = tuple(sorted(frozenset(chosen or ())))
    hits = [m for m in mappings if rule_matches(m.rule, used)]
    return Evaluation(
        groups_used=used,
        matched=tuple(sorted(m.name for m in hits)),
        grants=merge_grants(g for m in hits for g in m.grants),
    )


def grants_after_sign_in(
    current: Sequence[Grant],
    groups: Sequence[str] | None,
    mappings: Sequence[RoleMapping],
    organization_id: str,
) -> tuple[Grant, ...]:
    """An SSO member's grants once the mappings replace their roles in `organization_id`."""
    elsewhere = [g for g in current if g.organization_id != organization_id]
    mapped = [
        g for g in evaluate(mappings, groups, None).grants if g.organization_id == organization_id
    ]
    return merge_grants([*elsewhere, *mapped])


def leaves_an_owner(
    members_grants: Mapping[str, Sequence[Grant]],
    sso_members_groups: Mapping[str, Sequence[str] | None],
    mappings: Sequence[RoleMapping],
    organization_id: str,
) -> OwnerCheck:
    """Whether some member would still be Organization owner under `mappings`.

    `members_grants` holds every member's current grants; `sso_members_groups` holds, for the
    members who sign in with SSO, the groups last received (None: none ever received). A user
    listed only in `sso_members_groups` counts as a member with no current grants.
    """
    users = sorted(frozenset(members_grants) | frozenset(sso_members_groups))
    by_member: dict[str, tuple[Grant, ...]] = {}
    for user in users:
        current = members_grants.get(user, ())
        if user in sso_members_groups:
            groups = sso_members_groups[user]
            by_member[user] = grants_after_sign_in(current, groups, mappings, organization_id)
        else:
            by_member[user] = merge_grants(current)
    owners = tuple(
        user
        for user, grants in by_member.items()
        if any(g.role_id is OWNER and g.organization_id == organization_id for g in grants)
    )
    return OwnerCheck(ok=bool(owners), owners=owners, by_member=by_member)


def check_mapping(name: str, rule: Rule, grants: Sequence[Grant]) -> None:
    """Raise ValueError, naming the field, unless the mapping is well formed."""
    if not 1 <= len(name) <= MAX_NAME or not name.strip():
        raise ValueError(f"name: must be 1 to {MAX_NAME} characters and not blank")
    if rule.match not in ("all", "any"):
        raise ValueError("match: must be 'all' or 'any'")
    if not 1 <= len(rule.groups) <= MAX_PATTERNS:
        raise ValueError(f"groups: must hold 1 to {MAX_PATTERNS} patterns")
    for index, pattern in enumerate(rule.groups):
        if not 1 <= len(pattern) <= MAX_PATTERN:
            raise ValueError(f"groups[{index}]: must be 1 to {MAX_PATTERN} characters")
        if "\x00" in pattern:
            raise ValueError(f"groups[{index}]: must not contain NUL")
    if not grants:
        raise ValueError("grants: must give at least one role")
