"""The platform certificate authority and the certificates it issues."""
