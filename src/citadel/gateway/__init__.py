"""The gateway: TLS termination in front of deployment nodes (see docs/adr/0009)."""
