"""The console's layout and second-factor enrolment in a real browser (Debian's Chromium,
headless, through Playwright) against one `citadel up` for the module:

- every page, with real and awkward data in its tables (several rows, long names, long emails,
  IPv6 addresses, audit entries), fits at 1280x800 and at 390x844: the document never scrolls
  sideways and every table cell lies within the viewport (or in a table container that scrolls)
  and shows all of its content;
- the TOTP enrolment's QR code, read off the page by a real decoder (zbarimg), is the
  otpauth:// link with the key shown as text, and a code computed from it turns the factor on;
- the deployment page's Connect section names the endpoint, the Cloud ID and the CA file, and
  its curl snippet, run as written, reaches the deployment.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import struct
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, ViewportSize, expect

from tests.console.browser import PHONE, Person, console_up, new_context, sign_in
from tests.fixtures.mail import invitation_link

pytestmark = pytest.mark.e2e
OWNER = Person("owner@example.com", "e2e owner password 123")
LAPTOP: ViewportSize = {"width": 1280, "height": 800}

LONG_DEPLOYMENT = "customer-analytics-production-eu-west-primary-archive-cluster-01"
LONG_EMAILS = [
    "alexandra.konstantinopoulou-wittgenstein@research-and-development.example.com",
    "maximilian.von.hohenzollern-sigmaringen@platform-engineering.example.org",
    "support+citadel-escalations-after-hours@customer-success.example.net",
]
LONG_KEY = "nightly snapshot exporter for the customer analytics warehouse (eu-west, production)"
LONG_FILTER = "corporate offices, VPN egress and the continuous-integration runners of every team"
IPV6_SOURCES = [
    "2001:db8:85a3:1234:5678:8a2e:370:7334/128 head office",
    "2001:db8:ffff:abcd:ef01:2345:6789:abcd/128 vpn egress",
    "203.0.113.0/24 branch",
    "198.51.100.17/32 ci runners",
]
STATIC_IPS = {
    "local": {
        "ingress": [f"2001:db8:4006:812::{n:x}/128" for n in range(0x200E, 0x2014)],
        "egress": ["203.0.113.10/32", "203.0.113.11/32", "2001:db8:4006:813::2001/128"],
    }
}
SSO_DOMAIN = "identity.research-and-development.example.com"
# Pages without a table are checked too: nothing on any page may widen it.
TABLE_PAGES = ("/deployments", "/members", "/api-keys", "/audit", "/network", "/single-sign-on")
OTHER_PAGES = ("/", "/deployments/new", "/network/rulesets/new")

# The layout check run in the page: the problems found, as text (none: it fits).
FITS = """() => {
  const vw = document.documentElement.clientWidth;
  const problems = [];
  const page = document.documentElement.scrollWidth;
  if (page > vw) problems.push(`the page is ${page} px wide in a ${vw} px viewport`);
  for (const table of document.querySelectorAll('main table')) {
    const wrap = table.closest('.table-wrap');
    const style = wrap ? getComputedStyle(wrap) : null;
    const scrolls = !!wrap && wrap.scrollWidth > wrap.clientWidth
      && ['auto', 'scroll'].includes(style.overflowX);
    const box = (wrap || table).getBoundingClientRect();
    if (box.left < -0.5 || box.right > vw + 0.5) {
      problems.push(`a table's container spans ${box.left}..${box.right}`);
    }
    for (const cell of table.querySelectorAll('td, tbody th')) {
      const text = cell.innerText.trim().slice(0, 40);
      const r = cell.getBoundingClientRect();
      if (text && (r.width < 1 || r.height < 1)) problems.push(`hidden cell "${text}"`);
      if (!scrolls && (r.left < -0.5 || r.right > vw + 0.5)) {
        problems.push(`cell "${text}" spans ${r.left}..${r.right}, outside the viewport`);
      }
      if (cell.scrollWidth > cell.clientWidth + 1) {
        problems.push(`cell "${text}" spills out (${cell.scrollWidth} > ${cell.clientWidth} px)`);
      }
    }
  }
  return problems;
}"""


def nav(page: Page, name: str) -> Locator:
    """A link of the main navigation."""
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name)


@dataclass
class Console:
    """A running `citadel up`, the browser, and the pages the module filled with data."""

    base_url: str
    browser: Browser
    owner: Person
    data_dir: Path
    pages: list[str] = field(default_factory=list)
    deployment: str = ""
    elastic_password: str = ""


@pytest.fixture(scope="module")
def console(
    tmp_path_factory: pytest.TempPathFactory, template_data_dir: Path, postgres_url: str | None
) -> Iterator[Console]:
    tmp = tmp_path_factory.mktemp("console-layout")
    env = {"CITADEL_STATIC_IPS": json.dumps(STATIC_IPS)}
    with console_up(tmp, template_data_dir, postgres_url, **env) as (base_url, browser):
        owner = Person(OWNER.email, OWNER.password)
        yield Console(base_url, browser, owner, tmp / "data")


@pytest.fixture(scope="module")
def owner_context(console: Console) -> Iterator[BrowserContext]:
    """The Organization owner's browser profile (signed in once: codes are single-use)."""
    context = new_context(console.browser, console.base_url)
    page = context.new_page()
    sign_in(page, console.owner)
    page.close()
    yield context
    context.close()


