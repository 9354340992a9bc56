"""Ankommen housing service."""
