"""Ankommen integration service."""
