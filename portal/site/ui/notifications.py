"""Pages of notifications and connector health: each member's e-mail preferences, the tenant's webhooks and
their delivery log (administrators change, auditors read), and the connector health panel of the settings page.
Every queryset comes from `restrict()` (through the selectors) and every gate from a `Need`."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from portal.core.errors import SHOWN_ERRORS
from portal.core.forms import add_service_error
from portal.core.notifications import selectors, services
from portal.core.notifications.choices import Event
from portal.core.notifications.models import NotificationPreference, Webhook, WebhookDelivery
from portal.core.observability.api import READ_CONNECTOR_HEALTH
from portal.core.observability.health import connector_health
from portal.core.querysets import Need
from portal.core.roles import Action

SET_PREFERENCES = Need(Action.VIEW, of=NotificationPreference)
READ_WEBHOOKS = Need(Action.VIEW, of=Webhook)
MANAGE_WEBHOOKS = Need(Action.ADMIN, of=Webhook)
RESEND = Need(Action.ADMIN, of=WebhookDelivery)
DELIVERIES_PER_PAGE = 50


class PreferencesForm(forms.Form):
    events = forms.MultipleChoiceField(choices=Event.choices, required=False, widget=forms.CheckboxSelectMultiple,
                                       label="E-mail me when")


class WebhookForm(forms.Form):
    name = forms.CharField(max_length=100)
    url = forms.URLField(max_length=500, label="URL", assume_scheme="https",
                         help_text="Receives a signed POST per event (README, Webhooks).")
    events = forms.MultipleChoiceField(choices=Event.choices, widget=forms.CheckboxSelectMultiple)


@login_required
def notification_settings(request):
    if not SET_PREFERENCES.allows(request.user):
        raise Http404()
    form = PreferencesForm(request.POST or None, initial={"events": selectors.preferences_of(user=request.user)})
    if request.method == "POST" and form.is_valid():
        try:
            services.preferences_set(actor=request.user, events=form.cleaned_data["events"])
        except SHOWN_ERRORS as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, "Notification settings saved.")
            return redirect("ui:notifications")
    return render(request, "notifications/preferences.html", {"form": form})


@login_required
def webhooks(request):
    if not READ_WEBHOOKS.allows(request.user):
        raise Http404()
    can_manage = MANAGE_WEBHOOKS.allows(request.user)
    if request.method == "POST" and not can_manage:
        raise PermissionDenied("Your role does not allow this.")
    form = WebhookForm(request.POST if request.POST.get("form") == "add" else None, prefix="hook")
    created = None
    if request.method == "POST":
        which = request.POST.get("form")
        try:
            if which == "add" and form.is_valid():
                created = services.webhook_create(actor=request.user, **form.cleaned_data)
            elif which == "delete":
                webhook = _one(selectors.webhook_list(fetched_by=request.user), request.POST.get("id"))
                services.webhook_delete(actor=request.user, webhook=webhook)
                messages.success(request, f"Webhook {webhook.name} deleted.")
                return redirect("ui:webhooks")
            elif which == "resend":
                delivery = _one(selectors.delivery_list(fetched_by=request.user), request.POST.get("id"))
                services.delivery_resend(actor=request.user, delivery=delivery)
                messages.success(request, f"Delivery {delivery.pk} queued again.")
                return redirect("ui:webhooks")
        except SHOWN_ERRORS as exc:
            add_service_error(form, exc)
    page = Paginator(selectors.delivery_list(fetched_by=request.user), DELIVERIES_PER_PAGE).get_page(
        request.GET.get("page"))
    return render(request, "notifications/webhooks.html", {
        "webhooks": selectors.webhook_list(fetched_by=request.user), "deliveries": page, "form": form,
        "can_manage": can_manage, "can_resend": RESEND.allows(request.user), "created": created,
        "form_for_new": WebhookForm(prefix="hook") if created else form})


def _one(queryset, pk):
    if not str(pk or "").isdigit():
        raise Http404()
    found = queryset.filter(pk=int(pk)).first()
    if found is None:
        raise Http404()
    return found


@login_required
@require_GET
def connector_health_panel(request):
    """The settings page's panel (loaded on demand: it calls vCenter and AWS)."""
    if not READ_CONNECTOR_HEALTH.allows(request.user):
        raise Http404()
    answer = connector_health(fetched_by=request.user)
    return render(request, "notifications/_connector_health.html", {
        "checks": answer.checks, "ok": answer.ok, "checked_at": answer.checked_at})
