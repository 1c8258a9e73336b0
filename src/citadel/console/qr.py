"""QR codes drawn on the server as inline SVG (no script, no image request: the CSP is
unchanged); the TOTP enrolment page shows its otpauth:// link as one."""

from __future__ import annotations

import segno
from markupsafe import Markup


def qr_svg(text: str, *, title: str) -> Markup:
    """`text` as a QR code (error correction M, 4 px modules, white quiet zone), an `<svg>`
    element named by `title` for assistive technology."""
    code = segno.make(text, error="m")
    svg = code.svg_inline(scale=4, light="#fff", title=title, svgclass="qr")
    return Markup(svg)  # noqa: S704 (segno escapes the title; `text` is only in the modules)
