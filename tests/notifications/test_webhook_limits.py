"""Webhooks cannot block the shared workers (issue 20): an attempt has a total deadline however slowly the receiver
answers, a delivery has at most one attempt in flight, a tenant has a bounded number of webhooks and of deliveries
in flight at once, and a deactivated tenant gets neither webhooks nor e-mail."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from core.models import Tenant
from core.notifications import delivery as deliveries
from core.notifications.choices import DeliveryState
from core.notifications.models import NotificationPreference, Webhook, WebhookDelivery
from tests.notifications.test_webhooks import _create_webhook, _fail_migration

pytestmark = pytest.mark.django_db(transaction=True)


def _hook(api, admin, url, name="ops"):
    return _create_webhook(api, admin, url, events=("migration.failed",), name=name)


def _log(api, world):
    response = api.as_user(world.a.auditor).get("/api/v1/webhook-deliveries/")
    assert response.status_code == 200
    return response.json()["results"]


def test_an_attempt_ends_at_its_deadline_however_slowly_the_receiver_answers(
        world, api, trickler, settings, django_capture_on_commit_callbacks):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1.0
    _hook(api, world.a.admin, trickler.url)
    _fail_migration(world, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    started = time.monotonic()
    assert deliveries.delivery_attempt(delivery.pk) == DeliveryState.PENDING
    # The receiver would take 30 s; the deadline is 1 s (a generous margin for a slow machine).
    assert time.monotonic() - started < 5
    (shown,) = _log(api, world)
    assert (shown["attempts"], shown["error"], shown["state"]) == (1, "timeout", "pending")


def test_a_delivery_has_one_attempt_in_flight(world, api, trickler, settings, django_capture_on_commit_callbacks):
    settings.WEBHOOK_TIMEOUT_SECONDS = 3.0
    _hook(api, world.a.admin, trickler.url)
    _fail_migration(world, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    outcome = {}
    first = threading.Thread(target=lambda: outcome.setdefault("first", deliveries.delivery_attempt(delivery.pk)))
    first.start()
    try:
        _wait_for(lambda: trickler.connections == 1)
        # However the row's retry time looks meanwhile (a backoff timer that ran out, an operator's edit), the
        # sweep hands nothing out and a redelivered tick does nothing while the attempt runs.
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
        assert deliveries.deliveries_due() == []
        assert deliveries.delivery_attempt(delivery.pk) == "skipped"
    finally:
        first.join(timeout=30)
    assert outcome["first"] == DeliveryState.PENDING
    assert trickler.connections == 1
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.error) == (1, "timeout")


def test_a_tenant_has_a_bounded_number_of_deliveries_in_flight(world, api, trickler, settings,
                                                              django_capture_on_commit_callbacks):
    settings.WEBHOOK_TIMEOUT_SECONDS = 3.0
    settings.WEBHOOK_MAX_IN_FLIGHT_PER_TENANT = 1
    for name in ("one", "two"):
        _hook(api, world.a.admin, trickler.url, name=name)
    _fail_migration(world, django_capture_on_commit_callbacks)
    one, two = WebhookDelivery.objects.order_by("pk")
    outcome = {}
    first = threading.Thread(target=lambda: outcome.setdefault("first", deliveries.delivery_attempt(one.pk)))
    first.start()
    try:
        _wait_for(lambda: trickler.connections == 1)
        # The tenant's slot is taken: the second delivery waits (no attempt spent) instead of taking a worker.
        assert deliveries.delivery_attempt(two.pk) == "deferred"
        two.refresh_from_db()
        assert (two.attempts, two.state) == (0, "pending")
    finally:
        first.join(timeout=30)
    assert trickler.connections == 1
    WebhookDelivery.objects.filter(pk=two.pk).update(next_attempt_at=timezone.now())
    assert deliveries.delivery_attempt(two.pk) == DeliveryState.PENDING
    assert trickler.connections == 2


def test_a_tenant_has_a_bounded_number_of_webhooks(world, api, settings):
    settings.WEBHOOK_MAX_PER_TENANT = 2
    for name in ("one", "two"):
        _hook(api, world.a.admin, "http://127.0.0.1:9/hook", name=name)
    refused = api.as_user(world.a.admin).post("/api/v1/webhooks/", {"name": "three", "url": "http://127.0.0.1:9/h",
                                                                     "events": ["migration.failed"]})
    assert refused.status_code == 409
    assert refused.json()["errors"][0]["code"] == "webhook_limit"
    assert Webhook.objects.filter(tenant=world.a.tenant).count() == 2
    # Another tenant's are its own.
    assert api.as_user(world.b.admin).post("/api/v1/webhooks/", {"name": "one", "url": "http://127.0.0.1:9/h",
                                                                  "events": ["migration.failed"]}).status_code == 201


def test_a_deactivated_tenant_gets_no_webhooks_and_no_email(world, api, receiver, settings,
                                                           django_capture_on_commit_callbacks):
    _hook(api, world.a.admin, receiver.url)
    NotificationPreference.objects.create(user=world.a.admin, event="migration.failed")
    world.a.admin.email = "admin@acme.example"
    world.a.admin.save(update_fields=["email"])
    Tenant.objects.filter(pk=world.a.tenant.pk).update(is_active=False)
    mail.outbox.clear()
    _fail_migration(world, django_capture_on_commit_callbacks)
    assert not WebhookDelivery.objects.exists()
    assert mail.outbox == []


def test_a_delivery_queued_before_the_tenant_was_deactivated_is_not_sent(world, api, receiver,
                                                                       django_capture_on_commit_callbacks):
    _hook(api, world.a.admin, receiver.url)
    _fail_migration(world, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    Tenant.objects.filter(pk=world.a.tenant.pk).update(is_active=False)
    assert deliveries.delivery_attempt(delivery.pk) == DeliveryState.FAILED
    delivery.refresh_from_db()
    assert delivery.error == "tenant_inactive"
    assert receiver.requests == []


def _wait_for(condition, seconds=20):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the receiver was never reached")
        time.sleep(0.02)
