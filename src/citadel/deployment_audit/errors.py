"""Errors about a deployment's security audit trail and its settings."""

from citadel.errors import BadRequest


class InvalidAuditSettings(BadRequest):
    code = "deployment_audit.invalid_settings"
    default_message = "The audit settings are invalid."


class InvalidAuditQuery(BadRequest):
    code = "deployment_audit.invalid_query"
    default_message = "The audit query is invalid."


class TooManyAuditEvents(BadRequest):
    code = "deployment_audit.too_many_events"
    default_message = "Too many audit events in one shipment."
