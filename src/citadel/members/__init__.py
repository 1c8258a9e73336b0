"""Memberships and role assignments: who belongs to an organization and with what roles."""
