"""Fair share (issue 12): tenants competing for the platform's shared slots are served round-robin by tenant, first
come first served within a tenant, and the queue positions users see follow that order."""

import pytest
from django.urls import reverse

from migrations_app.admission import queue_position, queue_positions
from migrations_app.choices import ACTIVE, MigrationState
from migrations_app.models import MigrationTask
from tests.jobs_engine.drive import migration_admit, migration_transition
from tests.world import build_world


@pytest.fixture
def world(transactional_db, settings):
    settings.MIGRATION_MAX_ACTIVE_SHARED = 4
    w = build_world()
    MigrationTask.objects.all().delete()
    return w


def _queue(t, n, prefix="vm"):
    tasks = []
    for i in range(n):
        tasks.append(MigrationTask.objects.create(
            tenant=t.tenant, environment=t.environment, region=t.region, created_by=t.user_general,
            vm_moref=f"{prefix}-{i}", vm_name=f"{prefix}{i}", operating_system="ubuntu-22.04",
            instance_type="t3.micro", subnet=t.subnet, security_group=t.security_group))
        migration_admit(region_id=t.region.pk)  # as the submit service does
    return tasks


def _state(task):
    return MigrationTask.objects.values_list("state", flat=True).get(pk=task.pk)


def _release_one(tenant):
    """One of the tenant's active migrations finishes (a cancel is the quickest way out of ACTIVE)."""
    task = MigrationTask.objects.filter(tenant=tenant, state__in=ACTIVE).order_by("started_at", "id").first()
    migration_transition(task_id=task.pk, to=MigrationState.CANCELLING)


def test_a_tenant_arriving_late_starts_within_one_slot_release(world, api):
    a, b = world.a, world.b
    a_tasks = _queue(a, 40, prefix="a")
    assert MigrationTask.objects.filter(state__in=ACTIVE).count() == 4  # A holds every shared slot
    b_tasks = _queue(b, 2, prefix="b")
    assert [_state(t) for t in b_tasks] == [MigrationState.QUEUED] * 2
    # B is served next, so B is told it is next, and A's first waiting job is told it waits behind B's two.
    assert [queue_position(MigrationTask.objects.get(pk=t.pk)) for t in b_tasks] == [1, 2]
    assert queue_position(MigrationTask.objects.get(pk=a_tasks[4].pk)) == 3
    listed = api.as_user(b.user_general).get(reverse("api:migration-list")).json()["results"]
    assert {m["id"]: m["queue_position"] for m in listed if m["id"] in {t.pk for t in b_tasks}} == {
        b_tasks[0].pk: 1, b_tasks[1].pk: 2}

    _release_one(a.tenant)
    assert _state(b_tasks[0]) == MigrationState.EXPORTING
    assert _state(a_tasks[4]) == MigrationState.QUEUED
    # A holds 3 slots and B 1: B's second is still served before A's 37 waiting.
    _release_one(a.tenant)
    assert _state(b_tasks[1]) == MigrationState.EXPORTING
    _release_one(a.tenant)
    assert _state(a_tasks[4]) == MigrationState.EXPORTING
    assert MigrationTask.objects.filter(state__in=ACTIVE).count() == 4


def test_slots_alternate_between_tenants_that_both_wait(world):
    a, b = world.a, world.b
    _queue(a, 10, prefix="a")
    _queue(b, 10, prefix="b")

    def active(t):
        return MigrationTask.objects.filter(tenant=t.tenant, state__in=ACTIVE).count()

    assert (active(a), active(b)) == (4, 0)
    shares = []
    for step in range(8):
        # A slot always goes to the tenant holding fewer: first B catches up, then the shares stay even.
        _release_one(a.tenant if active(a) >= active(b) else b.tenant)
        shares.append((active(a), active(b)))
    assert shares == [(3, 1), (2, 2)] + [(2, 2)] * 6


