"""Ankommen allocation service."""
