"""One delivery attempt, and the sweep that retries the due ones. The delivery row is the truth: an attempt first
claims the row (a conditional UPDATE pushing `next_attempt_at` past the attempt's time limit, so a second worker
or a redelivered tick finds nothing due), posts outside any transaction, then records the outcome."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from portal.core.notifications.choices import DeliveryState
from portal.core.notifications.models import WebhookDelivery
from portal.core.notifications.queue import enqueue_delivery
from portal.core.notifications.signing import HEADER, signature_header
from portal.core.notifications.transport import PostResult, post
from portal.core.observability.context import job_context
from portal.core.observability.metrics import WEBHOOK_ATTEMPTS
from portal.core.peers import outbound_policy

logger = logging.getLogger("portal.notifications.delivery")


def backoff_seconds(attempts: int) -> float:
    """Wait before the next attempt after `attempts` failed ones: base x 2^(attempts-1), capped."""
    return min(settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), settings.WEBHOOK_RETRY_MAX_SECONDS)


def _claim(delivery_id: int) -> WebhookDelivery | None:
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, state=DeliveryState.PENDING, next_attempt_at__lte=now,
    ).update(attempts=F("attempts") + 1, last_attempt_at=now,
             next_attempt_at=now + timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS * 2 + 30))
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("webhook").get(pk=delivery_id)


def delivery_attempt(delivery_id: int) -> str:
    """Try once to deliver; returns the delivery's state afterwards ("skipped" when it was not due)."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return "skipped"
    with job_context(delivery.job_kind, delivery.job_id, tenant_id=delivery.tenant_id):
        webhook = delivery.webhook
        if not webhook.is_active:
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
    elif result.error == "webhook_disabled" or delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        fields.update(state=DeliveryState.FAILED, next_attempt_at=None)
        outcome = "failed"
    else:
        fields.update(next_attempt_at=now + timedelta(seconds=backoff_seconds(delivery.attempts)))
        outcome = "retry"
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields, updated_at=now)
    WEBHOOK_ATTEMPTS.labels(outcome=outcome).inc()
    log = logger.info if result.ok else logger.warning
    log("webhook %s: %s delivery %s attempt %d: %s", delivery.webhook_id, delivery.event, delivery.pk,
        delivery.attempts, result.error or result.status)
    return fields.get("state", DeliveryState.PENDING)


def deliveries_due(limit: int = 500) -> list[int]:
    """Pending deliveries whose next attempt is due, oldest first; each gets a tick."""
    due = list(WebhookDelivery.objects.filter(
        state=DeliveryState.PENDING, next_attempt_at__lte=timezone.now(),
    ).order_by("next_attempt_at", "id").values_list("pk", flat=True)[:limit])
    for delivery_id in due:
        enqueue_delivery(delivery_id)
    return due
