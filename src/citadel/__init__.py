"""Citadel: a self-hosted platform for running search deployments securely."""

__version__ = "0.1.0"
