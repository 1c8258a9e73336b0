"""The node's own security realm: the elastic superuser, native users, roles, API keys."""
