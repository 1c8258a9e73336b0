"""`citadel platform`: the platform's own infrastructure, for owners of the platform
organization (issue 20): its allocators, and join tokens for hosts that join it."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="The platform's infrastructure: allocators, join tokens.", no_args_is_help=True
)
