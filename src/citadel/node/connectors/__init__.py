"""Connectors API: connector and sync job documents kept for an external connector service."""
