"""A real SAML IdP for tests: SimpleSAMLphp (Debian package) under ``php -S`` on loopback.

`start_idp` writes a complete configuration into a temporary directory (machine notes,
section 4): config.php, authsources.php with an ``exampleauth:UserPass`` source, a hosted IdP
with a freshly generated key and certificate, and one ``saml20-sp-remote`` entry per
`SP_PROFILES` entry (each a different signing policy). `sign_in` is the headless browser:
SP login URL -> IdP login page -> username/password -> the auto-submit form with SAMLResponse.
"""

from __future__ import annotations

import contextlib
import html
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from citadel.sso.saml import BINDING_POST, ServiceProvider, bare_certificate, login_request

SIMPLESAMLPHP = Path("/usr/share/simplesamlphp")
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"

USERS = {
    "alice": {"uid": ["alice"], "email": ["alice@acme.example"], "groups": ["admins", "viewers"]},
    "bob": {"uid": ["bob"], "email": ["bob@acme.example"], "groups": ["viewers"]},
    "carol": {"uid": ["carol"], "groups": ["viewers"]},  # no email attribute
    "dave": {"uid": ["dave"], "email": ["dave@elsewhere.example"], "groups": ["admins"]},
}
PASSWORDS = {"alice": "alicepass", "bob": "bobpass", "carol": "carolpass", "dave": "davepass"}


@dataclass(frozen=True)
class SpProfile:
    """How the IdP treats one registered SP."""

    org: str
    sign_response: bool = True
    sign_assertion: bool = True
    signature_algorithm: str | None = None


SP_PROFILES = {
    "acme": SpProfile("acme"),
    "acme-assertion-signed": SpProfile("acme-a", sign_response=False),
    "acme-response-signed": SpProfile("acme-r", sign_assertion=False),
    "acme-sha1": SpProfile("acme-sha1", signature_algorithm=RSA_SHA1),
    "globex": SpProfile("globex", sign_response=False),
}


def entity_id_for(org: str) -> str:
    return f"https://citadel.test/orgs/{org}/saml/metadata"


def acs_url_for(org: str, alternate: bool = False) -> str:
    return f"https://citadel.test/orgs/{org}/saml/{'acs-alt' if alternate else 'acs'}"


@dataclass(frozen=True)
class KeyPair:
    key_pem: str
    cert_pem: str


