"""The customer's SAML realms (Elasticsearch's ``saml`` realm, for custom web applications).

A web application drives the Web Browser SSO profile through the node, as with Elasticsearch:

1. ``_security/saml/prepare`` names the realm (or its ACS URL): the node answers the IdP's
   single sign-on URL carrying an AuthnRequest (HTTP-Redirect binding, unsigned, as
   Elasticsearch sends it without ``signing.*``) and the request's ID, which the application
   keeps with the user's browser session.
2. The user signs in at the IdP, whose form posts the SAMLResponse to the application's ACS.
3. ``_security/saml/authenticate`` hands the response (``content``) and the IDs the application
   kept (``ids``) to the node. The response must answer one of them (no unsolicited,
   IdP-initiated responses) and passes every check of the organization's SSO
   (`citadel.sso.saml.process_response`, the one implementation: safe parsing, XSW structure,
   algorithm allow-list, the signature against the IdP metadata's certificates, exact
   destination, recipient, audience and issuer, the time window, InResponseTo, no comments in
   identifiers, padded identifiers, then one-time use of the assertion ID, remembered in the
   node's store (``saml_seen_assertions``) so a restart does not forget it). Then the
   attributes become the user (``attributes.principal`` — ``nameid`` or
   ``nameid:persistent`` for the NameID —, ``groups``, ``name``, ``mail``, ``dn``), each
   narrowed by its ``attribute_patterns`` regex, whose first group is the value: a principal
   that does not match fails the sign-in, another attribute that does not match is left out.
   ``attribute_delimiters.groups`` splits a single groups value. Roles come from the role
   mappings (`Realm.identity_for`, realm type ``saml``), and the answer carries the node's own
   access and refresh tokens (`TokenService.issue`; the NameID and session index kept with
   them for logout).
4. ``_security/saml/logout`` invalidates those tokens and, when the IdP's metadata has an
   HTTP-Redirect single logout service, ``sp.logout`` is set and ``idp.use_single_logout`` is
   not false, answers a LogoutRequest URL for the IdP (else ``redirect`` is null).
5. ``_security/saml/invalidate`` takes the query string of an IdP-started logout (a
   LogoutRequest, HTTP-Redirect binding), which must be signed by the IdP (SHA-256 or better),
   addressed to ``sp.logout`` (a realm without it refuses every LogoutRequest, as
   Elasticsearch does), from the IdP and not expired; every token the realm issued to that
   NameID is invalidated, and the answer carries the LogoutResponse URL for the IdP. Which
   NameID got which username is remembered in the node's store (table ``saml_sessions``) for
   as long as a refresh token lives.
6. ``_security/saml/complete_logout`` checks the IdP's LogoutResponse to the LogoutRequest of
   step 4 (HTTP-Redirect binding: signed, to ``sp.logout``, from the IdP, answering one of the
   ``ids`` the application kept, status Success); it changes nothing (the tokens are gone).

Every failed sign-in is the same 401; the check that failed is logged at debug (a
`RefusalReason`), never the response, the NameID or the attributes.

The realm's settings come from the security file; a realm whose settings or IdP metadata do
not parse is skipped and logged (the control plane checked them already). When a new file
removes or disables a realm, every token it issued is invalidated at once (`realms_changed`):
deleting a realm cuts its users off, not only their next sign-in. The token service does the
same for every SAML and OIDC realm (`TokenService.cut_off`), also when the node starts, for a
realm removed or disabled while it was stopped.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import structlog
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.logout_request import OneLogin_Saml2_Logout_Request
from onelogin.saml2.metadata import OneLogin_Saml2_Metadata
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from citadel.contract.messages import NodeSecurity, SamlRealm
from citadel.kit.clock import Clock
from citadel.node.errors import IllegalArgument, Unauthenticated
from citadel.node.security.realm import Identity, Realm
from citadel.node.security.role_mappings import UserData
from citadel.node.security.tokens import TokenQuery, TokenService
from citadel.node.store.connection import Store
from citadel.sso.metadata import MD, parse_idp_metadata
from citadel.sso.saml import (
    BINDING_POST,
    BINDING_REDIRECT,
    CLOCK_SKEW,
    NS,
    RefusalReason,
    SamlRefused,
    ServiceProvider,
    login_request,
    parse_safely,
    process_response,
    settings_for,
)

log = structlog.get_logger(__name__)

REALM_TYPE = "saml"
TOKEN_PRINCIPAL = "<SAML Token>"  # noqa: S105 (who a failed sign-in is, in the audit trail)
NAMEID_TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
NAMEID_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
MAX_IDS = 100
SESSION_LIFETIME_MS = 24 * 60 * 60 * 1000  # a refresh token's
SEEN_DDL = """CREATE TABLE IF NOT EXISTS saml_seen_assertions (
    assertion_id TEXT PRIMARY KEY,
    forget_after INTEGER NOT NULL
)"""
SESSIONS_DDL = """CREATE TABLE IF NOT EXISTS saml_sessions (
    realm TEXT NOT NULL,
    name_id TEXT NOT NULL,
    username TEXT NOT NULL,
    created_at INTEGER NOT NULL
)"""
MAX_CONTENT_CHARS = 256 * 1024
_USER_FIELDS = ("principal", "groups", "name", "mail", "dn")


class SamlFailed(Unauthenticated):
    """A SAML response was refused (one message for every reason)."""

    def __init__(self, realm: str) -> None:
        super().__init__(f"Provided SAML response is not valid for realm [saml/{realm}]")


class LogoutRefused(Unauthenticated):
    """An IdP's LogoutRequest was refused (one message for every reason)."""

    def __init__(self, realm: str) -> None:
        super().__init__(f"Provided SAML logout request is not valid for realm [saml/{realm}]")


