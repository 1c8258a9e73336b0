"""Errors of organization single sign-on."""

from citadel.errors import BadRequest, Conflict, Forbidden, NotFound, TooManyRequests


class SsoNotConfigured(NotFound):
    code = "sso.not_configured"
    default_message = "This organization has no SSO configuration."


class InvalidSsoConfiguration(BadRequest):
    code = "sso.invalid_configuration"


class LoginPrefixTaken(Conflict):
    code = "sso.login_prefix_taken"
    default_message = "Another organization uses this login prefix."


class UnknownLoginPrefix(NotFound):
    code = "sso.unknown_login_prefix"
    default_message = "No organization signs in with this prefix."


class SsoDisabled(Forbidden):
    code = "sso.disabled"
    default_message = "SSO is turned off for this organization."


class EnforcementOn(Conflict):
    code = "sso.enforcement_on"
    default_message = "Turn SSO enforcement off before turning SSO off or removing it."


class RoleMappingNotFound(NotFound):
    code = "sso.role_mapping_not_found"
    default_message = "No such role mapping."


class RoleMappingNameTaken(Conflict):
    code = "sso.role_mapping_name_taken"
    default_message = "A role mapping with this name exists."


class InvalidRoleMapping(BadRequest):
    code = "sso.invalid_role_mapping"


class MappingLeavesNoOwner(Conflict):
    code = "sso.mapping_leaves_no_owner"
    default_message = (
        "With this change no member would hold the Organization owner role after their next "
        "SSO sign-in; the evaluated result is in details."
    )


class EnforcementNotVerified(Conflict):
    code = "organization.sso_not_configured"
    default_message = (
        "SSO enforcement needs an enabled SSO configuration and your own successful SSO "
        "sign-in with the current configuration."
    )


class SsoLoginThrottled(TooManyRequests):
    code = "sso.too_many_logins"
    default_message = "Too many SSO sign-ins started from this address; wait before trying again."
