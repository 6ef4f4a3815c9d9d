"""Webhooks end to end: a terminal transition commits, the notifier writes a durable delivery, the delivery tick
posts a signed body to a real local receiver, a failed attempt is retried with backoff until it succeeds; and the
delivery log's permissions (administrators re-send, auditors read)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from migrations_app.choices import MigrationState
from core.models import AuditLog
from core.notifications import delivery as deliveries
from core.notifications.choices import DeliveryState
from core.notifications.models import WebhookDelivery
from tests.jobs_engine.drive import migration_transition

README = Path(__file__).resolve().parents[2] / "README.md"


def _documented_verify():
    """The verification recipe exactly as the README documents it (the block after "webhook-verify")."""
    text = README.read_text()
    code = re.search(r"<!-- webhook-verify -->\s*```python\n(.*?)```", text, re.S).group(1)
    namespace = {}
    exec(compile(code, "README-webhook-verify", "exec"), namespace)  # noqa: S102 -- our own documentation
    return namespace["verify"]


def _create_webhook(api, admin, url, events=("migration.failed", "migration.completed"), name="ops"):
    response = api.as_user(admin).post("/api/v1/webhooks/", {"name": name, "url": url, "events": list(events)})
    assert response.status_code == 201, response.content
    return response.json()


def _fail_migration(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        migration_transition(task_id=world.a.migration.pk, to=MigrationState.FAILED,
                             status_message="The VM's disk could not be read.", error_code="export_failed")


@pytest.fixture
def quick_retries(settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 60
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    return settings


def test_failed_then_succeeding_receiver_gets_one_signed_event(world, api, receiver, quick_retries,
                                                               django_capture_on_commit_callbacks):
    created = _create_webhook(api, world.a.admin, receiver.url)
    assert created["secret"].startswith("whsec_")
    receiver.statuses = [503]
    _fail_migration(world, django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get(job_kind="migration", job_id=world.a.migration.pk)
    assert delivery.event == "migration.failed"
    assert deliveries.delivery_attempt(delivery.pk) == DeliveryState.PENDING
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.response_status, delivery.error) == (1, 503, "http_503")
    # Backed off: not due yet, so neither the sweep nor a redelivered tick sends it again.
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=30)
    assert deliveries.deliveries_due() == []
    assert deliveries.delivery_attempt(delivery.pk) == "skipped"

    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert deliveries.deliveries_due() == [delivery.pk]
    assert deliveries.delivery_attempt(delivery.pk) == DeliveryState.DELIVERED
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.response_status) == ("delivered", 2, 200)

    assert len(receiver.requests) == 2
    last = receiver.requests[-1]
    assert last.path == "/hooks/portal?src=test"
    assert last.headers["X-Portal-Event"] == "migration.failed"
    body = json.loads(last.body)
    assert body["job"] == {**body["job"], "kind": "migration", "id": world.a.migration.pk, "state": "failed",
                           "error_code": "export_failed"}
    verify = _documented_verify()
    assert verify(created["secret"], last.headers["X-Portal-Signature"], last.body)
    assert not verify("whsec_wrong", last.headers["X-Portal-Signature"], last.body)
    assert not verify(created["secret"], last.headers["X-Portal-Signature"], last.body + b" ")


def test_gives_up_after_the_last_attempt(world, api, receiver, quick_retries, django_capture_on_commit_callbacks):
    _create_webhook(api, world.a.admin, receiver.url)
    receiver.statuses = [500, 500, 500]
    _fail_migration(world, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    for _ in range(3):
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        deliveries.delivery_attempt(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.next_attempt_at) == ("failed", 3, None)
    assert deliveries.deliveries_due() == []


def test_backoff_doubles_and_is_capped(settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30
    settings.WEBHOOK_RETRY_MAX_SECONDS = 100
    assert [deliveries.backoff_seconds(n) for n in (1, 2, 3, 4)] == [30, 60, 100, 100]


def test_unsubscribed_events_and_cancelled_jobs_send_nothing(world, api, receiver,
                                                             django_capture_on_commit_callbacks):
    _create_webhook(api, world.a.admin, receiver.url, events=["migration.completed"])
    _fail_migration(world, django_capture_on_commit_callbacks)
    assert not WebhookDelivery.objects.exists()


def test_a_second_notification_of_one_job_adds_no_delivery(world, api, receiver, django_capture_on_commit_callbacks):
    from core.notifications.services import notify_job_finished

    _create_webhook(api, world.a.admin, receiver.url)
    _fail_migration(world, django_capture_on_commit_callbacks)
    world.a.migration.refresh_from_db()
    notify_job_finished("migration", world.a.migration)
    assert WebhookDelivery.objects.count() == 1


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest", "http://10.1.2.3/hook", "ftp://example.com/x"])
def test_urls_the_outbound_policy_refuses_are_rejected(world, api, url):
    response = api.as_user(world.a.admin).post("/api/v1/webhooks/", {"name": "x", "url": url,
                                                                      "events": ["migration.failed"]})
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "url"


def test_a_policy_tightened_after_saving_refuses_the_delivery(world, api, receiver, settings,
                                                              django_capture_on_commit_callbacks):
    _create_webhook(api, world.a.admin, receiver.url)
    _fail_migration(world, django_capture_on_commit_callbacks)
    settings.OUTBOUND_ALLOWED_CIDRS = []
    delivery = WebhookDelivery.objects.get()
    deliveries.delivery_attempt(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.error == "refused"
    assert receiver.requests == []


def test_delivery_log_permissions_and_resend(world, api, receiver, django_capture_on_commit_callbacks):
    _create_webhook(api, world.a.admin, receiver.url)
    _fail_migration(world, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    deliveries.delivery_attempt(delivery.pk)

    listed = api.as_user(world.a.auditor).get("/api/v1/webhook-deliveries/")
    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()["results"]] == [delivery.pk]
    assert api.as_user(world.a.auditor).post(f"/api/v1/webhook-deliveries/{delivery.pk}/resend/").status_code == 403
    assert api.as_user(world.a.user_general).get("/api/v1/webhook-deliveries/").status_code == 403
    assert api.as_user(world.b.admin).post(f"/api/v1/webhook-deliveries/{delivery.pk}/resend/").status_code == 404
    assert api.as_user(world.b.admin).get("/api/v1/webhook-deliveries/").json()["results"] == []
    # Auditors read webhooks but never their secrets, and may not change them.
    hooks = api.as_user(world.a.auditor).get("/api/v1/webhooks/").json()["results"]
    assert hooks and "secret" not in hooks[0]
    assert api.as_user(world.a.auditor).patch(f"/api/v1/webhooks/{hooks[0]['id']}/",
                                              {"is_active": False}).status_code == 403

    with django_capture_on_commit_callbacks(execute=True):
        response = api.as_user(world.a.admin).post(f"/api/v1/webhook-deliveries/{delivery.pk}/resend/")
    assert response.status_code == 202
    again = WebhookDelivery.objects.get(pk=response.json()["id"])
    assert (again.resend_of_id, again.payload, again.state) == (delivery.pk, delivery.payload, "pending")
    assert deliveries.delivery_attempt(again.pk) == DeliveryState.DELIVERED
    assert [r.body for r in receiver.requests] == [delivery.payload.encode()] * 2
    assert AuditLog.objects.filter(action="webhook.resend", tenant=world.a.tenant, actor=world.a.admin).count() == 1


# Secrets in URLs (issue 20): receivers often take a token in the URL (`?token=`, Slack-style paths). Auditors see a
# webhook's scheme and host only, wherever they look (the API, the page, the audit log); the signing secret is
# shown to nobody after the create answer.

TOKEN_URL = "http://127.0.0.1:9/services/T0SLACKPATH/B0PATH?token=qs-s3cr3t"


def test_auditors_see_the_scheme_and_host_of_a_webhook_url_only(world, api):
    created = _create_webhook(api, world.a.admin, TOKEN_URL)
    auditor = api.as_user(world.a.auditor)
    listed = auditor.get("/api/v1/webhooks/").json()["results"]
    detail = auditor.get(f"/api/v1/webhooks/{created['id']}/").json()
    for shown in (listed[0], detail):
        assert shown["url"] == "http://127.0.0.1:9"
        assert "secret" not in shown
    audit_rows = auditor.get("/api/v1/audit-log/").content.decode()
    page = Client()
    page.force_login(world.a.auditor)
    for text in (auditor.get("/api/v1/webhooks/").content.decode(), audit_rows,
                 page.get("/webhooks/").content.decode(), page.get("/audit-log/").content.decode()):
        assert "qs-s3cr3t" not in text and "T0SLACKPATH" not in text
        assert created["secret"] not in text
    # The administrator who manages it sees the whole URL, and never the secret again.
    admin_view = api.as_user(world.a.admin).get(f"/api/v1/webhooks/{created['id']}/").json()
    assert admin_view["url"] == TOKEN_URL and "secret" not in admin_view
    patched = api.as_user(world.a.admin).patch(f"/api/v1/webhooks/{created['id']}/",
                                               {"url": TOKEN_URL.replace("qs-s3cr3t", "rotated-t0ken")})
    assert patched.status_code == 200 and "secret" not in patched.json()
    assert "rotated-t0ken" not in auditor.get("/api/v1/audit-log/").content.decode()
