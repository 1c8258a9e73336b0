"""Fetching a SAML realm's IdP metadata from the https URL its ``idp.metadata.path`` names.

The URL is the customer's, so fetching it is a server-side request made on their behalf, and it
is policed as a key manager's connection is (ADR 19): the connection opens through the
operator's `EndpointPolicy` (the host resolved once, every address checked: loopback, private,
link-local and other non-public addresses refused unless the operator lists them in
``CITADEL_KEY_MANAGER_ALLOWED_ENDPOINTS``; the socket connects to the checked address), TLS is
verified against the host name (against the realm's ``ssl.certificate_authorities`` when given,
else the system's roots), redirects are not followed, the whole fetch takes at most
`FETCH_TIMEOUT_S` and the document at most `MAX_FETCH_BYTES`. Every failure is one
`MetadataUnavailable` naming ``body.settings["idp.metadata.path"]`` with a fixed reason that
tells nothing of what answered beyond its HTTP status.
"""

from __future__ import annotations

import ssl
import time
from urllib.parse import urlsplit

from urllib3 import HTTPSConnectionPool, Timeout
from urllib3.exceptions import HTTPError, SSLError

from citadel.crypto.providers.endpoints import EndpointNotAllowed, EndpointPolicy, pinned_pool
from citadel.deployment_realms.errors import MetadataUnavailable
from citadel.deployment_realms.settings import MAX_METADATA_LENGTH, METADATA_PATH, field
from citadel.log import get_logger

log = get_logger(__name__)

FETCH_TIMEOUT_S = 10.0
MAX_FETCH_BYTES = MAX_METADATA_LENGTH
"""As large as a document given inline may be (512 KiB)."""
_CHUNK = 64 * 1024


def _unavailable(reason: str) -> MetadataUnavailable:
    return MetadataUnavailable(f"{METADATA_PATH}: {reason}.", fields=[field(METADATA_PATH)])


def fetch_metadata(
    url: str,
    ca_pem: str | None,
    policy: EndpointPolicy,
    *,
    timeout_s: float = FETCH_TIMEOUT_S,
    max_bytes: int = MAX_FETCH_BYTES,
) -> str:
    """The document at `url` (an https URL the settings check accepted), fetched through
    `policy`; raises `MetadataUnavailable`."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 443
    try:
        policy.check_literal(host, port)
    except EndpointNotAllowed:
        raise _unavailable("its host is not at an address the operator allows") from None
    try:
        context = ssl.create_default_context(cadata=ca_pem) if ca_pem else None
    except ssl.SSLError:
        raise MetadataUnavailable(
            "ssl.certificate_authorities holds no usable CA certificate.",
            fields=[field("ssl.certificate_authorities")],
        ) from None
    pool = pinned_pool(HTTPSConnectionPool, policy)(
        host,
        port,
        timeout=Timeout(connect=timeout_s, read=timeout_s),
        retries=False,
        maxsize=1,
        ssl_context=context,
        cert_reqs="CERT_REQUIRED",
    )
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    deadline = time.monotonic() + timeout_s
    try:
        response = pool.urlopen(
            "GET",
            target,
            headers={"Accept": "application/samlmetadata+xml, application/xml, text/xml"},
            redirect=False,
            retries=False,
            preload_content=False,
        )
        try:
            if response.status != 200:
                raise _unavailable(f"the server answered HTTP {response.status}, not 200")
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) > max_bytes:
                raise _unavailable(f"the document is larger than {max_bytes // 1024} KiB")
            body = bytearray()
            while chunk := response.read(_CHUNK):
                body += chunk
                if len(body) > max_bytes:
                    raise _unavailable(f"the document is larger than {max_bytes // 1024} KiB")
                if time.monotonic() > deadline:
                    raise _unavailable(f"the fetch took longer than {timeout_s:g} seconds")
        finally:
            response.release_conn()
    except EndpointNotAllowed:
        raise _unavailable("its host is not at an address the operator allows") from None
    except SSLError:
        raise _unavailable("the server's TLS certificate could not be verified") from None
    except (HTTPError, OSError) as exc:
        log.info("deployment_realms.metadata_fetch_failed", error=type(exc).__name__)
        raise _unavailable("the server could not be reached or did not answer in time") from None
    finally:
        pool.close()
    try:
        return bytes(body).decode("utf-8")
    except UnicodeDecodeError:
        raise _unavailable("the document is not UTF-8") from None
