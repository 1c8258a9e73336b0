"""Deployments: the control plane's records of what should run, and what runs."""
