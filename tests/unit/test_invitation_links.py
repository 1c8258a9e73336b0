"""Where an invitation link points: the configured public URL, else the origin the inviter
reached the control plane at when the certificate names it, else the control plane's own
address (never an arbitrary Host header)."""

from __future__ import annotations

import pytest

from citadel.invitations.links import LinkOrigins, invitation_link, link_base

LISTENING = "https://127.0.0.1:8443"
ORIGINS = LinkOrigins(
    public_url=None,
    hostnames=frozenset({"search.example.com", "localhost", "127.0.0.1", "::1"}),
    port=8443,
    listening_url=LISTENING,
)


@pytest.mark.parametrize(
    ("host", "port", "base"),
    [
        ("search.example.com", 8443, "https://search.example.com:8443"),
        ("SEARCH.example.com.", 8443, "https://search.example.com:8443"),
        ("localhost", 8443, "https://localhost:8443"),
        ("127.0.0.1", 8443, "https://127.0.0.1:8443"),
        ("0:0::1", 8443, "https://[::1]:8443"),
        ("evil.example", 8443, LISTENING),
        ("search.example.com.evil.example", 8443, LISTENING),
        ("search.example.com", 9999, LISTENING),
        ("search.example.com", None, LISTENING),
        ("", 8443, LISTENING),
        (None, None, LISTENING),
    ],
)
def test_the_request_origin_is_used_only_when_the_certificate_names_it(host, port, base):
    assert link_base(ORIGINS, host=host, port=port) == base


def test_the_default_port_is_left_out_when_the_control_plane_listens_on_it():
    origins = LinkOrigins(None, frozenset({"search.example.com"}), 443, "https://search:443")
    assert link_base(origins, host="search.example.com", port=None) == "https://search.example.com"
    assert link_base(origins, host="search.example.com", port=443) == "https://search.example.com"


def test_a_configured_public_url_wins_over_any_request():
    origins = LinkOrigins("https://citadel.example.org/", ORIGINS.hostnames, 8443, LISTENING)
    assert link_base(origins, host="localhost", port=8443) == "https://citadel.example.org"
    assert link_base(origins, host="evil.example", port=8443) == "https://citadel.example.org"


def test_the_link_names_the_acceptance_page():
    token = "inv_" + "a" * 32 + "_" + "B" * 43
    assert invitation_link("https://x:1", token) == f"https://x:1/invitations/{token}"
