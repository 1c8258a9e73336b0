"""Which Elasticsearch realm settings a customer may give, and checking them (pure, no I/O).

A realm's settings keep Elasticsearch's keys (``idp.entity_id``, ``rp.client_id``, ...) so a
configuration reads as it would in ``xpack.security.authc.realms.<type>.<name>``. Every key is
known here: an unknown key is refused naming it, and a key Elasticsearch has but this
platform does not (SAML signing and encryption keys, OIDC implicit flows) is refused saying so.
A key accepted here is one the node's realm reads and honours as Elasticsearch does (or, for
``idp.metadata.path`` and its ``ssl.certificate_authorities``, one the control plane's fetch
uses): none is accepted and ignored. Every error names its field as ``body.settings["<key>"]``.

The IdP's SAML metadata is given either inline, as the document itself (``idp.metadata.xml``,
ours), or as Elasticsearch's ``idp.metadata.path`` when that is an ``https`` URL: the control
plane fetches it (`citadel.deployment_realms.metadata`, through the operator's endpoint policy,
verifying TLS, against ``ssl.certificate_authorities`` when given) and fetches it again daily.
A file path, Elasticsearch's other form, is refused: a hosted node has no files of the
customer's. Either way the document is parsed with the SSO parser (no DOCTYPE, no entities, no
network), must offer single sign-on with the HTTP-Redirect binding, and its ``entityID`` must
be ``idp.entity_id`` (`check_metadata`). This module does no I/O: `check_saml` is given the
fetching as a function.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from citadel.deployment_realms.errors import InvalidRealm, UnsupportedRealmSetting
from citadel.sso.metadata import MD, parse_idp_metadata
from citadel.sso.saml import BINDING_REDIRECT, SamlRefused, parse_safely

MAX_REALMS = 10
MAX_VALUE_LENGTH = 2048
MAX_METADATA_LENGTH = 512 * 1024
PLATFORM_REALM = "citadel-cloud"
RESERVED_NAMES = frozenset(
    {PLATFORM_REALM, "reserved", "native", "file", "default_native", "default_file"}
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
CLIENT_SECRET = "rp.client_secret"  # noqa: S105 (a settings key)
METADATA_XML = "idp.metadata.xml"
METADATA_PATH = "idp.metadata.path"
METADATA_CAS = "ssl.certificate_authorities"
_USER_FIELDS = ("principal", "groups", "name", "mail", "dn")


def field(key: str) -> str:
    """How an error names a settings key."""
    return f'body.settings["{key}"]'


def check_name(name: str) -> None:
    """Elasticsearch's realm name rules, and not one of the names the node keeps for itself."""
    if not _NAME.fullmatch(name):
        raise InvalidRealm(
            "A realm name is 1-64 letters, digits, '_' and '-', starting with a letter or digit.",
            fields=["path.realm_name"],
        )
    if name.lower() in RESERVED_NAMES:
        raise InvalidRealm(f"The realm name {name!r} is reserved.", fields=["path.realm_name"])


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRealm(f"{key} must be a non-empty string.", fields=[field(key)])
    if len(value) > MAX_VALUE_LENGTH:
        raise InvalidRealm(
            f"{key} is longer than {MAX_VALUE_LENGTH} characters.", fields=[field(key)]
        )
    return value


