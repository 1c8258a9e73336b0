"""Project access tokens (our addition, ADR 27 "Projects"): a signed-in member or an API key
gets a short-lived JWT for one serverless project's Elasticsearch API, as for a deployment.

Like the deployment route, it is open to any signed-in caller and the use case decides on the
project's own organization with the caller's roles read afresh: so a password session of an
organization that enforces SSO is told so (403 ``project_token.sso_required``) instead of
finding nothing."""

from __future__ import annotations

from fastapi import APIRouter, Path

from citadel.api.deps import WorkDep, signed_in
from citadel.api.openapi import errors
from citadel.deployment_tokens.schemas import ProjectTokenOut
from citadel.projects.errors import ProjectNotFound
from citadel.projects.types import ProjectType
from citadel.use_cases import deployment_tokens as use_cases

router = APIRouter(tags=["serverless projects"])
ProjectId = Path(max_length=32, description="Identifier for the project")


@router.post(
    "/serverless/projects/{project_type}/{project_id}/_token",
    dependencies=[signed_in()],
    responses=errors(403, 404),
)
def mint_project_token(
    work: WorkDep,
    project_type: str = Path(description="elasticsearch, observability or security"),
    project_id: str = ProjectId,
) -> ProjectTokenOut:
    """A bearer token for the project's Elasticsearch API (its `elasticsearch` endpoint), with
    the node roles your Cloud roles give there (`superuser` for an Admin or the Organization
    owner, `developer`, `editor`, `viewer`, a Security analyst role, or your
    `application_roles`); it lives `expires_in` seconds (at most 300). 404 `projects.not_found`
    for a project you may not read, like an unknown id; 403 `project_token.sso_required` when
    the organization enforces SSO and this session did not sign in through it;
    403 `project_token.no_stack_role` when no role gives access to the project's data."""
    try:
        kind = ProjectType(project_type)
    except ValueError:  # an unknown type is an unknown project, as on the project routes
        raise ProjectNotFound() from None
    minted = use_cases.mint_project_token(work, None, kind, project_id)
    return ProjectTokenOut(
        token=minted.token,
        token_type=minted.token_type,
        expires_in=minted.expires_in,
        expires_at=minted.expires_at,
        roles=list(minted.roles),
        project_id=minted.resource_id,
        audience=minted.audience,
    )
