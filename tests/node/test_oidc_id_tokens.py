"""The OIDC realm refuses every ID token it should: a provider that misbehaves (played here by
a small TLS server on loopback that answers the token endpoint with a token the test forges,
serves the test's JWKS and answers its userinfo endpoint as the test says) meets the same checks
as the real one, through the egress forwarder."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from citadel.contract.messages import NodeSecurity, OidcRealm
from citadel.crypto.providers.endpoints import EndpointPolicy
from citadel.node.security import oidc_realm
from citadel.node.security.oidc_realm import JwksCache, OidcFailed, OidcSettings, OpClient
from citadel.runtime.egress import Egress
from tests.node.builders import error_of
from tests.node.oidc_provider import make_certificates, short_directory, start_oidc_node

CLIENT_ID = "custom-app"
CALLBACK = "https://app.example/callback"


class ForgingProvider:
    """Answers ``POST /token`` with `id_token` (and the access token ``op-access``), ``GET
    /userinfo`` with `userinfo` (status, content type, body) and any other ``GET`` with `jwks`,
    over TLS. The Authorization headers the userinfo endpoint got are in `userinfo_requests`."""

    def __init__(self, directory: Path) -> None:
        self.ca_pem, cert, key = make_certificates(directory)
        self.id_token = ""
        self.jwks: dict[str, Any] = {"keys": []}
        self.token_requests: list[str] = []
        self.userinfo: tuple[int, str, bytes] = (200, "application/json", b"{}")
        self.userinfo_requests: list[str | None] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                provider.token_requests.append(self.rfile.read(length).decode())
                self._json(
                    {
                        "access_token": "op-access",
                        "token_type": "Bearer",
                        "id_token": provider.id_token,
                    }
                )

            def do_GET(self) -> None:
                if self.path.startswith("/userinfo"):
                    provider.userinfo_requests.append(self.headers.get("authorization"))
                    self._send(*provider.userinfo)
                else:
                    self._json(provider.jwks)

            def _json(self, body: dict[str, Any]) -> None:
                self._send(200, "application/json", json.dumps(body).encode())

            def _send(self, status: int, content_type: str, raw: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def issuer(self) -> str:
        return f"https://localhost:{self.port}"


@pytest.fixture(scope="module")
def op(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForgingProvider]:
    provider = ForgingProvider(tmp_path_factory.mktemp("forging-op"))
    yield provider
    provider.server.shutdown()


KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**public, "kid": kid, "use": "sig", "alg": "RS256"}


def node_settings(op: ForgingProvider, **extra: str) -> dict[str, Any]:
    return {
        "op.issuer": op.issuer,
        "op.authorization_endpoint": f"{op.issuer}/authorize",
        "op.token_endpoint": f"{op.issuer}/token",
        "op.jwkset_path": f"{op.issuer}/jwks",
        "rp.client_id": CLIENT_ID,
        "rp.redirect_uri": CALLBACK,
        "claims.groups": "groups",
        "claims.name": "name",
        "claims.mail": "email",
        "ssl.certificate_authorities": op.ca_pem,
        **extra,
    }


@pytest.fixture
def node(tmp_path: Path, op: ForgingProvider) -> Iterator[TestClient]:
    op.jwks = {"keys": [jwk(KEY, "k1")]}
    with ExitStack() as stack:
        yield start_oidc_node(stack, tmp_path, node_settings(op))[0]


@pytest.fixture
def userinfo_node(tmp_path: Path, op: ForgingProvider) -> Iterator[TestClient]:
    """A node whose realm has a userinfo endpoint on another host name than the provider's
    other endpoints (``127.0.0.1`` rather than ``localhost``): the node reaches it only if the
    allocator opened a forwarder for it too."""
    op.jwks = {"keys": [jwk(KEY, "k1")]}
    op.userinfo_requests.clear()
    userinfo = f"https://127.0.0.1:{op.port}/userinfo"
    with ExitStack() as stack:
        yield start_oidc_node(
            stack, tmp_path, node_settings(op, **{"op.userinfo_endpoint": userinfo})
        )[0]


Claims = dict[str, Any]


def sign_in_with(node: TestClient, op: ForgingProvider, forge: Callable[[Claims], str]) -> Any:
    """Prepare a login, have the provider answer the ID token `forge` makes from good claims
    (with the login's nonce), and authenticate."""
    prepared = node.post("/_security/oidc/prepare", json={"realm": "oidc1"}).json()
    now = int(time.time())
    good = {
        "iss": op.issuer,
        "aud": CLIENT_ID,
        "sub": "alice",
        "iat": now,
        "exp": now + 300,
        "nonce": prepared["nonce"],
        "groups": ["readers"],
    }
    op.id_token = forge(good)
    return node.post(
        "/_security/oidc/authenticate",
        json={
            "redirect_uri": f"{CALLBACK}?code=the-code&state={prepared['state']}",
            "state": prepared["state"],
            "nonce": prepared["nonce"],
        },
    )


def signed(claims: Claims, *, key: Any = KEY, kid: str | None = "k1", alg: str = "RS256") -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


def test_a_well_formed_id_token_signs_the_user_in(node: TestClient, op: ForgingProvider) -> None:
    response = sign_in_with(node, op, signed)
    assert response.status_code == 200, response.text
    assert response.json()["username"] == "alice"
    form = dict(p.split("=", 1) for p in op.token_requests[-1].split("&"))
    assert form["grant_type"] == "authorization_code"
    assert form["code"] == "the-code"
    assert len(form["code_verifier"]) >= 43  # the PKCE verifier goes to the token endpoint


def _public_pem() -> bytes:
    return KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _tampered(claims: Claims) -> str:
    header, _, signature = signed(claims).split(".")
    other = signed({**claims, "sub": "admin"}).split(".")[1]
    return f"{header}.{other}.{signature}"


FORGERIES: dict[str, Callable[[Claims], str]] = {
    "alg none": lambda c: jwt.encode(c, None, algorithm="none", headers={"kid": "k1"}),
    "HS256 keyed with the public key": lambda c: _hs256_with_public_key(c),
    "another key, same kid": lambda c: signed(c, key=OTHER_KEY),
    "a kid not in the JWKS": lambda c: signed(c, kid="k9"),
    "tampered claims": _tampered,
    "expired": lambda c: signed({**c, "iat": c["iat"] - 900, "exp": c["iat"] - 120}),
    "another issuer": lambda c: signed({**c, "iss": "https://accounts.elsewhere.test"}),
    "another audience": lambda c: signed({**c, "aud": "another-app"}),
    "several audiences, no azp": lambda c: signed({**c, "aud": [CLIENT_ID, "another-app"]}),
    "no nonce": lambda c: signed({k: v for k, v in c.items() if k != "nonce"}),
    "another nonce": lambda c: signed({**c, "nonce": "replayed-from-elsewhere"}),
    "no subject": lambda c: signed({k: v for k, v in c.items() if k != "sub"}),
    "not a JWT": lambda c: "not-a-jwt",
}


def _hs256_with_public_key(claims: Claims) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "kid": "k1", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    mac = hmac.new(_public_pem(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_forged_or_wrong_id_token_is_one_401(
    node: TestClient, op: ForgingProvider, forgery: str
) -> None:
    error = error_of(sign_in_with(node, op, FORGERIES[forgery]), 401)
    assert error["reason"] == "Failed to authenticate user with OpenID Connect"


def test_several_audiences_pass_when_azp_is_the_client(
    node: TestClient, op: ForgingProvider
) -> None:
    response = sign_in_with(
        node, op, lambda c: signed({**c, "aud": [CLIENT_ID, "other"], "azp": CLIENT_ID})
    )
    assert response.status_code == 200, response.text


def test_a_token_within_the_clock_skew_passes(node: TestClient, op: ForgingProvider) -> None:
    response = sign_in_with(node, op, lambda c: signed({**c, "exp": c["iat"] - 30}))
    assert response.status_code == 200, response.text


# -- the userinfo endpoint -----------------------------------------------------------------


def answer_userinfo(op: ForgingProvider, claims: Claims, status: int = 200) -> None:
    op.userinfo = (status, "application/json; charset=utf-8", json.dumps(claims).encode())


def without(claims: Claims, *names: str) -> Claims:
    return {k: v for k, v in claims.items() if k not in names}


def whoami(node: TestClient, response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    me = node.get(
        "/_security/_authenticate", headers={"Authorization": f"Bearer {token}"}, auth=None
    )
    return me.json()  # type: ignore[no-any-return]


def test_without_a_userinfo_endpoint_it_is_not_asked(node: TestClient, op: ForgingProvider) -> None:
    op.userinfo_requests.clear()
    assert sign_in_with(node, op, signed).status_code == 200
    assert op.userinfo_requests == []


def test_a_claim_only_in_the_userinfo_answer_reaches_the_user_and_the_role_mapping(
    userinfo_node: TestClient, op: ForgingProvider
) -> None:
    answer_userinfo(op, {"sub": "alice", "groups": ["readers"], "email": "alice@example.com"})
    response = sign_in_with(userinfo_node, op, lambda c: signed(without(c, "groups")))
    me = whoami(userinfo_node, response)
    assert me["roles"] == ["logs_reader"]  # the mapping needs group readers: only in userinfo
    assert me["email"] == "alice@example.com"
    assert op.userinfo_requests == ["Bearer op-access"]  # the OP's access token, as Bearer


def test_on_a_conflict_the_id_tokens_value_is_kept_and_lists_are_joined(
    userinfo_node: TestClient, op: ForgingProvider
) -> None:
    answer_userinfo(op, {"sub": "alice", "name": "Mallory", "groups": ["readers"]})
    response = sign_in_with(
        userinfo_node, op, lambda c: signed({**c, "name": "Alice", "groups": ["staff"]})
    )
    me = whoami(userinfo_node, response)
    assert me["full_name"] == "Alice"
    assert me["roles"] == ["logs_reader"]
    assert me["metadata"]["oidc(groups)"] == ["staff", "readers"]


USERINFO_REFUSALS: dict[str, tuple[int, str, bytes]] = {
    "another subject": (200, "application/json", b'{"sub": "mallory", "groups": ["readers"]}'),
    "no subject": (200, "application/json", b'{"groups": ["readers"]}'),
    "a refusal": (401, "application/json", b'{"error": "invalid_token"}'),
    "HTML": (200, "text/html", b"<html>{}</html>"),
    "not JSON": (200, "application/json", b"{not json"),
    "a JSON list": (200, "application/json", b'[{"sub": "alice"}]'),
    "a claim of another type": (200, "application/json", b'{"sub": "alice", "name": 7}'),
}


@pytest.mark.parametrize("answer", sorted(USERINFO_REFUSALS))
def test_a_userinfo_answer_that_does_not_fit_fails_the_sign_in(
    userinfo_node: TestClient, op: ForgingProvider, answer: str
) -> None:
    op.userinfo = USERINFO_REFUSALS[answer]
    response = sign_in_with(userinfo_node, op, lambda c: signed({**c, "name": "Alice"}))
    assert error_of(response, 401)["reason"] == "Failed to authenticate user with OpenID Connect"
    assert len(op.userinfo_requests) == 1


def test_a_signed_userinfo_answer_is_refused_as_elasticsearch_refuses_it(
    userinfo_node: TestClient, op: ForgingProvider
) -> None:
    op.userinfo = (200, "application/jwt", signed({"sub": "alice", "groups": ["readers"]}).encode())
    with structlog.testing.capture_logs() as logs:
        response = sign_in_with(userinfo_node, op, lambda c: signed(without(c, "groups")))
    assert error_of(response, 401)["reason"] == "Failed to authenticate user with OpenID Connect"
    warned = [e for e in logs if e["event"] == "node.oidc_userinfo_jwt_unsupported"]
    assert [(e["log_level"], e["realm"]) for e in warned] == [("warning", "oidc1")]


def test_an_unreachable_userinfo_endpoint_is_a_401_saying_so(
    tmp_path: Path, op: ForgingProvider
) -> None:
    op.jwks = {"keys": [jwk(KEY, "k1")]}
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    userinfo = f"https://127.0.0.1:{port}/userinfo"
    with ExitStack() as stack:
        node = start_oidc_node(
            stack, tmp_path, node_settings(op, **{"op.userinfo_endpoint": userinfo})
        )[0]
        error = error_of(sign_in_with(node, op, signed), 401)
    assert error["reason"] == "Failed to authenticate user with OpenID Connect"
    assert error["caused_by"]["reason"] == "Failed to get claims from the Userinfo Endpoint."


# -- the JWKS cache ---------------------------------------------------------------------------


class Monotonic:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


def test_the_jwks_is_cached_and_fetched_again_for_an_unknown_key_at_most_once_a_minute(
    op: ForgingProvider,
) -> None:
    settings = OidcSettings.of(
        OidcRealm(
            name="oidc1",
            settings={
                "op.issuer": op.issuer,
                "op.authorization_endpoint": f"{op.issuer}/authorize",
                "op.token_endpoint": f"{op.issuer}/token",
                "op.jwkset_path": f"{op.issuer}/jwks",
                "rp.client_id": CLIENT_ID,
                "rp.redirect_uri": CALLBACK,
                "ssl.certificate_authorities": op.ca_pem,
            },
        )
    )
    forwarders = Egress(EndpointPolicy.from_settings(["127.0.0.1", "localhost"]))
    with short_directory("jwks-") as tmp_path, contextlib.closing(forwarders):
        forwarders.sync(
            "dep1",
            tmp_path,
            os.getuid(),
            NodeSecurity(
                oidc=(
                    OidcRealm(name="oidc1", settings={"op.token_endpoint": f"{op.issuer}/token"}),
                )
            ),
        )
        clock = Monotonic()
        cache = JwksCache(OpClient(tmp_path / "egress"), clock)
        op.jwks = {"keys": [jwk(KEY, "k1")]}
        assert cache.key(settings, "k1").key_id == "k1"
        op.jwks = {"keys": [jwk(KEY, "k1"), jwk(OTHER_KEY, "k2")]}  # the OP rotates
        clock.now += 30
        with pytest.raises(OidcFailed):
            cache.key(settings, "k2")  # fetched 30 s ago: not again yet
        clock.now += 31
        assert cache.key(settings, "k2").key_id == "k2"  # fetched again
        op.jwks = {"keys": [jwk(OTHER_KEY, "k2")]}  # k1 retired at the OP
        assert cache.key(settings, "k1").key_id == "k1"  # still cached
        clock.now += oidc_realm.JWKS_TTL_S + 1
        with pytest.raises(OidcFailed):
            cache.key(settings, "k1")  # the set expired: fetched again, k1 is gone
