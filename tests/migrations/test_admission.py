"""At most N active migrations per region, FIFO for the rest, correct under concurrent submitters."""

import subprocess
import sys

import pytest
from django.test import override_settings

from environments import services as env_services
from migrations_app.admission import queue_position
from migrations_app.choices import ACTIVE, MigrationState
from migrations_app.models import MigrationTask
from tests.jobs_engine.drive import migration_admit, migration_transition
from tests.migrations.helpers import ROOT, worker_env
from tests.world import build_world


def _queue(a, n, prefix="vm"):
    return [MigrationTask.objects.create(
        tenant=a.tenant, environment=a.environment, region=a.region, created_by=a.user_general,
        vm_moref=f"{prefix}-{i}", vm_name=f"{prefix}{i}", operating_system="ubuntu-22.04", instance_type="t3.micro",
        subnet=a.subnet, security_group=a.security_group) for i in range(n)]


def test_first_four_start_the_rest_wait_in_order(transactional_db, api):
    a = build_world().a
    MigrationTask.objects.all().delete()
    tasks = _queue(a, 7)
    admitted = migration_admit(region_id=a.region.pk)
    assert admitted == [t.pk for t in tasks[:4]]
    positions = [queue_position(MigrationTask.objects.get(pk=t.pk)) for t in tasks]
    assert positions == [None, None, None, None, 1, 2, 3]
    from django.urls import reverse

    listed = api.as_user(a.user_general).get(reverse("api:migration-list")).json()["results"]
    assert {m["id"]: m["queue_position"] for m in listed} == {t.pk: p for t, p in zip(tasks, positions)}
    # A slot frees when one finishes: the oldest waiting one starts, the others move up.
    migration_transition(task_id=tasks[1].pk, to=MigrationState.CANCELLING)
    states = {t.pk: MigrationTask.objects.get(pk=t.pk).state for t in tasks}
    assert states[tasks[4].pk] == MigrationState.EXPORTING
    assert [queue_position(MigrationTask.objects.get(pk=t.pk)) for t in tasks[5:]] == [1, 2]


def test_the_limit_is_a_setting_and_a_per_tenant_override(transactional_db):
    from core.models import TenantVCenter

    a = build_world().a
    MigrationTask.objects.all().delete()
    _queue(a, 5)
    with override_settings(MIGRATION_MAX_ACTIVE_PER_REGION=2):
        assert len(migration_admit(region_id=a.region.pk)) == 2
    TenantVCenter.objects.create(tenant=a.tenant, url="https://vc.example.com/sdk",
                                 max_active_migrations_per_region=3)
    assert len(migration_admit(region_id=a.region.pk)) == 1


def test_regions_are_counted_separately(transactional_db):
    a = build_world().a
    MigrationTask.objects.all().delete()
    _queue(a, 5)
    other_region = env_services.region_create(actor=a.admin, code="eu-west-1")
    env = other_region.environments.get()
    for i in range(2):
        MigrationTask.objects.create(tenant=a.tenant, environment=env, region=other_region, created_by=a.admin,
                                     vm_moref=f"eu-{i}", vm_name="x", operating_system="ubuntu-22.04",
                                     instance_type="t3.micro", subnet=a.subnet, security_group=a.security_group)
    # Admission serves the whole pool (every tenant's), so one call starts both regions' jobs, each
    # region within its own limit.
    admitted = MigrationTask.objects.filter(pk__in=migration_admit(region_id=a.region.pk))
    assert admitted.filter(region=a.region).count() == 4
    assert admitted.filter(region=other_region).count() == 2
    assert migration_admit(region_id=other_region.pk) == []


SUBMITTER = """
import sys, django
django.setup()
from tests.jobs_engine.drive import migration_admit
from migrations_app.models import MigrationTask
worker, count, template_id, start_at = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
import time
time.sleep(max(0, start_at - time.time()))
template = MigrationTask.objects.get(pk=template_id)
for i in range(count):
    task = MigrationTask.objects.get(pk=template_id)
    task.pk = None
    task.vm_moref = f"w{worker}-{i}"
    task.state = "queued"
    task.save()
    migration_admit(region_id=template.region_id)
"""


@pytest.mark.process
def test_concurrent_submitters_in_separate_processes_never_exceed_the_limit(transactional_db):
    a = build_world().a
    MigrationTask.objects.all().delete()
    template = _queue(a, 1, prefix="template")[0]
    MigrationTask.objects.filter(pk=template.pk).update(state=MigrationState.CANCELLED)
    import time

    start_at = time.time() + 3  # every process starts submitting at the same moment
    processes = [subprocess.Popen([sys.executable, "-c", SUBMITTER, str(w), "4", str(template.pk), str(start_at)],
                                  cwd=ROOT, env=worker_env(), stderr=subprocess.PIPE, text=True) for w in range(6)]
    for p in processes:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    live = MigrationTask.objects.exclude(pk=template.pk)
    assert live.count() == 24
    assert live.filter(state__in=ACTIVE).count() == 4
    assert live.filter(state=MigrationState.QUEUED).count() == 20
