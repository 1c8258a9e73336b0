"""Realms a customer configures on one deployment (SAML, OpenID Connect), carried to its node."""