@dataclass(frozen=True)
class SignedIn:
    """A finished sign-in: who, and the body of the ``authenticate`` answer."""

    identity: Identity
    body: dict[str, Any]


# -- settings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SamlSettings:
    """One realm's settings, read from Elasticsearch's keys (`SamlRealm.settings`)."""

    name: str
    order: int
    sp: ServiceProvider
    attributes: Mapping[str, str]
    patterns: Mapping[str, re.Pattern[str]] = field(default_factory=dict)
    groups_delimiter: str | None = None
    populate_user_metadata: bool = True
    logout_url: str | None = None  # sp.logout
    idp_logout_url: str | None = None  # the IdP's HTTP-Redirect SingleLogoutService
    use_single_logout: bool = True

    @classmethod
    def of(cls, realm: SamlRealm) -> SamlSettings:
        """Parse `realm`; `ValueError` naming the first bad key, `SamlRefused` for metadata
        that is not an IdP's."""
        s = realm.settings

        def text(key: str, default: str | None = None) -> str:
            value = s.get(key, default)
            if not isinstance(value, str) or not value:
                raise ValueError(f"[{key}] must be a non-empty string")
            return value

        idp = parse_idp_metadata(realm.idp_metadata)
        if idp.entity_id != text("idp.entity_id"):
            raise ValueError("[idp.entity_id] is not the metadata's entityID")
        refs = s.get("req_authn_context_class_ref", [])
        refs = [refs] if isinstance(refs, str) else list(refs)
        sp = ServiceProvider(
            entity_id=text("sp.entity_id"),
            acs_url=text("sp.acs"),
            login_url=text("sp.acs"),
            certificate_pem="",
            private_key_pem="",
            idp_entity_id=idp.entity_id,
            idp_sso_url=idp.sso_url,
            idp_certificates_pem=idp.certificates_pem,
            email_attribute=None,
            name_id_format=text("nameid_format", NAMEID_TRANSIENT),
            force_authn=s.get("force_authn", False) is True,
            authn_context_class_refs=tuple(str(r) for r in refs),
        )
        attributes = {f: text(f"attributes.{f}") for f in _USER_FIELDS if f"attributes.{f}" in s}
        if "principal" not in attributes:
            raise ValueError("[attributes.principal] must be set")
        patterns = {
            f: re.compile(text(f"attribute_patterns.{f}"))
            for f in _USER_FIELDS
            if f"attribute_patterns.{f}" in s
        }
        if any(pattern.groups < 1 for pattern in patterns.values()):
            raise ValueError("[attribute_patterns.*] must have a capturing group")
        return cls(
            name=realm.name,
            order=realm.order,
            sp=sp,
            attributes=attributes,
            patterns=patterns,
            groups_delimiter=s.get("attribute_delimiters.groups") or None,
            populate_user_metadata=s.get("populate_user_metadata", True) is not False,
            logout_url=s.get("sp.logout") or None,
            idp_logout_url=_single_logout_url(realm.idp_metadata),
            use_single_logout=s.get("idp.use_single_logout", True) is not False,
        )

    @property
    def single_logout(self) -> bool:
        """Whether logout sends the user to the IdP (Elasticsearch's SLO conditions)."""
        return bool(self.idp_logout_url and self.logout_url and self.use_single_logout)


