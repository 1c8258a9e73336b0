"""The allocators' client-visible errors."""

from __future__ import annotations

from citadel.errors import NotFound


class AllocatorNotFound(NotFound):
    code = "allocators.not_found"
    default_message = "No allocator has this id (none has ever sent a heartbeat with it)."
