"""Ankommen volunteers service."""
