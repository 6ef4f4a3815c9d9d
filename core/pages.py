"""The gate every page view goes through, read from the same `Need` declarations as the API's
(core.api.viewsets), so that a page and its endpoint cannot answer one caller differently:

- a method the page does not declare: 405;
- a role that may never do what the method asks (an auditor posting, a plain user on an administrators' page):
  403 before anything is looked up;
- a row outside the caller's restriction (another tenant's, an environment without a grant): 404, exactly like a
  row that does not exist;
- a row the caller may address but not act on (`Need.find`, a migration someone else started): 403.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed
from django.urls import resolve, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from core.api.viewsets import is_db_id
from core.querysets import Need

REFUSED = "Your role does not allow this."


def page(*, get: Need | None = None, post: Need | None = None, row: type | None = None, related: tuple = ()):
    """Declare what a page view needs per method; the view is called only when the caller passes.

    row: the model whose row the URL's `pk` names; the view then receives that row, found in
        `row.objects.restrict(user, need.rows)`, in place of `pk`.
    related: `select_related` of that lookup.
    """
    needs = {method: need for method, need in (("GET", get), ("HEAD", get), ("POST", post)) if need is not None}
    if not needs:
        raise TypeError("a page declares the Need of at least one method")
    for need in needs.values():
        need.roles(row)  # a Need with no model to ask is a declaration error: raise at import, not per request

    def decorate(view):
        @login_required
        @wraps(view)
        def gated(request, *args, **kwargs):
            need = needs.get(request.method)
            if need is None:
                return HttpResponseNotAllowed(sorted(needs))
            if not need.allows(request.user, row):
                raise PermissionDenied(REFUSED)
            if row is not None:
                return view(request, find_row(request.user, row, need, kwargs.pop("pk"), related), *args, **kwargs)
            return view(request, *args, **kwargs)

        gated.page_needs = needs
        gated.page_row = row
        return gated

    return decorate


def rows_it_opens(user, route: str, queryset):
    """The rows of `queryset` whose page `route` (a route taking the row's `pk`) would open for `user` on GET,
    read from that page's own declaration: a link or button to it shows exactly when following it is allowed,
    and an app links to another's page by its route name without importing it."""
    gated = resolve(reverse(route, kwargs={"pk": 0})).func
    need, model = gated.page_needs["GET"], gated.page_row
    if model is None or not need.allows(user, model):
        return queryset.none()
    return queryset.filter(pk__in=model.objects.restrict(user, need.action).values("pk"))


def find_row(user, model, need: Need, pk, related: tuple = ()):
    """The row `pk` names among those `need` lets `user` address (404 otherwise); 403 when the user may address it
    but not do `need.action` on it."""
    found = one(model.objects.restrict(user, need.rows).select_related(*related), pk)
    if need.rows != need.action and not model.objects.restrict(user, need.action).filter(pk=found.pk).exists():
        raise PermissionDenied(REFUSED)
    return found


def one(queryset, pk):
    """The row of an already restricted `queryset` that `pk` (from a URL or a posted form) names, or 404: a
    malformed id is as absent as a row the caller may not see."""
    if not is_db_id(pk):
        raise Http404()
    found = queryset.filter(pk=int(pk)).first()
    if found is None:
        raise Http404()
    return found


def back_to(request, default: str) -> str:
    """Where a confirmation page returns, whatever the answer: the `next` it was opened with (the tab the user came
    from), or `default`. Only a path on this site is taken, so that a crafted link cannot send the user elsewhere
    after a click on one of our buttons."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate.startswith("/") and url_has_allowed_host_and_scheme(candidate, allowed_hosts=None):
        return candidate
    return default
