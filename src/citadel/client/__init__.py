"""A typed client of the public Cloud API (used by the CLI and the end-to-end tests)."""
