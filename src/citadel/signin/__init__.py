"""Signing in: passwords, second factors, sessions and throttling."""
