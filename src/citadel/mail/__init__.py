"""Mail Citadel sends: invitations, and whatever else must reach a person at their address.

`delivery` sends a `Message` over SMTP (STARTTLS and authentication, configured by the
operator) or, with no SMTP configured, drops it in a maildir under the data directory that only
the operator can read. `letters` writes the messages. A message is sent after the transaction
that caused it commits (no remote call inside a write transaction).
"""
