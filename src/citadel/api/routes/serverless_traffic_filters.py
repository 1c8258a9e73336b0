"""Serverless traffic-filter routes (`/serverless/traffic-filters`, the project API's network
security policies); the organization is the caller's.

Our additions: `force` on PATCH (the lockout guard, as on the hosted API), and `ETag` on the
answers the subset declares it for (the filter's version).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response

from citadel.api.deps import OrgFrom, ServicesDep, WorkDep, permitted
from citadel.authz.permissions import Permission
from citadel.traffic_filters import serverless
from citadel.traffic_filters.serverless import (
    FilterIn,
    FilterListOut,
    FilterOut,
    FilterPatchIn,
    MetadataOut,
    etag,
    info,
)

router = APIRouter(prefix="/serverless/traffic-filters", tags=["serverless traffic filters"])
FilterId = Path(max_length=32, description="The traffic filter's id.")
RegionQuery = Annotated[
    str | None, Query(min_length=1, max_length=64, description="Only this region.")
]

READ = permitted(Permission.TRAFFIC_FILTERS_READ, org_from=OrgFrom.CALLER)
MANAGE = permitted(Permission.TRAFFIC_FILTERS_MANAGE, org_from=OrgFrom.CALLER)


@router.get("", dependencies=[READ])
def list_filters(
    work: WorkDep,
    services: ServicesDep,
    region: RegionQuery = None,
    include_by_default: bool | None = None,
    page_size: Annotated[
        int, Header(alias="X-Elastic-Page-Size", ge=1, le=serverless.MAX_PAGE_SIZE)
    ] = serverless.MAX_PAGE_SIZE,
    next_page: Annotated[
        str | None, Header(alias="X-Elastic-Next-Page", min_length=1, max_length=512)
    ] = None,
) -> FilterListOut:
    """The organization's serverless filters, a page at a time (`next_page` while more follow)."""
    with work.read() as ctx:
        rows, token = serverless.list_filters(
            ctx,
            work.organization,
            region=region,
            include_by_default=include_by_default,
            csp=services.settings.serverless_csp,
            page_size=page_size,
            next_page=next_page,
        )
        return FilterListOut(items=[info(r) for r in rows], next_page=token)


@router.post("", status_code=201, dependencies=[MANAGE])
def create_filter(
    body: FilterIn, response: Response, work: WorkDep, services: ServicesDep
) -> FilterOut:
    """A new filter bound to one region; with `include_by_default` new projects there get it."""
    with work.write() as ctx:
        row = serverless.create_filter(
            ctx, work.organization, body, csp=services.settings.serverless_csp
        )
        response.headers["ETag"] = etag(row)
        return info(row)


@router.get("/metadata", dependencies=[READ])
def get_metadata(
    services: ServicesDep,
    region: RegionQuery = None,
    csp: Annotated[
        str | None, Query(min_length=1, max_length=16, description="Only this provider.")
    ] = None,
) -> MetadataOut:
    """Per region, what a private endpoint connects to (an unknown filter: an empty list)."""
    settings = services.settings
    return serverless.metadata(
        settings.regions,
        settings.serverless_csp,
        settings.deployment_domain,
        region=region,
        provider=csp,
    )


@router.get("/{filter_id}", dependencies=[READ])
def get_filter(response: Response, work: WorkDep, filter_id: str = FilterId) -> FilterOut:
    """The filter's definition (its associations live on the projects)."""
    with work.read() as ctx:
        row = serverless.get_filter(ctx, work.organization, filter_id)
        response.headers["ETag"] = etag(row)
        return info(row)


@router.patch("/{filter_id}", dependencies=[MANAGE])
def patch_filter(
    body: FilterPatchIn,
    response: Response,
    work: WorkDep,
    services: ServicesDep,
    filter_id: str = FilterId,
    force: Annotated[
        bool, Query(description="Apply even if it blocks the address this request comes from.")
    ] = False,
) -> FilterOut:
    """Change the given fields; `rules` replaces the whole list (type and region cannot change)."""
    with work.write() as ctx:
        row = serverless.patch_filter(
            ctx,
            work.organization,
            filter_id,
            body,
            csp=services.settings.serverless_csp,
            force=force,
            clients=services.recent_clients.current(),
        )
        response.headers["ETag"] = etag(row)
        return info(row)


@router.delete("/{filter_id}", status_code=204, dependencies=[MANAGE])
def delete_filter(work: WorkDep, filter_id: str = FilterId) -> Response:
    """Delete a filter no project uses (409 while one does)."""
    with work.write() as ctx:
        row = serverless.delete_filter(ctx, work.organization, filter_id)
        tag = etag(row)
    return Response(status_code=204, headers={"ETag": tag})
