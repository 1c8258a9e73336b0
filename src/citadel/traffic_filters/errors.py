"""Errors about traffic filters and claimed link ids (Cloud API codes where it has them)."""

from citadel.errors import BadRequest, Conflict, NotFound


class RulesetNotFound(NotFound):
    code = "traffic_filter.not_found"
    default_message = "The traffic filter ruleset could not be found."


class AssociationNotFound(NotFound):
    code = "traffic_filter.not_found"
    default_message = "The traffic filter ruleset association could not be found."


class UnknownRuleset(BadRequest):
    """A request body names a ruleset this organization does not have (deployment create)."""

    code = "traffic_filter.not_found"
    default_message = "The traffic filter ruleset could not be found."


class InvalidRuleset(BadRequest):
    code = "traffic_filter.invalid_request"
    default_message = "The traffic filter ruleset is invalid."


class InvalidAssociationType(BadRequest):
    code = "traffic_filter.invalid_association_type"
    default_message = "The only association type is 'deployment'."


class RegionMismatch(BadRequest):
    code = "traffic_filter.region_mismatch"
    default_message = "A ruleset applies only to deployments of its own region."


class TooManyRulesets(BadRequest):
    code = "traffic_filter.too_many_rulesets"
    default_message = "An organization has at most 1024 traffic filter rulesets."


class RulesetInUse(Conflict):
    code = "traffic_filter.ruleset_in_use"
    default_message = (
        "The ruleset is associated with deployments; remove the associations first, "
        "or delete with ignore_associations=true."
    )


class VersionConflict(Conflict):
    code = "traffic_filter.version_conflict"
    default_message = "The ruleset changed since the version this update is based on."


class WouldBlockCaller(Conflict):
    code = "traffic_filter.would_block_caller"
    default_message = (
        "This change would block the address you are calling from; "
        "repeat it with force=true if that is intended."
    )


class InvalidClaim(BadRequest):
    code = "traffic_filter_claimed_link_id.invalid_input"
    default_message = "The link id claim is invalid."


class ClaimNotFound(NotFound):
    code = "traffic_filter_claimed_link_id.not_found"
    default_message = "This organization has not claimed that link id."


class AlreadyClaimed(Conflict):
    code = "traffic_filter_claimed_link_id.already_claimed"
    default_message = "The link id is already claimed."
