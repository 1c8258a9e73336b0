"""Organizations: the tenant every other object belongs to."""
