"""Customer-managed keys: organizations' key managers, and deployments under their keys."""
