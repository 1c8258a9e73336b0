"""Joining a platform from another host: join tokens and component certificates (issue 20)."""
