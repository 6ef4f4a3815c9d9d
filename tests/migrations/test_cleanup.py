"""Cleanup that finishes: what AWS made behind the job's back (an image the job never saw, an instance whose id was
never saved) is found and removed; a cleanup call that fails is retried, and the job ends `cancelled` or `failed`
only once everything is confirmed gone. Every AWS resource a migration makes carries the job's tags."""

import pytest
from django.urls import reverse

from environments.models import ImportedInstance
from migrations_app.choices import MigrationState
from migrations_app.models import MigrationTask
from migrations_app.pipeline import MigrationRunner as Runner
from adapters.aws import client as aws
from tests.jobs_engine.drive import run_tick
from tests.migrations.conftest import assert_no_leftovers

pytestmark = [pytest.mark.aws, pytest.mark.vcenter]


class Crash(BaseException):
    """The worker process dying at this very point (not an error the pipeline could catch)."""


def _cancel(api, user, task_id):
    response = api.as_user(user).post(reverse("api:migration-cancel", kwargs={"pk": task_id}))
    assert response.status_code == 200, response.content
    return response.json()


def _tick_until(task_id, predicate, limit=20):
    for _ in range(limit):
        run_tick(task_id)
        task = MigrationTask.objects.get(pk=task_id)
        if predicate(task):
            return task
    raise AssertionError(f"migration {task_id} never got there: {task.state}, {task.status_message}")


def _tags(resource):
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def test_cancel_after_aws_made_the_image_removes_the_image_and_its_snapshots(setup, start_migration, api):
    s = setup
    s.aws.set_speed(0)  # the import waits for the clock
    task_id = start_migration(s, s.alice, "db01").json()["id"]
    task = _tick_until(task_id, lambda t: t.import_task_id)
    s.aws.advance(3600)  # AWS finishes the import; the job has not looked since
    ec2 = s.aws.client("ec2")
    made = ec2.describe_import_image_tasks(ImportTaskIds=[task.import_task_id])["ImportImageTasks"][0]
    image_id = made["ImageId"]
    snapshots = [d["SnapshotId"] for d in made["SnapshotDetails"]]
    assert made["Status"] == "completed" and len(snapshots) == 2 and not task.image_id
    assert _cancel(api, s.alice, task_id)["state"] == "cancelling"
    task = _tick_until(task_id, lambda t: t.is_terminal)
    assert task.state == MigrationState.CANCELLED, task.status_message
    assert not ec2.describe_images(Filters=[{"Name": "image-id", "Values": [image_id]}])["Images"]
    assert not ec2.describe_snapshots(Filters=[{"Name": "snapshot-id", "Values": snapshots}])["Snapshots"]
    assert_no_leftovers(s, task)


def test_an_instance_launched_before_a_crash_is_found_by_its_tag_and_terminated(setup, start_migration, api,
                                                                                monkeypatch):
    s = setup
    s.aws.set_speed(500)
    real_run_instance = aws.run_instance

    def launch_then_crash(*args, **kwargs):
        real_run_instance(*args, **kwargs)
        raise Crash()  # before the instance id is saved

    monkeypatch.setattr(aws, "run_instance", launch_then_crash)
    task_id = start_migration(s, s.alice, "web01").json()["id"]
    with pytest.raises(Crash):
        for _ in range(20):
            run_tick(task_id)
    task = MigrationTask.objects.get(pk=task_id)
    assert task.state == MigrationState.LAUNCHING and not task.instance_id
    ec2 = s.aws.client("ec2")
    tagged = [i for r in ec2.describe_instances(Filters=[{"Name": "tag:portal-migration",
                                                          "Values": [str(task_id)]}])["Reservations"]
              for i in r["Instances"]]
    assert len(tagged) == 1 and tagged[0]["State"]["Name"] in ("pending", "running")
    assert _tags(tagged[0])["portal-tenant"] == "acme"
    monkeypatch.setattr(aws, "run_instance", real_run_instance)
    _cancel(api, s.alice, task_id)
    task = _tick_until(task_id, lambda t: t.is_terminal)
    assert task.state == MigrationState.CANCELLED, task.status_message
    state = ec2.describe_instances(InstanceIds=[tagged[0]["InstanceId"]])["Reservations"][0]["Instances"][0]["State"]
    assert state["Name"] in ("shutting-down", "terminated")
    assert_no_leftovers(s, task)


