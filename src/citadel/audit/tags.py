"""The closed vocabularies of the audit log: actions, outcomes, actor and target types.

The values are what the events table stores and the audit API returns; never change one.
"""

from __future__ import annotations

from enum import StrEnum


class AuditAction(StrEnum):
    """What happened."""

    ORG_CREATED = "org.created"
    ORG_UPDATED = "org.updated"
    MEMBER_REMOVED = "org.member.removed"
    MEMBER_JOINED = "org.member.joined"
    MEMBER_SECOND_FACTOR_RESET = "org.member.second_factor_reset"
    ROLES_ADDED = "org.member.roles_added"
    ROLES_REMOVED = "org.member.roles_removed"
    INVITATION_CREATED = "org.invitation.created"
    INVITATION_DELETED = "org.invitation.deleted"
    INVITATION_ACCEPTED = "org.invitation.accepted"
    API_KEY_CREATED = "api_key.created"
    API_KEY_DELETED = "api_key.deleted"
    API_KEY_DISABLED = "api_key.disabled"
    SIGNIN = "user.signin"
    PASSWORD_CHANGED = "user.password_changed"  # noqa: S105 (a tag)
    SIGNOUT = "user.signout"
    SESSION_ENDED = "user.session_ended"
    USER_CREATED = "user.created"
    TOTP_ENROLLMENT_STARTED = "user.totp.enrollment_started"
    TOTP_ENABLED = "user.totp.enabled"
    RECOVERY_CODES_REGENERATED = "user.recovery_codes.regenerated"
    RECOVERY_CODE_USED = "user.recovery_code.used"
    PASSKEY_ADDED = "user.passkey.added"
    PASSKEY_RENAMED = "user.passkey.renamed"
    PASSKEY_REMOVED = "user.passkey.removed"
    DEPLOYMENT_CREATED = "deployment.created"
    DEPLOYMENT_UPDATED = "deployment.updated"
    DEPLOYMENT_SHUTDOWN = "deployment.shutdown"
    DEPLOYMENT_DELETED = "deployment.deleted"
    DEPLOYMENT_PASSWORD_RESET = "deployment.elastic_password_reset"  # noqa: S105 (a tag)
    DEPLOYMENT_OBSERVED = "deployment.observed"
    DEPLOYMENT_NODE_CERTIFICATE_ISSUED = "deployment.node_certificate_issued"
    DEPLOYMENT_KEY_ROTATED = "deployment.key_rotated"
    DEPLOYMENT_REKEYED = "deployment.rekeyed"
    DEPLOYMENT_LOCKED = "deployment.locked"
    DEPLOYMENT_UNLOCKED = "deployment.unlocked"
    DEPLOYMENT_TOKEN_MINTED = "deployment.token.minted"  # noqa: S105 (a tag)
    DEPLOYMENT_TOKEN_REFUSED = "deployment.token.refused"  # noqa: S105 (a tag)
    DEPLOYMENT_RESTORE_REQUESTED = "deployment.restore_requested"  # issue 20: from a snapshot
    DEPLOYMENT_RESTORED = "deployment.restored"  # the allocator filled it from a snapshot
    DEPLOYMENT_SNAPSHOTS_SHREDDED = "deployment.snapshots_shredded"  # key and snapshots gone
    TOKEN_KEY_ROTATED = "platform.token_key.rotated"  # noqa: S105 (a tag)
    ALLOCATOR_REGISTERED = "platform.allocator.registered"  # ADR 31: its first heartbeat
    ALLOCATOR_LOST = "platform.allocator.lost"  # no heartbeat: its deployments go elsewhere
    DEPLOYMENT_RELOCATED = "deployment.relocated"  # ADR 31: off a lost allocator
    PROJECT_TOKEN_MINTED = "project.token.minted"  # noqa: S105 (a tag)
    PROJECT_TOKEN_REFUSED = "project.token.refused"  # noqa: S105 (a tag)
    PROJECT_IDLE_STOPPED = "project.idle_stopped"  # ADR 29: the sweep stopped it
    PROJECT_WOKEN = "project.woken"  # ADR 29: a gateway held a request and woke it
    PROJECT_CREATED = "project.created"
    PROJECT_UPDATED = "project.updated"
    PROJECT_DELETED = "project.deleted"
    PROJECT_CREDENTIALS_RESET = "project.credentials_reset"
    PROJECT_RESUMED = "project.resumed"
    DEPLOYMENT_REALM_CREATED = "deployment.realm.created"
    DEPLOYMENT_REALM_UPDATED = "deployment.realm.updated"
    DEPLOYMENT_REALM_DELETED = "deployment.realm.deleted"
    DEPLOYMENT_REALM_METADATA_REFRESHED = "deployment.realm.metadata_refreshed"
    DEPLOYMENT_REALM_METADATA_REFRESH_FAILED = "deployment.realm.metadata_refresh_failed"
    DEPLOYMENT_AUDIT_SETTINGS_UPDATED = "deployment.audit_settings.updated"
    KEY_MANAGER_CREATED = "key_manager.created"
    KEY_MANAGER_UPDATED = "key_manager.updated"
    KEY_MANAGER_DELETED = "key_manager.deleted"
    DOMAIN_ADDED = "domain.added"
    DOMAIN_VERIFIED = "domain.verified"
    DOMAIN_VERIFICATION_FAILED = "domain.verification_failed"
    DOMAIN_REMOVED = "domain.removed"
    SSO_CONFIGURED = "sso.configured"
    SSO_REMOVED = "sso.removed"
    SSO_SIGNIN = "sso.signin"
    SSO_MEMBER_PROVISIONED = "sso.member_provisioned"
    SSO_ROLES_MAPPED = "sso.roles_mapped"
    SSO_ROLE_MAPPING_CREATED = "sso.role_mapping.created"
    SSO_ROLE_MAPPING_UPDATED = "sso.role_mapping.updated"
    SSO_ROLE_MAPPING_DELETED = "sso.role_mapping.deleted"
    SSO_ENFORCEMENT_CHANGED = "sso.enforcement_changed"
    TRAFFIC_FILTER_CREATED = "traffic_filter.ruleset.created"
    TRAFFIC_FILTER_UPDATED = "traffic_filter.ruleset.updated"
    TRAFFIC_FILTER_DELETED = "traffic_filter.ruleset.deleted"
    TRAFFIC_FILTER_ASSOCIATED = "traffic_filter.association.created"
    TRAFFIC_FILTER_DISASSOCIATED = "traffic_filter.association.deleted"
    TRAFFIC_FILTER_LINK_CLAIMED = "traffic_filter.link_id.claimed"
    TRAFFIC_FILTER_LINK_UNCLAIMED = "traffic_filter.link_id.unclaimed"
    REQUEST_DENIED = "request.denied"
    REQUEST_FAILED = "request.failed"
    QUOTA_EXCEEDED = "quota.exceeded"
    JOIN_TOKEN_MINTED = "platform.join_token.minted"  # noqa: S105 (a tag)
    JOIN_TOKEN_USED = "platform.join_token.used"  # noqa: S105 (a tag)
    JOIN_TOKEN_REFUSED = "platform.join_token.refused"  # noqa: S105 (a tag)


