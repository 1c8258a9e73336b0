"""Errors about key managers and customer-managed keys."""

from citadel.errors import BadRequest, CitadelError, Conflict, NotFound


class KeyManagerNotFound(NotFound):
    code = "key_managers.not_found"
    default_message = "The key manager could not be found."


class InvalidKeyManager(BadRequest):
    code = "key_managers.invalid_request"
    default_message = "The key manager is invalid."


class KeyManagerNameTaken(Conflict):
    code = "key_managers.name_in_use"
    default_message = "Another key manager of this organization has that name."


class KeyManagerInUse(Conflict):
    code = "key_managers.in_use"
    default_message = "Deployments are encrypted under this key manager's keys; re-key them first."


class InvalidKeyPath(BadRequest):
    code = "deployments.invalid_key_path"
    default_message = "The key resource path is not valid."


class KeyUnusable(BadRequest):
    code = "deployments.key_unusable"
    default_message = "The customer key cannot be used."


class KeyManagerUnreachable(CitadelError):
    """One answer for every way of not reaching the key: refused, timed out, filtered, no TLS
    or a certificate that does not verify, an unreadable answer (so no port-state oracle)."""

    code = "deployments.key_manager_unreachable"
    status = 503
    default_message = (
        "The key manager could not be reached: no connection, no TLS session with a "
        "certificate that verifies, or no usable answer in time. Nothing was changed; try again."
    )


class KeyChangedMeanwhile(Conflict):
    code = "deployments.key_changed_meanwhile"
    default_message = (
        "The deployment's key or its key manager changed while the key service was asked; "
        "nothing was changed. Try again."
    )


class KeyManagerEndpointNotAllowed(BadRequest):
    code = "key_managers.endpoint_not_allowed"
    default_message = (
        "The key manager's address is not one the operator allows: loopback, link-local, "
        "private and other non-public addresses are refused unless the operator lists them "
        "(CITADEL_KEY_MANAGER_ALLOWED_ENDPOINTS)."
    )
