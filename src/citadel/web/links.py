"""Where links the control plane sends people point: the configured public URL, else the
origin the request reached if the control plane's certificate names it, else its own address
(`citadel.invitations.links` decides; this only reads the request and the settings)."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from citadel.bootstrap import api_certificate_names
from citadel.invitations.links import LinkOrigins, link_base
from citadel.web.work import services_of


def link_base_of(request: HTTPConnection) -> str:
    """The scheme, host and port links made for this request start with."""
    settings = services_of(request).settings
    origins = LinkOrigins(
        public_url=settings.public_url,
        hostnames=frozenset(api_certificate_names(settings)),
        port=settings.api_port,
        listening_url=settings.control_plane_url,
    )
    return link_base(origins, host=request.url.hostname, port=request.url.port)
