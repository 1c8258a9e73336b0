"""Errors about deployments."""

from citadel.errors import BadRequest, Conflict, NotFound


class DeploymentNotFound(NotFound):
    code = "deployments.deployment_not_found"
    default_message = "The deployment could not be found."


class InvalidDeployment(BadRequest):
    code = "deployments.invalid_request"
    default_message = "The deployment request is invalid."


class DeploymentNotShutDown(BadRequest):
    code = "deployments.deployment_not_shutdown"
    default_message = "Shut the deployment down before deleting it."


class AliasTaken(Conflict):
    code = "deployments.alias_already_in_use"
    default_message = "Another deployment already uses this alias."


class DeploymentDeleted(Conflict):
    code = "deployments.deployment_deleted"
    default_message = "The deployment has been deleted."


class RestoreUnsupported(BadRequest):
    code = "deployments.restore_unsupported"
    default_message = "This part of plan.transient.restore_snapshot is not supported."


class NoSnapshotToRestore(BadRequest):
    code = "deployments.no_snapshot_to_restore"
    default_message = "The source deployment has no successful snapshot to restore."
