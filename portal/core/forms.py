"""Pages show service errors the way the API does, but beside the form field they concern."""

from __future__ import annotations

from django import forms

from portal.core.errors import error_items


def add_service_error(form: forms.Form, exc: Exception) -> None:
    """Put a PortalError's or ValidationError's messages on `form`: on the field when the form has it, else on
    the form as a whole."""
    for field, message in error_items(exc):
        form.add_error(field if field in form.fields else None, message)
