"""Errors about a deployment's realms."""

from citadel.errors import BadRequest, Conflict, NotFound


class RealmNotFound(NotFound):
    code = "deployment_realm.not_found"
    default_message = "The deployment has no realm with this name."


class InvalidRealm(BadRequest):
    """A realm's name, order or settings are not acceptable; `fields` names the key."""

    code = "deployment_realm.invalid"
    default_message = "The realm is invalid."


class UnsupportedRealmSetting(BadRequest):
    """A setting Elasticsearch has but this platform does not (signing or encryption keys)."""

    code = "deployment_realm.unsupported_setting"
    default_message = "The realm uses a setting this platform does not support."


class RealmOrderTaken(Conflict):
    code = "deployment_realm.order_taken"
    default_message = "Another realm of this deployment has the same order."


class TooManyRealms(Conflict):
    code = "deployment_realm.too_many"
    default_message = "A deployment has at most 10 realms."


class MetadataUnavailable(BadRequest):
    """The IdP's metadata could not be fetched from ``idp.metadata.path``: an address the
    operator does not allow, no connection, TLS not verified, an answer other than 200, too
    large or too slow. The message says which, and nothing of what answered."""

    code = "deployment_realm.metadata_unavailable"
    default_message = "The IdP's metadata could not be fetched."
