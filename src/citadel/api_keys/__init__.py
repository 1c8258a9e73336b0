"""Cloud API keys: organization-owned credentials for the Cloud API."""
