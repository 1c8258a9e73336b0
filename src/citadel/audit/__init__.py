"""The audit log: every change and every sign-in attempt, hash-chained."""
