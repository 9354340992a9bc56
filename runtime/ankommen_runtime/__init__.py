"""Ankommen shared runtime: every mechanism a service needs, and no domain."""
