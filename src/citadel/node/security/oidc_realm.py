"""The customer's OpenID Connect realms (Elasticsearch's ``oidc`` realm, authorization-code flow).

A custom web application drives the flow through the node, as with Elasticsearch:

1. ``_security/oidc/prepare`` names the realm (or the OP's issuer): the node answers the OP's
   authorization URL with a fresh ``state`` and ``nonce`` (or the caller's), and a PKCE
   challenge (S256) whose verifier never leaves the node. The pending login is kept in memory,
   keyed by the SHA-256 of its state, for `PENDING_TTL_S` (at most `MAX_PENDING`).
2. The user signs in at the OP, which redirects to the application with ``code`` and
   ``state``.
3. ``_security/oidc/authenticate`` hands the whole redirect URL back with the state and nonce
   the application kept. The pending login is taken (once: a replayed state is refused), its
   state must match the URL's and its nonce the caller's; the code is exchanged at the OP's
   token endpoint with the verifier and the client's credentials; the ID token is verified
   with PyJWT against the OP's JWKS (signature with an allowed algorithm only, ``iss`` = the
   configured issuer, ``aud`` = the client id (``azp`` too when several audiences), ``exp`` and
   ``iat`` within the clock skew, ``nonce``); when the realm has ``op.userinfo_endpoint`` and
   the token endpoint answered an access token, the userinfo endpoint is asked for the user's
   claims (`OidcRealms._with_userinfo`: JSON only, its ``sub`` must be the ID token's, its
   claims merged into the ID token's as Elasticsearch does, `merge_claims`); the claims become
   the user (``claims.principal``, ``groups``, ``name``, ``mail``, ``dn``, each narrowed by
   its ``claim_patterns`` regex when set: a value that does not match fails the sign-in);
   roles come from the role mappings (`Realm.identity_for`, realm type ``oidc``); and the
   answer carries the node's own access and refresh tokens (`TokenService.issue`, the ID
   token kept with them for logout).
4. ``_security/oidc/logout`` invalidates those tokens and answers the OP's end-session URL.

The node has no network: the OP (token endpoint, JWKS, userinfo endpoint) is reached through
the allocator's forwarder for its ``host:port`` (a unix socket under ``/run/citadel/egress``,
`citadel.runtime.egress`), with TLS end to end: the node verifies the OP's certificate against
the system's CAs or the realm's ``ssl.certificate_authorities`` (PEM text). The JWKS is fetched
the same way and cached for `JWKS_TTL_S`; an unknown ``kid`` fetches it again (at most once a
`JWKS_REFETCH_S`).

Every failure of a sign-in is the same 401 (``Failed to authenticate user with OpenID
Connect``); the reason is logged at debug, without tokens, codes or claims.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import structlog

from citadel.contract.messages import (
    EGRESS_DIR,
    OidcRealm,
    egress_socket_name,
    egress_target,
)
from citadel.node.errors import EsError, IllegalArgument, Unauthenticated
from citadel.node.security.realm import Identity, Realm
from citadel.node.security.role_mappings import UserData
from citadel.node.security.tokens import TokenService

log = structlog.get_logger(__name__)

REALM_TYPE = "oidc"
PENDING_TTL_S = 600.0
MAX_PENDING = 10_000
JWKS_TTL_S = 3600.0
JWKS_REFETCH_S = 60.0
OP_TIMEOUT_S = 10.0
MAX_OP_ANSWER = 1024 * 1024
MAX_PARAM_CHARS = 1024
FAILED = "Failed to authenticate user with OpenID Connect"
TOKEN_PRINCIPAL = "<OIDC Token>"  # noqa: S105 (who a failed sign-in is, in the audit trail)
_ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)
_CLAIMS = ("principal", "groups", "name", "mail", "dn")


class OidcFailed(Unauthenticated):
    """A sign-in that did not succeed (every reason answers the same)."""

    def __init__(self, why: str) -> None:
        super().__init__(FAILED)
        self.why = why


TOKEN_ENDPOINT_FAILED = "Failed to exchange code for Id Token using the Token Endpoint."  # noqa: S105
USERINFO_FAILED = "Failed to get claims from the Userinfo Endpoint."


class OpUnreachable(EsError):
    """The OP could not be reached (its forwarder, the network, TLS): Elasticsearch's 401 for
    a failed sign-in, saying which endpoint could not be used (the token endpoint's words
    unless `endpoint` says otherwise, as Elasticsearch's are for the JWKS too)."""

    type = "security_exception"
    status = 401

    def __init__(self, why: str, endpoint: str = TOKEN_ENDPOINT_FAILED) -> None:
        super().__init__(
            FAILED,
            caused_by={"type": "security_exception", "reason": endpoint},
        )
        self.why = why


# -- settings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OidcSettings:
    """One realm's settings, read from Elasticsearch's keys (`OidcRealm.settings`)."""

    name: str
    order: int
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwkset_url: str
    client_id: str
    client_secret: str | None
    redirect_uri: str
    endsession_endpoint: str | None = None
    userinfo_endpoint: str | None = None
    post_logout_redirect_uri: str | None = None
    scopes: tuple[str, ...] = ("openid",)
    algorithms: tuple[str, ...] = ("RS256",)
    client_auth_method: str = "client_secret_basic"
    claims: Mapping[str, str] = field(default_factory=dict)
    claim_patterns: Mapping[str, re.Pattern[str]] = field(default_factory=dict)
    clock_skew_s: int = 60
    ca_pem: str | None = None
    populate_user_metadata: bool = True

    @classmethod
    def of(cls, realm: OidcRealm) -> OidcSettings:
        """Parse `realm`'s settings; `ValueError` naming the first bad key."""
        s = realm.settings

        def text(key: str, default: str | None = None) -> str:
            value = s.get(key, default)
            if not isinstance(value, str) or not value:
                raise ValueError(f"[{key}] must be a non-empty string")
            return value

        def optional(key: str) -> str | None:
            return text(key) if s.get(key) is not None else None

        scopes = s.get("rp.requested_scopes", ["openid"])
        if isinstance(scopes, str):
            scopes = [x.strip() for x in scopes.split(",") if x.strip()]
        if "openid" not in scopes:
            scopes = ["openid", *scopes]
        algorithm = text("rp.signature_algorithm", "RS256")
        if algorithm not in _ASYMMETRIC:
            raise ValueError(f"[rp.signature_algorithm] [{algorithm}] is not supported")
        method = text("rp.client_auth_method", "client_secret_basic")
        if method not in ("client_secret_basic", "client_secret_post"):
            raise ValueError(f"[rp.client_auth_method] [{method}] is not supported")
        if text("rp.response_type", "code") != "code":
            raise ValueError("[rp.response_type] only [code] is supported")
        claims = {c: text(f"claims.{c}") for c in _CLAIMS if s.get(f"claims.{c}") is not None}
        claims.setdefault("principal", "sub")
        patterns = {
            c: re.compile(text(f"claim_patterns.{c}"))
            for c in _CLAIMS
            if s.get(f"claim_patterns.{c}") is not None
        }
        for endpoint in ("op.token_endpoint", "op.jwkset_path", "op.userinfo_endpoint"):
            if endpoint in s and egress_target(text(endpoint)) is None:
                raise ValueError(f"[{endpoint}] must be an https URL")
        ca = s.get("ssl.certificate_authorities")
        if isinstance(ca, list):
            ca = "\n".join(str(x) for x in ca)
        return cls(
            name=realm.name,
            order=realm.order,
            issuer=text("op.issuer"),
            authorization_endpoint=text("op.authorization_endpoint"),
            token_endpoint=text("op.token_endpoint"),
            jwkset_url=text("op.jwkset_path"),
            client_id=text("rp.client_id"),
            client_secret=realm.client_secret,
            redirect_uri=text("rp.redirect_uri"),
            endsession_endpoint=optional("op.endsession_endpoint"),
            userinfo_endpoint=optional("op.userinfo_endpoint"),
            post_logout_redirect_uri=optional("rp.post_logout_redirect_uri"),
            scopes=tuple(scopes),
            algorithms=(algorithm,),
            client_auth_method=method,
            claims=claims,
            claim_patterns=patterns,
            clock_skew_s=_seconds(s.get("allowed_clock_skew", 60)),
            ca_pem=ca or None,
            populate_user_metadata=bool(s.get("populate_user_metadata", True)),
        )


def _seconds(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        match = re.fullmatch(r"(\d{1,6})(s|m)?", value.strip())
        if match:
            return int(match.group(1)) * (60 if match.group(2) == "m" else 1)
    raise ValueError("[allowed_clock_skew] must be a number of seconds (or `60s`, `1m`)")


# -- talking to the OP ---------------------------------------------------------------------


@dataclass(frozen=True)
class OpAnswer:
    """What an OP answered: its status, media type (lower case, no parameters) and body."""

    status: int
    media_type: str
    body: bytes


class OpClient:
    """HTTPS to an OP's token endpoint, JWKS and userinfo endpoint, through the egress
    forwarders."""

    def __init__(self, egress_dir: Path | None, timeout_s: float = OP_TIMEOUT_S) -> None:
        self.egress_dir = egress_dir
        self.timeout_s = timeout_s

    def post_form(
        self, settings: OidcSettings, url: str, form: Mapping[str, str], auth: Any = None
    ) -> Any:
        """POST `form` to `url`; the JSON answer (any status: the caller judges)."""
        return self._call(settings, "POST", url, data=dict(form), auth=auth)

    def get_json(self, settings: OidcSettings, url: str) -> Any:
        """GET `url`; its JSON answer (a non-200 fails)."""
        status, body = self._call(settings, "GET", url)
        if status != 200:
            raise OpUnreachable(f"the OP answered {status}")
        return body

    def get_userinfo(self, settings: OidcSettings, access_token: str) -> OpAnswer:
        """GET the realm's userinfo endpoint with `access_token` as a Bearer token; the answer
        whatever its status or type (the caller judges). Not reaching it fails with
        Elasticsearch's "Failed to get claims from the Userinfo Endpoint."."""
        assert settings.userinfo_endpoint is not None
        headers = {
            "Accept": "application/json, application/jwt;q=0.5",
            "Authorization": f"Bearer {access_token}",
        }
        return self._send(
            settings, "GET", settings.userinfo_endpoint, USERINFO_FAILED, headers=headers
        )

    def _call(self, settings: OidcSettings, method: str, url: str, **kwargs: Any) -> Any:
        headers = {"Accept": "application/json"}
        answer = self._send(settings, method, url, TOKEN_ENDPOINT_FAILED, headers=headers, **kwargs)
        try:
            return answer.status, json.loads(answer.body)
        except ValueError:
            raise OpUnreachable("the OP's answer is not JSON") from None

    def _send(
        self, settings: OidcSettings, method: str, url: str, endpoint: str, **kwargs: Any
    ) -> OpAnswer:
        target = egress_target(url)
        if target is None or self.egress_dir is None:
            raise OpUnreachable("no way to the OP", endpoint)
        verify = ssl.create_default_context(cadata=settings.ca_pem) if settings.ca_pem else True
        socket_path = self.egress_dir / egress_socket_name(*target)
        transport = httpx.HTTPTransport(uds=str(socket_path), verify=verify, retries=0)
        try:
            with (
                httpx.Client(transport=transport, timeout=self.timeout_s) as client,
                client.stream(method, url, **kwargs) as r,
            ):
                raw = b""
                for chunk in r.iter_bytes():
                    raw += chunk
                    if len(raw) > MAX_OP_ANSWER:
                        raise OpUnreachable("the OP's answer is too large", endpoint)
                media_type = r.headers.get("content-type", "").split(";")[0].strip().lower()
                return OpAnswer(r.status_code, media_type, raw)
        except httpx.HTTPError as exc:
            raise OpUnreachable(type(exc).__name__, endpoint) from None


class JwksCache:
    """Each realm's JWKS, fetched through `OpClient` and kept for `JWKS_TTL_S`."""

    def __init__(self, client: OpClient, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._sets: dict[str, tuple[float, jwt.PyJWKSet]] = {}

    def key(self, settings: OidcSettings, kid: str | None) -> jwt.PyJWK:
        """The key `kid` names (the only key when the token names none)."""
        now = self.monotonic()
        with self._lock:
            cached = self._sets.get(settings.jwkset_url)
        fresh = cached is None or now - cached[0] > JWKS_TTL_S
        if not fresh and cached is not None:
            found = _find_key(cached[1], kid)
            if found is not None or now - cached[0] < JWKS_REFETCH_S:
                if found is None:
                    raise OidcFailed("the ID token's key is not in the OP's JWKS")
                return found
        keys = jwt.PyJWKSet.from_dict(self.client.get_json(settings, settings.jwkset_url))
        with self._lock:
            self._sets[settings.jwkset_url] = (now, keys)
        found = _find_key(keys, kid)
        if found is None:
            raise OidcFailed("the ID token's key is not in the OP's JWKS")
        return found

    def forget(self) -> None:
        """Drop every cached set (the realms' settings changed)."""
        with self._lock:
            self._sets.clear()


def _find_key(keys: jwt.PyJWKSet, kid: str | None) -> jwt.PyJWK | None:
    if kid is None:
        return keys.keys[0] if len(keys.keys) == 1 else None
    return next((k for k in keys.keys if k.key_id == kid), None)


# -- pending logins -------------------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    """A login `prepare` started and `authenticate` has not finished."""

    realm: str
    nonce: str
    code_verifier: str
    created: float


class PendingLogins:
    """Pending logins by the SHA-256 of their state: single use, expiring, bounded (the
    oldest dropped first)."""

    def __init__(
        self, monotonic: Callable[[], float] = time.monotonic, max_pending: int = MAX_PENDING
    ) -> None:
        self.monotonic = monotonic
        self.max_pending = max_pending
        self._lock = threading.Lock()
        self._items: OrderedDict[bytes, Pending] = OrderedDict()

    def add(self, state: str, pending: Pending) -> None:
        """Remember `pending` under `state`; refused if that state is already pending."""
        key = _sha(state)
        with self._lock:
            self._prune()
            if key in self._items:
                raise IllegalArgument("this [state] is already in use by a pending login")
            self._items[key] = pending
            while len(self._items) > self.max_pending:
                self._items.popitem(last=False)

    def take(self, state: str) -> Pending | None:
        """The pending login of `state`, removed; None if unknown or expired."""
        with self._lock:
            self._prune()
            return self._items.pop(_sha(state), None)

    def _prune(self) -> None:
        cutoff = self.monotonic() - PENDING_TTL_S
        while self._items:
            key, oldest = next(iter(self._items.items()))
            if oldest.created >= cutoff:
                return
            del self._items[key]


# -- the realms -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedIn:
    """A finished sign-in: who, and the body of the ``authenticate`` answer."""

    identity: Identity
    body: dict[str, Any]


class OidcRealms:
    """The OIDC realms of the current `NodeSecurity`, and the three steps of their flow."""

    def __init__(
        self,
        realms: Callable[[], tuple[OidcRealm, ...]],
        realm: Realm,
        tokens: TokenService,
        *,
        egress_dir: Path | None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`realms`: the configured realms now (`SecurityConfig.current().oidc`)."""
        self._realms = realms
        self.realm = realm
        self.tokens = tokens
        self.client = OpClient(egress_dir)
        self.jwks = JwksCache(self.client, monotonic)
        self.pending = PendingLogins(monotonic)
        self.monotonic = monotonic
        self._parsed: tuple[tuple[OidcRealm, ...], list[OidcSettings]] | None = None

    def settings(self) -> list[OidcSettings]:
        """The enabled realms, by order; a realm whose settings do not parse is skipped (and
        logged once). Parsed again only when the security file brought new realms."""
        configured = self._realms()
        parsed = self._parsed
        if parsed is None or parsed[0] is not configured:
            parsed = (configured, self._parse(configured))
            self._parsed = parsed
        return parsed[1]

    def _parse(self, realms: tuple[OidcRealm, ...]) -> list[OidcSettings]:
        out = []
        for configured in realms:
            if not configured.enabled:
                continue
            try:
                out.append(OidcSettings.of(configured))
            except (ValueError, re.error) as exc:
                log.warning("node.oidc_realm_invalid", realm=configured.name, reason=str(exc))
        return sorted(out, key=lambda s: (s.order, s.name))

    def prepare(
        self,
        *,
        realm: str | None = None,
        issuer: str | None = None,
        login_hint: str | None = None,
        state: str | None = None,
        nonce: str | None = None,
    ) -> dict[str, Any]:
        """``_security/oidc/prepare``: ``{redirect, state, nonce, realm}``."""
        settings = self._find(realm=realm, issuer=issuer)
        state = state or secrets.token_urlsafe(32)
        nonce = nonce or secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(48)  # 64 characters (RFC 7636: 43 to 128)
        self.pending.add(state, Pending(settings.name, nonce, verifier, self.monotonic()))
        query = {
            "response_type": "code",
            "scope": " ".join(settings.scopes),
            "client_id": settings.client_id,
            "state": state,
            "redirect_uri": settings.redirect_uri,
            "nonce": nonce,
            "code_challenge": _s256(verifier),
            "code_challenge_method": "S256",
        }
        if login_hint:
            query["login_hint"] = login_hint
        separator = "&" if "?" in settings.authorization_endpoint else "?"
        return {
            "redirect": settings.authorization_endpoint + separator + urlencode(query),
            "state": state,
            "nonce": nonce,
            "realm": settings.name,
        }

    def authenticate(
        self, *, redirect_uri: str, state: str, nonce: str, realm: str | None = None
    ) -> SignedIn:
        """``_security/oidc/authenticate``: who signed in, and the answer with their tokens."""
        try:
            return self._authenticate(redirect_uri, state, nonce, realm)
        except (OidcFailed, OpUnreachable) as exc:
            log.debug("node.oidc_authentication_failed", realm=realm, reason=exc.why)
            raise

    def _authenticate(
        self, redirect_uri: str, state: str, nonce: str, realm: str | None
    ) -> SignedIn:
        pending = self.pending.take(state)
        if pending is None:
            raise OidcFailed("no pending login has this state (forged, used or expired)")
        if realm is not None and realm != pending.realm:
            raise OidcFailed("the login was prepared for another realm")
        if not hmac.compare_digest(pending.nonce.encode(), nonce.encode()):
            raise OidcFailed("the nonce is not the one of the prepared login")
        answer = {k: v[0] for k, v in parse_qs(urlsplit(redirect_uri).query).items() if v}
        if "error" in answer:
            raise OidcFailed("the OP answered an error")
        if not hmac.compare_digest(answer.get("state", "").encode(), state.encode()):
            raise OidcFailed("the redirect's state is not the login's")
        code = answer.get("code")
        if not code:
            raise OidcFailed("the redirect carries no code")
        settings = next((s for s in self.settings() if s.name == pending.realm), None)
        if settings is None:
            raise OidcFailed("the realm is gone")
        id_token, access_token = self._exchange(settings, code, pending.code_verifier)
        claims = self._verify(settings, id_token, nonce)
        if settings.userinfo_endpoint is not None and access_token is not None:
            claims = self._with_userinfo(settings, access_token, claims)
        identity = self.identity(settings, claims)
        body = self.tokens.issue(
            identity, extra={"oidc_realm": settings.name, "id_token": id_token}
        )
        answer = {
            "username": identity.username,
            "access_token": body["access_token"],
            "refresh_token": body["refresh_token"],
            "expires_in": body["expires_in"],
            "authentication": body["authentication"],
        }
        return SignedIn(identity, answer)

    def logout(self, *, token: str, refresh_token: str | None = None) -> dict[str, Any]:
        """``_security/oidc/logout``: the tokens invalidated; ``{redirect}`` to the OP's end
        session endpoint (None when the realm has none)."""
        name, extra = self.tokens.end_session(
            token, refresh_token, realm_key="oidc_realm", kind="an OpenID Connect realm"
        )
        settings = next((s for s in self.settings() if s.name == name), None)
        if settings is None or settings.endsession_endpoint is None:
            return {"redirect": None}
        query = {"id_token_hint": extra.get("id_token", ""), "state": secrets.token_urlsafe(32)}
        if settings.post_logout_redirect_uri:
            query["post_logout_redirect_uri"] = settings.post_logout_redirect_uri
        separator = "&" if "?" in settings.endsession_endpoint else "?"
        return {"redirect": settings.endsession_endpoint + separator + urlencode(query)}

    # -- steps ---------------------------------------------------------------------------

    def _find(self, *, realm: str | None, issuer: str | None) -> OidcSettings:
        realms = self.settings()
        if realm is not None:
            found = next((s for s in realms if s.name == realm), None)
            if found is None:
                raise IllegalArgument(f"Cannot find OIDC realm with name [{realm}]")
            return found
        found = next((s for s in realms if s.issuer == issuer), None)
        if found is None:
            raise IllegalArgument(f"Cannot find OIDC realm with issuer [{issuer}]")
        return found

    def _exchange(self, settings: OidcSettings, code: str, verifier: str) -> tuple[str, str | None]:
        """The ID token and the access token (None when the OP gave none) for `code`."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": settings.redirect_uri,
            "code_verifier": verifier,
        }
        auth = None
        secret = settings.client_secret or ""
        if settings.client_auth_method == "client_secret_post":
            form |= {"client_id": settings.client_id, "client_secret": secret}
        else:
            auth = httpx.BasicAuth(settings.client_id, secret)
        status, body = self.client.post_form(settings, settings.token_endpoint, form, auth)
        if status != 200 or not isinstance(body, dict):
            raise OidcFailed(f"the token endpoint answered {status}")
        id_token = body.get("id_token")
        if not isinstance(id_token, str):
            raise OidcFailed("the token endpoint answered no id_token")
        access_token = body.get("access_token")
        return id_token, access_token if isinstance(access_token, str) and access_token else None

    def _verify(self, settings: OidcSettings, id_token: str, nonce: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError:
            raise OidcFailed("the ID token is not a JWT") from None
        if header.get("alg") not in settings.algorithms:
            raise OidcFailed("the ID token's algorithm is not allowed")
        key = self.jwks.key(settings, header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key,
                algorithms=list(settings.algorithms),
                audience=settings.client_id,
                issuer=settings.issuer,
                leeway=settings.clock_skew_s,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise OidcFailed(f"the ID token does not verify: {type(exc).__name__}") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != settings.client_id:
            raise OidcFailed("the ID token has several audiences and another azp")
        if not hmac.compare_digest(str(claims.get("nonce", "")).encode(), nonce.encode()):
            raise OidcFailed("the ID token's nonce is not the login's")
        return claims

    def _with_userinfo(
        self, settings: OidcSettings, access_token: str, claims: dict[str, Any]
    ) -> dict[str, Any]:
        """The verified ID token's `claims` with those of the userinfo endpoint merged in
        (`merge_claims`), as Elasticsearch's ``OpenIdConnectAuthenticator`` does: asked with the
        access token as a Bearer token, a 200 ``application/json`` answer is taken, and its
        ``sub`` must be the ID token's. A signed or encrypted (``application/jwt``) answer is
        refused, as Elasticsearch refuses it (it does not validate signed userinfo either);
        that refusal is logged as a warning, the realm being configured for an answer the
        node cannot take."""
        answer = self.client.get_userinfo(settings, access_token)
        if answer.status != 200:
            raise OidcFailed(f"the userinfo endpoint answered {answer.status}")
        if answer.media_type == "application/jwt":
            log.warning(
                "node.oidc_userinfo_jwt_unsupported",
                realm=settings.name,
                reason="the userinfo endpoint answered a JWT: signed or encrypted userinfo "
                "answers are not supported (configure the OP to answer application/json)",
            )
            raise OidcFailed("the userinfo endpoint answered a JWT, which is not supported")
        if answer.media_type != "application/json":
            raise OidcFailed("the userinfo answer is neither application/json nor a JWT")
        try:
            info = json.loads(answer.body)
        except ValueError:
            raise OidcFailed("the userinfo answer is not JSON") from None
        if not isinstance(info, dict):
            raise OidcFailed("the userinfo answer is not a JSON object")
        sub = info.get("sub")
        if not isinstance(sub, str) or not sub:
            raise OidcFailed("the userinfo answer has no sub claim")
        if sub != claims["sub"]:
            raise OidcFailed("the userinfo answer is for another subject than the ID token")
        return merge_claims(claims, info)

    def identity(self, settings: OidcSettings, claims: Mapping[str, Any]) -> Identity:
        """The user `claims` describe, with the roles the role mappings give them."""
        values = {c: _claim(settings, c, claims) for c in settings.claims}
        principal = values.get("principal") or []
        if len(principal) != 1:
            raise OidcFailed("the principal claim is missing or does not match its pattern")
        metadata: dict[str, Any] = {}
        if settings.populate_user_metadata:
            metadata = {
                f"oidc({name})": value
                for name, value in claims.items()
                if _simple(value)
                and name not in ("nonce", "at_hash", "c_hash", "aud", "azp", "iat", "exp")
            }
        user = UserData(
            username=principal[0],
            realm_name=settings.name,
            groups=tuple(values.get("groups", [])),
            dn=_first(values.get("dn")),
            metadata=metadata,
            full_name=_first(values.get("name")),
            email=_first(values.get("mail")),
        )
        return self.realm.identity_for(user, REALM_TYPE)


def merge_claims(id_token: Mapping[str, Any], userinfo: Mapping[str, Any]) -> dict[str, Any]:
    """The ID token's claims with the userinfo answer's merged in, by Elasticsearch's rules
    (``OpenIdConnectAuthenticator.mergeObjects``): a claim only in the userinfo answer is
    added; for a claim in both, the ID token's value wins when both are of one type and not
    lists or objects; lists are joined (the ID token's values first, duplicates kept, a
    userinfo string appended, anything else in the userinfo answer ignored); objects are
    merged by the same rules; ``true`` and ``"true"`` (or ``false`` and ``"false"``) are
    the boolean; any other pair of types fails the sign-in."""
    merged = dict(id_token)
    for name, ours in id_token.items():
        theirs = userinfo.get(name)
        if theirs is None:
            continue
        if isinstance(ours, list):
            if isinstance(theirs, list):
                merged[name] = [*ours, *theirs]
            elif isinstance(theirs, str):
                merged[name] = [*ours, theirs]
        elif isinstance(ours, dict):
            if not isinstance(theirs, dict):
                raise OidcFailed(f"the claim [{name}] is an object only in the ID token")
            merged[name] = merge_claims(ours, theirs)
        elif type(ours) is not type(theirs):
            if isinstance(ours, bool) and theirs == str(ours).lower():
                continue
            if isinstance(theirs, bool) and ours == str(theirs).lower():
                merged[name] = theirs
                continue
            raise OidcFailed(f"the claim [{name}] has another type in the userinfo answer")
    for name, theirs in userinfo.items():
        if name not in id_token:
            merged[name] = theirs
    return merged


def _claim(settings: OidcSettings, name: str, claims: Mapping[str, Any]) -> list[str]:
    """The values of the claim mapped to `name`, narrowed by its pattern (a value that does
    not match is dropped, as Elasticsearch does)."""
    raw = claims.get(settings.claims[name])
    items = raw if isinstance(raw, list) else [] if raw is None else [raw]
    values = [str(v) for v in items if isinstance(v, str | int | float | bool)]
    pattern = settings.claim_patterns.get(name)
    if pattern is None:
        return values
    out = []
    for value in values:
        match = pattern.fullmatch(value) or pattern.match(value)
        if match:
            out.append(match.group(1) if match.groups() else value)
    return out


def _first(values: list[str] | None) -> str | None:
    return values[0] if values else None


def _simple(value: Any) -> bool:
    if isinstance(value, list):
        return all(isinstance(v, str | int | float | bool) for v in value)
    return isinstance(value, str | int | float | bool)


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _sha(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def egress_dir_of(security_file: Path | None) -> Path | None:
    """Where the forwarders' sockets are: ``egress/`` beside the security file."""
    return security_file.parent / EGRESS_DIR if security_file is not None else None
