"""The job lease holds for the whole tick, whatever step blocks; a worker that lost it never cleans up; a job that
only waits hands its worker back and is woken by a schedule."""

import ast
import threading
import time

import pytest
from django.db import connection
from django.db.models import F
from django.utils import timezone
from django_q.models import Schedule

from migrations_app.choices import MigrationState
from migrations_app.models import MigrationTask
from adapters.vsphere import client as vsphere
from tests.jobs_engine.drive import lease_claim, migration_reconcile, run_tick, wake_schedule_name
from tests.migrations.helpers import wait_for

pytestmark = [pytest.mark.aws, pytest.mark.vcenter]


def test_the_job_lease_is_renewed_while_the_export_lease_initializes(setup, start_migration):
    """The export lease takes twice the job lease to become ready: nobody else may claim the job meanwhile, and
    the reconciler does not hand it on (before, only the upload step renewed the job lease)."""
    s = setup
    s.aws.set_speed(500)
    s.vcenter.set_faults(lease_init_seconds=2 * 3 + 1)  # fast_jobs: MIGRATION_LEASE_SECONDS = 3
    task_id = start_migration(s, s.alice, "web01").json()["id"]
    outcome = []

    def worker():
        try:
            outcome.append(run_tick(task_id))
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    intruder_claims, restarted = [], []
    try:
        wait_for(lambda: MigrationTask.objects.get(pk=task_id).nfc_lease_moref, what="the export lease")
        while thread.is_alive() and MigrationTask.objects.get(pk=task_id).state == MigrationState.EXPORTING:
            # A second worker, and the reconciler, try the whole time the first one waits for the export lease.
            epoch = lease_claim(task_id=task_id, owner="intruder", ttl_seconds=60)
            if epoch is not None:
                intruder_claims.append(epoch)
            restarted += [t for t in migration_reconcile()["restarted"] if t == task_id]
            time.sleep(0.25)
    finally:
        thread.join(timeout=120)
    assert intruder_claims == [] and restarted == []
    task = MigrationTask.objects.get(pk=task_id)
    assert task.state != MigrationState.EXPORTING and task.state != MigrationState.FAILED, task.status_message
    assert outcome and outcome[0] in ("waiting", "done"), outcome


def test_a_worker_that_lost_its_lease_leaves_cleanup_to_the_new_owner(setup, start_migration, monkeypatch):
    """The export step fails on the connector agent after another agent took the job over: it must not abort the
    export lease (the new owner's to supersede) nor fail the job; it just stops."""
    s = setup
    real_wait = vsphere.VCenterSession.lease_wait_ready

    def ready_then_taken_over_then_failing(session, lease_moref, timeout=300):
        real_wait(session, lease_moref, timeout=timeout)
        # Only the takeover is simulated (the reconciler handing the job on after a long stall); the lease and its
        # failure below are the sandbox's own.
        MigrationTask.objects.filter(pk=task_id).update(
            lease_epoch=F("lease_epoch") + 1, lease_owner="agent:another",
            lease_expires_at=timezone.now() + timezone.timedelta(seconds=60))
        raise vsphere.VSphereError("lease_error", "The export lease failed: disk locked")

    monkeypatch.setattr(vsphere.VCenterSession, "lease_wait_ready", ready_then_taken_over_then_failing)
    task_id = start_migration(s, s.alice, "web01").json()["id"]
    assert run_tick(task_id) == "waiting"  # the tick hands the job to the tenant's agent
    assert s.agent.outcomes == ["stopped"]
    task = MigrationTask.objects.get(pk=task_id)
    assert task.state == MigrationState.EXPORTING and task.error_code == "" and task.lease_owner == "agent:another"
    assert task.attempts == 0  # its failure was not counted against the job either
    lease = next(lease for lease in s.vcenter.leases() if lease["id"] == task.nfc_lease_moref)
    assert lease["state"] == "ready", lease  # still held, for the new owner


def test_waiting_for_the_conversion_releases_the_worker(setup, start_migration, settings):
    """While AWS converts, a tick polls once and returns: the lease is free, a one-off schedule wakes the job at
    `wake_at`, and the reconciler leaves it alone until then."""
    s = setup
    settings.MIGRATION_INLINE_WAIT_SECONDS = 0  # as in production: no wait is slept inside a tick
    s.aws.set_speed(0)  # the import stays active until the clock moves
    task_id = start_migration(s, s.alice, "web01").json()["id"]
    outcomes = []
    while MigrationTask.objects.get(pk=task_id).state != MigrationState.CONVERTING:
        outcomes.append(run_tick(task_id))
        assert len(outcomes) < 10, outcomes
    outcomes.append(run_tick(task_id))
    assert outcomes[-1] == "waiting", outcomes
    task = MigrationTask.objects.get(pk=task_id)
    assert task.import_task_id and task.lease_owner == "" and task.lease_expires_at is None
    assert task.wake_at is not None and task.wake_at > task.heartbeat_at
    wake = Schedule.objects.get(name=wake_schedule_name(task_id))
    assert wake.schedule_type == Schedule.ONCE and wake.func == "core.jobs.tasks.job_tick"
    assert wake.next_run == task.wake_at and ast.literal_eval(wake.args) == ("migration", task_id)
    # Long after its last heartbeat, but not yet due: the reconciler leaves it alone.
    MigrationTask.objects.filter(pk=task_id).update(
        heartbeat_at=timezone.now() - timezone.timedelta(hours=1),
        wake_at=timezone.now() + timezone.timedelta(hours=1))
    assert task_id not in migration_reconcile()["restarted"]
    # Due (its schedule lost, say): the reconciler restarts it.
    MigrationTask.objects.filter(pk=task_id).update(wake_at=timezone.now() - timezone.timedelta(seconds=1))
    assert task_id in migration_reconcile()["restarted"]
    s.aws.set_speed(500)
    s.aws.advance(3600)
    while not MigrationTask.objects.get(pk=task_id).is_terminal:
        outcomes.append(run_tick(task_id))
        assert len(outcomes) < 30, outcomes
    task = MigrationTask.objects.get(pk=task_id)
    assert task.state == MigrationState.COMPLETED and task.wake_at is None
    assert not Schedule.objects.filter(name=wake_schedule_name(task_id)).exists()