def _single_logout_url(metadata: str) -> str | None:
    root = parse_safely(metadata.encode())
    found = root.xpath(
        "//md:IDPSSODescriptor/md:SingleLogoutService[@Binding=$binding]/@Location",
        namespaces=MD,
        binding=BINDING_REDIRECT,
    )
    return str(found[0]) if found else None


# -- one-time use ---------------------------------------------------------------------------


class StoredAssertionLedger:
    """The `AssertionLedger` of a node: assertion IDs kept in its store until they expire (plus
    the clock skew), so a response cannot be used twice, not even across a restart."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def seen(self, assertion_id: str, not_on_or_after: datetime) -> bool:
        """Record `assertion_id`; true if it was already recorded (a replay)."""
        now = int(self.clock.now().timestamp() * 1000)
        forget = int((not_on_or_after + CLOCK_SKEW).timestamp() * 1000)
        with self.store.write() as conn:
            conn.execute("DELETE FROM saml_seen_assertions WHERE forget_after < ?", (now,))
            inserted = conn.execute(
                "INSERT OR IGNORE INTO saml_seen_assertions (assertion_id, forget_after) "
                "VALUES (?, ?)",
                (assertion_id, forget),
            ).rowcount
        return inserted == 0


# -- the realms -----------------------------------------------------------------------------


class SamlRealms:
    """The SAML realms of the current `NodeSecurity`, and the steps of their flow."""

    def __init__(
        self,
        realms: Callable[[], tuple[SamlRealm, ...]],
        realm: Realm,
        tokens: TokenService,
        clock: Clock,
        store: Store,
    ) -> None:
        """`realms`: the configured realms now (`SecurityConfig.current().saml`)."""
        self._realms = realms
        self.realm = realm
        self.tokens = tokens
        self.clock = clock
        self.store = store
        with store.write() as conn:
            conn.execute(SEEN_DDL)
            conn.execute(SESSIONS_DDL)
            conn.execute(
                "CREATE INDEX IF NOT EXISTS saml_sessions_name_id ON saml_sessions (realm, name_id)"
            )
        self.ledger = StoredAssertionLedger(store, clock)
        self._source: tuple[SamlRealm, ...] = ()
        self._enabled = {r.name for r in realms() if r.enabled}
        self._parsed: list[SamlSettings] = []
        self._lock = threading.Lock()

    def settings(self) -> list[SamlSettings]:
        """The enabled realms, by order; one whose settings do not parse is skipped (logged).
        Parsed again only when the security file changed them."""
        configured = self._realms()
        with self._lock:
            if configured is not self._source and configured != self._source:
                parsed = [self._parse(r) for r in configured if r.enabled]
                self._parsed = sorted(
                    (p for p in parsed if p is not None), key=lambda s: (s.order, s.name)
                )
                self._source = configured
            return list(self._parsed)

    @staticmethod
    def _parse(realm: SamlRealm) -> SamlSettings | None:
        try:
            return SamlSettings.of(realm)
        except (ValueError, re.error, SamlRefused) as exc:
            log.warning("node.saml_realm_invalid", realm=realm.name, reason=type(exc).__name__)
            return None

    def realms_changed(self, security: NodeSecurity) -> None:
        """`SecurityConfig.on_change` listener: invalidate the tokens of every SAML realm that
        was enabled and no longer is (removed or disabled)."""
        enabled = {r.name for r in security.saml if r.enabled}
        with self._lock:
            gone, self._enabled = self._enabled - enabled, enabled
        for name in sorted(gone):
            done = self.tokens.invalidate(TokenQuery(realm_name=name))
            log.info(
                "node.saml_realm_removed",
                realm=name,
                invalidated_tokens=done["invalidated_tokens"],
            )

    def find(self, *, realm: str | None = None, acs: str | None = None) -> SamlSettings:
        """The realm named `realm`, or the one whose ACS URL is `acs`."""
        realms = self.settings()
        if realm is not None:
            found = next((s for s in realms if s.name == realm), None)
            if found is None:
                raise IllegalArgument(f"Cannot find any matching realm for [{realm}]")
            return found
        matching = [s for s in realms if s.sp.acs_url == acs]
        if len(matching) != 1:
            raise IllegalArgument(f"Cannot find any matching realm for [{acs}]")
        return matching[0]

    # -- the steps -----------------------------------------------------------------------

    def prepare(
        self, *, realm: str | None, acs: str | None, relay_state: str | None
    ) -> dict[str, Any]:
        """``_security/saml/prepare``: ``{realm, id, redirect}``."""
        settings = self.find(realm=realm, acs=acs)
        url, request_id = login_request(settings.sp, relay_state or "")
        if not relay_state:
            url = _without(url, "RelayState")
        return {"realm": settings.name, "id": request_id, "redirect": url}

    def authenticate(self, *, content: str, ids: Sequence[str], realm: str | None) -> SignedIn:
        """``_security/saml/authenticate``: the user's tokens and who they are."""
        candidates = self.settings()
        if realm is not None:
            candidates = [s for s in candidates if s.name == realm]
            if not candidates:
                raise IllegalArgument(f"Cannot find any matching realm for [{realm}]")
        if not candidates:
            raise Unauthenticated("No SAML realm is configured")
        settings, name_id, session_index, identity = self._sign_in(candidates, content, ids)
        self._remember(settings.name, name_id[0], identity.username)
        body = self.tokens.issue(
            identity,
            extra={
                "saml_realm": settings.name,
                "saml_nameid": name_id[0],
                "saml_nameid_format": name_id[1],
                "saml_session": session_index,
            },
        )
        answer = {
            "username": identity.username,
            "access_token": body["access_token"],
            "refresh_token": body["refresh_token"],
            "realm": settings.name,
            "expires_in": body["expires_in"],
            "authentication": body["authentication"],
        }
        return SignedIn(identity, answer)

    def _sign_in(
        self, candidates: list[SamlSettings], content: str, ids: Sequence[str]
    ) -> tuple[SamlSettings, tuple[str, str | None], str | None, Identity]:
        now = datetime.fromtimestamp(self.clock.now().timestamp(), UTC)
        realm_name = candidates[0].name
        try:
            issuer, answers = _peek(content)
            settings = next((s for s in candidates if s.sp.idp_entity_id == issuer), None)
            if settings is None:
                raise SamlRefused(RefusalReason.WRONG_ISSUER)
            realm_name = settings.name
            if answers is None or answers not in ids:
                raise SamlRefused(RefusalReason.UNSOLICITED)
            assertion = process_response(
                settings.sp,
                {"SAMLResponse": content},
                request_id=answers,
                seen_assertion_ids=self.ledger,
                now=now,
            )
            user = self.user(
                settings, assertion.name_id, assertion.name_id_format, assertion.attributes
            )
        except SamlRefused as exc:
            log.debug("node.saml_refused", realm=realm_name, reason=exc.reason.value)
            raise SamlFailed(realm_name) from None
        identity: Identity = self.realm.identity_for(user, REALM_TYPE)
        return (
            settings,
            (assertion.name_id, assertion.name_id_format),
            assertion.session_index,
            identity,
        )

    def user(
        self,
        settings: SamlSettings,
        name_id: str,
        name_id_format: str | None,
        attributes: Mapping[str, tuple[str, ...]],
    ) -> UserData:
        """The user a verified assertion describes (`SamlRefused` when its principal is
        missing, several, not the persistent NameID it must be, or does not match its
        pattern)."""
        values = {
            f: self._values(settings, f, name_id, name_id_format, attributes)
            for f in settings.attributes
        }
        principal = values.get("principal") or []
        if len(principal) != 1 or not principal[0]:
            raise SamlRefused(RefusalReason.MISSING_PRINCIPAL)
        metadata: dict[str, Any] = {}
        if settings.populate_user_metadata:
            metadata = {"saml_nameid": name_id, "saml_nameid_format": name_id_format}
            metadata |= {f"saml({name})": list(v) for name, v in attributes.items()}
        return UserData(
            username=principal[0],
            realm_name=settings.name,
            groups=tuple(values.get("groups", [])),
            dn=_first(values.get("dn")),
            metadata=metadata,
            full_name=_first(values.get("name")),
            email=_first(values.get("mail")),
        )

    @staticmethod
    def _values(
        settings: SamlSettings,
        field_name: str,
        name_id: str,
        name_id_format: str | None,
        attributes: Mapping[str, tuple[str, ...]],
    ) -> list[str]:
        source = settings.attributes[field_name]
        if source == "nameid":
            raw = [name_id]
        elif source == "nameid:persistent":
            if name_id_format != NAMEID_PERSISTENT:
                raise SamlRefused(RefusalReason.MISSING_PRINCIPAL)
            raw = [name_id]
        else:
            raw = list(attributes.get(source, ()))
        if field_name == "groups" and settings.groups_delimiter and len(raw) == 1:
            raw = [g.strip() for g in raw[0].split(settings.groups_delimiter) if g.strip()]
        pattern = settings.patterns.get(field_name)
        if pattern is None:
            return raw
        out = []
        for value in raw:
            match = pattern.fullmatch(value)
            if match is not None:
                out.append(match.group(1))
            elif field_name == "principal":
                raise SamlRefused(RefusalReason.PATTERN_MISMATCH)
        return out

    def logout(self, *, token: str, refresh_token: str | None) -> dict[str, Any]:
        """``_security/saml/logout``: the tokens invalidated; ``{redirect}`` to the IdP's
        single logout service with a LogoutRequest (None without single logout)."""
        name, extra = self.tokens.end_session(
            token, refresh_token, realm_key="saml_realm", kind="a SAML realm"
        )
        settings = next((s for s in self.settings() if s.name == name), None)
        if settings is None or not settings.single_logout:
            return {"redirect": None}
        return {"redirect": _logout_request(settings, extra)}

    def invalidate(
        self, *, realm: str | None, acs: str | None, query_string: str
    ) -> dict[str, Any]:
        """``_security/saml/invalidate``: an IdP-started logout; ``{invalidated, realm,
        redirect}`` (the LogoutResponse for the IdP)."""
        settings = self.find(realm=realm, acs=acs)
        try:
            name_id, redirect = _logout_requested(settings, query_string)
        except SamlRefused as exc:
            log.debug("node.saml_logout_refused", realm=settings.name, reason=exc.reason.value)
            raise LogoutRefused(settings.name) from None
        invalidated = 0
        for username in self._usernames(settings.name, name_id):
            query = TokenQuery(realm_name=settings.name, username=username)
            invalidated += int(self.tokens.invalidate(query)["invalidated_tokens"])
        return {"invalidated": invalidated, "realm": settings.name, "redirect": redirect}

    def complete_logout(self, *, realm: str, ids: Sequence[str], query_string: str) -> None:
        """``_security/saml/complete_logout``: the IdP's LogoutResponse verified (or 401)."""
        settings = self.find(realm=realm)
        try:
            _logout_answered(settings, query_string, ids)
        except SamlRefused as exc:
            log.debug("node.saml_logout_refused", realm=settings.name, reason=exc.reason.value)
            raise LogoutRefused(settings.name) from None

    def _remember(self, realm: str, name_id: str, username: str) -> None:
        now = int(self.clock.now().timestamp() * 1000)
        with self.store.write() as conn:
            conn.execute(
                "DELETE FROM saml_sessions WHERE created_at < ?", (now - SESSION_LIFETIME_MS,)
            )
            conn.execute(
                "INSERT INTO saml_sessions (realm, name_id, username, created_at) "
                "VALUES (?, ?, ?, ?)",
                (realm, name_id, username, now),
            )

    def _usernames(self, realm: str, name_id: str) -> list[str]:
        with self.store.read() as conn:
            rows = conn.execute(
                "SELECT DISTINCT username FROM saml_sessions WHERE realm = ? AND name_id = ?",
                (realm, name_id),
            ).fetchall()
        return [row[0] for row in rows]

    def metadata(self, realm: str) -> dict[str, Any]:
        """``GET _security/saml/metadata/{realm}``: the SP's metadata for the IdP."""
        settings = self.find(realm=realm)
        sp: dict[str, Any] = {
            "entityId": settings.sp.entity_id,
            "assertionConsumerService": {"url": settings.sp.acs_url, "binding": BINDING_POST},
            "NameIDFormat": settings.sp.name_id_format,
        }
        if settings.logout_url:
            sp["singleLogoutService"] = {"url": settings.logout_url, "binding": BINDING_REDIRECT}
        xml = OneLogin_Saml2_Metadata.builder(sp=sp, authnsign=False, wsign=True)
        return {"metadata": xml if isinstance(xml, str) else xml.decode()}


