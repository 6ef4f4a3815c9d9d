"""The one error type services raise for a person to read, and how each interface shows it.

A `PortalError` carries a message fit to show, a stable code and, where one input is at fault, its field. Its
kind decides the answer: the API maps kinds to HTTP statuses (core.api.exceptions), pages put the message
beside the field (core.forms), commands print it (core.commands). Django's ValidationError from
`full_clean()` is the other error services let through; `error_items()` reads both the same way.

A broken invariant is a bug, not a user's mistake: `InvariantViolation`, never `assert` (which `python -O` drops).
"""

from __future__ import annotations

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError


class PortalError(Exception):
    """Something the actor can read and act on. Subclasses only name the kind."""

    kind = "invalid"
    default_code = "invalid"
    default_message = "The request is not valid."

    def __init__(self, message: str | None = None, code: str | None = None, field: str | None = None):
        self.message = message or self.default_message
        self.code = code or self.default_code
        self.field = field
        super().__init__(self.message)


class Invalid(PortalError):
    """The input is wrong (400)."""


class Forbidden(PortalError):
    """The actor may see the object but may not do this (403), with the reason."""

    kind = "forbidden"
    default_code = "permission_denied"
    default_message = "You may not do this."


class NotFound(PortalError):
    """The object does not exist or the actor may not see it; the two are deliberately indistinguishable (404)."""

    kind = "not_found"
    default_code = "not_found"
    default_message = "Not found."


class Conflict(PortalError):
    """Well-formed, but it collides with the current state: a duplicate, a busy VM, a default environment (409)."""

    kind = "conflict"
    default_code = "conflict"
    default_message = "The request conflicts with the current state."


class UpstreamError(PortalError):
    """A peer (AWS, vCenter) refused or failed (502)."""

    kind = "upstream"
    default_code = "upstream_error"
    default_message = "A peer system failed."


class InvariantViolation(RuntimeError):
    """Code reached a state it promises never to reach (two tenants in one call, a field no service may set).
    It is a bug: it surfaces as a server error and is never shown as the user's mistake."""


def error_items(exc: Exception) -> list[tuple[str | None, str]]:
    """(field or None, message) for every message a PortalError or a ValidationError carries."""
    if isinstance(exc, PortalError):
        return [(exc.field, exc.message)]
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return [(None if field == NON_FIELD_ERRORS else field, message)
                    for field, messages in exc.message_dict.items() for message in messages]
        return [(None, message) for message in exc.messages]
    raise TypeError(f"{type(exc).__name__} is not an error for people")


def error_text(exc: Exception) -> str:
    """All of an error's messages on one line, fields named (for commands and logs)."""
    return "; ".join(f"{field}: {message}" if field else message for field, message in error_items(exc))


# The errors each interface translates; anything else is a bug and reaches the server-error path.
SHOWN_ERRORS = (PortalError, ValidationError)
