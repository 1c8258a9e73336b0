"""Leases in the database: periodic work runs exactly once across control-plane replicas."""