def _first(values: list[str] | None) -> str | None:
    return values[0] if values else None


def _without(url: str, parameter: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != parameter]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _peek(content: str) -> tuple[str | None, str | None]:
    """The response's Issuer and InResponseTo, read (safely) before any check only to pick
    the realm and the request it answers: `process_response` verifies both."""
    if len(content) > MAX_CONTENT_CHARS:
        raise SamlRefused(RefusalReason.TOO_LARGE)
    try:
        xml = base64.b64decode(content.encode("ascii"), validate=False)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise SamlRefused(RefusalReason.MALFORMED) from None
    root = parse_safely(xml)
    issuers = root.xpath("/samlp:Response/saml:Issuer", namespaces=NS) or root.xpath(
        "/samlp:Response/saml:Assertion/saml:Issuer", namespaces=NS
    )
    issuer = "".join(issuers[0].itertext()).strip() if issuers else None
    return issuer, root.get("InResponseTo")


def _slo_settings(settings: SamlSettings) -> dict[str, Any]:
    """python3-saml settings with both sides' single logout services; messages the IdP sends
    about logout must be signed."""
    assert settings.logout_url is not None
    saml_settings = settings_for(settings.sp)
    if settings.idp_logout_url is not None:
        saml_settings["idp"]["singleLogoutService"] = {
            "url": settings.idp_logout_url,
            "binding": BINDING_REDIRECT,
        }
    saml_settings["sp"]["singleLogoutService"] = {
        "url": settings.logout_url,
        "binding": BINDING_REDIRECT,
    }
    saml_settings["security"]["wantMessagesSigned"] = True
    return saml_settings


