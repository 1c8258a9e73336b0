"""The coded errors of minting a deployment or project token."""

from __future__ import annotations

from citadel.errors import Forbidden


class SsoRequired(Forbidden):
    """The organization enforces SSO and this session did not sign in through its IdP."""

    code = "deployment_token.sso_required"
    default_message = (
        "The organization requires single sign-on: sign in through its identity provider "
        "to get a deployment token."
    )
    keeps_writes = True  # the refusal's audit event is committed


class NoStackRole(Forbidden):
    """The caller may see the deployment but none of their roles maps to a stack role."""

    code = "deployment_token.no_stack_role"
    default_message = "None of your roles gives access to this deployment's data."
    keeps_writes = True


class ProjectSsoRequired(SsoRequired):
    """As `SsoRequired`, for a serverless project's token."""

    code = "project_token.sso_required"
    default_message = (
        "The organization requires single sign-on: sign in through its identity provider "
        "to get a project token."
    )


class ProjectNoStackRole(NoStackRole):
    """The caller may see the project but none of their roles maps to a role inside it."""

    code = "project_token.no_stack_role"
    default_message = "None of your roles gives access to this project's data."
