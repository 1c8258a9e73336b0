"""Deployment and project access tokens (ADR 27): a member, or an API key of the organization,
gets a short-lived RS256 JWT for one deployment or one serverless project, with the stack roles
their Cloud roles map to there; the node verifies it offline against the published keys.

`mint_deployment_token` and `mint_project_token` are one mint (`_mint`) on two kinds of
target. It refuses, in this order: a target the caller cannot see (404, like an unknown id), a
password or passkey session while the organization enforces SSO (403 ``*.sso_required``), a
caller whose roles map to no stack role (403 ``*.no_stack_role``). Every mint and every 403 is
audited in the organization's chain; the token itself never is. `rotate_token_keys` is the
chores loop's and ``citadel admin rotate-token-key``'s: it makes, retires and deletes signing
keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from citadel.audit.tags import AuditAction, Outcome, TargetType
from citadel.authn.context import Context, Policies
from citadel.authz.decide import Target, decide
from citadel.authz.permissions import Permission
from citadel.authz.roles import RoleId, ScopeKind
from citadel.deployment_tokens import claims, keys, service
from citadel.deployment_tokens.claims import TokenFor
from citadel.deployment_tokens.errors import (
    NoStackRole,
    ProjectNoStackRole,
    ProjectSsoRequired,
    SsoRequired,
)
from citadel.deployment_tokens.keys import SigningKey
from citadel.deployment_tokens.rotation import RotationPlan
from citadel.deployment_tokens.tokens import TokenPolicy, sign
from citadel.deployments.errors import DeploymentNotFound
from citadel.deployments.lifecycle import Desired
from citadel.deployments.models import DEPLOYMENT, PROJECT, Deployment
from citadel.errors import CitadelError, Unauthenticated
from citadel.kit.ids import new_id
from citadel.log import get_logger
from citadel.projects import roles as project_roles
from citadel.projects.errors import ProjectNotFound
from citadel.projects.models import Project
from citadel.projects.types import ProjectType
from citadel.use_cases.units import Units

log = get_logger(__name__)

_RACE_RETRIES = 3


@dataclass(frozen=True)
class MintedToken:
    """A minted token and what it says (the route's answer)."""

    token: str
    token_type: str
    expires_at: datetime
    expires_in: int
    roles: tuple[str, ...]
    resource_id: str
    audience: str


@dataclass(frozen=True)
class _Kind:
    """What differs between minting for a deployment and for a project."""

    token_for: TokenFor
    target_type: TargetType
    read: Permission
    stack_roles: Mapping[RoleId, str]
    not_found: type[CitadelError]
    sso_required: type[CitadelError]
    no_stack_role: type[CitadelError]
    minted: AuditAction
    refused: AuditAction


_DEPLOYMENT = _Kind(
    TokenFor.DEPLOYMENT,
    TargetType.DEPLOYMENT,
    Permission.DEPLOYMENTS_READ,
    claims.PREDEFINED,
    DeploymentNotFound,
    SsoRequired,
    NoStackRole,
    AuditAction.DEPLOYMENT_TOKEN_MINTED,
    AuditAction.DEPLOYMENT_TOKEN_REFUSED,
)
_PROJECT = _Kind(
    TokenFor.PROJECT,
    TargetType.PROJECT,
    Permission.PROJECTS_READ,
    project_roles.STACK_ROLE,
    ProjectNotFound,
    ProjectSsoRequired,
    ProjectNoStackRole,
    AuditAction.PROJECT_TOKEN_MINTED,
    AuditAction.PROJECT_TOKEN_REFUSED,
)


@dataclass(frozen=True)
class _Found:
    """The target as read now: its organization, id and scope kind (`deployment`, or the
    project's type)."""

    organization_id: str
    id: str
    scope: ScopeKind


def token_policy(policies: Policies) -> TokenPolicy:
    """The issuer's settings, as the bootstrap put them in the policies."""
    return TokenPolicy(
        issuer=policies.token_issuer,
        lifetime_s=policies.deployment_token_ttl_s,
        rotation_days=policies.token_key_rotation_days,
    )


def mint_deployment_token(units: Units, deployment_id: str) -> MintedToken:
    """A token for `deployment_id` for the caller (see the module docstring for refusals)."""

    def find(ctx: Context) -> _Found:
        row = ctx.session.get(Deployment, deployment_id)
        if row is None or row.desired_state == Desired.DELETED or row.kind != DEPLOYMENT:
            raise DeploymentNotFound()
        return _Found(row.organization_id, row.id, ScopeKind.DEPLOYMENT)

    return _mint(units, _DEPLOYMENT, find)


def mint_project_token(
    units: Units, organization_id: str | None, project_type: ProjectType, project_id: str
) -> MintedToken:
    """A token for the project `project_id` of `project_type`, audience
    ``citadel:project:<id>``, with the node roles of `citadel.projects.roles.STACK_ROLE` (see
    the module docstring for refusals). `organization_id` None: the project's own (the API
    route, like the deployment route); given (a console page's organization), a project of
    another organization is unknown. A project of another type, or one being deleted,
    answers 404 ``projects.not_found`` like an unknown id."""

    def find(ctx: Context) -> _Found:
        row = ctx.session.get(Project, project_id)
        if row is None or row.type != project_type:
            raise ProjectNotFound()
        if organization_id is not None and row.organization_id != organization_id:
            raise ProjectNotFound()
        instance = ctx.session.get(Deployment, row.id)
        if (
            instance is None
            or instance.kind != PROJECT
            or instance.desired_state == Desired.DELETED
        ):
            raise ProjectNotFound()
        return _Found(row.organization_id, row.id, ScopeKind(project_type))

    return _mint(units, _PROJECT, find)


def _mint(units: Units, kind: _Kind, find: Callable[[Context], _Found]) -> MintedToken:
    """The one mint. A target the caller cannot see is refused in a read first, so that nobody
    makes the first signing key by asking for something they do not have."""
    with units.read() as ctx:
        _visible(ctx, kind, find)
    key = ensure_signing_key(units)
    with units.write() as ctx:
        found, who = _visible(ctx, kind, find)
        org = found.organization_id
        if service.needs_sso(ctx.session, who, org):
            _refused(ctx, kind, found, "sso_required")
            raise kind.sso_required()
        roles = claims.stack_roles(
            who.assignments, org, found.id, scope=found.scope, predefined=kind.stack_roles
        )
        if not roles:
            _refused(ctx, kind, found, "no_stack_role")
            raise kind.no_stack_role()
        policy = token_policy(ctx.policies)
        now = ctx.clock.now()
        jti = new_id()
        body = claims.token_claims(
            issuer=policy.issuer,
            audience=claims.audience(found.id, kind.token_for),
            organization_id=org,
            bearer=who.bearer,
            roles=roles,
            jti=jti,
            now=now,
            lifetime=policy.lifetime,
        )
        expires_at = datetime.fromtimestamp(body["exp"], now.tzinfo)
        ctx.record(
            kind.minted,
            organization_id=org,
            target_type=kind.target_type,
            target_id=found.id,
            details={
                "jti": jti,
                "kid": key.kid,
                "roles": list(roles),
                "amr": body["amr"],
                "expires_at": expires_at.isoformat(),
            },
        )
        return MintedToken(
            token=sign(key, body),
            token_type="Bearer",  # noqa: S106 (the scheme)
            expires_at=expires_at,
            expires_in=policy.lifetime_s,
            roles=roles,
            resource_id=found.id,
            audience=body["aud"],
        )


def _visible(
    ctx: Context, kind: _Kind, find: Callable[[Context], _Found]
) -> tuple[_Found, service.Minter]:
    """The target and the caller as read now; 404 unless the caller may read it (their roles
    read afresh: an SSO-enforcing organization's grants count here, the session check comes
    after)."""
    principal = ctx.caller.principal
    if principal is None:
        raise Unauthenticated()
    found = find(ctx)
    who = service.minter(ctx.session, principal, found.organization_id)
    target = Target.resource(found.organization_id, found.scope, found.id)
    if who is None or not decide(who.subject, kind.read, target):
        raise kind.not_found()
    return found, who


def _refused(ctx: Context, kind: _Kind, found: _Found, reason: str) -> None:
    ctx.record(
        kind.refused,
        organization_id=found.organization_id,
        target_type=kind.target_type,
        target_id=found.id,
        outcome=Outcome.DENIED,
        details={"reason": reason},
    )


def ensure_signing_key(units: Units) -> SigningKey:
    """The key that signs now; the first key is made here on first need."""
    for _ in range(_RACE_RETRIES):
        with units.read() as ctx:
            found = keys.signing_key(ctx.session, ctx.keyring.barrier, ctx.clock.now())
        if found is not None:
            return found
        rotate_token_keys(units)
    raise RuntimeError("no deployment token signing key after rotating")  # a bug, never a race


def rotate_token_keys(units: Units, *, force: bool = False) -> RotationPlan:
    """Make, retire and delete signing keys as the rotation policy says; with `force`, make the
    signing key's successor whatever its age (``citadel admin rotate-token-key``; a successor
    already waiting to sign is not replaced). Audited as a platform event when anything
    changed. Two replicas racing for the same new key: the loser's transaction fails on the
    unique generation and it reads again."""
    for attempt in range(_RACE_RETRIES):
        try:
            with units.write() as ctx:
                rotation = token_policy(ctx.policies).rotation
                if force:
                    rotation = replace(rotation, rotate_after=timedelta(0))
                done = keys.rotate(ctx.session, ctx.keyring.barrier, ctx.clock.now(), rotation)
                if not done.empty:
                    ctx.record(
                        AuditAction.TOKEN_KEY_ROTATED,
                        organization_id=None,
                        details=_plan_details(done),
                    )
                    log.info("deployment_tokens.keys_rotated", **_plan_details(done))
                return done
        except IntegrityError:
            log.info("deployment_tokens.key_race_lost", attempt=attempt)
    raise RuntimeError("deployment token keys: lost every race for a new key")


def _plan_details(done: RotationPlan) -> dict[str, Any]:
    details: dict[str, Any] = {"deleted": list(done.delete)}
    if done.make is not None:
        details["generation"] = done.make.generation
        details["active_from"] = done.make.active_from.isoformat()
    if done.retire is not None:
        details["retired"] = done.retire.kid
        details["publish_until"] = done.retire.publish_until.isoformat()
    return details


def jwks(units: Units) -> dict[str, Any]:
    """The published JWK Set (public keys only)."""
    with units.read() as ctx:
        return keys.jwks(ctx.session)
