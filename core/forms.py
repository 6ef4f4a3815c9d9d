"""Pages show service errors the way the API does, but beside the form field they concern."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect

from core.errors import SHOWN_ERRORS, error_items


def add_service_error(form: forms.Form, exc: Exception) -> None:
    """Put a PortalError's or ValidationError's messages on `form`: on the field when the form has it, else on
    the form as a whole."""
    for field, message in error_items(exc):
        form.add_error(field if field in form.fields else None, message)


def error_message(exc: Exception) -> str:
    """An error's messages as one sentence for a page (field names are the form's to show, not the sentence's)."""
    return " ".join(message for _, message in error_items(exc))


@dataclass(frozen=True)
class Submitted:
    """What `submit` did. `response`: the redirect, when the service succeeded and the page said where to; `result`:
    what the service returned; `failure`: the error it refused with (also on the form, when there is one). All
    empty when the form was not valid (its errors are on it)."""

    response: HttpResponse | None = None
    result: object = None
    failure: Exception | None = None

    @property
    def error(self) -> str | None:
        return error_message(self.failure) if self.failure is not None else None


def submit(request, call: Callable, *, form: forms.Form | None = None, success: str | Callable | None = None,
           to=None) -> Submitted:
    """On a POST: validate `form` (when there is one), then `call()` the service. On success flash `success` (text,
    or a function of what the service returned) and redirect to `to` (a URL, a route name, or a function of the
    result returning either or a response; None: no redirect, the page renders the result itself). On a PortalError
    or ValidationError show it on the form and hand back its message: the page renders again, as the API answers
    4xx. Any other method only shows the page: nothing is submitted."""
    if request.method != "POST" or (form is not None and not form.is_valid()):
        return Submitted()
    try:
        result = call()
    except SHOWN_ERRORS as exc:
        if form is not None:
            add_service_error(form, exc)
        return Submitted(failure=exc)
    if success is not None:
        messages.success(request, success(result) if callable(success) else success)
    target = to(result) if callable(to) else to
    if target is None or isinstance(target, HttpResponse):
        return Submitted(response=target, result=result)
    return Submitted(response=redirect(target), result=result)


def several_forms(request, *, allowed: bool, **factories) -> tuple[str | None, dict]:
    """Several forms on one page, each posting its name in the `form` field: only the posted one is bound (the
    others show empty), each under its own prefix, and none at all for a caller who may not use them. Returns the
    posted form's name and the forms by name; a factory is a form class or `(data, prefix=...) -> form`."""
    posted = request.POST.get("form")
    forms = {name: factory(request.POST if posted == name else None, prefix=name) if allowed else None
             for name, factory in factories.items()}
    return posted, forms
