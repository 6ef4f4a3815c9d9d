"""A real migration (sandbox vCenter to sandbox AWS), driven through the django-q2 entry point tick by tick: its
completion reaches a local webhook receiver, signed, and e-mails the user who asked; its log lines are on the
migration's log endpoint. The tenant's connector agent (in-process) takes the export and the upload between two
ticks, as a running agent's long poll takes them within a second."""

from __future__ import annotations

import json

import pytest
from django.core import mail

from migrations_app.models import MigrationTask
from core.notifications import delivery as deliveries
from core.notifications.models import WebhookDelivery
from core.notifications.signing import signature
from tests.agents.inprocess import agent_serving
from tests.jobs_engine.drive import migration_tick
from tests.migrations.conftest import fast_jobs, setup, start_migration  # noqa: F401 -- fixtures

pytestmark = [pytest.mark.aws, pytest.mark.vcenter]


def test_completed_migration_notifies_and_keeps_its_log(setup, start_migration, api, receiver, settings):  # noqa: F811
    s = setup
    s.aws.set_speed(200)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    s.alice.email = "alice@example.com"
    s.alice.save(update_fields=["email"])
    assert api.as_user(s.alice).put("/api/v1/me/notifications/", {"events": ["migration.completed"]}).status_code == 200
    hook = api.as_user(s.admin).post("/api/v1/webhooks/", {"name": "ops", "url": receiver.url,
                                                            "events": ["migration.completed"]}).json()

    response = start_migration(s, s.alice, "web01")
    assert response.status_code == 201, response.content
    task_id = response.json()["id"]
    outcomes = []
    for _ in range(200):
        outcomes.append(migration_tick(task_id))
        if outcomes[-1] == "waiting" and agent_serving(task_id) is not None:
            outcomes += s.agent.take_work()
        if MigrationTask.objects.get(pk=task_id).is_terminal:
            break
    task = MigrationTask.objects.get(pk=task_id)
    assert task.state == "completed", (task.status_message, outcomes)

    delivery = WebhookDelivery.objects.get(job_kind="migration", job_id=task_id)
    assert deliveries.delivery_attempt(delivery.pk) == "delivered"
    request = receiver.requests[-1]
    timestamp = request.headers["X-Portal-Signature"].split(",")[0][2:]
    assert request.headers["X-Portal-Signature"].endswith(signature(hook["secret"], int(timestamp), request.body))
    assert json.loads(request.body)["job"]["state"] == "completed"
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]

    log = api.as_user(s.alice).get(f"/api/v1/migrations/{task_id}/log/").json()
    assert any("-> completed" in line["message"] for line in log), log