def _at_logout_url(settings: SamlSettings, query_string: str = "") -> dict[str, Any]:
    """The request as python3-saml sees it: ``sp.logout`` itself, never a client's Host."""
    assert settings.logout_url is not None
    url = urlsplit(settings.logout_url)
    return {
        "https": "on" if url.scheme == "https" else "off",
        "http_host": url.netloc,
        "script_name": url.path,
        "get_data": dict(parse_qsl(query_string, keep_blank_values=True)),
        "post_data": {},
        "query_string": query_string,
        "validate_signature_from_qs": True,  # the IdP's own encoding, as it signed it
    }


def _logout_message(
    settings: SamlSettings, query_string: str, parameter: str
) -> tuple[dict[str, Any], Any]:
    """A single-logout message the IdP sent to our logout URL (HTTP-Redirect binding): the
    request as python3-saml takes it, and the message parsed safely (`SamlRefused` for one
    that is missing, too long, not deflated base64 or not safe XML)."""
    if settings.logout_url is None or settings.idp_logout_url is None:
        raise SamlRefused(RefusalReason.WRONG_DESTINATION)  # no single logout here
    request = _at_logout_url(settings, query_string)
    encoded = request["get_data"].get(parameter)
    if not encoded or len(query_string) > MAX_CONTENT_CHARS:
        raise SamlRefused(RefusalReason.MALFORMED)
    try:
        xml = OneLogin_Saml2_Utils.decode_base64_and_inflate(encoded)
    except Exception:  # not base64, not deflated: fail closed
        raise SamlRefused(RefusalReason.MALFORMED) from None
    return request, parse_safely(xml if isinstance(xml, bytes) else xml.encode())


