"""Structured logging: events, not sentences. The request id is bound once at the edge.

The setup lives in `citadel.kit.logging` (the node, which may import only kit, configures its
level with it too); this module is the name the rest of the platform imports.
"""

from __future__ import annotations

from citadel.kit.logging import LEVELS, configure_logging, get_logger

__all__ = ["LEVELS", "configure_logging", "get_logger"]
