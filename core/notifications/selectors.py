"""Reads of notifications, each through `restrict()`."""

from __future__ import annotations

from django.db import models

from core.notifications.models import NotificationPreference, Webhook, WebhookDelivery
from core.roles import Action


def webhook_list(*, fetched_by) -> models.QuerySet:
    return Webhook.objects.restrict(fetched_by, Action.VIEW).order_by("name")


def delivery_list(*, fetched_by) -> models.QuerySet:
    return WebhookDelivery.objects.restrict(fetched_by, Action.VIEW).select_related("webhook").order_by("-id")


def preferences_of(*, user) -> list[str]:
    """The events `user` gets e-mail for (their own rows only, whatever their role)."""
    return sorted(NotificationPreference.objects.restrict(user, Action.VIEW).filter(user=user).values_list(
        "event", flat=True))