def _logout_requested(settings: SamlSettings, query_string: str) -> tuple[str, str]:
    """The NameID an IdP's signed LogoutRequest names, and the LogoutResponse URL."""
    request, _ = _logout_message(settings, query_string, "SAMLRequest")
    auth = OneLogin_Saml2_Auth(request, _slo_settings(settings))
    try:
        redirect = auth.process_slo(keep_local_session=True)
    except Exception:  # any failure inside the library fails closed
        raise SamlRefused(RefusalReason.INVALID) from None
    if auth.get_errors() or not redirect:
        raise SamlRefused(RefusalReason.INVALID)
    issuer = OneLogin_Saml2_Logout_Request.get_issuer(auth.get_last_request_xml())
    if issuer != settings.sp.idp_entity_id:
        raise SamlRefused(RefusalReason.WRONG_ISSUER)
    name_id = OneLogin_Saml2_Logout_Request.get_nameid(auth.get_last_request_xml())
    return name_id, redirect


def _logout_answered(settings: SamlSettings, query_string: str, ids: Sequence[str]) -> None:
    """Check an IdP's signed LogoutResponse to one of `ids` (`SamlRefused` otherwise)."""
    request, root = _logout_message(settings, query_string, "SAMLResponse")
    answers = root.get("InResponseTo")
    if answers is None or answers not in ids:
        raise SamlRefused(RefusalReason.UNSOLICITED)
    auth = OneLogin_Saml2_Auth(request, _slo_settings(settings))
    try:
        auth.process_slo(keep_local_session=True, request_id=answers)
    except Exception:  # any failure inside the library fails closed
        raise SamlRefused(RefusalReason.INVALID) from None
    if auth.get_errors():
        raise SamlRefused(RefusalReason.INVALID)
    issuers = root.xpath("/samlp:LogoutResponse/saml:Issuer", namespaces=NS)
    if len(issuers) != 1 or "".join(issuers[0].itertext()).strip() != settings.sp.idp_entity_id:
        raise SamlRefused(RefusalReason.WRONG_ISSUER)


def _logout_request(settings: SamlSettings, extra: Mapping[str, Any]) -> str:
    """An (unsigned) LogoutRequest for the IdP's HTTP-Redirect single logout service."""
    request = _at_logout_url(settings)
    auth = OneLogin_Saml2_Auth(request, _slo_settings(settings))
    redirect = auth.logout(
        name_id=extra.get("saml_nameid"),
        session_index=extra.get("saml_session"),
        name_id_format=extra.get("saml_nameid_format"),
    )
    return _without(redirect, "RelayState")
