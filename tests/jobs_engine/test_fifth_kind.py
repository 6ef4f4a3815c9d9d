"""A fifth kind of job is one registration: register a throwaway kind (over the launches' table, so it needs no
model of its own) and the task history, its API, the metrics, the connector status, the orphan sweep and the
notifications all take it up, though none of them names it (tests/architecture/test_job_kinds.py)."""

from __future__ import annotations

import dataclasses

import pytest
from django.db.models import Count
from django.urls import reverse

from lifecycle.launches.models import LaunchTask
from core.jobs import kinds as registry
from core.notifications import services as notifications
from core.notifications.choices import job_events
from core.notifications.models import NotificationPreference, Webhook, WebhookDelivery
from core.notifications.signing import new_secret
from portal.site.connectors import connector_status
from portal.site.history import HistoryFilters, history_row, history_rows, history_types
from portal.site.metrics import DatabaseCollector
from portal.site.sweep import sweeps

pytestmark = pytest.mark.django_db
SWEPT = []


def relaunch_sweep(sweep):
    SWEPT.append(sweep)


@pytest.fixture
def register_relaunch(monkeypatch):
    """Registers the kind when called; the registry and the launches' model are as they were after the test."""
    monkeypatch.setattr(registry, "_KINDS", dict(registry._KINDS))
    monkeypatch.setattr(LaunchTask, "job_kind", LaunchTask.job_kind)

    def register():
        return registry.register(dataclasses.replace(
            registry.kind_of(LaunchTask()), name="relaunch", label="relaunch", order=50, describe=("template_name",),
            bytes_moved={"started": Count("id")}, connector_work=True, sweep=f"{__name__}.relaunch_sweep",
            notify={"completed": "completed"}))

    return register


def test_history_and_its_api_list_the_new_kind(world, api, register_relaunch):
    a = world.a
    register_relaunch()
    assert history_types()[-1] == "relaunch"
    rows = [history_row(r) for r in history_rows(fetched_by=a.admin, filters=HistoryFilters(type="relaunch"))]
    assert [(r["type"], r["id"], r["summary"]) for r in rows] == [("relaunch", a.launch.pk, "web")]
    everything = {(r["type"], r["id"]) for r in map(history_row, history_rows(fetched_by=a.admin))}
    assert {("launch", a.launch.pk), ("relaunch", a.launch.pk)} <= everything
    api.as_user(a.admin)
    response = api.get(reverse("api:history"), {"type": "relaunch"})
    assert response.status_code == 200, response.content
    assert [(r["type"], r["id"]) for r in response.json()["results"]] == [("relaunch", a.launch.pk)]


def test_metrics_count_the_new_kind_and_its_bytes(world, register_relaunch):
    register_relaunch()
    samples = {(f.name, tuple(sorted(s.labels.items()))): s.value
               for f in DatabaseCollector().collect() for s in f.samples}
    launches = LaunchTask.objects.count()
    assert samples[("portal_jobs", (("kind", "relaunch"), ("state", "queued")))] == launches
    assert samples[("portal_job_bytes", (("direction", "started"), ("kind", "relaunch")))] == launches
    assert ("portal_jobs_queued_oldest_seconds", (("kind", "relaunch"),)) in samples


def test_the_connector_status_counts_the_new_kind_as_the_tenants_work(world, register_relaunch):
    a = world.a
    before = connector_status(fetched_by=a.admin)
    register_relaunch()
    after = connector_status(fetched_by=a.admin)
    assert after.queue_depth == before.queue_depth + 1  # the world's launch waits, queued
    assert after.oldest_queued_at <= a.launch.created_at


def test_the_orphan_sweep_runs_the_new_kinds_sweep(register_relaunch):
    assert relaunch_sweep not in sweeps()
    register_relaunch()
    assert sweeps()[-1] is relaunch_sweep


def test_notifications_offer_and_send_the_new_kinds_event(world, register_relaunch, django_capture_on_commit_callbacks):
    a = world.a
    register_relaunch()
    assert job_events()["relaunch.completed"] == "Relaunch completed"
    assert notifications.preferences_set(actor=a.user_general, events=["relaunch.completed"]) == ["relaunch.completed"]
    assert NotificationPreference.objects.filter(user=a.user_general, event="relaunch.completed").exists()
    hook = Webhook.objects.create(tenant=a.tenant, name="ops", url="https://hooks.example.com/in",
                                  events=["relaunch.completed"], secret=new_secret(), created_by=a.admin)
    LaunchTask.objects.filter(pk=a.launch.pk).update(state="completed")
    a.launch.refresh_from_db()
    with django_capture_on_commit_callbacks():
        notifications.notify_job_finished("relaunch", a.launch)
        notifications.notify_job_finished("launch", a.launch)  # launches announce nothing (`notify` is empty)
    delivery = WebhookDelivery.objects.get(webhook=hook)
    assert (delivery.event, delivery.job_kind, delivery.job_id) == ("relaunch.completed", "relaunch", a.launch.pk)