def make_key_pair(common_name: str) -> KeyPair:
    """A self-signed RSA-2048 certificate valid for a day."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return KeyPair(
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
    )


@dataclass(frozen=True)
class Idp:
    """A running SimpleSAMLphp IdP and the keys the tests know."""

    base_url: str
    entity_id: str
    sso_url: str
    metadata_url: str
    idp_keys: KeyPair
    sp_keys: KeyPair
    root: Path

    def service_provider(
        self, profile: str = "acme", *, alternate_acs: bool = False, **changes: object
    ) -> ServiceProvider:
        """An SP registered at this IdP under `profile`, as Citadel would configure it."""
        org = SP_PROFILES[profile].org
        fields: dict = {
            "entity_id": entity_id_for(org),
            "acs_url": acs_url_for(org, alternate_acs),
            "login_url": f"https://citadel.test/orgs/{org}/saml/login",
            "certificate_pem": self.sp_keys.cert_pem,
            "private_key_pem": self.sp_keys.key_pem,
            "idp_entity_id": self.entity_id,
            "idp_sso_url": self.sso_url,
            "idp_certificates_pem": (self.idp_keys.cert_pem,),
        }
        fields.update(changes)
        return ServiceProvider(**fields)

    def register_sp(
        self, entity_id: str, acs_url: str, certificate_pem: str, *, sign_response: bool = True
    ) -> None:
        """Register one of Citadel's organization SPs (as its owner would at their IdP); the
        assertion is always signed, the response too unless `sign_response` is false."""
        entry = {
            "AssertionConsumerService": [
                {"Binding": BINDING_POST, "Location": acs_url, "index": 0},
            ],
            "certData": bare_certificate(certificate_pem),
            "validate.authnrequest": True,
            "NameIDFormat": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
            "simplesaml.nameidattribute": "uid",
            "attributes": ["uid", "email", "groups", "firstName", "lastName"],
            "saml20.sign.response": sign_response,
            "saml20.sign.assertion": True,
        }
        with (self.root / "metadata" / "saml20-sp-remote.php").open("a") as out:
            out.write(f"$metadata[{_php(entity_id)}] = {_php(entry)};\n")

    @contextmanager
    def users_changed(self, **changes: dict[str, list[str]] | None) -> Iterator[None]:
        """Change accounts' attributes (a dict replaces them) until the context exits."""
        users = {name: dict(attributes) for name, attributes in USERS.items()}
        for name, attributes in changes.items():
            users[name] = attributes or {}
        _write_users(self.root, users)
        try:
            yield
        finally:
            _write_users(self.root, USERS)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _php(value: object) -> str:
    """A Python value as a PHP literal (str, bool, None, list, dict)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_php(v) for v in value) + "]"
    if isinstance(value, dict):
        return "[" + ", ".join(f"{_php(k)} => {_php(v)}" for k, v in value.items()) + "]"
    raise TypeError(type(value))


def _write_config(root: Path, port: int, idp_keys: KeyPair, sp_keys: KeyPair) -> str:
    base = f"http://127.0.0.1:{port}/"
    for sub in ("config", "metadata", "cert", "log", "data", "tmp"):
        (root / sub).mkdir()
    (root / "cert" / "idp.key").write_text(idp_keys.key_pem)
    (root / "cert" / "idp.crt").write_text(idp_keys.cert_pem)
    (root / "cert" / "sp.crt").write_text(sp_keys.cert_pem)
    config = {
        "baseurlpath": base,
        "certdir": f"{root}/cert/",
        "loggingdir": f"{root}/log/",
        "datadir": f"{root}/data/",
        "tempdir": f"{root}/tmp",
        "metadatadir": f"{root}/metadata/",
        "technicalcontact_name": "Test",
        "technicalcontact_email": "test@example.org",
        "secretsalt": "test-not-secret-salt-0123456789abcdef",
        "auth.adminpassword": "test-admin-pass",
        "admin.protectindexpage": False,
        "admin.protectmetadata": False,
        "timezone": "UTC",
        "logging.handler": "file",
        "logging.logfile": "simplesamlphp.log",
        "enable.saml20-idp": True,
        "module.enable": {"exampleauth": True, "core": True, "saml": True, "admin": True},
        "session.cookie.secure": False,
        "session.cookie.samesite": None,
        "session.phpsession.savepath": f"{root}/tmp",
        "store.type": "phpsession",
        "metadata.sources": [{"type": "flatfile"}],
        "language.available": ["en"],
        "language.default": "en",
        "theme.use": "default",
        "trusted.url.domains": [f"127.0.0.1:{port}", "127.0.0.1", "citadel.test"],
    }
    (root / "config" / "config.php").write_text(
        "<?php\n$config = " + _php(config) + ";\n"
        "$config['logging.level'] = SimpleSAML\\Logger::DEBUG;\n"
    )
    _write_users(root, USERS)
    entity_id = f"{base}saml2/idp/metadata.php"
    hosted = {
        "host": "__DEFAULT__",
        "privatekey": "idp.key",
        "certificate": "idp.crt",
        "auth": "example-userpass",
        "NameIDFormat": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
        "simplesaml.nameidattribute": "uid",
        "attributes.NameFormat": "urn:oasis:names:tc:SAML:2.0:attrname-format:basic",
        "signature.algorithm": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "saml20.sign.assertion": True,
        "saml20.sign.response": True,
    }
    (root / "metadata" / "saml20-idp-hosted.php").write_text(
        f"<?php\n$metadata[{_php(entity_id)}] = {_php(hosted)};\n"
    )
    remote = ["<?php"]
    for profile in SP_PROFILES.values():
        entry: dict = {
            "AssertionConsumerService": [
                {
                    "Binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
                    "Location": acs_url_for(profile.org),
                    "index": 0,
                },
                {
                    "Binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
                    "Location": acs_url_for(profile.org, alternate=True),
                    "index": 1,
                },
            ],
            "certificate": "sp.crt",
            "validate.authnrequest": True,
            "NameIDFormat": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
            "simplesaml.nameidattribute": "uid",
            "attributes": ["uid", "email", "groups"],
            "saml20.sign.response": profile.sign_response,
            "saml20.sign.assertion": profile.sign_assertion,
        }
        if profile.signature_algorithm:
            entry["signature.algorithm"] = profile.signature_algorithm
        remote.append(f"$metadata[{_php(entity_id_for(profile.org))}] = {_php(entry)};")
    (root / "metadata" / "saml20-sp-remote.php").write_text("\n".join(remote) + "\n")
    return entity_id


def _write_users(root: Path, users: dict[str, dict]) -> None:
    """The IdP's accounts and their attributes (PHP reads the file at every request)."""
    source: dict = {0: "exampleauth:UserPass"}
    for user, attributes in users.items():
        source[f"{user}:{PASSWORDS[user]}"] = attributes
    (root / "config" / "authsources.php").write_text(
        "<?php\n$config = "
        + _php({"admin": ["core:AdminPassword"], "example-userpass": source})
        + ";\n"
    )


