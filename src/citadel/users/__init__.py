"""Users: people who sign in, with their password and second factor."""