def test_first_come_first_served_within_a_tenant(world):
    a, b = world.a, world.b
    a_tasks = _queue(a, 6, prefix="a")
    _queue(b, 4, prefix="b")
    waiting = [t for t in a_tasks if _state(t) == MigrationState.QUEUED]
    positions = queue_positions([a.region.pk])
    assert [positions[t.pk] for t in waiting] == sorted(positions[t.pk] for t in waiting)
    while MigrationTask.objects.filter(tenant=a.tenant, state=MigrationState.QUEUED).exists():
        _release_one(a.tenant if MigrationTask.objects.filter(tenant=a.tenant, state__in=ACTIVE).exists()
                     else b.tenant)
        started = [t.pk for t in a_tasks if _state(t) != MigrationState.QUEUED]
        assert started == [t.pk for t in a_tasks[:len(started)]]  # always A's oldest first


def test_every_tenant_shares_the_platform_pool_within_its_own_region_limit(world, settings):
    a, b = world.a, world.b
    settings.MIGRATION_MAX_ACTIVE_SHARED = 6
    a_tasks = _queue(a, 6, prefix="a")
    b_tasks = _queue(b, 6, prefix="b")
    # A stops at its region's 4 (MIGRATION_MAX_ACTIVE_PER_REGION); B gets what is left of the platform's 6.
    assert [_state(t) for t in a_tasks].count(MigrationState.EXPORTING) == 4
    assert [_state(t) for t in b_tasks].count(MigrationState.EXPORTING) == 2
    # The pool is full: positions follow the fair order across both tenants (B's next two before A's).
    assert [queue_position(MigrationTask.objects.get(pk=t.pk)) for t in b_tasks[2:4]] == [1, 2]
    assert queue_position(MigrationTask.objects.get(pk=a_tasks[4].pk)) == 3
    _release_one(a.tenant)
    assert _state(b_tasks[2]) == MigrationState.EXPORTING and _state(a_tasks[4]) == MigrationState.QUEUED


def test_the_per_tenant_cap_spans_the_tenants_regions(world, settings):
    from environments import services as env_services

    a = world.a
    settings.MIGRATION_MAX_ACTIVE_SHARED = 32
    settings.MIGRATION_MAX_ACTIVE_PER_TENANT = 5
    _queue(a, 4, prefix="east")
    west = env_services.region_create(actor=a.admin, code="us-west-2")
    env = west.environments.get()
    for i in range(4):
        MigrationTask.objects.create(tenant=a.tenant, environment=env, region=west, created_by=a.admin,
                                     vm_moref=f"west-{i}", vm_name="x", operating_system="ubuntu-22.04",
                                     instance_type="t3.micro", subnet=a.subnet, security_group=a.security_group)
    migration_admit(region_id=west.pk)
    assert MigrationTask.objects.filter(tenant=a.tenant, state__in=ACTIVE).count() == 5
    assert MigrationTask.objects.filter(tenant=a.tenant, region=west, state__in=ACTIVE).count() == 1


@pytest.mark.process
def test_concurrent_submitters_of_two_tenants_never_exceed_the_shared_slots(world):
    """Six processes, three per tenant, submit at the same moment: the shared pool's lock holds across tenants
    (and, on PostgreSQL, its lock order does not deadlock with the tenants' and regions' locks)."""
    import subprocess
    import sys
    import time

    from tests.migrations.helpers import ROOT, worker_env
    from tests.migrations.test_admission import SUBMITTER

    templates = []
    for t in (world.a, world.b):
        (template,) = _queue(t, 1, prefix="template")
        MigrationTask.objects.filter(pk=template.pk).update(state=MigrationState.CANCELLED)
        templates.append(template)
    start_at = time.time() + 3  # every process starts submitting at the same moment
    processes = [subprocess.Popen([sys.executable, "-c", SUBMITTER, str(w), "4", str(templates[w % 2].pk),
                                   str(start_at)], cwd=ROOT, env=worker_env(MIGRATION_MAX_ACTIVE_SHARED=4),
                                  stderr=subprocess.PIPE, text=True) for w in range(6)]
    for p in processes:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    live = MigrationTask.objects.exclude(pk__in=[t.pk for t in templates])
    assert live.count() == 24
    assert live.filter(state__in=ACTIVE).count() == 4
    assert live.filter(state=MigrationState.QUEUED).count() == 20
