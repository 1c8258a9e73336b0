"""Stored scripts, the script contexts and languages, and mustache rendering."""