def invite(page: Page, emails: list[str], role: str = "deployment-viewer") -> None:
    """Invite `emails` on the members page (each is emailed its link)."""
    page.goto("/members")
    page.get_by_label("Emails (separated by spaces)").fill(" ".join(emails))
    page.get_by_label("Role").select_option(role)
    page.get_by_role("button", name="Send invitations").click()
    expect(page.locator(".invite-link")).to_have_count(len(emails))


def accept(console: Console, person: Person, name: str) -> Page:
    """Accept an invitation with the link its email brought (a new account needs the email's
    code), in a fresh browser profile; the page, at the sign-in form."""
    page = new_context(console.browser, console.base_url).new_page()
    page.goto(invitation_link(console.data_dir, person.email))
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Choose a password").fill(person.password)
    page.get_by_role("button", name="Create my account and join").click()
    expect(page.get_by_role("status")).to_contain_text("You joined the organization")
    return page


def create_deployment(page: Page, name: str) -> tuple[str, str]:
    """Create a deployment through the form; (its page's path, the `elastic` password)."""
    page.goto("/deployments/new")
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create deployment").click()
    password = page.locator("#elastic-password").inner_text()
    path = page.get_by_role("link", name="Open the deployment").get_attribute("href") or ""
    return path, password


@pytest.fixture(scope="module")
def filled(console: Console, owner_context: BrowserContext) -> Console:
    """Every table of the console holds several rows of real, long-winded data."""
    page = owner_context.new_page()
    console.deployment, console.elastic_password = create_deployment(page, "logs")
    create_deployment(page, "logs")  # the same name: told apart by the short id
    create_deployment(page, LONG_DEPLOYMENT)

    invite(page, LONG_EMAILS)
    joiner = Person(LONG_EMAILS[0], "a long enough password for the layout test")
    accept(console, joiner, "Alexandra Konstantinopoulou").context.close()
    page.goto("/members")
    member = page.get_by_role("row", name=re.compile(LONG_EMAILS[0])).get_by_role("link")
    member_page = member.get_attribute("href") or "/members"

    for name, role in ((LONG_KEY, "deployment-viewer"), ("ci pipeline", "deployment-editor")):
        page.goto("/api-keys")
        page.get_by_label("Name").fill(name)
        page.get_by_label("Role").select_option(role)
        page.get_by_role("button", name="Create key").click()
        expect(page.locator("#api-key-secret")).to_be_visible()

    page.goto("/network/rulesets/new")
    page.get_by_label("Name", exact=True).fill(LONG_FILTER)
    page.get_by_label("Sources, one per line").fill("\n".join(IPV6_SOURCES))
    page.get_by_role("button", name="Create filter").click()
    page.get_by_role("button", name="Create anyway").click()  # it would lock 127.0.0.1 out
    expect(page.get_by_role("heading", level=1)).to_have_text(LONG_FILTER)
    page.get_by_label("Sources, one per line").fill("\n".join([*IPV6_SOURCES, "192.0.2.0/24"]))
    page.get_by_role("button", name="Save", exact=True).click()
    if page.get_by_role("button", name="Save anyway").count():
        page.get_by_role("button", name="Save anyway").click()
    expect(page.get_by_role("status")).to_contain_text("The traffic filter was saved.")
    ruleset_page = urlsplit(page.url).path
    for link_id in ("vpce-0a1b2c3d4e5f60718", "vpce-0fedcba9876543210"):
        page.goto("/network")
        page.locator("#claim-link-id").fill(link_id)
        page.get_by_role("button", name="Claim").click()
        expect(page.get_by_role("status")).to_contain_text("claimed")

    page.goto("/single-sign-on")
    for domain in (SSO_DOMAIN, "acme.example"):
        page.get_by_label("Domain", exact=True).fill(domain)
        page.get_by_role("button", name="Add domain").click()
        expect(page.get_by_role("status")).to_contain_text("The domain was added.")
    page.locator("#mapping-name").fill("platform engineering administrators")
    page.get_by_label("Group patterns, one per line").fill(
        "CN=platform-engineering-administrators,OU=Groups,DC=research-and-development,DC=example"
    )
    page.locator("#mapping-role").select_option("organization-admin")
    page.get_by_role("button", name="Add role mapping").click()
    expect(page.get_by_role("status")).to_contain_text("The role mapping was added.")
    page.close()
    console.pages = [
        *TABLE_PAGES,
        *OTHER_PAGES,
        console.deployment,
        ruleset_page,
        member_page,
    ]
    return console


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["1280x800", "390x844"])
def test_every_page_and_table_fits_the_screen(filled, owner_context, viewport, tmp_path):
    """(Each page's screenshot is left in the test's temporary directory, to look at.)"""
    context = filled.browser.new_context(
        base_url=filled.base_url,
        ignore_https_errors=True,
        viewport=viewport,
        storage_state=owner_context.storage_state(),
    )
    page = context.new_page()
    found: dict[str, list[str]] = {}
    for path in filled.pages:
        page.goto(path)
        expect(page.locator("main h1")).to_be_visible()
        if path in TABLE_PAGES:
            assert page.locator("main table tbody tr").count() >= 2, f"{path}: too few rows"
        problems = page.evaluate(FITS)
        shot = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "overview"
        page.screenshot(path=str(tmp_path / f"{shot}-{viewport['width']}.png"), full_page=True)
        if problems:
            found[path] = problems[:5]
    context.close()
    assert not found, f"at {viewport['width']} px: {found}"


