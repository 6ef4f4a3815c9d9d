"""Management commands show service errors as CommandError (a clear line and exit status 1, no traceback)."""

from __future__ import annotations

import contextlib

from django.core.management.base import CommandError

from core.errors import SHOWN_ERRORS, error_text


@contextlib.contextmanager
def errors_as_command_errors():
    try:
        yield
    except SHOWN_ERRORS as exc:
        raise CommandError(error_text(exc)) from exc
