"""The decision functions: pure, default deny, and each answer says why.

`decide` answers "may this subject use this permission on this target?". `may_grant`
answers "may this subject give (or take away) this role assignment?": nobody grants beyond
their own authority. `visible_part` implements inventory 10.7: members see only the role
assignments they are able to manage.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from citadel.authz.permissions import MEMBER_PERMISSIONS, ROLE_PERMISSIONS, Permission
from citadel.authz.roles import OWNER, RoleId, ScopeKind


class Coverage(StrEnum):
    """How much of a resource kind a target needs."""

    ONE = "one"  # the named resource
    ANY = "any"  # at least one resource of the kind
    ALL = "all"  # every resource of the kind, present and future


@dataclass(frozen=True)
class Grant:
    """One role assignment, as authorization sees it."""

    organization_id: str
    role_id: RoleId
    all: bool = False
    resource_ids: frozenset[str] = field(default_factory=frozenset)

    @property
    def kind(self) -> ScopeKind:
        return self.role_id.scope_kind

    def covers_scope_of(self, other: Grant) -> bool:
        """Whether this grant's scope includes every resource `other` refers to."""
        if self.organization_id != other.organization_id or self.kind is not other.kind:
            return False
        return self.all or (not other.all and other.resource_ids <= self.resource_ids)


@dataclass(frozen=True)
class Subject:
    """Who is asking: their memberships and role assignments (a key's or a user's)."""

    organization_ids: frozenset[str]
    grants: tuple[Grant, ...]

    def grants_in(self, organization_id: str) -> Iterable[Grant]:
        return (g for g in self.grants if g.organization_id == organization_id)

    def is_owner_of(self, organization_id: str) -> bool:
        return any(g.role_id is OWNER for g in self.grants_in(organization_id))


@dataclass(frozen=True)
class Target:
    """What is being acted on."""

    organization_id: str
    kind: ScopeKind = ScopeKind.ORGANIZATION
    resource_id: str | None = None
    coverage: Coverage = Coverage.ONE

    @classmethod
    def organization(cls, organization_id: str) -> Target:
        return cls(organization_id)

    @classmethod
    def resource(cls, organization_id: str, kind: ScopeKind, resource_id: str) -> Target:
        return cls(organization_id, kind, resource_id, Coverage.ONE)

    @classmethod
    def any_of(cls, organization_id: str, kind: ScopeKind) -> Target:
        return cls(organization_id, kind, None, Coverage.ANY)

    @classmethod
    def all_of(cls, organization_id: str, kind: ScopeKind) -> Target:
        return cls(organization_id, kind, None, Coverage.ALL)


class Reason(StrEnum):
    """Why a decision came out the way it did."""

    OWNER = "organization_owner"
    MEMBERSHIP = "organization_membership"
    ROLE = "role_grants_permission"
    NOT_A_MEMBER = "not_a_member"
    NO_ROLE = "no_role_grants_permission"
    OUT_OF_SCOPE = "outside_role_scope"
    ORGANIZATION_ROLE_NEEDS_OWNER = "organization_roles_need_owner"


@dataclass(frozen=True)
class Decision:
    """An answer and its reason."""

    allowed: bool
    reason: Reason

    def __bool__(self) -> bool:
        return self.allowed


def decide(subject: Subject, permission: Permission, target: Target) -> Decision:
    """Whether `subject` holds `permission` on `target`; deny unless a grant says yes."""
    org = target.organization_id
    if org not in subject.organization_ids:
        return Decision(False, Reason.NOT_A_MEMBER)
    if subject.is_owner_of(org):
        return Decision(True, Reason.OWNER)
    if permission in MEMBER_PERMISSIONS and target.kind is ScopeKind.ORGANIZATION:
        return Decision(True, Reason.MEMBERSHIP)
    holders = [g for g in subject.grants_in(org) if permission in ROLE_PERMISSIONS[g.role_id]]
    if not holders:
        return Decision(False, Reason.NO_ROLE)
    if any(_covers(g, target) for g in holders):
        return Decision(True, Reason.ROLE)
    return Decision(False, Reason.OUT_OF_SCOPE)


def _covers(grant: Grant, target: Target) -> bool:
    if target.kind is ScopeKind.ORGANIZATION:
        return True
    if grant.kind is not target.kind:
        return False
    if target.coverage is Coverage.ALL:
        return grant.all
    if target.coverage is Coverage.ANY:
        return grant.all or bool(grant.resource_ids)
    return grant.all or target.resource_id in grant.resource_ids


def may_grant(subject: Subject, assignment: Grant) -> Decision:
    """Whether `subject` may give or remove `assignment` (never beyond their own authority)."""
    org = assignment.organization_id
    if org not in subject.organization_ids:
        return Decision(False, Reason.NOT_A_MEMBER)
    if subject.is_owner_of(org):
        return Decision(True, Reason.OWNER)
    if assignment.kind is ScopeKind.ORGANIZATION:
        return Decision(False, Reason.ORGANIZATION_ROLE_NEEDS_OWNER)
    admins = [g for g in subject.grants_in(org) if g.role_id.is_resource_admin]
    admins = [g for g in admins if g.kind is assignment.kind]
    if not admins:
        return Decision(False, Reason.NO_ROLE)
    if any(g.covers_scope_of(assignment) for g in admins):
        return Decision(True, Reason.ROLE)
    return Decision(False, Reason.OUT_OF_SCOPE)


def visible_part(subject: Subject, assignment: Grant) -> Grant | None:
    """The part of someone's `assignment` that `subject` may see (inventory 10.7), if any."""
    org = assignment.organization_id
    if subject.is_owner_of(org):
        return assignment
    if assignment.kind is ScopeKind.ORGANIZATION:
        return None
    admins = [
        g
        for g in subject.grants_in(org)
        if g.role_id.is_resource_admin and g.kind is assignment.kind
    ]
    if any(g.all for g in admins):
        return assignment
    if assignment.all:
        return None
    mine = frozenset().union(*(g.resource_ids for g in admins)) if admins else frozenset()
    shared = assignment.resource_ids & mine
    if not shared:
        return None
    return Grant(org, assignment.role_id, False, shared)
