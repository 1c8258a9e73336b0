"""Authorization: the permission table and one pure, default-deny decision function."""
