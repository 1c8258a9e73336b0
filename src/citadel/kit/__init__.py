"""Small domain-free helpers, each module named for what it holds."""
