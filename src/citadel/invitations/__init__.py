"""Invitations: how a person joins an organization."""
