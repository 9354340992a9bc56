"""Domain errors every service raises the same way, so HTTP maps them the same way."""

from __future__ import annotations


class DomainError(Exception):
    """A command broke a business rule; the message says which, in words for staff."""

    status_code = 400


class Conflict(DomainError):
    """The command clashes with the current state (close an occupied site, check in twice)."""

    status_code = 409


class NotFound(DomainError):
    """The command names something this service does not know."""

    status_code = 404


class Unprocessable(DomainError):
    """A field's value is valid in form but not acceptable (a date far in the future): 422.

    ``loc`` names the field as FastAPI's validation errors do, e.g. ``("body", "occurred_at")``.
    """

    status_code = 422

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
