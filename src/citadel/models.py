"""Every table of the control plane, imported in one place (for migrations and tests)."""

from citadel.allocators.models import Allocator
from citadel.api_keys.models import ApiKey
from citadel.audit.models import AuditChainHead, AuditEvent
from citadel.db.platform_secrets import PlatformSecret
from citadel.deployment_audit.models import DeploymentAuditEvent, DeploymentAuditSettings
from citadel.deployment_realms.models import DeploymentRealm
from citadel.deployment_tokens.models import TokenSigningKey
from citadel.deployments.models import Deployment
from citadel.domains.models import ClaimedDomain
from citadel.invitations.models import Invitation
from citadel.join.models import JoinToken
from citadel.key_managers.models import KeyManager
from citadel.leases.models import Lease
from citadel.orgs.models import Membership, Organization, RoleAssignment
from citadel.projects.models import Project
from citadel.signin.models import ThrottleBucket
from citadel.signin.passkey_models import Passkey, PasskeyChallenge
from citadel.sso.models import (
    SsoConfiguration,
    SsoIdentity,
    SsoLoginRequest,
    SsoRoleMapping,
    SsoSeenAssertion,
)
from citadel.traffic_filters.models import (
    Association,
    LinkClaim,
    RecentClient,
    Ruleset,
    RulesetVersion,
)
from citadel.users.form_tokens import SpentFormToken
from citadel.users.models import RecoveryCode, User, UserSession

ALL_TABLES = (
    Allocator,
    ApiKey,
    AuditChainHead,
    AuditEvent,
    ClaimedDomain,
    Deployment,
    DeploymentAuditEvent,
    DeploymentAuditSettings,
    DeploymentRealm,
    TokenSigningKey,
    Invitation,
    JoinToken,
    KeyManager,
    Lease,
    Membership,
    Organization,
    Project,
    RoleAssignment,
    ThrottleBucket,
    Passkey,
    PasskeyChallenge,
    PlatformSecret,
    SsoConfiguration,
    SsoIdentity,
    SsoLoginRequest,
    SsoRoleMapping,
    SsoSeenAssertion,
    Association,
    LinkClaim,
    RecentClient,
    Ruleset,
    RulesetVersion,
    RecoveryCode,
    SpentFormToken,
    User,
    UserSession,
)
