"""Ankommen reporting service."""
