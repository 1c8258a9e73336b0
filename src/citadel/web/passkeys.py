"""The relying party a passkey ceremony checks against, from the operator's settings and the
origin the request reached (ADR 25)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from citadel.signin.passkey_checks import RelyingParty
from citadel.web.links import link_base_of
from citadel.web.work import services_of


def relying_party_of(request: HTTPConnection) -> RelyingParty:
    """RP id: the host of the configured public URL, else the public host name (WebAuthn
    refuses addresses). Origins: the control plane's own URL and the origin this request
    reached if invitation links would use it (a host the certificate names, the port the
    control plane listens on: ADR 24), never whatever `Origin` the client sends."""
    settings = services_of(request).settings
    rp_id = (urlsplit(settings.public_url).hostname if settings.public_url else None) or (
        settings.public_hostname
    )
    origins = dict.fromkeys([settings.control_plane_url, link_base_of(request)])
    return RelyingParty(rp_id=_usable(rp_id), origins=tuple(o.rstrip("/") for o in origins))


def _usable(host: str) -> str:
    """`host` in lower case; an address cannot be an RP id, so it becomes `localhost` (a
    browser at an address cannot use passkeys at all; one at `localhost` can)."""
    name = host.strip().rstrip(".").lower()
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return name
    return "localhost"
