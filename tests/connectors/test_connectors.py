"""Every tenant's ticks go to the shared workers (there is no per-tenant cluster), and a tenant's administrators
and auditors see its connector agents' last contact and its running and waiting work. The multi-process behaviour
(several shared qcluster processes taking the ticks) is in test_scale_out.py."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ, Schedule

from core.connectors.models import Agent, CapacityPool
from core.connectors.services import capacity_pool
from core.jobs.queue import TICK
from migrations_app.models import MigrationTask
from tests.jobs_engine.drive import enqueue_export_tick, enqueue_migration_tick, schedule_tick


@pytest.fixture
def w(transactional_db):
    from tests.world import build_world

    world = build_world()  # committed (not the `world` fixture's rolled-back transaction): ticks are sent on commit
    OrmQ.objects.all().delete()
    return world


def _browser(user):
    client = Client()
    client.force_login(user)
    return client


def test_every_tenants_ticks_and_wake_ups_go_to_the_shared_workers(w, settings):
    for tenant in (w.a, w.b):
        enqueue_migration_tick(tenant.migration.pk)
        enqueue_export_tick(tenant.export.pk)
    assert sorted(OrmQ.objects.values_list("key", flat=True)) == [settings.Q_CLUSTER["name"]] * 4
    # A job's wake-up is a schedule any worker fires.
    schedule_tick(w.a.migration.pk, timezone.now())
    schedule_tick(w.b.migration.pk, timezone.now())
    assert list(Schedule.objects.filter(func=TICK).values_list("cluster", flat=True)) == [None, None]
    # No cluster heartbeat is scheduled any more, and admission locks one capacity pool row (migration 0004 makes
    # it; a flushed test database gets it at the first admission).
    assert not Schedule.objects.filter(func__startswith="core.connectors.").exists()
    assert capacity_pool() == capacity_pool()
    assert list(CapacityPool.objects.values_list("name", flat=True)) == ["platform"]


def test_administrators_and_auditors_see_their_agents_contact_and_their_work(w, api, settings):
    a = w.a
    for i in range(3):
        MigrationTask.objects.create(tenant=a.tenant, environment=a.environment, region=a.region,
                                     created_by=a.user_general, vm_moref=f"q-{i}", vm_name=f"q{i}",
                                     operating_system="ubuntu-22.04", instance_type="t3.micro", subnet=a.subnet,
                                     security_group=a.security_group, state="queued")
    MigrationTask.objects.filter(pk=a.migration.pk).update(state="exporting")
    seen = timezone.now() - timedelta(seconds=5)
    Agent.objects.filter(pk=a.agent.pk).update(last_contact_at=seen)
    for user in (a.admin, a.auditor):
        body = api.as_user(user).get(reverse("api:connector")).json()
        assert body["agents"] == 1 and body["alive"] is True and body["last_contact"]
        assert body["limit"] == settings.MIGRATION_MAX_ACTIVE_PER_REGION
        assert body["jobs_running"] == 1 and body["queue_depth"] == 3 and body["oldest_queued_at"]
        assert set(body) == {"agents", "last_contact", "alive", "limit", "jobs_running", "queue_depth",
                             "oldest_queued_at"}
        page = _browser(user).get(reverse("ui:connector")).content.decode()
        assert "Online" in page and "Last contact" in page and "Jobs waiting" in page
        assert "cluster" not in page.lower() and "Q_CLUSTER_NAME" not in page
    assert api.as_user(a.user_general).get(reverse("api:connector")).status_code == 403
    assert _browser(a.user_general).get(reverse("ui:connector")).status_code == 403
    # Silent for longer than three report intervals: not responding. Tenant B sees none of A's figures.
    Agent.objects.filter(pk=a.agent.pk).update(
        last_contact_at=timezone.now() - timedelta(seconds=3 * settings.AGENT_HEARTBEAT_SECONDS + 5))
    assert api.as_user(a.admin).get(reverse("api:connector")).json()["alive"] is False
    assert "Not responding" in _browser(a.admin).get(reverse("ui:connector")).content.decode()
    body = api.as_user(w.b.admin).get(reverse("api:connector")).json()
    assert body["queue_depth"] == MigrationTask.objects.filter(tenant=w.b.tenant, state="queued").count() == 1
    assert body["alive"] is False and body["last_contact"] is None
    # A revoked agent is no longer counted.
    Agent.objects.filter(pk=w.b.agent.pk).update(revoked_at=timezone.now())
    assert api.as_user(w.b.admin).get(reverse("api:connector")).json()["agents"] == 0
    assert "No agent registered" in _browser(w.b.admin).get(reverse("ui:connector")).content.decode()
