"""kill -9 of a real worker process at an exact point of each of the platform's phases (bench/faults.py's worker:
it parks at the chosen adapter call until killed), then a second worker finishes the job: it completes, or ends
cancelled where a cancel was asked, with one ImportImage and at most one instance, and after the orphan sweep nothing
is left. The export and the upload are the tenant's connector agent's (it runs here in a thread); kill -9 of the
agent itself is tests/migrations/test_agent_path.py's.

The exact point matters: "killed between the AWS answer and the checkpoint" is the fault that would make a second
ImportImage or RunInstances, and no peer can produce it, so the worker process itself parks there."""

import os
import subprocess
import sys

import pytest
from django.urls import reverse

from migrations_app.choices import MigrationState
from migrations_app.models import MigrationTask
from portal.site.sweep import orphan_sweep
from tests.migrations.conftest import assert_no_leftovers
from tests.migrations.helpers import ROOT, kill9, wait_for, worker_env

pytestmark = [pytest.mark.aws, pytest.mark.vcenter, pytest.mark.process]
S = MigrationState

CLEANUP_CALLS = ["multipart_abort", "object_delete", "import_image_cancel", "instance_terminate", "image_deregister",
                 "image_delete", "objects_delete_under"]

# phase: (functions, when, nth, cancel while the worker is dead, cancel once the job reaches this state)
CASES = {
    "convert": (["import_image"], "after", 1, False, None),
    "launch": (["run_instance"], "after", 1, True, None),
    "launch-resume": (["run_instance"], "after", 1, False, None),
    "cleanup": (CLEANUP_CALLS, "before", 1, False, S.CONVERTING),
}
# "launch-resume": killed after RunInstances answered and before the instance id was saved; the resumed worker
# repeats the call with the same ClientToken and must get the same instance (no second one).
PHASES = list(CASES)


def _cancel(api, user, task_id):
    return api.as_user(user).post(reverse("api:migration-cancel", kwargs={"pk": task_id}))


class PausingWorker:
    def __init__(self, task_id, tmp_path, pause=None):
        import json

        self.marker = tmp_path / f"paused-{task_id}-{os.urandom(4).hex()}"
        self.log = open(tmp_path / f"worker-{task_id}.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "bench/faults.py", "--worker", str(task_id), "--pause", json.dumps(pause) if pause
             else "", "--marker", str(self.marker), "--parts-log", str(tmp_path / f"parts-{task_id}.log")],
            cwd=ROOT, env=worker_env(), stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def kill9(self):
        kill9(self.process)
        self.log.close()


@pytest.mark.parametrize("phase", PHASES)
def test_kill_in_phase_then_resume(setup, start_migration, api, tmp_path, phase):
    s = setup
    s.aws.set_speed(500)  # a 90 s import takes a fifth of a second
    task_id = start_migration(s, s.alice, "web01").json()["id"]
    s.agent.start()
    try:
        _kill_then_resume(s, api, tmp_path, task_id, phase)
    finally:
        s.agent.stop()


def _kill_then_resume(s, api, tmp_path, task_id, phase):
    functions, when, nth, cancel_while_dead, cancel_at = CASES[phase]
    first = PausingWorker(task_id, tmp_path, {"functions": functions, "when": when, "nth": nth})
    try:
        if cancel_at:
            wait_for(lambda: (t := MigrationTask.objects.get(pk=task_id)).state == cancel_at and t.import_task_id,
                     timeout=90, what=f"the job to reach {cancel_at}")
            assert _cancel(api, s.alice, task_id).status_code in (200, 202)
        wait_for(first.marker.exists, timeout=90, what=f"the worker to reach the {phase} kill point")
    finally:
        first.kill9()
    killed = MigrationTask.objects.get(pk=task_id)
    assert not killed.is_terminal, killed.status_message
    if phase != "cleanup":
        assert killed.state == {"convert": S.CONVERTING, "launch": S.LAUNCHING, "launch-resume": S.LAUNCHING}[phase]
    if cancel_while_dead:
        assert _cancel(api, s.alice, task_id).status_code in (200, 202)

    second = PausingWorker(task_id, tmp_path)
    try:
        second.process.wait(timeout=120)
    finally:
        second.kill9()
    task = MigrationTask.objects.get(pk=task_id)
    expected = S.CANCELLED if (cancel_while_dead or cancel_at) else S.COMPLETED
    assert task.state == expected, task.status_message

    ec2 = s.aws.client("ec2")
    imports = ec2.describe_import_image_tasks(Filters=[{"Name": "tag:portal-migration", "Values": [str(task_id)]}])
    assert len(imports["ImportImageTasks"]) == 1
    instances = [i for r in ec2.describe_instances(Filters=[{"Name": "tag:portal-migration",
                                                             "Values": [str(task_id)]}])["Reservations"]
                 for i in r["Instances"]]
    assert len(instances) == (1 if phase.startswith("launch") or expected == S.COMPLETED else 0)
    s.aws.set_speed(500)
    wait_for(lambda: not [t for t in ec2.describe_import_image_tasks()["ImportImageTasks"]
                          if t["Status"] == "active"], timeout=30, what="imports to settle")
    orphan_sweep(min_age_seconds=0)
    assert_no_leftovers(s, task)
