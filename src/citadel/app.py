"""The control plane's public HTTPS application: the Cloud API with the web console beside it.

The API and the console are independent edges (neither imports the other); this module, above
both, is the one place that serves them together (ADR 14: the console at `/`).
"""

from __future__ import annotations

from fastapi import FastAPI

from citadel.api.app import create_api_app
from citadel.bootstrap import Services
from citadel.console import install as install_console


def create_app(services: Services) -> FastAPI:
    """The control plane's public application over `services`: API routes first, then the
    console's pages and static files."""
    app = create_api_app(services)
    install_console(app)
    return app
