"""Encrypted, deduplicated snapshots of deployments in a shared repository (issue 20, ADR 30)."""
