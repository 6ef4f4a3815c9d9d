"""Pages of notifications and connector health: each member's e-mail preferences, the tenant's webhooks and
their delivery log (administrators change, auditors read), and the connector health panel of the settings page.
Every queryset comes from `restrict()` (through the selectors) and every gate from a `Need`."""

from __future__ import annotations

from django import forms
from django.core.paginator import Paginator
from django.shortcuts import render

from core.forms import Submitted, submit
from core.notifications import selectors, services
from core.notifications.choices import event_choices
from core.notifications.models import NotificationPreference, Webhook, WebhookDelivery
from core.observability.api import READ_CONNECTOR_HEALTH
from core.observability.health import connector_health
from core.pages import one, page
from core.querysets import Need
from core.roles import Action

SET_PREFERENCES = Need(Action.VIEW, of=NotificationPreference)
READ_WEBHOOKS = Need(Action.VIEW, of=Webhook)
MANAGE_WEBHOOKS = Need(Action.ADMIN, of=Webhook)
RESEND = Need(Action.ADMIN, of=WebhookDelivery)
DELIVERIES_PER_PAGE = 50


class PreferencesForm(forms.Form):
    events = forms.MultipleChoiceField(choices=event_choices, required=False, widget=forms.CheckboxSelectMultiple,
                                       label="E-mail me when")


class WebhookForm(forms.Form):
    name = forms.CharField(max_length=100)
    url = forms.URLField(max_length=500, label="URL", assume_scheme="https",
                         help_text="Receives a signed POST per event (README, Webhooks).")
    events = forms.MultipleChoiceField(choices=event_choices, widget=forms.CheckboxSelectMultiple)


@page(get=SET_PREFERENCES, post=SET_PREFERENCES)
def notification_settings(request):
    form = PreferencesForm(request.POST or None, initial={"events": selectors.preferences_of(user=request.user)})
    done = submit(request, lambda: services.preferences_set(actor=request.user, events=form.cleaned_data["events"]),
                  form=form, success="Notification settings saved.", to="ui:notifications")
    return done.response or render(request, "notifications/preferences.html", {"form": form})


@page(get=READ_WEBHOOKS, post=MANAGE_WEBHOOKS)
def webhooks(request):
    which = request.POST.get("form")
    form = WebhookForm(request.POST if which == "add" else None, prefix="hook")
    done = Submitted()
    if which == "add":
        # No redirect: the page shows the new webhook's signing secret, this once.
        done = submit(request, lambda: services.webhook_create(actor=request.user, **form.cleaned_data), form=form)
    elif which == "delete":
        webhook = one(selectors.webhook_list(fetched_by=request.user), request.POST.get("id"))
        done = submit(request, lambda: services.webhook_delete(actor=request.user, webhook=webhook),
                      success=f"Webhook {webhook.name} deleted.", to="ui:webhooks")
    elif which == "resend":
        delivery = one(selectors.delivery_list(fetched_by=request.user), request.POST.get("id"))
        done = submit(request, lambda: services.delivery_resend(actor=request.user, delivery=delivery),
                      success=f"Delivery {delivery.pk} queued again.", to="ui:webhooks")
    if done.response:
        return done.response
    if done.error and which != "add":
        form.add_error(None, done.error)
    created = done.result if which == "add" else None
    deliveries = Paginator(selectors.delivery_list(fetched_by=request.user), DELIVERIES_PER_PAGE).get_page(
        request.GET.get("page"))
    return render(request, "notifications/webhooks.html", {
        "webhooks": selectors.webhook_list(fetched_by=request.user), "deliveries": deliveries, "form": form,
        "can_manage": MANAGE_WEBHOOKS.allows(request.user), "can_resend": RESEND.allows(request.user),
        "created": created, "form_for_new": WebhookForm(prefix="hook") if created else form})


@page(get=READ_CONNECTOR_HEALTH)
def connector_health_panel(request):
    """The settings page's panel (loaded on demand: it calls vCenter and AWS)."""
    answer = connector_health(fetched_by=request.user)
    return render(request, "notifications/_connector_health.html", {
        "checks": answer.checks, "ok": answer.ok, "checked_at": answer.checked_at})
