"""Connectors (issue 11): a tenant's ticks are queued for its own cluster only, and its administrators and auditors
see that cluster's status. The multi-process behaviour (real clusters taking the ticks) is in test_scale_out.py."""

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ, Schedule

from migrations_app.models import MigrationTask
from core.connectors.models import ConnectorBeat
from core.connectors.services import connector_beat, connector_create, connector_delete
from core.connectors.tasks import connector_heartbeat
from core.errors import Conflict, Invalid
from core.jobs.queue import TICK
from core.models import AuditLog
from tests.jobs_engine.drive import enqueue_export_tick, enqueue_migration_tick, schedule_tick


@pytest.fixture
def w(transactional_db):
    from tests.world import build_world

    world = build_world()  # committed (not the `world` fixture's rolled-back transaction): ticks are sent on commit
    OrmQ.objects.all().delete()
    world.connector = connector_create(actor=world.a.admin, tenant=world.a.tenant, name="acme-connector")
    return world


def _browser(user):
    client = Client()
    client.force_login(user)
    return client


def _queued_keys():
    return sorted(OrmQ.objects.values_list("key", flat=True))


def test_a_tenants_ticks_are_queued_for_its_connector_and_the_others_for_the_shared_cluster(w, settings):
    enqueue_migration_tick(w.a.migration.pk)
    enqueue_export_tick(w.a.export.pk)
    assert _queued_keys() == ["acme-connector", "acme-connector"]
    OrmQ.objects.all().delete()
    enqueue_migration_tick(w.b.migration.pk)
    enqueue_export_tick(w.b.export.pk)
    assert _queued_keys() == [settings.Q_CLUSTER["name"]] * 2
    # A job's wake-up (the next poll) is fired by the connector's own scheduler too.
    schedule_tick(w.a.migration.pk, timezone.now())
    schedule_tick(w.b.migration.pk, timezone.now())
    clusters = dict(Schedule.objects.filter(func=TICK).values_list("args", "cluster"))
    assert clusters == {repr(("migration", w.a.migration.pk)): "acme-connector",
                        repr(("migration", w.b.migration.pk)): settings.Q_CLUSTER["name"]}


def test_removing_the_connector_sends_the_next_ticks_to_the_shared_cluster(w, settings):
    connector_delete(actor=w.a.admin, connector=w.connector)
    enqueue_migration_tick(w.a.migration.pk)
    assert _queued_keys() == [settings.Q_CLUSTER["name"]]
    assert not Schedule.objects.filter(cluster="acme-connector").exists()
    assert list(AuditLog.objects.filter(action__startswith="connector.").values_list("action", flat=True).order_by(
        "id")) == ["connector.create", "connector.delete"]


def test_a_connector_needs_its_own_unique_name(w, settings):
    with pytest.raises(Invalid):
        connector_create(actor=w.b.admin, tenant=w.b.tenant, name=settings.Q_CLUSTER["name"])
    with pytest.raises(Conflict):
        connector_create(actor=w.b.admin, tenant=w.b.tenant, name="acme-connector")
    with pytest.raises(ValidationError):
        connector_create(actor=w.b.admin, tenant=w.b.tenant, name="Globex Connector!")
    with pytest.raises(Conflict):
        connector_create(actor=w.a.admin, tenant=w.a.tenant, name="acme-2")
    # Each connector runs its own heartbeat schedule, on itself.
    assert Schedule.objects.filter(func="core.connectors.tasks.connector_heartbeat",
                                   cluster="acme-connector").count() == 1


def test_the_heartbeat_names_the_cluster_that_ran_it(w, settings):
    assert connector_heartbeat() == settings.Q_CLUSTER["name"]
    beat = ConnectorBeat.objects.get(cluster=settings.Q_CLUSTER["name"])
    assert beat.version and beat.host
    first = beat.beat_at
    connector_beat(cluster=settings.Q_CLUSTER["name"])
    assert ConnectorBeat.objects.get(cluster=settings.Q_CLUSTER["name"]).beat_at >= first
    assert ConnectorBeat.objects.count() == 1


def test_administrators_and_auditors_see_their_connectors_status(w, api, settings):
    a = w.a
    for i in range(3):
        MigrationTask.objects.create(tenant=a.tenant, environment=a.environment, region=a.region,
                                     created_by=a.user_general, vm_moref=f"q-{i}", vm_name=f"q{i}",
                                     operating_system="ubuntu-22.04", instance_type="t3.micro", subnet=a.subnet,
                                     security_group=a.security_group, state="queued")
    MigrationTask.objects.filter(pk=a.migration.pk).update(state="exporting")
    enqueue_migration_tick(a.migration.pk)
    connector_beat(cluster="acme-connector")
    for user in (a.admin, a.auditor):
        body = api.as_user(user).get(reverse("api:connector")).json()
        assert body["name"] == "acme-connector" and body["shared"] is False
        assert body["alive"] is True and body["version"] and body["last_heartbeat"]
        assert body["limit"] == settings.MIGRATION_MAX_ACTIVE_PER_REGION
        assert body["jobs_running"] == 1 and body["queue_depth"] == 3 and body["oldest_queued_at"]
        assert body["ticks_waiting"] == 1
        page = _browser(user).get(reverse("ui:connector"))
        assert page.status_code == 200 and "acme-connector" in page.content.decode()
    assert api.as_user(a.user_general).get(reverse("api:connector")).status_code == 403
    assert _browser(a.user_general).get(reverse("ui:connector")).status_code == 403
    # Tenant B has no connector: it is told so, sees none of A's figures and nothing of the shared cluster's host
    # or broker (those are other tenants' too).
    body = api.as_user(w.b.admin).get(reverse("api:connector")).json()
    assert body["shared"] is True and body["name"] == settings.Q_CLUSTER["name"]
    assert body["queue_depth"] == MigrationTask.objects.filter(tenant=w.b.tenant, state="queued").count() == 1
    assert body["host"] == "" and body["ticks_waiting"] is None
    assert body["alive"] is False and body["last_heartbeat"] is None


def test_the_connector_command(w):
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command("connector", "create", "--tenant", w.b.tenant.slug, "--name", "globex-connector", stdout=out)
    assert "Q_CLUSTER_NAME=globex-connector" in out.getvalue()
    out = StringIO()
    call_command("connector", "list", stdout=out)
    assert out.getvalue().splitlines() == [f"{w.a.tenant.slug}\tacme-connector", f"{w.b.tenant.slug}\tglobex-connector"]
    with pytest.raises(CommandError, match="already has a connector"):
        call_command("connector", "create", "--tenant", w.b.tenant.slug, "--name", "other")
    call_command("connector", "delete", "--tenant", w.b.tenant.slug, stdout=StringIO())
    enqueue_migration_tick(w.b.migration.pk)
    assert _queued_keys() == ["portal"]
