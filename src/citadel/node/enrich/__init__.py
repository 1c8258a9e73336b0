"""Enrich policies: stored definitions, their executed enrich indices, and lookups."""
