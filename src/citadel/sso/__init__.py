"""Organization single sign-on: the SAML service provider (pure protocol checks, no storage)."""
