"""Errors about Cloud API keys."""

from citadel.errors import BadRequest, Conflict, Forbidden, NotFound


class ApiKeyNotFound(NotFound):
    code = "api_keys.key_not_found"
    default_message = "The API key could not be found."


class InvalidApiKeyInput(BadRequest):
    code = "api_keys.invalid_input"


class ApiKeyLimitReached(Conflict):
    code = "api_keys.limit_reached"
    default_message = "The organization already has 500 active API keys."


class UnauthorizedRoleAssignments(Forbidden):
    code = "role_assignments.unauthorized_role_assignments"
    default_message = "You cannot grant a role beyond your own authority."