class Outcome(StrEnum):
    """How it ended."""

    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


class ActorType(StrEnum):
    """Who acted: a person through a session, an API key, a platform component (by its
    certificate), the platform itself, or nobody signed in."""

    USER = "user"
    API_KEY = "api_key"
    COMPONENT = "component"
    SYSTEM = "system"
    ANONYMOUS = "anonymous"


class TargetType(StrEnum):
    """What an event is about; ``target_id`` names the instance."""

    ORGANIZATION = "organization"
    USER = "user"
    INVITATION = "invitation"
    API_KEY = "api_key"
    DEPLOYMENT = "deployment"
    PROJECT = "project"
    KEY_MANAGER = "key_manager"
    DOMAIN = "domain"
    SSO_CONFIGURATION = "sso_configuration"
    SSO_ROLE_MAPPING = "sso_role_mapping"
    TRAFFIC_FILTER_RULESET = "traffic_filter_ruleset"
    TRAFFIC_FILTER_LINK_ID = "traffic_filter_link_id"
    ROUTE = "route"
    """An API route refused (``target_id``: method and path template)."""
    CONSOLE = "console"
    """A console page refused (``target_id``: method and path template)."""
    ALLOCATOR = "allocator"  # ADR 31: a host that runs nodes
    INTERNAL_ROUTE = "internal_route"
    """An internal route refused to a component (``target_id``: method and path template)."""
    JOIN_TOKEN = "join_token"  # noqa: S105 - a target type, not a secret
    """A token a host joins the platform with (ADR 33)."""
