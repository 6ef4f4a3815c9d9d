"""One delivery attempt, and the sweep that retries the due ones. The delivery row is the truth: an attempt first
claims the row (a conditional UPDATE marking it in flight until the attempt's deadline has surely passed, so the
sweep and a redelivered tick find nothing to start), posts outside any transaction with a deadline on the whole
attempt, then records the outcome and clears the mark. A tenant has at most WEBHOOK_MAX_IN_FLIGHT_PER_TENANT
attempts in flight: one tenant's slow receivers cannot take every shared worker."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core.models import Tenant
from core.notifications.choices import DeliveryState
from core.notifications.models import WebhookDelivery
from core.notifications.queue import enqueue_delivery
from core.notifications.signing import HEADER, signature_header
from core.notifications.transport import PostResult, post
from core.observability.context import job_context
from core.observability.metrics import WEBHOOK_ATTEMPTS
from core.peers import outbound_policy

logger = logging.getLogger("portal.notifications.delivery")


def backoff_seconds(attempts: int) -> float:
    """Wait before the next attempt after `attempts` failed ones: base x 2^(attempts-1), capped."""
    return min(settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), settings.WEBHOOK_RETRY_MAX_SECONDS)


# Past the attempt's own deadline: resolving the name (before the deadline starts) and recording the outcome. A
# worker killed mid-attempt frees the delivery, and its tenant's slot, once this has passed too.
IN_FLIGHT_GRACE_SECONDS = 30
DEFERRED = "deferred"
SKIPPED = "skipped"


def _not_in_flight(now):
    return Q(in_flight_until__isnull=True) | Q(in_flight_until__lte=now)


def _claim(delivery_id: int) -> WebhookDelivery | str:
    """The delivery, now in flight with one more attempt counted; SKIPPED when it is not due (or already in
    flight), DEFERRED when its tenant has its cap of attempts in flight (it stays due, no attempt spent)."""
    now = timezone.now()
    with transaction.atomic():
        tenant_id = WebhookDelivery.objects.filter(pk=delivery_id).values_list("tenant_id", flat=True).first()
        if tenant_id is None:
            return SKIPPED
        # Counting and claiming under the tenant's row lock: two workers cannot both take the tenant's last slot.
        Tenant.objects.select_for_update().filter(pk=tenant_id).values_list("pk", flat=True).first()
        due = WebhookDelivery.objects.filter(_not_in_flight(now), pk=delivery_id, state=DeliveryState.PENDING,
                                             next_attempt_at__lte=now)
        if not due.exists():
            return SKIPPED
        in_flight = WebhookDelivery.objects.filter(tenant_id=tenant_id, in_flight_until__gt=now).count()
        if in_flight >= settings.WEBHOOK_MAX_IN_FLIGHT_PER_TENANT:
            return DEFERRED
        until = now + timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + IN_FLIGHT_GRACE_SECONDS)
        if not due.update(attempts=F("attempts") + 1, last_attempt_at=now, in_flight_until=until):
            return SKIPPED
    return WebhookDelivery.objects.select_related("webhook", "tenant").get(pk=delivery_id)


def delivery_attempt(delivery_id: int) -> str:
    """Try once to deliver; returns the delivery's state afterwards ("skipped" when it was not due or in flight,
    "deferred" when its tenant's attempts in flight are at their cap)."""
    delivery = _claim(delivery_id)
    if isinstance(delivery, str):
        return delivery
    with job_context(delivery.job_kind, delivery.job_id, tenant_id=delivery.tenant_id):
        webhook = delivery.webhook
        if not delivery.tenant.is_active:
            result = PostResult(False, error="tenant_inactive")
        elif not webhook.is_active:
            result = PostResult(False, error="webhook_disabled")
        else:
            body = delivery.payload.encode()
            timestamp = int(time.time())
            result = post(webhook.url, body, {
                HEADER: signature_header(webhook.secret, timestamp, body),
                "X-Portal-Event": delivery.event,
                "X-Portal-Delivery": str(delivery.pk),
                "User-Agent": "vmigrate-portal-webhooks/1",
            }, policy=outbound_policy(), timeout=settings.WEBHOOK_TIMEOUT_SECONDS)
        return _record(delivery, result)


def _record(delivery: WebhookDelivery, result: PostResult) -> str:
    now = timezone.now()
    fields = {"response_status": result.status, "error": result.error}
    if result.ok:
        fields.update(state=DeliveryState.DELIVERED, delivered_at=now, next_attempt_at=None)
        outcome = "delivered"
    elif result.error in ("webhook_disabled", "tenant_inactive") or delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        fields.update(state=DeliveryState.FAILED, next_attempt_at=None)
        outcome = "failed"
    else:
        fields.update(next_attempt_at=now + timedelta(seconds=backoff_seconds(delivery.attempts)))
        outcome = "retry"
    # Fenced by the attempt number: only the attempt that holds the claim records (and frees it).
    WebhookDelivery.objects.filter(pk=delivery.pk, attempts=delivery.attempts).update(
        **fields, in_flight_until=None, updated_at=now)
    WEBHOOK_ATTEMPTS.labels(outcome=outcome).inc()
    log = logger.info if result.ok else logger.warning
    log("webhook %s: %s delivery %s attempt %d: %s", delivery.webhook_id, delivery.event, delivery.pk,
        delivery.attempts, result.error or result.status)
    return fields.get("state", DeliveryState.PENDING)


def deliveries_due(limit: int = 500) -> list[int]:
    """Pending deliveries whose next attempt is due, oldest first; each gets a tick."""
    now = timezone.now()
    due = list(WebhookDelivery.objects.filter(
        _not_in_flight(now), state=DeliveryState.PENDING, next_attempt_at__lte=now,
    ).order_by("next_attempt_at", "id").values_list("pk", flat=True)[:limit])
    for delivery_id in due:
        enqueue_delivery(delivery_id)
    return due
