"""Where an invitation's link points (pure: no I/O).

The configured public URL (`public_url`) wins. Without one, the link takes the origin the
inviter's browser reached the control plane at, so that a link made at
``https://search.example.com:8443`` opens there and not at ``https://localhost:8443``. That
origin is the client's word (the Host header), so it is believed only when its host is one of
the names the control plane's certificate carries and its port the one the control plane
listens on (or none, which is 443): a link built from an arbitrary Host header would send the
acceptance token, the capability to join, to whoever that host is. Anything else gets the
address the control plane listens on.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

DEFAULT_HTTPS_PORT = 443


@dataclass(frozen=True)
class LinkOrigins:
    """The origins an invitation link may use, from the operator's settings."""

    public_url: str | None
    """The configured public URL, if any (it always wins)."""
    hostnames: frozenset[str]
    """The names and addresses the control plane's certificate carries."""
    port: int
    """The port the control plane listens on."""
    listening_url: str
    """The control plane's own address (without `public_url`): the last resort."""


def link_base(origins: LinkOrigins, *, host: str | None, port: int | None) -> str:
    """The scheme, host and port an invitation link starts with, for a request that named
    `host` and `port` (None: the default port)."""
    if origins.public_url:
        return origins.public_url.rstrip("/")
    name = _normalized(host)
    reached = DEFAULT_HTTPS_PORT if port is None else port
    trusted = {_normalized(h) for h in origins.hostnames}
    if name is None or name not in trusted or reached != origins.port:
        return origins.listening_url.rstrip("/")
    shown = f"[{name}]" if ":" in name else name
    return f"https://{shown}" if reached == DEFAULT_HTTPS_PORT else f"https://{shown}:{reached}"


def invitation_link(base: str, token: str, *, email_code: str | None = None) -> str:
    """The page where the invited person accepts (the token is the capability); with the
    `email_code`, the link only the invitation email carries (a new account needs it)."""
    link = f"{base}/invitations/{token}"
    return f"{link}?code={email_code}" if email_code else link


def _normalized(host: str | None) -> str | None:
    """A host name in lower case without a trailing dot, or an address in its short form;
    None for nothing usable."""
    if not host:
        return None
    text = host.strip().removeprefix("[").removesuffix("]").rstrip(".").lower()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text or None