def test_on_a_phone_rows_stack_into_cards_with_their_column_names(filled, owner_context):
    """At 390 px no table needs its scroll container: each row is a card, and each cell
    with a value shows its column's name before it."""
    context = filled.browser.new_context(
        base_url=filled.base_url,
        ignore_https_errors=True,
        viewport=PHONE,
        storage_state=owner_context.storage_state(),
    )
    page = context.new_page()
    for path in TABLE_PAGES:
        page.goto(path)
        scrolling = page.evaluate(
            "[...document.querySelectorAll('main .table-wrap')]"
            ".filter(w => w.scrollWidth > w.clientWidth).length"
        )
        assert scrolling == 0, f"{path}: {scrolling} table(s) scroll sideways at 390 px"
        unlabelled = page.evaluate(
            "[...document.querySelectorAll('main td[data-label]')]"
            ".filter(td => getComputedStyle(td, '::before').content"
            " !== JSON.stringify(td.dataset.label)).length"
        )
        assert unlabelled == 0, f"{path}: {unlabelled} cell(s) without their column's name"
    page.goto("/deployments")
    row = page.get_by_role("row", name=re.compile(LONG_DEPLOYMENT))
    assert row.evaluate("tr => getComputedStyle(tr).display") == "block"
    context.close()


def test_the_tables_hold_the_long_data(filled, owner_context):
    """The layout test's data is there (it would pass vacuously on empty tables)."""
    page = owner_context.new_page()
    page.goto("/deployments")
    expect(page.get_by_role("row", name=re.compile("^logs"))).to_have_count(2)
    expect(page.get_by_role("row", name=re.compile(LONG_DEPLOYMENT))).to_have_count(1)
    page.goto("/members")
    for email in LONG_EMAILS:
        expect(page.get_by_role("row", name=re.compile(re.escape(email)))).to_have_count(1)
    page.goto("/api-keys")
    expect(page.get_by_role("row", name=re.compile(re.escape(LONG_KEY)))).to_have_count(1)
    page.goto("/network")
    expect(page.locator("main")).to_contain_text("2001:db8:4006:812::200e/128")
    expect(page.locator("#claims tbody tr")).to_have_count(2)
    page.goto("/audit")
    assert page.locator("main table tbody tr").count() >= 20
    page.close()