def _flag(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidRealm(f"{key} must be true or false.", fields=[field(key)])
    return value


def _url(key: str, value: Any) -> str:
    text = _text(key, value)
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment:
        raise InvalidRealm(
            f"{key} must be an absolute http(s) URL without a fragment.", fields=[field(key)]
        )
    return text


def _https_url(key: str, value: Any) -> str:
    text = _url(key, value)
    if urlsplit(text).scheme != "https":
        raise InvalidRealm(f"{key} must be an https URL.", fields=[field(key)])
    return text


def _pattern(key: str, value: Any) -> str:
    text = _text(key, value)
    try:
        compiled = re.compile(text)
    except re.error:
        raise InvalidRealm(
            f"{key} is not a valid regular expression.", fields=[field(key)]
        ) from None
    if compiled.groups < 1:
        raise InvalidRealm(
            f"{key} must have a capturing group: its first group becomes the value.",
            fields=[field(key)],
        )
    return text


def _texts(key: str, value: Any) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or len(items) > 16:
        raise InvalidRealm(
            f"{key} must be a string or a list of 1-16 strings.", fields=[field(key)]
        )
    return [_text(key, item) for item in items]


def _delimiter(key: str, value: Any) -> str:
    if not isinstance(value, str) or len(value) != 1:
        raise InvalidRealm(f"{key} must be one character.", fields=[field(key)])
    return value


def _scopes(key: str, value: Any) -> list[str]:
    scopes = _texts(key, value)
    if any(not re.fullmatch(r"[\x21\x23-\x5b\x5d-\x7e]+", s) for s in scopes):
        raise InvalidRealm(
            f"{key} holds a scope with characters OAuth 2.0 forbids.", fields=[field(key)]
        )
    return scopes


def _response_type(key: str, value: Any) -> str:
    if value != "code":
        raise UnsupportedRealmSetting(
            f"{key}: only the authorization code flow ('code', with PKCE) is supported.",
            fields=[field(key)],
        )
    return "code"


_JWS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"})


def _signature_algorithm(key: str, value: Any) -> str:
    text = _text(key, value)
    if text not in _JWS:
        raise UnsupportedRealmSetting(
            f"{key} must be one of {', '.join(sorted(_JWS))} (HMAC-signed ID tokens are not "
            "supported).",
            fields=[field(key)],
        )
    return text


def _metadata_url(key: str, value: Any) -> str:
    text = _text(key, value)
    parts = urlsplit(text.strip())
    if parts.scheme.lower() in ("", "file") or len(parts.scheme) == 1:  # a path (C:\...)
        raise UnsupportedRealmSetting(
            f"{key}: a file path is not supported (the platform holds no files of yours); give "
            f"the metadata's https URL here, or the document inline as {METADATA_XML}.",
            fields=[field(key)],
        )
    return _https_url(key, text)


def _metadata(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRealm(f"{key} must be the IdP's metadata document.", fields=[field(key)])
    if len(value) > MAX_METADATA_LENGTH:
        raise InvalidRealm(f"{key} is larger than 512 KiB.", fields=[field(key)])
    return value


def _certificates(key: str, value: Any) -> str | list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not 1 <= len(items) <= 8:
        raise InvalidRealm(f"{key} must be PEM text or a list of PEM texts.", fields=[field(key)])
    for item in items:
        if not isinstance(item, str) or "-----BEGIN CERTIFICATE-----" not in item:
            raise InvalidRealm(f"{key} must hold PEM certificates.", fields=[field(key)])
        if len(item) > 64 * 1024:
            raise InvalidRealm(f"{key} is too large.", fields=[field(key)])
    return value


Check = Callable[[str, Any], Any]

SAML_KEYS: dict[str, Check] = {
    METADATA_XML: _metadata,
    METADATA_PATH: _metadata_url,
    METADATA_CAS: _certificates,
    "idp.entity_id": _text,
    "idp.use_single_logout": _flag,
    "sp.entity_id": _text,
    "sp.acs": _url,
    "sp.logout": _url,
    "nameid_format": _text,
    "force_authn": _flag,
    "req_authn_context_class_ref": _texts,
    "populate_user_metadata": _flag,
    "attribute_delimiters.groups": _delimiter,
    **{f"attributes.{name}": _text for name in _USER_FIELDS},
    **{f"attribute_patterns.{name}": _pattern for name in _USER_FIELDS},
}
SAML_REQUIRED = ("idp.entity_id", "sp.entity_id", "sp.acs", "attributes.principal")
SAML_UNSUPPORTED = {
    "signing.": "signing the SP's messages is not supported: AuthnRequests are sent unsigned "
    "(the IdP's responses must still be signed)",
    "encryption.": "encrypted assertions are not supported: the IdP must send them in the clear "
    "(over TLS) and signed",
    "ssl.": "the realm's only outgoing connection is the control plane fetching "
    f"{METADATA_PATH}, which takes {METADATA_CAS} and no other TLS setting",
}


def _client_auth_method(key: str, value: Any) -> str:
    if value not in ("client_secret_basic", "client_secret_post"):
        raise UnsupportedRealmSetting(
            f"{key} must be client_secret_basic or client_secret_post.", fields=[field(key)]
        )
    return str(value)


def _clock_skew(key: str, value: Any) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 600:
        return value
    if isinstance(value, str) and re.fullmatch(r"(\d{1,3})s|(10|[0-9])m", value.strip()):
        return value.strip()
    raise InvalidRealm(
        f"{key} must be at most 600 seconds: a number, or like '60s' or '1m'.",
        fields=[field(key)],
    )


OIDC_KEYS: dict[str, Check] = {
    "op.issuer": _https_url,
    "op.authorization_endpoint": _https_url,
    "op.token_endpoint": _https_url,
    "op.jwkset_path": _https_url,
    "op.userinfo_endpoint": _https_url,
    "op.endsession_endpoint": _https_url,
    "rp.client_id": _text,
    CLIENT_SECRET: _text,
    "rp.redirect_uri": _url,
    "rp.post_logout_redirect_uri": _url,
    "rp.response_type": _response_type,
    "rp.requested_scopes": _scopes,
    "rp.signature_algorithm": _signature_algorithm,
    "rp.client_auth_method": _client_auth_method,
    "allowed_clock_skew": _clock_skew,
    "ssl.certificate_authorities": _certificates,
    "populate_user_metadata": _flag,
    **{f"claims.{name}": _text for name in _USER_FIELDS},
    **{f"claim_patterns.{name}": _pattern for name in _USER_FIELDS},
}
OIDC_REQUIRED = (
    "op.issuer",
    "op.authorization_endpoint",
    "op.token_endpoint",
    "op.jwkset_path",
    "rp.client_id",
    "rp.redirect_uri",
    "claims.principal",
)
OIDC_UNSUPPORTED = {
    "ssl.keystore.": "the node presents no client certificate to the OpenID Provider",
    "http.": "the realm's HTTP client settings are the platform's",
}


@dataclass(frozen=True)
class CheckedSettings:
    """Settings as stored (no secret), plus what is kept beside them."""

    settings: dict[str, Any]
    idp_metadata: str = ""
    client_secret: str | None = None
    metadata_url: str | None = None
    """Where `idp_metadata` was fetched from (``idp.metadata.path``); None: given inline."""


Fetch = Callable[[str, str | None], str]
"""Fetches an IdP's metadata: ``(url, CA PEM or None) -> document``; raises naming the field."""


def _known(
    settings: Mapping[str, Any], keys: Mapping[str, Check], unsupported: Mapping[str, str]
) -> dict[str, Any]:
    for key in settings:
        if key in keys:
            continue
        for prefix, reason in unsupported.items():
            if key == prefix or (prefix.endswith(".") and key.startswith(prefix)):
                raise UnsupportedRealmSetting(f"{key}: {reason}.", fields=[field(key)])
    unknown = sorted(key for key in settings if key not in keys)
    if unknown:
        raise InvalidRealm(
            "Unknown settings: " + ", ".join(unknown) + ".", fields=[field(k) for k in unknown]
        )
    return {key: keys[key](key, value) for key, value in settings.items()}


def _required(checked: Mapping[str, Any], required: tuple[str, ...]) -> None:
    missing = [key for key in required if key not in checked]
    if missing:
        raise InvalidRealm(
            "Missing settings: " + ", ".join(missing) + ".", fields=[field(k) for k in missing]
        )


def saml_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A SAML realm's settings checked, bar the metadata document itself (which `check_saml`
    takes inline or fetches)."""
    checked = _known(settings, SAML_KEYS, SAML_UNSUPPORTED)
    _required(checked, SAML_REQUIRED)
    if (METADATA_XML in checked) == (METADATA_PATH in checked):
        raise InvalidRealm(
            f"Give the IdP's metadata either inline as {METADATA_XML} or by its https URL as "
            f"{METADATA_PATH} (one of them).",
            fields=[field(METADATA_XML), field(METADATA_PATH)],
        )
    if METADATA_CAS in checked and METADATA_PATH not in checked:
        raise InvalidRealm(
            f"{METADATA_CAS} is only for fetching {METADATA_PATH}.", fields=[field(METADATA_CAS)]
        )
    if checked["sp.acs"] == checked.get("sp.logout"):
        raise InvalidRealm("sp.logout must differ from sp.acs.", fields=[field("sp.logout")])
    return checked


def check_saml(settings: Mapping[str, Any], fetch: Fetch | None = None) -> CheckedSettings:
    """A SAML realm's settings, checked; the metadata document (inline, or got with `fetch`
    from ``idp.metadata.path`` once everything else is checked) parsed and matched."""
    checked = saml_settings(settings)
    if METADATA_XML in checked:
        metadata = checked.pop(METADATA_XML)
        check_metadata(checked, metadata)
        return CheckedSettings(settings=checked, idp_metadata=metadata)
    if fetch is None:
        raise UnsupportedRealmSetting(
            f"{METADATA_PATH}: fetching metadata is not available here.",
            fields=[field(METADATA_PATH)],
        )
    url = checked[METADATA_PATH]
    metadata = fetch(url, certificate_authorities(checked))
    check_metadata(checked, metadata)
    return CheckedSettings(settings=checked, idp_metadata=metadata, metadata_url=url)


def certificate_authorities(settings: Mapping[str, Any]) -> str | None:
    """The realm's ``ssl.certificate_authorities`` as one PEM bundle (None: the system's)."""
    value = settings.get(METADATA_CAS)
    if value is None:
        return None
    return "\n".join([value] if isinstance(value, str) else value)


def check_metadata(settings: Mapping[str, Any], metadata: str) -> None:
    """The IdP's metadata document (from `settings`' ``idp.metadata.path`` when it has one,
    else inline) is one the node can use for `settings`' ``idp.entity_id``; errors name the
    key the document came from."""
    key = METADATA_PATH if METADATA_PATH in settings else METADATA_XML
    try:
        idp = parse_idp_metadata(metadata)
    except SamlRefused:
        raise InvalidRealm(
            f"{key}: not an IdP metadata document with one IDPSSODescriptor, a single sign-on "
            "service and one or two signing certificates.",
            fields=[field(key)],
        ) from None
    if not _redirect_sso(metadata):
        raise InvalidRealm(
            f"{key}: the metadata has no single sign-on service with the HTTP-Redirect "
            "binding, the one the realm sends its requests with.",
            fields=[field(key)],
        )
    if idp.entity_id != settings["idp.entity_id"]:
        raise InvalidRealm(
            "idp.entity_id is not the entityID of the metadata document.",
            fields=[field("idp.entity_id")],
        )


def _redirect_sso(metadata: str) -> bool:
    root = parse_safely(metadata.encode())
    return bool(
        root.xpath(
            "//md:IDPSSODescriptor/md:SingleSignOnService[@Binding=$binding]",
            namespaces=MD,
            binding=BINDING_REDIRECT,
        )
    )


def check_oidc(settings: Mapping[str, Any], *, has_secret: bool) -> CheckedSettings:
    """An OIDC realm's settings, checked; the client secret taken out (required unless the
    realm already has one and this replacement keeps it)."""
    checked = _known(settings, OIDC_KEYS, OIDC_UNSUPPORTED)
    _required(checked, OIDC_REQUIRED)
    secret = checked.pop(CLIENT_SECRET, None)
    if secret is None and not has_secret:
        raise InvalidRealm(
            "Missing settings: rp.client_secret (the authorization code flow needs it).",
            fields=[field(CLIENT_SECRET)],
        )
    scopes = checked.get("rp.requested_scopes", ["openid"])
    if "openid" not in scopes:
        checked["rp.requested_scopes"] = ["openid", *scopes]
    return CheckedSettings(settings=checked, client_secret=secret)
