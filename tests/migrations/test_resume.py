"""kill -9 during export and conversion: the job resumes from its checkpoint, with one export lease held at a
time, one ImportImage and one instance.

The export is the tenant's connector agent's: there the agent process is killed, and the agent that takes the job
next aborts the dead one's export lease (vCenter exports a VM through one lease at a time). The conversion is the
platform's: there a real worker process is killed while the agent runs beside it in a thread. kill -9 of the agent
mid-upload, resuming without sending again the parts S3 holds, is
tests/migrations/test_agent_path.py::test_kill_9_of_the_agent_mid_disk_resumes_from_the_parts_in_s3."""

import pytest

from migrations_app.choices import MigrationState
from migrations_app.models import MigrationTask
from tests.jobs_engine.drive import migration_reconcile
from tests.migrations import test_agent_path as agent_path
from tests.migrations.conftest import assert_no_leftovers
from tests.migrations.helpers import Worker, wait_for

pytestmark = [pytest.mark.aws, pytest.mark.vcenter, pytest.mark.process]

registered_agent = agent_path.registered_agent  # the tenant's agent as its own process (kill -9 reaches it)


def _assert_resumed_once(s, task):
    assert task.state == MigrationState.COMPLETED, task.status_message
    assert task.attempts == 0  # counted per step: the step the killed process was in completed since
    ec2 = s.aws.client("ec2")
    imports = [t for t in ec2.describe_import_image_tasks()["ImportImageTasks"]]
    assert len(imports) == 1
    instances = [i for r in ec2.describe_instances(Filters=[{"Name": "tag:portal-migration",
                                                             "Values": [str(task.pk)]}])["Reservations"]
                 for i in r["Instances"]]
    assert [i["InstanceId"] for i in instances] == [task.instance_id]
    assert_no_leftovers(s, task)


@pytest.mark.parametrize("in_process_agent", [False])  # the agent here is its own process
def test_agent_killed_during_export(setup, registered_agent, start_migration, in_process_agent):
    s = setup
    s.vcenter.set_faults(lease_init_seconds=30)  # the export lease stays "initializing"
    _, config = registered_agent
    first = agent_path.RunningAgent(config)
    try:
        task_id = start_migration(s, s.alice, "web01").json()["id"]
        wait_for(lambda: MigrationTask.objects.get(pk=task_id).nfc_lease_moref, timeout=90,
                 what="the export lease")
        first.process.kill()  # SIGKILL: the export lease it opened is left to vCenter and to its successor
    finally:
        first.stop()
    before = MigrationTask.objects.get(pk=task_id)
    assert before.state == MigrationState.EXPORTING and not before.is_terminal, before.status_message
    dead_lease = before.nfc_lease_moref
    assert [lease["state"] for lease in s.vcenter.leases() if lease["id"] == dead_lease] == ["initializing"]
    s.vcenter.clear_faults()
    s.aws.set_speed(500)
    again = agent_path.RunningAgent(config)
    try:
        task = agent_path.drive_until_done(task_id)
    finally:
        again.stop()
    _assert_resumed_once(s, task)
    assert task.nfc_lease_moref == ""
    # The dead agent's lease was aborted by the next one before it opened its own, which completed.
    states = {lease["id"]: lease["state"] for lease in s.vcenter.leases()}
    assert states.pop(dead_lease) not in ("initializing", "ready")
    assert list(states.values()) == ["done"]


def test_killed_during_conversion_imports_once(setup, start_migration):
    s = setup
    s.aws.set_speed(0)  # the import stays "active" until the clock moves
    task_id = start_migration(s, s.alice, "web01").json()["id"]
    s.agent.start()  # the export and the upload before the conversion
    try:
        worker = Worker()
        try:
            wait_for(lambda: MigrationTask.objects.get(pk=task_id).import_task_id, timeout=90,
                     what="the import task")
            worker.kill9()
        finally:
            worker.stop()
        before = MigrationTask.objects.get(pk=task_id)
        assert before.state == MigrationState.CONVERTING and not before.is_terminal, before.status_message
        # The dead worker's lease runs out; the reconciler (a django-q2 schedule in production) hands the job on.
        wait_for(lambda: migration_reconcile()["restarted"] == [task_id], timeout=30, interval=0.5,
                 what="the reconciler to restart the job")
        s.aws.set_speed(500)
        worker = Worker()
        try:
            task = wait_for(lambda: (t := MigrationTask.objects.get(pk=task_id)).is_terminal and t, timeout=120,
                            what="the resumed job to finish")
        finally:
            worker.stop()
    finally:
        s.agent.stop()
    _assert_resumed_once(s, task)
    assert task.import_task_id == before.import_task_id
