"""Cancel from every state, twice: it always ends `cancelled`, frees the slot and leaves nothing behind; a
completed migration is untouched."""

import threading

import pytest
from django.urls import reverse

from connector.work import MigrationExport
from migrations_app.choices import MigrationState
from migrations_app.models import MigrationTask
from migrations_app.pipeline import MigrationRunner as Runner
from tests.jobs_engine.drive import run_tick
from tests.migrations.conftest import assert_no_leftovers

pytestmark = [pytest.mark.aws, pytest.mark.vcenter]


def _cancel(api, user, task_id):
    return api.as_user(user).post(reverse("api:migration-cancel", kwargs={"pk": task_id}))


def test_cancel_a_queued_migration(setup, start_migration, api, settings):
    s = setup
    settings.MIGRATION_MAX_ACTIVE_PER_REGION = 0  # nothing may start: it stays queued
    task_id = start_migration(s, s.alice, "web01").json()["id"]
    assert MigrationTask.objects.get(pk=task_id).state == MigrationState.QUEUED
    first = _cancel(api, s.alice, task_id)
    second = _cancel(api, s.alice, task_id)
    assert first.status_code == second.status_code == 200
    assert first.json()["state"] == second.json()["state"] == "cancelled"
    assert run_tick(task_id) == "busy"  # nothing left to work on
    assert_no_leftovers(s, MigrationTask.objects.get(pk=task_id))


# Where each state's work runs: the vCenter side in the tenant's connector agent (its job, then each disk), the
# rest in the portal's runner.
STEP_OF_STATE = {"exporting": (MigrationExport, "_run"), "uploading": (MigrationExport, "_send_disk"),
                 "converting": (Runner, "convert"), "launching": (Runner, "launch")}


@pytest.mark.parametrize("state", list(STEP_OF_STATE))
def test_cancel_while_active(setup, start_migration, api, monkeypatch, state):
    """The cancel arrives while the agent or a worker is inside the step of `state` (after it acquired that
    step's resources for the upload step, since the agent's job beat notices mid-stream)."""
    s = setup
    s.aws.set_speed(500)
    if state == "uploading":
        s.vcenter.set_faults(nfc_bytes_per_second=4 * 1024 * 1024)  # a few seconds of streaming
    owner, name = STEP_OF_STATE[state]
    real_step = getattr(owner, name)
    answers = []

    def step_then_cancel(runner, *args):
        task_id = runner.job_id if isinstance(runner, MigrationExport) else args[0].pk
        if not answers:
            if state == "uploading":
                timer = threading.Timer(1.5, lambda: answers.append(_cancel(api, s.alice, task_id)))
                timer.start()
            else:
                answers.append(_cancel(api, s.alice, task_id))
                answers.append(_cancel(api, s.admin, task_id))
        return real_step(runner, *args)

    monkeypatch.setattr(owner, name, step_then_cancel)
    task_id = start_migration(s, s.alice, "db01").json()["id"]
    for _ in range(20):
        run_tick(task_id)
        if MigrationTask.objects.get(pk=task_id).is_terminal:
            break
    task = MigrationTask.objects.get(pk=task_id)
    assert task.state == MigrationState.CANCELLED, (task.state, task.status_message)
    assert "Cancelled by alice" in task.status_message
    assert answers and all(a.status_code == 200 for a in answers)
    assert answers[0].json()["state"] in ("cancelling", "cancelled")
    again = _cancel(api, s.alice, task_id)
    assert again.status_code == 200 and again.json()["state"] == "cancelled"
    assert_no_leftovers(s, task)


def test_a_completed_migration_is_untouched_by_cancel(setup, start_migration, api):
    s = setup
    s.aws.set_speed(500)
    task_id = start_migration(s, s.alice, "web01").json()["id"]
    while not MigrationTask.objects.get(pk=task_id).is_terminal:
        run_tick(task_id)
    response = _cancel(api, s.alice, task_id)
    assert response.status_code == 200 and response.json()["state"] == "completed"
    task = MigrationTask.objects.get(pk=task_id)
    instance = s.aws.client("ec2").describe_instances(InstanceIds=[task.instance_id])
    assert instance["Reservations"][0]["Instances"][0]["State"]["Name"] == "stopped"


def test_only_the_starter_or_an_admin_may_cancel(setup, start_migration, api):
    s = setup
    from environments.choices import EnvironmentRole
    from environments.services import environment_grant

    environment_grant(actor=s.admin, environment=s.environment, principal=s.bob, role=EnvironmentRole.GENERAL)
    task_id = start_migration(s, s.alice, "web01").json()["id"]
    response = _cancel(api, s.bob, task_id)
    assert response.status_code == 403
    assert MigrationTask.objects.get(pk=task_id).state != MigrationState.CANCELLED
