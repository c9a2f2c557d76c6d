"""Errors the services raise and the edges (API, CLI) translate for the user."""

from __future__ import annotations


class AutopilotError(Exception):
    """Base of the errors a user can cause; `message` is safe to show."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(AutopilotError):
    """A field has a value the operation cannot accept."""

    code = "validation_error"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class NotFound(AutopilotError):
    code = "not_found"

    def __init__(self, what: str, key: object) -> None:
        super().__init__(f"{what} {key} not found")
        self.what = what
        self.key = key


class Conflict(AutopilotError):
    """The operation does not fit the current state (a paused rule, a filled order)."""

    code = "conflict"


class Forbidden(AutopilotError):
    """The caller's role may not do this (whoever's the object)."""

    code = "forbidden"
