"""The notification pages: preferences for every member, webhooks and the delivery log for administrators
(auditors read, and may not post), the connector health panel and a migration's log page."""

from __future__ import annotations

import logging

from django.test import Client

from core.notifications.models import NotificationPreference, Webhook, WebhookDelivery
from core.observability import job_context


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def test_members_save_their_own_preferences(world):
    client = _client(world.a.user_ro)
    page = client.get("/notifications/")
    assert page.status_code == 200
    assert b"Migration failed" in page.content
    response = client.post("/notifications/", {"events": ["migration.failed", "export.completed"]})
    assert response.status_code == 302
    assert sorted(NotificationPreference.objects.filter(user=world.a.user_ro).values_list("event", flat=True)) == [
        "export.completed", "migration.failed"]


def test_admin_adds_a_webhook_sees_its_secret_once_and_resends(world, receiver, django_capture_on_commit_callbacks):
    admin = _client(world.a.admin)
    page = admin.post("/webhooks/", {"form": "add", "hook-name": "ops", "hook-url": receiver.url,
                                     "hook-events": ["migration.failed"]})
    assert page.status_code == 200
    hook = Webhook.objects.get(tenant=world.a.tenant)
    assert hook.secret.encode() in page.content
    assert hook.secret.encode() not in admin.get("/webhooks/").content

    delivery = WebhookDelivery.objects.create(tenant=world.a.tenant, webhook=hook, event="migration.failed",
                                              job_kind="migration", job_id=world.a.migration.pk, payload="{}",
                                              state="failed", attempts=8)
    auditor = _client(world.a.auditor)
    log = auditor.get("/webhooks/")
    assert log.status_code == 200 and b"migration.failed" in log.content and b"Re-send" not in log.content
    assert auditor.post("/webhooks/", {"form": "resend", "id": delivery.pk}).status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        assert admin.post("/webhooks/", {"form": "resend", "id": delivery.pk}).status_code == 302
    assert WebhookDelivery.objects.filter(resend_of=delivery).count() == 1
    assert _client(world.b.admin).post("/webhooks/", {"form": "resend", "id": delivery.pk}).status_code == 404
    assert _client(world.a.user_general).get("/webhooks/").status_code == 403


def test_a_refused_webhook_url_is_shown_on_the_field(world):
    page = _client(world.a.admin).post("/webhooks/", {"form": "add", "hook-name": "meta",
                                                       "hook-url": "http://169.254.169.254/",
                                                       "hook-events": ["migration.failed"]})
    assert page.status_code == 200
    assert b"may not reach" in page.content
    assert not Webhook.objects.exists()


def test_connector_health_panel(world):
    panel = _client(world.a.auditor).get("/settings/health/")
    assert panel.status_code == 200
    assert b"Connector health" in panel.content and b"not configured" in panel.content
    assert _client(world.a.user_general).get("/settings/health/").status_code == 403


def test_migration_log_page(world):
    with job_context("migration", world.a.migration.pk):
        logging.getLogger("portal.migrations.pipeline").warning("Uploading disk 1 of 2 stalled; retrying")
    page = _client(world.a.user_general).get(f"/migrations/{world.a.migration.pk}/log/")
    assert page.status_code == 200
    assert b"Uploading disk 1 of 2 stalled; retrying" in page.content
    assert _client(world.a.user_nogrant).get(f"/migrations/{world.a.migration.pk}/log/").status_code == 404
