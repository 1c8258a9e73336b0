"""Domains an organization claims by proving it controls their DNS."""