@contextmanager
def start_idp() -> Iterator[Idp]:
    """Run SimpleSAMLphp on a free loopback port until the context exits."""
    root = Path(tempfile.mkdtemp(prefix="citadel-idp-"))
    port = free_port()
    idp_keys = make_key_pair("citadel-test-idp")
    sp_keys = make_key_pair("citadel-test-sp")
    entity_id = _write_config(root, port, idp_keys, sp_keys)
    env = {
        **os.environ,
        "SIMPLESAMLPHP_CONFIG_DIR": str(root / "config"),
        "PHP_CLI_SERVER_WORKERS": "4",
    }
    log = (root / "log" / "php-server.log").open("wb")
    process = subprocess.Popen(
        [
            "php",
            "-d",
            "opcache.enable=0",
            "-S",
            f"127.0.0.1:{port}",
            "-t",
            str(SIMPLESAMLPHP / "www"),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=root,
        start_new_session=True,  # its own process group: PHP_CLI_SERVER_WORKERS forks workers
    )
    base = f"http://127.0.0.1:{port}/"
    idp = Idp(
        base_url=base,
        entity_id=entity_id,
        sso_url=f"{base}saml2/idp/SSOService.php",
        metadata_url=entity_id,
        idp_keys=idp_keys,
        sp_keys=sp_keys,
        root=root,
    )
    try:
        _wait_ready(idp, process)
        yield idp
    finally:
        _stop(process)
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def _stop(process: subprocess.Popen) -> None:
    """Stop the server and the workers it forked (the whole process group it leads)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)  # workers may outlive the parent for a moment
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _wait_ready(idp: Idp, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("php -S exited: " + (idp.root / "log/php-server.log").read_text())
        try:
            if httpx.get(idp.metadata_url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("SimpleSAMLphp did not answer its metadata URL in 20 s")


@dataclass(frozen=True)
class SignInResult:
    """What the IdP's auto-submit form would POST to the ACS, and the request it answers."""

    action: str
    form: dict[str, str]
    request_id: str | None


_INPUT = re.compile(r"<input[^>]*>", re.I)
_ATTR = re.compile(r'(\w+)="([^"]*)"')


def _hidden_inputs(page: str) -> dict[str, str]:
    fields = {}
    for tag in _INPUT.findall(page):
        attrs = {k.lower(): html.unescape(v) for k, v in _ATTR.findall(tag)}
        if attrs.get("type", "").lower() == "hidden" and "name" in attrs:
            fields[attrs["name"]] = attrs.get("value", "")
    return fields


def _log_in(client: httpx.Client, start_url: str, username: str) -> SignInResult:
    page = client.get(start_url)
    page.raise_for_status()
    state = _hidden_inputs(page.text).get("AuthState")
    if not state:
        raise AssertionError("no IdP login form at " + str(page.url))
    posted = client.post(
        str(page.url).split("?")[0],
        data={"username": username, "password": PASSWORDS[username], "AuthState": state},
    )
    posted.raise_for_status()
    fields = _hidden_inputs(posted.text)
    if "SAMLResponse" not in fields:
        raise AssertionError("no SAMLResponse form after login:\n" + posted.text[:2000])
    action = re.search(r'<form[^>]*action="([^"]*)"', posted.text)
    return SignInResult(html.unescape(action.group(1)) if action else "", fields, None)


def log_in_at_idp(start_url: str, username: str) -> SignInResult:
    """The browser at the IdP: from the URL the SP redirected to, to the form it would post."""
    with httpx.Client(follow_redirects=True, timeout=20) as client:
        return _log_in(client, start_url, username)


def sign_in(sp: ServiceProvider, username: str = "alice", relay_state: str = "/") -> SignInResult:
    """SP-initiated sign-in through the real IdP; returns the form and the request ID."""
    url, request_id = login_request(sp, relay_state)
    with httpx.Client(follow_redirects=True, timeout=20) as client:
        result = _log_in(client, url, username)
    return SignInResult(result.action, result.form, request_id)


def idp_initiated_sign_in(idp: Idp, sp: ServiceProvider, username: str = "alice") -> SignInResult:
    """IdP-initiated (unsolicited) sign-in: the IdP starts it, no AuthnRequest exists."""
    url = f"{idp.base_url}saml2/idp/SSOService.php?spentityid={sp.entity_id}"
    with httpx.Client(follow_redirects=True, timeout=20) as client:
        return _log_in(client, url, username)
