"""Webhooks, their deliveries, and users' notification preferences."""

from __future__ import annotations

import urllib.parse

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.fields import EncryptedTextField
from core.models import TenantOwnedModel
from core.notifications.choices import DeliveryState, event_choices
from core.querysets import RestrictedQuerySet, Restriction
from core.roles import Action


class Webhook(TenantOwnedModel):
    """An endpoint of the tenant's that receives finished-job events, each body signed with `secret`
    (X-Portal-Signature; README, Webhooks). Administrators manage them, auditors read them (never the secret)."""

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    secret = EncryptedTextField()
    events = models.JSONField(default=list, help_text="Event names this endpoint receives.")
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    restriction = Restriction(auditor_can_view=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="webhook_name_per_tenant")]

    def __str__(self):
        return self.name

    @property
    def url_origin(self) -> str:
        return url_origin(self.url)


def url_origin(url: str) -> str:
    """The scheme and host (with its port) of `url`: what auditors and the audit log see. Receivers often take a
    token in the path or query (`?token=`, Slack-style paths), and user info is a password."""
    parts = urllib.parse.urlsplit(url.strip())
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


class WebhookDelivery(TenantOwnedModel):
    """One event for one webhook: the row is the truth (django-q2 ticks only carry its id). Retried with
    exponential backoff until delivered or WEBHOOK_MAX_ATTEMPTS; a re-send is a new row pointing at the old."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=32, choices=event_choices)
    job_kind = models.CharField(max_length=32)
    job_id = models.BigIntegerField()
    payload = models.TextField(help_text="The exact JSON body sent.")
    state = models.CharField(max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    in_flight_until = models.DateTimeField(
        null=True, blank=True, help_text="Set while an attempt runs (until its deadline has surely passed).")
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=64, blank=True, help_text="Category of the last failure.")
    delivered_at = models.DateTimeField(null=True, blank=True)
    resend_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")

    restriction = Restriction(auditor_can_view=True)

    class Meta:
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="delivery_due_idx"),
                   models.Index(fields=["tenant", "-created_at"], name="delivery_log_idx")]
        constraints = [
            # One event per job and webhook, however often the notifier runs; re-sends are extra rows.
            models.UniqueConstraint(fields=["webhook", "event", "job_kind", "job_id"],
                                    condition=Q(resend_of__isnull=True), name="delivery_once_per_job"),
        ]

    def __str__(self):
        return f"{self.event} -> {self.webhook_id} ({self.state})"


def _own_rows(user, action):
    return Q(user=user)


class NotificationPreference(models.Model):
    """A user wants e-mail for `event` (about jobs they may see). No row: no e-mail."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    event = models.CharField(max_length=32, choices=event_choices)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()
    # Each member reads their own (selectors filter on the user for everyone, administrators included).
    restriction = Restriction(tenant_path="user__tenant", user_scope=_own_rows,
                              user_actions=frozenset({Action.VIEW, Action.OPERATE}))

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "event"], name="preference_once_per_event")]

    def __str__(self):
        return f"{self.user_id}: {self.event}"