def totp_code(secret: str, step: int, digits: int = 6) -> str:
    """RFC 6238 with SHA-1, written out here so the test does not trust the server's own."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def decode_qr(png: Path) -> str:
    """The text of the one QR code in `png`, read by zbarimg (Debian's zbar-tools)."""
    zbarimg = shutil.which("zbarimg")
    assert zbarimg, "zbarimg is missing: scripts/test.sh installs zbar-tools"
    done = subprocess.run(
        [zbarimg, "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", str(png)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"zbarimg found no QR code: {done.stderr}"
    lines = done.stdout.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_totp_enrolment_by_the_qr_code_read_off_the_page(console, owner_context, tmp_path):
    owner = owner_context.new_page()
    email = "qr.scanner@example.com"
    invite(owner, [email])
    owner.close()
    person = Person(email, "a long password for the qr test")
    page = accept(console, person, "Quinn")
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(person.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/enrol")
    page.get_by_role("button", name="Show my new authenticator key").click()

    shot = tmp_path / "qr.png"
    page.locator("#totp-qr svg").screenshot(path=str(shot))
    uri = urlsplit(decode_qr(shot))
    params = {k: v[0] for k, v in parse_qs(uri.query).items()}
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert unquote(uri.path) == f"/Citadel:{email}"
    assert params["issuer"] == "Citadel"
    assert params.get("algorithm", "SHA1") == "SHA1"
    assert params.get("period", "30") == "30"
    assert params["secret"] == page.locator("#totp-secret").inner_text().strip()

    code = totp_code(params["secret"], int(time.time()) // 30, int(params.get("digits", "6")))
    page.get_by_label("Current 6-digit code from the app").fill(code)
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_role("status")).to_have_text("Your second factor is on.")
    assert len(page.locator("#recovery-codes").inner_text().split()) == 10
    page.get_by_role("link", name="Continue to the console").click()
    expect(nav(page, "Overview")).to_be_visible()
    page.context.close()


def test_the_connect_section_names_endpoint_cloud_id_and_ca_file_and_curl_works(
    filled, owner_context, tmp_path
):
    page = owner_context.new_page()
    page.goto(filled.deployment)
    expect(page.locator("#deployment-status")).to_have_text("healthy", timeout=120_000)
    endpoint = page.locator("#endpoint").inner_text().strip()
    cloud_id = page.locator("#cloud-id").inner_text().strip()
    assert endpoint.startswith("https://")
    assert cloud_id.startswith("logs:")
    curl = page.locator("#connect-curl").inner_text().strip()
    python = page.locator("#connect-python").inner_text()
    assert curl == f"curl --cacert citadel-ca.crt -u elastic:$ELASTIC_PASSWORD {endpoint}"
    assert f'cloud_id="{cloud_id}"' in python
    assert 'ca_certs="citadel-ca.crt"' in python

    with page.expect_download() as caught:
        page.get_by_role("link", name="Download citadel-ca.crt").click()
    download = caught.value
    assert download.suggested_filename == "citadel-ca.crt"  # the name both snippets use
    download.save_as(tmp_path / download.suggested_filename)
    assert (tmp_path / "citadel-ca.crt").read_text().startswith("-----BEGIN CERTIFICATE-----")
    page.close()

    env = {**os.environ, "ELASTIC_PASSWORD": filled.elastic_password}
    for _attempt in range(30):  # the gateway learns of a new deployment within a poll or two
        done = subprocess.run(
            ["bash", "-c", curl], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        if done.returncode == 0 and '"tagline"' in done.stdout:
            break
        time.sleep(1)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["tagline"] == "You Know, for Search"
