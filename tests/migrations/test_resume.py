"""kill -9 of a real worker process during export, upload and conversion: the job resumes from its checkpoint
on a new worker, with no part sent twice, one ImportImage and one instance."""

import pytest

from migrations_app.choices import MigrationState
from migrations_app.models import MigrationTask
from tests.jobs_engine.drive import migration_reconcile
from tests.migrations.conftest import assert_no_leftovers
from tests.migrations.helpers import Worker, wait_for

pytestmark = [pytest.mark.aws, pytest.mark.vcenter, pytest.mark.process]


def _resume_after_kill(s, task_id, killed_when, what):
    worker = Worker()
    try:
        wait_for(lambda: killed_when(MigrationTask.objects.get(pk=task_id)), timeout=90, what=what)
        worker.kill9()
    finally:
        worker.stop()
    before = MigrationTask.objects.get(pk=task_id)
    assert not before.is_terminal
    # The dead worker's lease runs out; the reconciler (a django-q2 schedule in production) hands the job on.
    wait_for(lambda: migration_reconcile()["restarted"] == [task_id], timeout=30, interval=0.5,
             what="the reconciler to restart the job")
    s.vcenter.clear_faults()
    s.aws.set_speed(500)
    worker = Worker()
    try:
        task = wait_for(lambda: (t := MigrationTask.objects.get(pk=task_id)).is_terminal and t, timeout=120,
                        what="the resumed job to finish")
    finally:
        worker.stop()
    assert task.state == MigrationState.COMPLETED, task.status_message
    assert task.attempts == 0  # counted per step: the step the killed worker was in completed since
    ec2 = s.aws.client("ec2")
    imports = [t for t in ec2.describe_import_image_tasks()["ImportImageTasks"]]
    assert len(imports) == 1
    instances = [i for r in ec2.describe_instances(Filters=[{"Name": "tag:portal-migration",
                                                             "Values": [str(task_id)]}])["Reservations"]
                 for i in r["Instances"]]
    assert [i["InstanceId"] for i in instances] == [task.instance_id]
    assert_no_leftovers(s, task)
    return before, task


def test_killed_during_export(setup, start_migration):
    s = setup
    s.vcenter.set_faults(lease_init_seconds=30)  # the export lease stays "initializing"
    task_id = start_migration(s, s.alice, "web01").json()["id"]
    before, after = _resume_after_kill(s, task_id, lambda t: t.nfc_lease_moref, "the export lease")
    assert before.state == MigrationState.EXPORTING
    assert after.nfc_lease_moref == ""


def test_killed_during_upload_does_not_resend_parts(setup, start_migration):
    s = setup
    s.vcenter.set_faults(nfc_bytes_per_second=3 * 1024 * 1024)
    task_id = start_migration(s, s.alice, "db01").json()["id"]
    before, after = _resume_after_kill(
        s, task_id, lambda t: t.state == MigrationState.UPLOADING and t.bytes_uploaded >= 10 * 1024 * 1024,
        "two parts uploaded")
    assert before.bytes_uploaded >= 10 * 1024 * 1024
    resumed = after.disks[0].get("parts_resumed", 0)
    assert resumed >= 2, after.disks  # parts already in S3 were read past, not uploaded again


def test_killed_during_conversion_imports_once(setup, start_migration):
    s = setup
    s.aws.set_speed(0)  # the import stays "active" until the clock moves
    task_id = start_migration(s, s.alice, "web01").json()["id"]
    before, after = _resume_after_kill(s, task_id, lambda t: t.import_task_id, "the import task")
    assert before.state == MigrationState.CONVERTING
    assert after.import_task_id == before.import_task_id
