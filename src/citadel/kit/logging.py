"""Structured logging for every process, the node included (it may import only kit):
events, not sentences. The request id is bound once at the edge.

Levels (docs/operations.md, "Logs and levels"): at ``info`` a process logs what changed (a
node started, a new routes snapshot, a public API request), never a poll that found nothing
new; the internal API's polls and the HTTP client's requests log at ``debug``.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

LEVELS = ("debug", "info", "warning", "error")
"""What `--log-level` (and ``CITADEL_LOG_LEVEL``) accepts, on every process."""

_CHATTY_LIBRARIES = ("httpcore", "alembic")
"""Libraries that log every step: warnings only, whatever the level."""


def configure_logging(level: str = "info", *, stream: TextIO | None = None) -> None:
    """Send JSON events at `level` and above to stderr (or `stream`: the gateway passes a
    block-buffered one that it flushes on a timer, so a busy data path does not pay a write
    per event). Every process calls this once, with its `--log-level`."""
    name = level.lower()
    if name not in LEVELS:
        raise ValueError(f"log level {level!r} is not one of {', '.join(LEVELS)}")
    number = logging.getLevelName(name.upper())
    logging.basicConfig(format="%(message)s", stream=sys.stderr, level=number)
    for library in _CHATTY_LIBRARIES:
        logging.getLogger(library).setLevel(logging.WARNING)
    # httpx logs each request (every poll) at info: shown only when debugging.
    logging.getLogger("httpx").setLevel(logging.INFO if name == "debug" else logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,  # the traceback as text, never locals
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(number),
        logger_factory=structlog.PrintLoggerFactory(file=stream or sys.stderr),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    """A logger named after its module."""
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(name)
    return logger
