"""Allocators across hosts and zones: registration, capacity, placement (issue 20)."""
