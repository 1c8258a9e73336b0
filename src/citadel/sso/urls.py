"""The addresses of an organization's service provider, and the checks on what users type
into them. Pure.

The entity id, ACS and metadata URLs carry the organization id, so changing the login prefix
never breaks the registration at the IdP; only the login URL carries the prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

_LOGIN_PREFIX = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
MAX_RETURN_TO = 512


@dataclass(frozen=True)
class SpUrls:
    """Where the IdP and the browser reach one organization's service provider."""

    entity_id: str
    acs_url: str
    metadata_url: str
    login_url: str


def sp_urls(base_url: str, organization_id: str, login_prefix: str) -> SpUrls:
    """The SP addresses under the control plane's public `base_url`."""
    base = base_url.rstrip("/")
    org = f"{base}/sso/saml/{organization_id}"
    return SpUrls(
        entity_id=f"{org}/metadata",
        acs_url=f"{org}/acs",
        metadata_url=f"{org}/metadata",
        login_url=f"{base}/sso/saml/{login_prefix}/login",
    )


def is_login_prefix(text: str) -> bool:
    """Lowercase letters, digits and inner hyphens, 1 to 63 characters."""
    return bool(_LOGIN_PREFIX.match(text))


def is_idp_url(text: str) -> bool:
    """An absolute http(s) URL with a host and no credentials or fragment."""
    parts = urlsplit(text)
    return (
        parts.scheme in ("https", "http")
        and bool(parts.hostname)
        and parts.username is None
        and parts.password is None
        and not parts.fragment
    )


def safe_return_to(text: str | None) -> str:
    """Where to send the browser after sign-in: a path on this site, or ``/``.

    Anything that could leave the site (a scheme, ``//host``, a backslash, control
    characters) is replaced by ``/``: the ACS must not be an open redirect.
    """
    if not text or len(text) > MAX_RETURN_TO or not text.startswith("/"):
        return "/"
    if text.startswith(("//", "/\\")) or "\\" in text:
        return "/"
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in text):
        return "/"
    parts = urlsplit(text)
    if parts.scheme or parts.netloc:
        return "/"
    return text