def test_a_cancel_while_launching_leaves_no_imported_instance(setup, start_migration, api, monkeypatch):
    s = setup
    s.aws.set_speed(500)
    real_launch = Runner.launch
    cancelled = []

    def cancel_then_launch(runner, task):
        if not cancelled:
            cancelled.append(_cancel(api, s.alice, task.pk))
        return real_launch(runner, task)

    monkeypatch.setattr(Runner, "launch", cancel_then_launch)
    task_id = start_migration(s, s.alice, "web01").json()["id"]
    task = _tick_until(task_id, lambda t: t.is_terminal)
    assert task.state == MigrationState.CANCELLED and cancelled, task.status_message
    assert task.instance_id
    assert not ImportedInstance.objects.filter(instance_id=task.instance_id).exists()
    assert_no_leftovers(s, task)


def test_a_failing_cleanup_call_is_retried_and_the_job_stays_cancelling(setup, start_migration, api):
    s = setup
    s.aws.set_speed(0)
    task_id = start_migration(s, s.alice, "web01").json()["id"]
    _tick_until(task_id, lambda t: t.import_task_id)  # the staged disk is in S3 now
    _cancel(api, s.alice, task_id)
    s.aws.set_faults(s3_error="InternalError", s3_error_count=-1, s3_error_operations=["DeleteObject"])
    assert run_tick(task_id) == "releasing"
    task = MigrationTask.objects.get(pk=task_id)
    assert task.state == MigrationState.CANCELLING and task.wake_at is not None
    assert task.status_message.startswith("Cancelled by alice (still releasing: ")
    assert "staged disks in S3" in task.status_message and "trying again at" in task.status_message
    s.aws.clear_faults()
    assert run_tick(task_id) == "cancelled"
    task = MigrationTask.objects.get(pk=task_id)
    assert task.state == MigrationState.CANCELLED and task.status_message == "Cancelled by alice"
    assert_no_leftovers(s, task)


def test_a_failed_job_releases_what_it_held_before_it_is_failed(setup, start_migration):
    s = setup
    s.aws.set_speed(500)
    s.aws.set_faults(import_failure="ClientError: Unknown OS / Missing OS files.")
    task_id = start_migration(s, s.alice, "web01").json()["id"]
    s.aws.set_faults(s3_error="InternalError", s3_error_count=-1, s3_error_operations=["DeleteObject"])
    task = _tick_until(task_id, lambda t: t.state == MigrationState.FAILING)
    assert task.error_code == "import_failed" and "still releasing: " in task.status_message
    s.aws.clear_faults()
    task = _tick_until(task_id, lambda t: t.is_terminal)
    assert task.state == MigrationState.FAILED
    assert task.status_message == "EC2 could not import the image: ClientError: Unknown OS / Missing OS files."
    assert_no_leftovers(s, task)


def test_every_aws_resource_carries_the_job_tags(setup, start_migration):
    s = setup
    s.aws.set_speed(500)
    task_id = start_migration(s, s.alice, "web01").json()["id"]
    task = _tick_until(task_id, lambda t: t.is_terminal)
    assert task.state == MigrationState.COMPLETED, task.status_message
    wanted = {"portal-migration": str(task_id), "portal-tenant": "acme"}
    ec2 = s.aws.client("ec2")
    imported = ec2.describe_import_image_tasks(ImportTaskIds=[task.import_task_id])["ImportImageTasks"][0]
    image = ec2.describe_images(ImageIds=[task.image_id])["Images"][0]
    snapshots = ec2.describe_snapshots(SnapshotIds=[d["SnapshotId"] for d in imported["SnapshotDetails"]])
    instance = ec2.describe_instances(InstanceIds=[task.instance_id])["Reservations"][0]["Instances"][0]
    for resource in [imported, image, instance, *snapshots["Snapshots"]]:
        assert wanted.items() <= _tags(resource).items(), resource
