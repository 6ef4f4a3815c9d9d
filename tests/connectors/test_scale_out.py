"""Several real `manage.py qcluster` processes (the shared workers) on PostgreSQL with the ORM broker (the production
topology, README): a burst of migrations and exports completes exactly once each within the limits though one of
them is killed with SIGKILL halfway."""

import os
import time

import pytest
from django.conf import settings as django_settings

from environments.models import ImportedInstance
from exports import services as export_services
from exports.choices import ACTIVE as EXPORT_ACTIVE
from exports.models import ExportTask
from migrations_app.choices import ACTIVE, MigrationState
from migrations_app.models import MigrationTask
from tests.connectors.conftest import BURST
from tests.jobs_engine.drive import export_reconcile, migration_reconcile
from tests.migrations.helpers import Worker

pytestmark = [
    pytest.mark.aws, pytest.mark.vcenter, pytest.mark.process,
    pytest.mark.skipif(django_settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"),
                       reason="several qcluster processes need PostgreSQL: SQLite's single writer lock makes the "
                              "ORM broker's concurrent dequeues fail with 'database is locked'"),
]


@pytest.fixture
def burst_settings(settings):
    # Short ticks, leases and polls, so that a dozen jobs share a few workers and a killed cluster's jobs are
    # taken over within seconds; the workers get the same values (worker_env, and the extra env below).
    settings.MIGRATION_TICK_BUDGET_SECONDS = 5
    settings.EXPORT_LEASE_SECONDS = 3
    settings.EXPORT_POLL_SECONDS = 0.2
    settings.EXPORT_TICK_BUDGET_SECONDS = 5
    return settings


def _env(settings, **extra):
    return {"EXPORT_LEASE_SECONDS": settings.EXPORT_LEASE_SECONDS, "EXPORT_POLL_SECONDS": settings.EXPORT_POLL_SECONDS,
            "EXPORT_TICK_BUDGET_SECONDS": settings.EXPORT_TICK_BUDGET_SECONDS, "Q_WORKERS": 2, **extra}


def _exportable_instances(s, count):
    from sandbox.aws.testing import imported_instances

    export_services.export_configure(actor=s.admin, name=f"burst-{s.tenant.slug}", consent=True)
    return [ImportedInstance.objects.create(tenant=s.tenant, environment=s.environment, instance_id=instance_id,
                                            source_vm_name=f"vm{i}")
            for i, instance_id in enumerate(imported_instances(s.aws, count=count))]


def _held_by(worker, jobs):
    """The jobs whose live lease a worker process of this cluster holds (lease owner: host:pid:thread)."""
    held = []
    for job_id, owner in jobs.exclude(lease_owner="").values_list("pk", "lease_owner"):
        try:
            if os.getpgid(int(owner.split(":")[1])) == worker.process.pid:
                held.append(job_id)
        except (ProcessLookupError, IndexError, ValueError):
            pass
    return held


def _all_import_ids(s):
    return [t["ImportTaskId"] for t in s.aws.client("ec2").describe_import_image_tasks()["ImportImageTasks"]]


def _stop_all(workers):
    for worker in workers:
        worker.stop()  # kill -9: a graceful qcluster shutdown takes twenty seconds; nothing is left to finish


def test_a_burst_completes_exactly_once_within_the_limits_though_a_cluster_is_killed(
        setup, start_migration, burst_settings):
    s = setup
    s.aws.set_speed(500)
    instances = _exportable_instances(s, 3)
    imports_before = set(_all_import_ids(s))
    workers = [Worker(**_env(burst_settings)) for _ in range(3)]
    s.agent.start()  # the tenant's connector agent exports and uploads the burst's disks, at most 4 at once
    try:
        migration_ids = []
        for name in BURST:
            response = start_migration(s, s.alice, name)
            assert response.status_code == 201, response.content
            migration_ids.append(response.json()["id"])
        export_ids = [export_services.export_create(actor=s.admin, instance=i).pk for i in instances]
        migrations = MigrationTask.objects.filter(pk__in=migration_ids)
        exports = ExportTask.objects.filter(pk__in=export_ids)
        most_active, most_exporting, killed, held = 0, 0, False, []
        deadline = time.monotonic() + 150
        last_reconcile = 0.0
        while time.monotonic() < deadline:
            # Sampled all along: never more than the region's limit at once, nor AWS's export limit.
            most_active = max(most_active, migrations.filter(state__in=ACTIVE).count())
            most_exporting = max(most_exporting, exports.filter(state__in=EXPORT_ACTIVE).count())
            done = migrations.filter(state__in=(MigrationState.COMPLETED, MigrationState.FAILED,
                                                MigrationState.CANCELLED)).count()
            if not killed and done >= 1:
                # Once work flows, one of the three clusters dies with SIGKILL at a moment it holds a job mid-step
                # (jobs are quick here: wait for such a moment rather than for a share of the jobs to finish; any
                # cluster that holds one then, so that sampling on a loaded machine does not miss every chance).
                for worker in workers:
                    held = _held_by(worker, migrations) + _held_by(worker, exports)
                    if held:
                        worker.kill9()
                        killed = True
                        break
            if done == len(migration_ids) and not exports.exclude(state__in=("completed", "failed",
                                                                                "cancelled")).exists():
                break
            if time.monotonic() - last_reconcile > 1:
                # The reconcilers are django-q2 schedules in production (every minute); the test database was
                # flushed of schedules, so the test plays the scheduler, faster.
                migration_reconcile()
                export_reconcile()
                last_reconcile = time.monotonic()
            time.sleep(0.2)
    finally:
        s.agent.stop()
        _stop_all(workers)
    assert killed and held, "the killed cluster held no job"
    states = dict(migrations.values_list("pk", "state"))
    assert set(states.values()) == {MigrationState.COMPLETED}, [(t.pk, t.state, t.status_message) for t in migrations]
    assert set(exports.values_list("state", flat=True)) == {"completed"}
    # Never passed; and several ran at once (sampling every 0.2 s can miss the exact peak when jobs are quick).
    assert 2 <= most_active <= django_settings.MIGRATION_MAX_ACTIVE_PER_REGION
    assert most_exporting <= django_settings.EXPORT_MAX_ACTIVE_PER_REGION
    # Exactly once: one ImportImage per migration (none repeated by the takeover), one instance per migration,
    # one AWS export task per export.
    new_imports = [i for i in _all_import_ids(s) if i not in imports_before]
    assert sorted(new_imports) == sorted(migrations.values_list("import_task_id", flat=True))
    ec2 = s.aws.client("ec2")
    for task in migrations:
        tagged = [i["InstanceId"] for r in ec2.describe_instances(Filters=[
            {"Name": "tag:portal-migration", "Values": [str(task.pk)]}])["Reservations"] for i in r["Instances"]]
        assert tagged == [task.instance_id], (task.pk, tagged)
        assert ImportedInstance.objects.filter(instance_id=task.instance_id).count() == 1
    export_tasks = ec2.describe_export_tasks()["ExportTasks"]
    assert sorted(t["ExportTaskId"] for t in export_tasks) == sorted(exports.values_list("export_task_id", flat=True))
